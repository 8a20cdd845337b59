// `vxtap flannel` as a flannel node, against a real etcd in a namespace of
// its own and real peers: other vxtap nodes, a kernel VXLAN node programmed
// as flanneld programs it, and socat as a flanneld udp node. Overlays use
// 198.18.0.0/16 (benchmark range); the underlay is the lab's 198.51.100.0/24,
// the store at .1 and nodes n1..n3 at .2-.4. Every test starts its nodes
// under a fresh etcd prefix and leaves the hosts as it found them.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { request } from '../../src/control/server.js';
import { encodeAttrs, udpAttrs, vxlanAttrs, type LeaseAttrs } from '../../src/flannel/lease.js';
import { type Host, transfer } from '../../src/lab/netns.js';
import { eventually, macOf } from '../helpers/peers.js';
import {
  addPod, FlannelBench, type FlannelNode, healthz, kernelFlannelNode, metric, neighsOn, netAddr, nodeStats, pingFlow,
  programLikeFlanneld, remoteFdb, routesOn, SCALE_CONFIG, simulatedLeases, socatFlannelNode, UDP_CONFIG, VXLAN_CONFIG,
} from './flannel-helpers.js';

/** Bytes of each checked TCP transfer. */
const BYTES = 20_000_000;

let bench: FlannelBench;
let n1: Host, n2: Host, n3: Host;
let ip1: string, ip2: string, ip3: string;

beforeAll(async () => {
  bench = new FlannelBench(3);
  [n1, n2, n3] = bench.nodes;
  [ip1, ip2, ip3] = bench.nodes.map((h) => bench.ips.get(h)!);
  await bench.start();
});
afterAll(() => bench?.destroy());
afterEach(() => bench.reset());

async function checkedTransfer(from: Host, to: Host, dst: string): Promise<void> {
  const { sent, received } = await transfer(from, to, dst, BYTES);
  expect(received.bytes, `${from.name} -> ${to.name} bytes`).toBe(BYTES);
  expect(received.sha256, `${from.name} -> ${to.name} SHA-256`).toBe(sent.sha256);
}

/** The lease key (`198.18.7.0-24`) a node holds. */
const keyOf = (n: FlannelNode): string => bench.keyOf(n);

/** What a vxlan node holds for a remote lease: the permanent neighbour, the onlink route and the FDB entry. */
async function programmedFor(n: FlannelNode, key: string, mac: string, publicIp: string): Promise<boolean> {
  const addr = netAddr(key);
  const neigh = neighsOn(n.host, 'flannel.1').find((e) => e.dst === addr);
  const route = routesOn(n.host, 'flannel.1').find((r) => r.dst === key.replace('-', '/'));
  return neigh?.lladdr === mac && (neigh.state ?? []).includes('PERMANENT')
    && route?.gateway === addr && (route.flags ?? []).includes('onlink')
    && (await remoteFdb(n)).get(mac) === publicIp;
}

async function nothingFor(n: FlannelNode, key: string, mac: string): Promise<boolean> {
  const addr = netAddr(key);
  return !neighsOn(n.host, 'flannel.1').some((e) => e.dst === addr)
    && !routesOn(n.host, 'flannel.1').some((r) => r.dst === key.replace('-', '/'))
    && !(await remoteFdb(n)).has(mac);
}

describe('vxtap-only clusters (vxlan backend)', () => {
  it('two nodes: flanneld\'s lease format, device and kernel state; ping and a checked TCP transfer both ways', async () => {
    const prefix = bench.prefix(VXLAN_CONFIG);
    const a = await bench.startNode(n1, prefix, ['--iface', 'ul0']);
    // --public-ip alone: the interface holding it is the external one.
    const b = await bench.startNode(n2, prefix, ['--public-ip', ip2]);

    // The lease, byte for byte as flanneld writes it, on a 24 h etcd lease.
    const macA = macOf(n1, 'flannel.1');
    const keyA = keyOf(a);
    const raw = bench.raw(`${prefix}/subnets/${keyA}`)!;
    expect(raw.value).toBe(encodeAttrs(vxlanAttrs(ip1, { vni: 1, vtepMac: macA })));
    expect(raw.value).toBe(`{"PublicIP":"${ip1}","PublicIPv6":null,"BackendType":"vxlan","BackendData":{"VNI":1,"VtepMAC":"${macA}"}}`);
    expect(bench.etcd.etcdctl('lease', 'timetolive', raw.lease)).toMatch(/granted with TTL\(86400s\)/);

    // subnet.env and the device, as flanneld makes them.
    const envA = bench.subnetEnv(a);
    expect(envA).toEqual({ network: '198.18.0.0/16', subnet: `${netAddr(keyA).replace(/\.0$/, '.1')}/24`, mtu: 1450, ipMasq: 'false' });
    const link = JSON.parse(n1.run('ip', '-j', 'address', 'show', 'dev', 'flannel.1'))[0] as { mtu: number; address: string; addr_info: Array<{ local: string; prefixlen: number }> };
    expect(link.mtu).toBe(1450);
    expect(link.addr_info.map((x) => `${x.local}/${x.prefixlen}`)).toEqual([`${netAddr(keyA)}/32`]);
    expect(parseInt(macA.slice(0, 2), 16) & 0x03).toBe(0x02); // locally administered, unicast

    // Each node holds the other's neighbour, route and FDB entry.
    const macB = macOf(n2, 'flannel.1');
    await eventually('a to program b', () => programmedFor(a, keyOf(b), macB, ip2));
    await eventually('b to program a', () => programmedFor(b, keyA, macA, ip1));

    const podA = addPod(n1, envA);
    const podB = addPod(n2, bench.subnetEnv(b));
    await n1.ping(podB);
    await n2.ping(podA);
    await checkedTransfer(n1, n2, podB);
    await checkedTransfer(n2, n1, podA);

    expect(await healthz(a, '/readyz')).toEqual({ status: 200, body: 'ready\n' });
    const m = (await healthz(a, '/metrics')).body;
    expect(metric(m, 'vxtap_route_entries')).toBe(1);
    expect(metric(m, 'vxtap_flannel_remote_leases')).toBe(1);
    expect(metric(m, 'vxtap_flannel_store_up')).toBe(1);
    expect(metric(m, 'vxtap_rx_packets_total{vni="1"}')).toBeGreaterThan(1000);
    expect(metric(m, 'vxtap_drops_total{reason="unknown_sender"}')).toBe(0);
    // The data path was warmed before the device opened (vxlan/warmup.ts), with no warm-up MAC left behind.
    expect(((await nodeStats(a)).warm_up as { rounds: number }).rounds).toBeGreaterThan(0);
    expect((await remoteFdb(a)).size).toBe(1);

    // vxtap's neighbour table holds b's gateway too, and its proxy answers ARP for it
    // once the kernel's permanent entry is gone (nothing else would: there is no flood list).
    expect(await request(a.control, 'neigh')).toEqual([{ vni: 1, ip: netAddr(keyOf(b)), lladdr: macB, dev: 'flannel.1' }]);
    n1.ip(`neigh del ${netAddr(keyOf(b))} dev flannel.1`);
    await n1.ping(podB);
    expect(neighsOn(n1, 'flannel.1').find((e) => e.dst === netAddr(keyOf(b)))?.lladdr).toBe(macB);
    const proxy = ((await nodeStats(a)).vnis as Record<string, { proxy: { arp_replies: number } }>)['1'].proxy;
    expect(proxy.arp_replies).toBeGreaterThan(0);
  });

  it('three nodes, one finding its interface by the default route and one configured by FLANNELD_* variables: all pairs reach each other', async () => {
    const prefix = bench.prefix(VXLAN_CONFIG);
    const a = await bench.startNode(n1, prefix, ['--iface', ul0Addr(n1)]);
    const b = await bench.startNode(n2, prefix, [], { FLANNELD_IFACE: 'ul0' });
    n3.ip(`route add default via ${bench.ips.get(bench.store)} dev ul0`);
    const c = await bench.startNode(n3, prefix, []);
    expect([...bench.leases(prefix).values()].map((l) => l.PublicIP).sort()).toEqual([ip1, ip2, ip3]);

    const nodes = [a, b, c];
    for (const n of nodes) {
      await eventually(`${n.host.name} to route the other two`, () => routesOn(n.host, 'flannel.1').length === 2);
    }
    const pods = nodes.map((n) => addPod(n.host, bench.subnetEnv(n)));
    for (const [i, from] of nodes.entries()) {
      for (const [j] of nodes.entries()) if (i !== j) await from.host.ping(pods[j], 2, 0.1);
    }
    await checkedTransfer(n3, n1, pods[0]);
  });
});

/** The first IPv4 address on a host's ul0 (--iface takes an address too). */
function ul0Addr(h: Host): string {
  return bench.ips.get(h)!;
}

// On the default underlay (the kernel node's inner checksums arrive partial,
// its TSO packets whole), then on its own bench with tx checksum offload off.
describe.each([{ txChecksum: true }, { txChecksum: false }])('a mixed cluster (underlay tx checksum: $txChecksum)', ({ txChecksum }) => {
  let saved: [FlannelBench, Host, Host, string, string] | undefined;
  beforeAll(async () => {
    if (txChecksum) return;
    saved = [bench, n1, n2, ip1, ip2];
    bench = new FlannelBench(2, { txChecksum });
    [n1, n2] = bench.nodes;
    [ip1, ip2] = bench.nodes.map((h) => bench.ips.get(h)!);
    await bench.start();
  });
  afterAll(async () => {
    if (saved === undefined) return;
    await bench.destroy();
    [bench, n1, n2, ip1, ip2] = saved;
  });

  it('vxtap and a kernel VXLAN node programmed as flanneld programs it: ping and a checked TCP transfer both ways', async () => {
    const prefix = bench.prefix(VXLAN_CONFIG);
    const keyK = '198.18.200.0-24';
    const k = kernelFlannelNode(bench, n1, prefix, keyK);
    const v = await bench.startNode(n2, prefix);
    // vxtap programs the kernel node's lease...
    const macV = macOf(n2, 'flannel.1');
    await eventually('vxtap to program the kernel node', () => programmedFor(v, keyK, k.mac, ip1));
    // ... and the kernel node programs vxtap's, read from etcd as flanneld reads it.
    const leaseV = bench.leaseOf(prefix, ip2);
    expect(leaseV.attrs).toEqual(vxlanAttrs(ip2, { vni: 1, vtepMac: macV }));
    programLikeFlanneld(n1, leaseV.key, leaseV.attrs);

    const podK = addPod(n1, { network: '198.18.0.0/16', subnet: '198.18.200.1/24', mtu: 1450, ipMasq: 'false' });
    const podV = addPod(n2, bench.subnetEnv(v));
    await n1.ping(podV);
    await n2.ping(podK);
    await checkedTransfer(n1, n2, podV);
    await checkedTransfer(n2, n1, podK);
    const drops = (await nodeStats(v)).drops as Record<string, number>;
    expect(drops.unknown_sender).toBe(0);
  });

  it('udp backend: vxtap and socat as a flanneld udp node: ping and a checked TCP transfer both ways', async () => {
    const prefix = bench.prefix(UDP_CONFIG);
    const keyS = '198.18.201.0-24';
    bench.putLease(prefix, keyS, udpAttrs(ip1));
    const v = await bench.startNode(n2, prefix);
    // flanneld's udp lease: the PublicIP and nothing else.
    const leaseV = bench.leaseOf(prefix, ip2);
    expect(bench.raw(`${prefix}/subnets/${leaseV.key}`)!.value).toBe(`{"PublicIP":"${ip2}","PublicIPv6":null}`);
    await socatFlannelNode(n1, ip1, ip2, keyS);

    // flannel0: the lease's address as a /32, MTU underlay - 28, one route for the Network.
    const envV = bench.subnetEnv(v);
    expect(envV.mtu).toBe(1472);
    const link = JSON.parse(n2.run('ip', '-j', 'address', 'show', 'dev', 'flannel0'))[0] as { mtu: number; addr_info: Array<{ local: string; prefixlen: number }> };
    expect([link.mtu, link.addr_info.map((x) => `${x.local}/${x.prefixlen}`)]).toEqual([1472, [`${netAddr(leaseV.key)}/32`]]);
    expect(routesOn(n2, 'flannel0').map((r) => r.dst)).toEqual(['198.18.0.0/16']);
    expect(await request(v.control, 'routes')).toEqual([{ subnet: '198.18.201.0/24', peer: ip1, port: 8285 }]);

    const podS = addPod(n1, { network: '198.18.0.0/16', subnet: '198.18.201.1/24', mtu: 1472, ipMasq: 'false' });
    const podV = addPod(n2, envV);
    await n1.ping(podV);
    await n2.ping(podS);
    await checkedTransfer(n1, n2, podV);
    await checkedTransfer(n2, n1, podS);
  });
});

describe('lease lifecycle', () => {
  it('a restarted node reuses its lease; removed leases take their neighbour, route and FDB entry along; a revoked node exits with one line', async () => {
    const prefix = bench.prefix(VXLAN_CONFIG);
    let a = await bench.startNode(n1, prefix);
    const b = await bench.startNode(n2, prefix);
    const keyA = keyOf(a);
    const macA1 = macOf(n1, 'flannel.1');
    await eventually('b to program a', () => programmedFor(b, keyA, macA1, ip1));

    // SIGTERM: the device goes with its routes; the lease stays in etcd.
    expect(await a.v.stop()).toBe(0);
    expect(() => n1.run('ip', 'link', 'show', 'dev', 'flannel.1')).toThrow();
    expect(bench.leaseOf(prefix, ip1).key).toBe(keyA);
    a = await bench.startNode(n1, prefix);
    expect(keyOf(a)).toBe(keyA);
    const macA2 = macOf(n1, 'flannel.1');
    expect(macA2).not.toBe(macA1);
    expect(bench.leaseOf(prefix, ip1).attrs).toEqual(vxlanAttrs(ip1, { vni: 1, vtepMac: macA2 }));
    // b replaces the neighbour and FDB entry: the old MAC is gone, the new one works.
    await eventually('b to program a\'s new VtepMAC', async () => (await programmedFor(b, keyA, macA2, ip1)) && !(await remoteFdb(b)).has(macA1));
    const podA = addPod(n1, bench.subnetEnv(a));
    await n2.ping(podA);

    // A lease that appears and goes away (a node in another namespace of the lab, here only its lease).
    const ghost: LeaseAttrs = vxlanAttrs(ip3, { vni: 1, vtepMac: '02:00:5e:00:01:03' });
    bench.putLease(prefix, '198.18.202.0-24', ghost);
    await eventually('a and b to program the new lease', async () =>
      (await programmedFor(a, '198.18.202.0-24', '02:00:5e:00:01:03', ip3)) && programmedFor(b, '198.18.202.0-24', '02:00:5e:00:01:03', ip3));
    bench.deleteLease(prefix, '198.18.202.0-24');
    await eventually('a and b to unprogram it', async () =>
      (await nothingFor(a, '198.18.202.0-24', '02:00:5e:00:01:03')) && nothingFor(b, '198.18.202.0-24', '02:00:5e:00:01:03'));

    // Deleting a's own lease revokes it: a says so in one line and exits; b drops a.
    bench.deleteLease(prefix, keyA);
    await eventually('a to exit', () => !a.v.alive);
    expect(a.v.proc.exitCode).toBe(2);
    const lines = a.v.stderr.trim().split('\n');
    expect(lines[lines.length - 1]).toMatch(new RegExp(`^vxtap: lease ${prefix}/subnets/${keyA} has been revoked .*: shutting down; restart vxtap to take a lease again$`));
    await eventually('b to drop a', () => nothingFor(b, keyA, macA2));
    expect(() => n1.run('ip', 'link', 'show', 'dev', 'flannel.1')).toThrow();
  });

  it('renews a short-TTL lease (--subnet-lease-ttl) before it expires: a new etcd lease each time, the key never gone', async () => {
    const prefix = bench.prefix(VXLAN_CONFIG);
    const a = await bench.startNode(n1, prefix, ['--iface', 'ul0', '--subnet-lease-ttl', '3']);
    const key = `${prefix}/subnets/${keyOf(a)}`;
    const seen = new Set<string>();
    // Watched over three TTLs (9 s): without renewal the key would be gone after the first.
    const end = Date.now() + 9000;
    for (let sample = 0; Date.now() < end; sample++) {
      const r = bench.raw(key);
      expect(r, `the key at sample ${sample}`).not.toBeNull();
      seen.add(r!.lease);
      await new Promise((res) => setTimeout(res, 250));
    }
    // Not a rate: each etcd lease lives at most its 3 s TTL, so a key held
    // for 9 s was on at least 9 / 3 = 3 of them.
    expect(seen.size).toBeGreaterThanOrEqual(3);
    // The key's current etcd lease (renewal revokes the one before, so read it afresh).
    await eventually('the key\'s etcd lease to show its TTL', () => /granted with TTL\(3s\)/.test(bench.etcd.etcdctl('lease', 'timetolive', bench.raw(key)!.lease)));
    const m = (await healthz(a, '/metrics')).body;
    // The expiry is the short lease's (at most one TTL away), not a day's, and not past.
    const expiry = metric(m, 'vxtap_flannel_lease_expiry_timestamp_seconds')!;
    const now = Date.now();
    expect(expiry * 1000).toBeLessThanOrEqual(now + 3000);
    expect(expiry * 1000).toBeGreaterThan(now);
  });
});

describe('faults', () => {
  it('keeps forwarding while etcd is down, and catches up when it returns', async () => {
    const prefix = bench.prefix(VXLAN_CONFIG);
    const a = await bench.startNode(n1, prefix);
    const b = await bench.startNode(n2, prefix);
    await eventually('a to route b', () => routesOn(n1, 'flannel.1').length === 1);
    const podB = addPod(n2, bench.subnetEnv(b));
    addPod(n1, bench.subnetEnv(a));
    await n1.ping(podB, 2, 0.1);

    // 10 s of pings at 10/s across the whole outage.
    const flow = pingFlow(n1, podB, 100, 0.1);
    await new Promise((r) => setTimeout(r, 1000));
    await bench.etcd.stop();
    await eventually('a to notice etcd is gone', async () => !(await nodeStats(a)).flannel.storeUp, 8000);
    // Still ready: the data path does not need the store.
    expect((await nodeStats(a)).flannel.notReady).toEqual([]);
    expect(await healthz(a, '/readyz')).toEqual({ status: 200, body: 'ready\n' });
    await new Promise((r) => setTimeout(r, 1500));
    await bench.etcd.start();
    await eventually('a to reach etcd again', async () => (await nodeStats(a)).flannel.storeUp, 15_000);
    // A lease added after the restart is programmed.
    bench.putLease(prefix, '198.18.203.0-24', vxlanAttrs(ip3, { vni: 1, vtepMac: '02:00:5e:00:01:04' }));
    await eventually('a to program a lease added after the outage', () => programmedFor(a, '198.18.203.0-24', '02:00:5e:00:01:04', ip3), 15_000);
    const pings = await flow;
    expect(pings.sent).toBe(100);
    expect(pings.received, pings.out).toBe(100);
  });

  it('a bad network config, a missing one, or no usable interface: one line naming what to fix, exit 2', async () => {
    const bad = await bench.runToExit(n1, bench.prefix('{"Network": "198.18.0.0/16", "Backend": '), ['--iface', 'ul0']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/^vxtap: \/vxtap-fl\d+\/network\/config: not valid JSON \(.*\): store a JSON object such as/);

    const badField = await bench.runToExit(n1, bench.prefix('{"Network":"198.18.0.0/16","Backend":{"Type":"host-gw"}}'), ['--iface', 'ul0']);
    expect([badField.code, badField.stderr.trim()]).toEqual([2, expect.stringMatching(/^vxtap: \/vxtap-fl\d+\/network\/config: Backend\.Type: vxtap runs the "vxlan" and "udp" backends, got "host-gw"$/)]);

    const missing = await bench.runToExit(n1, bench.prefix(null), ['--iface', 'ul0']);
    expect([missing.code, missing.stderr.trim().split('\n').length]).toEqual([2, 1]);
    expect(missing.stderr).toMatch(/^vxtap: \/vxtap-fl\d+\/network\/config is not in etcd http:\/\/198\.51\.100\.1:2379: create the network config, e\.g\. etcdctl put/);

    const noIface = await bench.runToExit(n1, bench.prefix(VXLAN_CONFIG), []);
    expect([noIface.code, noIface.stderr.trim()]).toEqual([2, 'vxtap: cannot find the external interface: there is no IPv4 default route: give --iface (the underlay interface or its address) or --public-ip']);
    const wrongIface = await bench.runToExit(n1, bench.prefix(VXLAN_CONFIG), ['--iface', 'eth9']);
    expect(wrongIface.stderr.trim()).toMatch(/^vxtap: no interface with an IPv4 address matches --iface eth9 \(this host has lo:\[.*ul0:\[198\.51\.100\.2\]/);
  });
});

describe('scale', () => {
  it('programs 1000 leases: neighbours, routes and FDB entries, from the watch and from the list at start-up', async () => {
    const prefix = bench.prefix(SCALE_CONFIG);
    let a = await bench.startNode(n1, prefix, ['--iface', 'ul0']);
    const own = keyOf(a);
    const leases = simulatedLeases(1000, own);
    // 1. Through the watch: 1000 nodes join a running node.
    await bench.putLeases(prefix, leases);
    await eventually('1000 routes from the watch', () => routesOn(n1, 'flannel.1').length === 1000, 30_000);
    expect(neighsOn(n1, 'flannel.1').filter((e) => (e.state ?? []).includes('PERMANENT'))).toHaveLength(1000);
    await eventually('1000 FDB entries', async () => (await remoteFdb(a)).size === 1000);

    // 2. Through the list: a node starting in a cluster of 1000.
    expect(await a.v.stop()).toBe(0);
    a = await bench.startNode(n1, prefix, ['--iface', 'ul0'], {}, 60_000);
    expect(keyOf(a)).toBe(own);
    expect(routesOn(n1, 'flannel.1')).toHaveLength(1000);
    expect(neighsOn(n1, 'flannel.1').filter((e) => (e.state ?? []).includes('PERMANENT'))).toHaveLength(1000);
    expect((await remoteFdb(a)).size).toBe(1000);
    expect(await healthz(a, '/readyz')).toEqual({ status: 200, body: 'ready\n' });
    const m = (await healthz(a, '/metrics')).body;
    expect(metric(m, 'vxtap_route_entries')).toBe(1000);
    expect(metric(m, 'vxtap_flannel_remote_leases')).toBe(1000);
    expect(metric(m, 'vxtap_flannel_kernel_failures_total')).toBe(0);
  });
});

describe('the lease file (one machine, no etcd)', () => {
  it('two nodes share one lease file seeded by --network-config, and ping across', async () => {
    const file = `${bench.dir}/leases.json`;
    const args = ['--iface', 'ul0', '--lease-file', file, '--network-config', VXLAN_CONFIG];
    const a = await bench.startNode(n1, null, args);
    const b = await bench.startNode(n2, null, args);
    await eventually('a to program b', () => programmedFor(a, keyOf(b), macOf(n2, 'flannel.1'), ip2));
    await eventually('b to program a', () => programmedFor(b, keyOf(a), macOf(n1, 'flannel.1'), ip1));
    const podA = addPod(n1, bench.subnetEnv(a));
    const podB = addPod(n2, bench.subnetEnv(b));
    await n1.ping(podB);
    await n2.ping(podA);
    // A different config for the same file is refused rather than silently ignored.
    const other = await bench.runToExit(n3, null, ['--iface', 'ul0', '--lease-file', file, '--network-config', UDP_CONFIG]);
    expect([other.code, other.stderr.trim()]).toEqual([2, expect.stringMatching(/^vxtap: --network-config: lease file .* already holds another config/)]);
  });
});
