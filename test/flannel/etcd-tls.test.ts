// The lease store over TLS and with etcd's auth, against real etcds on
// loopback: one with --cert-file, --key-file, --trusted-ca-file and
// --client-cert-auth (certificates made with openssl here), one whose
// certificate names another address, and one with auth enabled and a user.
// Nodes take leases and see each other's; each refusal is one E_CREDENTIALS
// line that names what to fix, at once rather than after start-up retries.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { VxtapError } from '../../src/core/errors.js';
import { EtcdStore, type EtcdStoreOptions } from '../../src/flannel/etcd-store.js';
import { SubnetManager } from '../../src/flannel/subnet-manager.js';
import { TestPki } from './certs.js';
import { EtcdServer } from './etcd-server.js';
import { attrsOf, heldBy, IP, waitFor } from './helpers.js';

const CONFIG = '{"Network":"198.18.0.0/16","Backend":{"Type":"vxlan"}}';
const PREFIX = '/coreos.com/network';

const pki = new TestPki();
const ca = pki.ca('etcd-ca');
const otherCa = pki.ca('other-ca');
const server = pki.leaf('etcd-server', ca, ['127.0.0.1']);
const client = pki.leaf('flannel-client', ca, ['127.0.0.1']);
const strangerClient = pki.leaf('stranger-client', otherCa, ['127.0.0.1']);
const etcdctl = { ca: ca.cert, cert: client.cert, key: client.key };

let tlsEtcd: EtcdServer;
let authEtcd: EtcdServer;
let managers: SubnetManager[] = [];
let stores: EtcdStore[] = [];

beforeAll(async () => {
  tlsEtcd = await EtcdServer.create('127.0.0.1', undefined, { tls: { ...server, clientCa: ca.cert, etcdctl } });
  tlsEtcd.etcdctl('put', `${PREFIX}/config`, CONFIG);
  authEtcd = await EtcdServer.create();
  authEtcd.etcdctl('put', `${PREFIX}/config`, CONFIG);
  authEtcd.enableAuth('flannel', 'flannel-pw');
});
afterAll(async () => {
  await tlsEtcd?.destroy();
  await authEtcd?.destroy();
  pki.destroy();
});
afterEach(async () => {
  for (const m of managers) m.stop();
  managers = [];
  await Promise.all(stores.map((s) => s.close()));
  stores = [];
});

function manager(n: number, o: Partial<EtcdStoreOptions> & { endpoints: string[] }): SubnetManager {
  const store = new EtcdStore({ prefix: PREFIX, callTimeoutMs: 2000, ...o });
  stores.push(store);
  // A long start-up timeout: a refusal must fail at once, not after retries.
  const m = new SubnetManager({ store, attrs: attrsOf(n), backoffMs: [50, 500], startupTimeoutMs: 60_000 });
  managers.push(m);
  return m;
}

async function refusal(n: number, o: Partial<EtcdStoreOptions> & { endpoints: string[] }): Promise<VxtapError> {
  const err = await manager(n, o).getConfig().then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(VxtapError);
  expect((err as VxtapError).code).toBe('E_CREDENTIALS');
  expect((err as VxtapError).message).not.toContain('\n');
  return err as VxtapError;
}

const tlsFiles = (caFile: string, pair: { cert: string; key: string } | null): EtcdStoreOptions['tls'] => ({ caFile, certFile: pair?.cert ?? null, keyFile: pair?.key ?? null });

/** Two nodes on the store o gives, each holding a lease and seeing the other's. */
async function twoNodes(o: Parameters<typeof manager>[1]): Promise<[SubnetManager, SubnetManager]> {
  const a = manager(1, o);
  const b = manager(2, o);
  await a.acquire(await a.getConfig());
  await b.acquire(await b.getConfig());
  a.start();
  b.start();
  await waitFor('each node to see the other', () => heldBy(a, IP(2)) && heldBy(b, IP(1)));
  return [a, b];
}

describe('etcd with TLS and client certificates', () => {
  it('gives two nodes leases that each sees, over TLS with client certificates', async () => {
    const [a, b] = await twoNodes({ endpoints: [tlsEtcd.endpoint], tls: tlsFiles(ca.cert, client) });
    // Written in flanneld's format, as etcdctl (over TLS too) reads it.
    expect(tlsEtcd.etcdctl('get', '--prefix', `${PREFIX}/subnets/`, '--keys-only')).toMatch(/subnets\/198\.18\.\d+\.0-24/);
    for (const m of [a, b]) await stores[managers.indexOf(m)].delete(m.lease!.subnet);
  });

  it('refuses an etcd certificate that --etcd-cafile did not sign, naming the file', async () => {
    const err = await refusal(1, { endpoints: [tlsEtcd.endpoint], tls: tlsFiles(otherCa.cert, client) });
    expect(err.message).toBe(`etcd ${tlsEtcd.endpoint}: reading ${PREFIX}/config failed: etcd's certificate is not signed by --etcd-cafile ${otherCa.cert} (unable to verify the first certificate): give --etcd-cafile the CA that signed etcd's --cert-file`);
  });

  it('says etcd rejected the client when no certificate, or one from another CA, is given', async () => {
    const none = await refusal(1, { endpoints: [tlsEtcd.endpoint], tls: tlsFiles(ca.cert, null) });
    expect(none.message).toMatch(/^etcd https:\/\/127\.0\.0\.1:\d+: reading \/coreos\.com\/network\/config failed: etcd rejected the connection: it wants a client certificate and none was given \(TLS alert [a-z ]+\): give --etcd-certfile and --etcd-keyfile/);
    const stranger = await refusal(2, { endpoints: [tlsEtcd.endpoint], tls: tlsFiles(ca.cert, strangerClient) });
    expect(stranger.message).toMatch(new RegExp(`failed: etcd rejected our client certificate --etcd-certfile ${strangerClient.cert.replace(/[.]/g, '\\.')} \\(TLS alert [a-z ]+\\): give --etcd-certfile and --etcd-keyfile a certificate signed by etcd's --trusted-ca-file$`));
  });

  it('says etcd\'s certificate does not name the endpoint', async () => {
    // The certificate names 127.0.0.1 only; localhost is the same etcd by another name.
    const endpoint = tlsEtcd.endpoint.replace('127.0.0.1', 'localhost');
    const err = await refusal(1, { endpoints: [endpoint], tls: tlsFiles(ca.cert, client) });
    expect(err.message).toMatch(new RegExp(`^etcd ${endpoint.replace(/[.]/g, '\\.')}: reading /coreos.com/network/config failed: etcd's certificate does not name the endpoint's host \\(Host: localhost\\. is not cert's CN: etcd-server\\): give an endpoint address the certificate names, or reissue etcd's certificate with that address in its subjectAltName$`));
  });
});

describe('etcd with auth enabled', () => {
  it('gives two nodes leases that each sees, as an etcd user', async () => {
    const [a, b] = await twoNodes({ endpoints: [authEtcd.endpoint], auth: { username: 'flannel', password: 'flannel-pw' } });
    for (const m of [a, b]) await stores[managers.indexOf(m)].delete(m.lease!.subnet);
  });

  it('refuses a bad password, and no user at all, naming the flags', async () => {
    const bad = await refusal(1, { endpoints: [authEtcd.endpoint], auth: { username: 'flannel', password: 'wrong' } });
    expect(bad.message).toBe(`etcd ${authEtcd.endpoint}: reading ${PREFIX}/config failed: etcd refused user 'flannel' with the password given (invalid user ID or password): check --etcd-username and --etcd-password (or FLANNELD_ETCD_PASSWORD)`);
    const none = await refusal(2, { endpoints: [authEtcd.endpoint] });
    expect(none.message).toBe(`etcd ${authEtcd.endpoint}: reading ${PREFIX}/config failed: etcd has authentication enabled: give --etcd-username and --etcd-password (or FLANNELD_ETCD_PASSWORD)`);
  });
});
