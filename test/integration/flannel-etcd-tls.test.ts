// `vxtap flannel` nodes against a real etcd in the store's namespace, as a
// production cluster runs it: once with TLS (--cert-file, --key-file,
// --trusted-ca-file, --client-cert-auth; certificates made with openssl
// here), once with auth enabled and a user. Nodes given flanneld's flags or
// FLANNELD_* variables take leases and forward; a wrong CA, a missing key
// and a bad password each stop the node with one line and exit 2.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Host } from '../../src/lab/netns.js';
import { TestPki } from '../flannel/certs.js';
import { addPod, FlannelBench, type FlannelNode, routesOn, VXLAN_CONFIG } from './flannel-helpers.js';

async function pingAcross(bench: FlannelBench, a: FlannelNode, b: FlannelNode): Promise<void> {
  for (const n of [a, b]) {
    const deadline = Date.now() + 10_000;
    while (routesOn(n.host, 'flannel.1').length !== 1) {
      if (Date.now() > deadline) throw new Error(`${n.host.name} did not route the other node`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const podA = addPod(a.host, bench.subnetEnv(a));
  const podB = addPod(b.host, bench.subnetEnv(b));
  await a.host.ping(podB, 3, 0.2);
  await b.host.ping(podA, 3, 0.2);
}

/** The one line a node that fails to start prints, and its exit code. */
function oneLine(r: { code: number | null; stderr: string }): [number | null, string[]] {
  return [r.code, r.stderr.trim().split('\n')];
}

describe('etcd over TLS with client certificates', () => {
  let bench: FlannelBench;
  let n1: Host, n2: Host;
  const pki = new TestPki();
  const ca = pki.ca('etcd-ca');
  const otherCa = pki.ca('other-ca');
  let client: { cert: string; key: string };

  beforeAll(async () => {
    bench = new FlannelBench(2);
    [n1, n2] = bench.nodes;
    const storeIp = bench.ips.get(bench.store)!;
    const server = pki.leaf('etcd-server', ca, [storeIp]);
    client = pki.leaf('flannel-client', ca, [storeIp]);
    await bench.start({ tls: { ...server, clientCa: ca.cert, etcdctl: { ca: ca.cert, ...client } } });
  });
  afterAll(async () => {
    await bench?.destroy();
    pki.destroy();
  });
  afterEach(() => bench.reset());

  it('two nodes, one given the files as flags and one as FLANNELD_* variables, take leases and forward', async () => {
    expect(bench.endpoint).toMatch(/^https:\/\/198\.51\.100\.1:2379$/);
    const prefix = bench.prefix(VXLAN_CONFIG);
    const a = await bench.startNode(n1, prefix, ['--iface', 'ul0', '--etcd-cafile', ca.cert, '--etcd-certfile', client.cert, '--etcd-keyfile', client.key]);
    const b = await bench.startNode(n2, prefix, ['--iface', 'ul0'], { FLANNELD_ETCD_CAFILE: ca.cert, FLANNELD_ETCD_CERTFILE: client.cert, FLANNELD_ETCD_KEYFILE: client.key });
    expect([...bench.leases(prefix).values()].map((l) => l.PublicIP).sort()).toEqual([a.ip, b.ip].sort());
    await pingAcross(bench, a, b);
  });

  it('a wrong CA and a missing key each give one line naming the file, and exit 2', async () => {
    const prefix = bench.prefix(VXLAN_CONFIG);
    const wrongCa = await bench.runToExit(n1, prefix, ['--iface', 'ul0', '--etcd-cafile', otherCa.cert, '--etcd-certfile', client.cert, '--etcd-keyfile', client.key]);
    expect(oneLine(wrongCa)).toEqual([2, [
      `vxtap: etcd ${bench.endpoint}: reading ${prefix}/config failed: etcd's certificate is not signed by --etcd-cafile ${otherCa.cert} (unable to verify the first certificate): give --etcd-cafile the CA that signed etcd's --cert-file`,
    ]]);
    const missingKey = `${pki.dir}/no-such.key`;
    const noKey = await bench.runToExit(n1, prefix, ['--iface', 'ul0', '--etcd-cafile', ca.cert, '--etcd-certfile', client.cert, '--etcd-keyfile', missingKey]);
    expect(oneLine(noKey)).toEqual([2, [`vxtap: --etcd-keyfile ${missingKey}: not found: give the path of an existing PEM file`]]);
    const noCert = await bench.runToExit(n1, prefix, ['--iface', 'ul0', '--etcd-cafile', ca.cert]);
    expect(oneLine(noCert)).toEqual([2, [expect.stringMatching(/^vxtap: etcd https:\/\/198\.51\.100\.1:2379: reading .*failed: etcd rejected the connection: it wants a client certificate and none was given/)]]);
    // Nothing was leased.
    expect(bench.leases(prefix).size).toBe(0);
  });
});

describe('etcd with auth enabled', () => {
  let bench: FlannelBench;
  let n1: Host, n2: Host;

  beforeAll(async () => {
    bench = new FlannelBench(2);
    [n1, n2] = bench.nodes;
    await bench.start();
    bench.etcd.enableAuth('flannel', 'flannel-pw');
  });
  afterAll(() => bench?.destroy());
  afterEach(() => bench.reset());

  it('two nodes given a user take leases and forward', async () => {
    const prefix = bench.prefix(VXLAN_CONFIG);
    const a = await bench.startNode(n1, prefix, ['--iface', 'ul0', '--etcd-username', 'flannel', '--etcd-password', 'flannel-pw']);
    const b = await bench.startNode(n2, prefix, ['--iface', 'ul0'], { FLANNELD_ETCD_USERNAME: 'flannel', FLANNELD_ETCD_PASSWORD: 'flannel-pw' });
    expect([...bench.leases(prefix).values()].map((l) => l.PublicIP).sort()).toEqual([a.ip, b.ip].sort());
    await pingAcross(bench, a, b);
  });

  it('a bad password gives one line naming the flags, and exit 2', async () => {
    const prefix = bench.prefix(VXLAN_CONFIG);
    const bad = await bench.runToExit(n1, prefix, ['--iface', 'ul0', '--etcd-username', 'flannel', '--etcd-password', 'wrong']);
    expect(oneLine(bad)).toEqual([2, [
      `vxtap: etcd ${bench.endpoint}: reading ${prefix}/config failed: etcd refused user 'flannel' with the password given (invalid user ID or password): check --etcd-username and --etcd-password (or FLANNELD_ETCD_PASSWORD)`,
    ]]);
    expect(bench.leases(prefix).size).toBe(0);
  });
});
