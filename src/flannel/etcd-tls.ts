// TLS and auth to etcd, with flanneld's flags: the PEM files of
// --etcd-cafile, --etcd-certfile and --etcd-keyfile, read and checked when
// the node starts, and the failures only a handshake or etcd can report
// (a certificate signed by another CA, a name mismatch, a rejected client
// certificate, a refused password), each told as one line that names the
// file or flag to fix.
//
// These failures are E_CREDENTIALS: at start-up retrying cannot help, so the
// node stops at once; once running, they are an outage like any other (a
// certificate rotated on etcd's side) and the node keeps its leases.
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { VxtapError } from '../core/errors.js';
import type { EtcdAuth, EtcdTlsFiles } from './flags.js';

/** What grpc-js takes: the CA (null: the system's), and our certificate and key. */
export interface EtcdCredentials {
  readonly rootCertificate: Buffer | null;
  readonly certChain: Buffer | null;
  readonly privateKey: Buffer | null;
}

/** A PEM file is small; a larger one is not what the flag wants. */
const MAX_PEM_BYTES = 1 << 20;

function bad(flag: string, path: string, what: string): VxtapError {
  return new VxtapError('E_CONFIG', `--${flag} ${path}: ${what}`);
}

function read(flag: string, path: string): Buffer {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw bad(flag, path, 'not found: give the path of an existing PEM file');
    throw bad(flag, path, `cannot be read (${code ?? (e as Error).message}): give a readable PEM file`);
  }
  if (buf.length > MAX_PEM_BYTES) throw bad(flag, path, `is ${buf.length} bytes, not a PEM file: give a PEM file`);
  return buf;
}

/** The file's certificates; the first is checked for its dates too. */
function certificate(flag: string, path: string, buf: Buffer, now: number): X509Certificate {
  let cert: X509Certificate;
  try {
    if (!buf.includes('-----BEGIN CERTIFICATE-----')) throw new Error('no BEGIN CERTIFICATE');
    cert = new X509Certificate(buf);
  } catch {
    throw bad(flag, path, 'not a certificate: give a PEM file that starts with -----BEGIN CERTIFICATE-----');
  }
  if (Date.parse(cert.validTo) < now) throw bad(flag, path, `the certificate (${cert.subject.replace(/\n/g, ', ')}) expired on ${new Date(cert.validTo).toISOString()}: give a current one`);
  if (Date.parse(cert.validFrom) > now) throw bad(flag, path, `the certificate (${cert.subject.replace(/\n/g, ', ')}) is valid only from ${new Date(cert.validFrom).toISOString()}: check this host's clock`);
  return cert;
}

function privateKey(path: string, buf: Buffer): KeyObject {
  try {
    return createPrivateKey(buf);
  } catch (e) {
    const why = (e as Error).message;
    if (/passphrase/i.test(why)) throw bad('etcd-keyfile', path, 'the key is encrypted: give it unencrypted (openssl pkey -in KEY -out PLAIN), as flanneld needs too');
    throw bad('etcd-keyfile', path, 'not a private key: give a PEM file that starts with -----BEGIN PRIVATE KEY----- (or RSA/EC PRIVATE KEY)');
  }
}

/** Reads and checks the TLS files; each error names the flag, the file and what is wrong. */
export function loadEtcdCredentials(f: EtcdTlsFiles, now = Date.now()): EtcdCredentials {
  let rootCertificate: Buffer | null = null;
  if (f.caFile !== null) {
    rootCertificate = read('etcd-cafile', f.caFile);
    const ca = certificate('etcd-cafile', f.caFile, rootCertificate, now);
    if (!ca.ca) throw bad('etcd-cafile', f.caFile, `${ca.subject.replace(/\n/g, ', ')} is not a CA certificate: give the CA that signed etcd's --cert-file`);
  }
  if (f.certFile === null || f.keyFile === null) return { rootCertificate, certChain: null, privateKey: null };
  const certChain = read('etcd-certfile', f.certFile);
  const cert = certificate('etcd-certfile', f.certFile, certChain, now);
  const keyBuf = read('etcd-keyfile', f.keyFile);
  if (!cert.checkPrivateKey(privateKey(f.keyFile, keyBuf))) {
    throw bad('etcd-keyfile', f.keyFile, `not the key of --etcd-certfile ${f.certFile}: give the key the certificate was made for`);
  }
  return { rootCertificate, certChain, privateKey: keyBuf };
}

/**
 * The E_CREDENTIALS error for a failed call, or null when the failure is not
 * about TLS or auth. `why` is the call's one-line error, as gRPC gave it;
 * `where` names etcd (`etcd https://...`).
 */
export function credentialsError(why: string, where: string, tls: EtcdTlsFiles | null, auth: EtcdAuth | null, what: string): VxtapError | null {
  const fail = (msg: string): VxtapError => new VxtapError('E_CREDENTIALS', `${where}: ${what} failed: ${msg}`);
  const ca = tls?.caFile ? `--etcd-cafile ${tls.caFile}` : 'this host\'s CAs (no --etcd-cafile)';
  const detail = (re: RegExp): string => re.exec(why)?.[0] ?? why;
  if (/ERR_TLS_CERT_ALTNAME_INVALID|does not match certificate's altnames/.test(why)) {
    const names = /altnames: (.*?)\.?$/.exec(why)?.[1] ?? why;
    return fail(`etcd's certificate does not name the endpoint's host (${names}): give an endpoint address the certificate names, or reissue etcd's certificate with that address in its subjectAltName`);
  }
  if (/certificate has expired/.test(why)) return fail('etcd\'s certificate has expired: renew etcd\'s --cert-file');
  if (/unable to verify the first certificate|self[- ]signed certificate|unable to get (local )?issuer certificate|certificate signature failure/.test(why)) {
    return fail(`etcd's certificate is not signed by ${ca} (${detail(/unable to verify the first certificate|self[- ]signed certificate( in certificate chain)?|unable to get (local )?issuer certificate|certificate signature failure/)}): give --etcd-cafile the CA that signed etcd's --cert-file`);
  }
  if (/alert (bad certificate|certificate required|unknown ca|certificate unknown|handshake failure)|alert number (40|42|46|48|116)\b/.test(why)) {
    const ours = tls?.certFile ? `our client certificate --etcd-certfile ${tls.certFile}` : 'the connection: it wants a client certificate and none was given';
    return fail(`etcd rejected ${ours} (TLS ${detail(/alert [a-z ]+/)}): give --etcd-certfile and --etcd-keyfile a certificate signed by etcd's --trusted-ca-file`);
  }
  if (/user name is empty/.test(why)) return fail('etcd has authentication enabled: give --etcd-username and --etcd-password (or FLANNELD_ETCD_PASSWORD)');
  if (/authentication failed, invalid user ID or password/.test(why)) {
    return fail(`etcd refused user '${auth?.username ?? ''}' with the password given (invalid user ID or password): check --etcd-username and --etcd-password (or FLANNELD_ETCD_PASSWORD)`);
  }
  if (/authentication is not enabled/.test(why)) return fail('etcd has authentication disabled: remove --etcd-username and --etcd-password, or enable it (etcdctl auth enable)');
  if (/permission denied/.test(why)) {
    return fail(`etcd denied user '${auth?.username ?? ''}' (permission denied): grant its role readwrite on the --etcd-prefix keys (etcdctl role grant-permission ROLE --prefix=true readwrite PREFIX/)`);
  }
  return null;
}

/**
 * grpc-js gives TLS the endpoint's host as the SNI server name even when it
 * is an IP address, and Node answers the first such connection with a
 * deprecation warning (DEP0123) on stderr. etcd endpoints are usually IP
 * addresses; the warning says nothing a user can act on and would break the
 * one-line error rule. Only that warning is dropped.
 */
export function quietIpServerName(): void {
  const emit = process.emitWarning as typeof process.emitWarning & { vxtapQuiet?: true };
  if (emit.vxtapQuiet) return;
  const quiet = function (this: unknown, warning: string | Error, ...rest: unknown[]): void {
    const o = rest[0];
    const code = typeof o === 'object' && o !== null ? (o as { code?: string }).code : rest[1];
    if (code === 'DEP0123') return;
    (emit as (...a: unknown[]) => void).call(process, warning, ...rest);
  } as typeof process.emitWarning & { vxtapQuiet?: true };
  quiet.vxtapQuiet = true;
  process.emitWarning = quiet;
}
