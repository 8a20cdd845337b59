import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { TestPki } from '../../test/flannel/certs.js';
import { credentialsError, loadEtcdCredentials } from './etcd-tls.js';

const pki = new TestPki();
const ca = pki.ca('ca');
const client = pki.leaf('client', ca, ['198.51.100.2']);
const other = pki.leaf('other', ca, ['198.51.100.3']);
afterAll(() => pki.destroy());

function errorOf(f: Parameters<typeof loadEtcdCredentials>[0], now?: number): string {
  try {
    loadEtcdCredentials(f, now);
  } catch (e) {
    return (e as Error).message;
  }
  return 'no error';
}

describe('etcd TLS files', () => {
  it('loads the CA, the certificate and its key', () => {
    const c = loadEtcdCredentials({ caFile: ca.cert, certFile: client.cert, keyFile: client.key });
    expect(c.rootCertificate?.toString()).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(c.certChain?.toString()).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(c.privateKey?.toString()).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    // No CA: the system's; no client certificate.
    expect(loadEtcdCredentials({ caFile: null, certFile: null, keyFile: null })).toEqual({ rootCertificate: null, certChain: null, privateKey: null });
  });

  it('names the flag, the file and what is wrong with it, in one line', () => {
    const missing = join(pki.dir, 'missing.pem');
    expect(errorOf({ caFile: missing, certFile: null, keyFile: null })).toBe(`--etcd-cafile ${missing}: not found: give the path of an existing PEM file`);
    expect(errorOf({ caFile: ca.cert, certFile: client.cert, keyFile: missing })).toBe(`--etcd-keyfile ${missing}: not found: give the path of an existing PEM file`);
    expect(errorOf({ caFile: pki.dir, certFile: null, keyFile: null })).toBe(`--etcd-cafile ${pki.dir}: cannot be read (EISDIR): give a readable PEM file`);
    // A key where the certificate belongs, and garbage.
    expect(errorOf({ caFile: client.key, certFile: null, keyFile: null })).toBe(`--etcd-cafile ${client.key}: not a certificate: give a PEM file that starts with -----BEGIN CERTIFICATE-----`);
    const junk = join(pki.dir, 'junk.pem');
    writeFileSync(junk, '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n');
    expect(errorOf({ caFile: null, certFile: junk, keyFile: client.key })).toMatch(/^--etcd-certfile .*junk\.pem: not a certificate/);
    expect(errorOf({ caFile: null, certFile: client.cert, keyFile: client.cert })).toMatch(/^--etcd-keyfile .*client\.crt: not a private key: give a PEM file that starts with -----BEGIN PRIVATE KEY-----/);
    // A leaf certificate as the CA, and another certificate's key.
    expect(errorOf({ caFile: client.cert, certFile: null, keyFile: null })).toBe(`--etcd-cafile ${client.cert}: CN=client is not a CA certificate: give the CA that signed etcd's --cert-file`);
    expect(errorOf({ caFile: ca.cert, certFile: client.cert, keyFile: other.key })).toBe(`--etcd-keyfile ${other.key}: not the key of --etcd-certfile ${client.cert}: give the key the certificate was made for`);
    // Out of its dates (the certificates are valid for a day).
    expect(errorOf({ caFile: null, certFile: client.cert, keyFile: client.key }, Date.now() + 3 * 86_400_000)).toMatch(/^--etcd-certfile .*client\.crt: the certificate \(CN=client\) expired on \S+: give a current one$/);
    const copy = join(pki.dir, 'copy.crt');
    copyFileSync(ca.cert, copy);
    expect(errorOf({ caFile: copy, certFile: null, keyFile: null }, Date.now() - 3 * 86_400_000)).toMatch(/the certificate \(CN=ca\) is valid only from \S+: check this host's clock$/);
  });

  it('tells what a handshake or etcd refused, naming the flag to fix; other failures are not its business', () => {
    const tls = { caFile: '/etc/ca.pem', certFile: '/etc/c.pem', keyFile: '/etc/k.pem' };
    const auth = { username: 'flannel', password: 'x' };
    const of = (why: string): string | undefined => credentialsError(why, 'etcd https://198.51.100.1:2379', tls, auth, 'reading /coreos.com/network/config')?.message;
    expect(of('14 UNAVAILABLE: No connection established. Last error: Error: unable to verify the first certificate.')).toBe(
      'etcd https://198.51.100.1:2379: reading /coreos.com/network/config failed: etcd\'s certificate is not signed by --etcd-cafile /etc/ca.pem (unable to verify the first certificate): give --etcd-cafile the CA that signed etcd\'s --cert-file');
    expect(of('14 UNAVAILABLE: No connection established. Last error: Error [ERR_TLS_CERT_ALTNAME_INVALID]: Hostname/IP does not match certificate\'s altnames: IP: 198.51.100.1 is not in the cert\'s list: 198.51.100.9.')).toMatch(
      /failed: etcd's certificate does not name the endpoint's host \(IP: 198\.51\.100\.1 is not in the cert's list: 198\.51\.100\.9\): give an endpoint address the certificate names/);
    expect(of('14 UNAVAILABLE: No connection established. Last error: 80FC:error:0A000412:SSL routines:ssl3_read_bytes:sslv3 alert bad certificate:rec_layer_s3.c:1601:SSL alert number 42 (2026-12-02T13:33:06.240Z).')).toMatch(
      /failed: etcd rejected our client certificate --etcd-certfile \/etc\/c\.pem \(TLS alert bad certificate\): give --etcd-certfile and --etcd-keyfile a certificate signed by etcd's --trusted-ca-file$/);
    expect(of('3 INVALID_ARGUMENT: etcdserver: authentication failed, invalid user ID or password')).toMatch(/failed: etcd refused user 'flannel' with the password given \(invalid user ID or password\): check --etcd-username and --etcd-password/);
    expect(of('3 INVALID_ARGUMENT: etcdserver: user name is empty')).toMatch(/failed: etcd has authentication enabled: give --etcd-username and --etcd-password/);
    expect(of('7 PERMISSION_DENIED: etcdserver: permission denied')).toMatch(/failed: etcd denied user 'flannel' \(permission denied\): grant its role readwrite/);
    expect(of('14 UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED 198.51.100.1:2379')).toBeUndefined();
  });
});
