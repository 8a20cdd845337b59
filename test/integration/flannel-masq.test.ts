// The flannel node against what a production cluster throws at it: --ip-masq
// (flanneld's NAT rules, checked on the wire by tshark), and hostile leases
// in etcd. The bench: a real etcd on the store host, vxtap nodes on n1 and
// n2, and n3 as a host on the underlay outside the Network (no node runs
// there). Overlay 198.18.0.0/16, underlay 198.51.100.0/24.
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { vxlanAttrs, type LeaseAttrs } from '../../src/flannel/lease.js';
import { CLI, type Host } from '../../src/lab/netns.js';
import { eventually, macOf } from '../helpers/peers.js';
import { ids, NET_ADMIN, NOBODY, status } from '../helpers/privilege.js';
import {
  addPod, capture, FlannelBench, type FlannelNode, healthz, metric, natRules, neighsOn, netAddr, pingUntilCaptured, remoteFdb, routesOn, UDP_CONFIG, VXLAN_CONFIG,
} from './flannel-helpers.js';

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

const keyOf = (n: FlannelNode): string => bench.keyOf(n);

/** Two vxtap nodes (extra flags for both), each programmed with the other's lease, and a pod address on each. */
async function pair(prefix: string, extra: string[] = []): Promise<{ a: FlannelNode; b: FlannelNode; podA: string; podB: string }> {
  const a = await bench.startNode(n1, prefix, ['--iface', 'ul0', ...extra]);
  const b = await bench.startNode(n2, prefix, ['--iface', 'ul0', ...extra]);
  await eventually('a to route b', () => routesOn(n1, 'flannel.1').some((r) => r.dst === keyOf(b).replace('-', '/')));
  await eventually('b to route a', () => routesOn(n2, 'flannel.1').some((r) => r.dst === keyOf(a).replace('-', '/')));
  return { a, b, podA: addPod(n1, bench.subnetEnv(a)), podB: addPod(n2, bench.subnetEnv(b)) };
}

const POLICIES = ['-P PREROUTING ACCEPT', '-P INPUT ACCEPT', '-P OUTPUT ACCEPT', '-P POSTROUTING ACCEPT'];

describe('--ip-masq', () => {
  it('installs flanneld\'s rules; a pod reaching outside the Network leaves as the node, pod to pod keeps its source; SIGTERM removes the rules', async () => {
    const prefix = bench.prefix(VXLAN_CONFIG);
    const { a, b, podA, podB } = await pair(prefix, ['--ip-masq']);
    expect(bench.subnetEnv(a).ipMasq).toBe('true');
    const sn = keyOf(a).replace('-', '/');
    // flanneld v0.20.2's MasqRules, as iptables lists them (iptables 1.8 has --random-fully).
    const masq = '-m comment --comment "flanneld masq"';
    expect(natRules(n1)).toEqual([
      ...POLICIES,
      '-N FLANNEL-POSTRTG',
      `-A POSTROUTING ${masq} -j FLANNEL-POSTRTG`,
      `-A FLANNEL-POSTRTG -m mark --mark 0x4000/0x4000 ${masq} -j RETURN`,
      `-A FLANNEL-POSTRTG -s 198.18.0.0/16 -d 198.18.0.0/16 ${masq} -j RETURN`,
      `-A FLANNEL-POSTRTG -s 198.18.0.0/16 ! -d 224.0.0.0/4 ${masq} -j MASQUERADE --random-fully`,
      `-A FLANNEL-POSTRTG ! -s 198.18.0.0/16 -d ${sn} ${masq} -j RETURN`,
      `-A FLANNEL-POSTRTG ! -s 198.18.0.0/16 -d 198.18.0.0/16 ${masq} -j MASQUERADE --random-fully`,
    ]);

    // A pod to a host outside the Network: n3 sees the node's address, and answers it.
    const out = await capture(n3, 'ul0', `icmp and dst host ${ip3}`, ['ip.src', 'ip.dst', 'icmp.type']);
    await pingUntilCaptured(n1, podA, ip3, out);
    const seen = await out.stop();
    expect(seen.every(([src, dst, type]) => src === ip1 && dst === ip3 && type === '8'), JSON.stringify(seen)).toBe(true);

    // A pod to a pod across the overlay: the source stays the pod's.
    const across = await capture(n2, 'flannel.1', `icmp and dst host ${podB}`, ['ip.src', 'ip.dst']);
    await pingUntilCaptured(n1, podA, podB, across);
    const inner = await across.stop();
    expect(inner.every(([src, dst]) => src === podA && dst === podB), JSON.stringify(inner)).toBe(true);

    // A rule deleted by hand comes back within flanneld's 5 s resync, the set in order.
    const before = natRules(n1);
    n1.run('iptables', '-t', 'nat', '-D', 'FLANNEL-POSTRTG', '-s', '198.18.0.0/16', '-d', '198.18.0.0/16', '-m', 'comment', '--comment', 'flanneld masq', '-j', 'RETURN');
    expect(natRules(n1)).toHaveLength(before.length - 1);
    await eventually('the deleted rule to be back', () => natRules(n1).join('\n') === before.join('\n'), 12_000);

    // SIGTERM: rules and chain gone, on both nodes.
    expect(await a.v.stop()).toBe(0);
    expect(await b.v.stop()).toBe(0);
    expect(natRules(n1)).toEqual(POLICIES);
    expect(natRules(n2)).toEqual(POLICIES);
  });

  it('udp backend with --user nobody: keeps CAP_NET_ADMIN for the rules alone, puts a deleted rule back, and deletes them all at SIGTERM', async () => {
    const a = await bench.startNode(n1, bench.prefix(UDP_CONFIG), ['--iface', 'ul0', '--ip-masq', '--user', 'nobody']);
    const s = status(`/proc/${a.v.proc.pid!}/status`);
    expect([s.Uid, s.CapEff, s.CapAmb]).toEqual([ids(NOBODY.uid), NET_ADMIN, NET_ADMIN]);
    const before = natRules(n1);
    expect(before.filter((r) => r.includes('flanneld masq'))).toHaveLength(6);
    n1.run('iptables', '-t', 'nat', '-D', 'POSTROUTING', '-m', 'comment', '--comment', 'flanneld masq', '-j', 'FLANNEL-POSTRTG');
    await eventually('the deleted jump to be back', () => natRules(n1).join('\n') === before.join('\n'), 12_000);
    expect(await a.v.stop()).toBe(0);
    expect(natRules(n1)).toEqual(POLICIES);
  });

  it('after a crash (SIGKILL) leaves the rules, a start on another Network deletes them and installs its own', async () => {
    const a = await bench.startNode(n1, bench.prefix(VXLAN_CONFIG), ['--iface', 'ul0', '--ip-masq']);
    a.v.proc.kill('SIGKILL');
    await a.v.stop();
    expect(natRules(n1).filter((r) => r.includes('198.18.0.0/16'))).toHaveLength(4);
    const other = '{"Network":"198.19.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan"}}';
    const b = await bench.startNode(n1, bench.prefix(other), ['--iface', 'ul0', '--ip-masq']);
    const rules = natRules(n1);
    expect(rules.filter((r) => r.includes('198.18.'))).toEqual([]);
    expect(rules.filter((r) => r.includes('198.19.0.0/16'))).toHaveLength(4);
    expect(rules.filter((r) => r.includes('-j FLANNEL-POSTRTG'))).toHaveLength(1);
    expect(await b.v.stop()).toBe(0);
    expect(natRules(n1)).toEqual(POLICIES);
  });

  it('without iptables on the PATH: one line saying what to install, exit 2, before any lease or subnet.env', async () => {
    // A PATH holding only iproute2's ip, which the node needs anyway.
    const bin = mkdtempSync(join(bench.dir, 'bin-'));
    symlinkSync('/usr/sbin/ip', join(bin, 'ip'));
    const env = join(bench.dir, `${n1.name}.env`);
    rmSync(env, { force: true });
    const prefix = bench.prefix(VXLAN_CONFIG);
    const p = n1.spawn('env', [`PATH=${bin}`, process.execPath, CLI, 'flannel', ...bench.nodeArgs(n1, prefix), '--iface', 'ul0', '--ip-masq']);
    let stderr = '';
    p.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const [code] = (await once(p, 'exit')) as [number | null];
    expect([code, stderr.trim()]).toEqual([2, 'vxtap: --ip-masq: iptables --version: iptables is not installed: install it (apt-get install iptables) or drop --ip-masq']);
    // Found before the lease is taken: nothing changed anywhere.
    expect(existsSync(env)).toBe(false);
    expect(bench.leases(prefix).size).toBe(0);
    expect(natRules(n1)).toEqual(POLICIES);
  });

  it('without --ip-masq: no rules, FLANNEL_IPMASQ=false, and a pod reaching outside keeps its address', async () => {
    const prefix = bench.prefix(VXLAN_CONFIG);
    const { a, podA } = await pair(prefix);
    expect(bench.subnetEnv(a).ipMasq).toBe('false');
    expect(natRules(n1)).toEqual(POLICIES);
    // n3 has no route back to the pod network: only the requests are seen.
    const out = await capture(n3, 'ul0', `icmp and dst host ${ip3}`, ['ip.src']);
    await eventually('an echo request from the pod address', async () => {
      await n1.exec('ping', ['-c', '1', '-W', '1', '-I', podA, ip3]).catch(() => undefined);
      return out.rows().length > 0;
    }, 20_000);
    expect((await out.stop()).map(([src]) => src)).toContain(podA);
  });
});

describe('lease hygiene: hostile leases are refused, and the good peers keep forwarding', () => {
  // Each lease names n3 as its PublicIP: no node runs there.
  const hostile: Array<[string, (keyB: string, macB: string) => [key: string, attrs: LeaseAttrs], string]> = [
    ['a lease for the underlay\'s own range, outside the Network', () => ['198.51.100.0-24', vxlanAttrs(ip3, { vni: 1, vtepMac: '02:00:5e:00:02:01' })], 'outside_network'],
    ['a /30 inside a node\'s /24', (keyB) => [`${netAddr(keyB)}-30`, vxlanAttrs(ip3, { vni: 1, vtepMac: '02:00:5e:00:02:02' })], 'overlap'],
    ['another node\'s VtepMAC', (_keyB, macB) => ['198.18.250.0-24', vxlanAttrs(ip3, { vni: 1, vtepMac: macB })], 'duplicate_vtep_mac'],
  ];

  it.each(hostile)('%s: logged once, counted, reported by /readyz; deleting it touches nothing of b\'s', async (_what, make, reason) => {
    const prefix = bench.prefix(VXLAN_CONFIG);
    const { a, b, podB } = await pair(prefix);
    const keyB = keyOf(b);
    const macB = macOf(n2, 'flannel.1');
    const underlay = n1.run('ip', '-j', '-4', 'route', 'show', 'dev', 'ul0');
    const programmedB = async (): Promise<boolean> => {
      const neigh = neighsOn(n1, 'flannel.1').find((e) => e.dst === netAddr(keyB));
      const route = routesOn(n1, 'flannel.1').find((r) => r.dst === keyB.replace('-', '/'));
      return neigh?.lladdr === macB && route?.gateway === netAddr(keyB) && (await remoteFdb(a)).get(macB) === ip2;
    };
    expect(await programmedB()).toBe(true);
    expect(await healthz(a, '/readyz')).toEqual({ status: 200, body: 'ready\n' });

    const [key, attrs] = make(keyB, macB);
    bench.putLease(prefix, key, attrs);
    await eventually('a to refuse the lease', async () => metric((await healthz(a, '/metrics')).body, `vxtap_flannel_leases_refused_total{reason="${reason}"}`) === 1);
    const ready = await healthz(a, '/readyz');
    expect(ready.status).toBe(503);
    expect(ready.body).toBe(`not ready: lease conflicts: ${key} (${reason})\n`);
    const lines = a.v.stderr.split('\n').filter((l) => l.includes(`refusing lease ${key} `));
    expect(lines, a.v.stderr).toHaveLength(1);
    // Nothing of it in the kernel, b's entries as they were, the underlay route as it was.
    expect(n1.run('ip', '-j', '-4', 'route', 'show', 'dev', 'ul0')).toBe(underlay);
    expect(routesOn(n1, 'flannel.1')).toHaveLength(1);
    expect(neighsOn(n1, 'flannel.1')).toHaveLength(1);
    expect(await programmedB()).toBe(true);
    await n1.ping(podB);

    bench.deleteLease(prefix, key);
    await eventually('a to see the lease gone', async () => (await healthz(a, '/readyz')).status === 200);
    expect(await programmedB()).toBe(true);
    expect(n1.run('ip', '-j', '-4', 'route', 'show', 'dev', 'ul0')).toBe(underlay);
    await n1.ping(podB);
    await n2.ping(bench.subnetEnv(a).subnet.split('/')[0]);
    // Logged once in all: its deletion and the resyncs do not log it again.
    expect(a.v.stderr.split('\n').filter((l) => l.includes(`refusing lease ${key} `))).toHaveLength(1);
  });
});
