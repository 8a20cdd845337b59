// The dataplane's runtime API (VtepQueues.addNetwork, addPort, removePort,
// removeNetwork), driven the way a control plane drives it: a process in a
// namespace starts a VTEP with no network at all, then adds and removes
// networks and TAP ports as JSON lines on its stdin ask. The peer is a kernel
// VTEP with one vxlan device per VNI. A port added at runtime is moved to a
// third namespace, as Docker moves a port into a container. With --queues 2
// every queue attaches its TAP queue; with offloads, a TCP transfer crosses a
// runtime port intact.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, type Host, Lab, OVERLAY, transfer } from '../../src/lab/netns.js';
import { eventually, hasLink, kernelVxlan, pings } from '../helpers/peers.js';

const QUEUES_JS = join(dirname(CLI), 'vxlan', 'queues.js');
const BENCH = '198.18.0'; // VNI 43's overlay

/** Runs VtepQueues in h: each stdin line `{"call":NAME,"args":[...]}` is answered with `{"ok":...}` or `{"error":...}`. */
const DRIVER = `
  const { VtepQueues } = await import(process.argv[1]);
  const [local, queues] = [Number(process.argv[2]), Number(process.argv[3])];
  const q = new VtepQueues({ local, dstPort: 4789, srcPortMin: 49152, srcPortMax: 65535, ignoreReserved: false, offload: true, queues, networks: [] });
  await q.start();
  const out = (m) => process.stdout.write(JSON.stringify(m) + '\\n');
  out({ ready: true });
  const calls = {
    stats: () => q.stats(),
    fdb: () => q.leader.fdbRows(),
    vnis: () => q.leader.vnis(),
    ports: () => q.leader.portNames(),
    addNetwork: (n) => q.addNetwork(n),
    removeNetwork: (vni) => q.removeNetwork(vni),
    addPort: (vni, p) => q.addPort(vni, p),
    removePort: (dev) => q.removePort(dev),
  };
  require('node:readline').createInterface({ input: process.stdin }).on('line', async (line) => {
    const { call, args } = JSON.parse(line);
    try { out({ ok: (await calls[call](...args)) ?? null }); } catch (e) { out({ error: e.message, code: e.code }); }
  });
  process.on('SIGTERM', () => { q.close(); process.exit(0); });`;

const ipNum = (ip: string) => ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);

interface Driver {
  call<T = unknown>(name: string, ...args: unknown[]): Promise<{ ok?: T; error?: string; code?: string }>;
}

async function driver(h: Host, local: string, queues: number): Promise<Driver> {
  // Host.spawn ignores stdin: this one is a pipe, and the lab still kills it at cleanup.
  const p = spawn('ip', ['netns', 'exec', h.ns, process.execPath, '-e', `(async () => {${DRIVER}})()`, QUEUES_JS, String(ipNum(local)), String(queues)]);
  h.children.push(p);
  let err = '';
  p.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const waiting: Array<(line: string) => void> = [];
  const ready = new Promise<void>((resolve, reject) => {
    waiting.push(() => resolve());
    p.once('exit', (code) => reject(new Error(`driver exited ${code}: ${err}`)));
  });
  createInterface({ input: p.stdout }).on('line', (l) => waiting.shift()?.(l));
  await ready;
  return {
    call: (name, ...args) => new Promise((resolve) => {
      waiting.push((l) => resolve(JSON.parse(l)));
      p.stdin.write(JSON.stringify({ call: name, args }) + '\n');
    }),
  };
}

const network = (vni: number, remote: string, ports: Array<{ dev: string; address?: string }>) => ({
  vni, remotes: [ipNum(remote)], learning: true, stickyLocal: true, ageingSec: 300, maxAddress: 0, allowInnerVlan: false, statics: [],
  ports: ports.map((p) => ({ mtu: 1450, ...p })),
});

describe.each([1, 2])('networks and ports added and removed at runtime (--queues %i)', (queues) => {
  const lab = new Lab(`rtapi${queues}`);
  let a: Host, b: Host, c: Host, ipA: string, ipB: string, d: Driver;

  beforeAll(async () => {
    [a, b, c] = [lab.host('a'), lab.host('b'), lab.host('c')];
    [ipA, ipB] = lab.underlay([a, b]);
    kernelVxlan(b, { vni: 42, local: ipB, remotes: [ipA], address: `${OVERLAY}.2/24`, learning: true });
    kernelVxlan(b, { vni: 43, local: ipB, remotes: [ipA], address: `${BENCH}.2/24`, learning: true, dev: 'vx1' });
    d = await driver(a, ipA, queues);
  });
  afterAll(() => lab.cleanup());

  it('starts with no network, then forwards on a network added, through every queue', async () => {
    expect((await d.call('vnis')).ok).toEqual([]);
    expect(await pings(b, `${OVERLAY}.1`), 'no VNI yet').toBe(false);
    expect((await d.call<Record<string, number>>('stats')).ok).toMatchObject({ vnis: {}, ports: {} });

    expect(await d.call('addNetwork', network(42, ipB, [{ dev: 'vxa0', address: `${OVERLAY}.1/24` }]))).toEqual({ ok: null });
    expect(hasLink(a, 'vxa0')).toBe(true);
    // Every queue attached its share of the TAP: the kernel lists one rx and one tx queue per attached descriptor.
    const sysQueues = a.run('ls', `/sys/class/net/vxa0/queues`).split('\n').filter(Boolean);
    expect(sysQueues.filter((q) => q.startsWith('tx-'))).toHaveLength(queues);
    b.ip('neigh flush dev vx0');
    expect(await pings(a, `${OVERLAY}.2`)).toBe(true);
    const stats = (await d.call<{ offloads: Record<string, unknown>; vnis: Record<string, unknown> }>('stats')).ok!;
    expect(Object.keys(stats.vnis)).toEqual(['42']);
    expect(stats.offloads).toMatchObject({ tapVnetHdr: true, tapTso: true });
    // TSO super-frames from the runtime port, GRO trains to it: the stream crosses intact both ways.
    for (const [from, to, ip] of [[a, b, `${OVERLAY}.2`], [b, a, `${OVERLAY}.1`]] as const) {
      const { sent, received } = await transfer(from, to, ip, 10_000_000);
      expect(received.sha256).toBe(sent.sha256);
      expect(received.bytes).toBe(10_000_000);
    }
  });

  it('refuses what it cannot do in one line, and keeps working', async () => {
    expect(await d.call('addNetwork', network(42, ipB, []))).toEqual({ error: 'vni 42 exists already', code: 'E_CONFIG' });
    expect(await d.call('addPort', 7, { dev: 'vxa9', mtu: 1450 })).toEqual({ error: 'vni 7 is not configured', code: 'E_CONFIG' });
    expect(await d.call('addPort', 42, { dev: 'vxa0', mtu: 1450 })).toEqual({ error: 'dev vxa0 is a port already (VNI 42)', code: 'E_CONFIG' });
    expect(await d.call('removePort', 'vxa9')).toEqual({ error: 'dev vxa9 is not a port of this instance', code: 'E_CONFIG' });
    // The link cannot be configured (an address that is not one): nothing is left behind, in any queue.
    const bad = await d.call('addPort', 42, { dev: 'vxa9', mtu: 1450, address: '203.0.113.300/24' });
    expect(bad.code).toBe('E_DEVICE');
    expect(hasLink(a, 'vxa9')).toBe(false);
    expect((await d.call('ports')).ok).toEqual(['vxa0']);
    expect(await pings(a, `${OVERLAY}.2`)).toBe(true);
  });

  it('adds a port moved into another namespace, switches locally to it, and removes it with its FDB entries', async () => {
    expect(await d.call('addPort', 42, { dev: 'vxa1', mtu: 1450 })).toEqual({ ok: null });
    // As Docker does with an endpoint: the TAP moves into the container, which configures it.
    a.ip(`link set dev vxa1 netns ${c.ns}`);
    c.ip(`address add ${OVERLAY}.3/24 dev vxa1`, 'link set dev vxa1 up');
    expect(await pings(c, `${OVERLAY}.2`), 'c to the kernel VTEP').toBe(true);
    expect(await pings(c, `${OVERLAY}.1`), 'c to the other local port').toBe(true);
    expect((await d.call<Array<{ dev?: string }>>('fdb')).ok!.some((r) => r.dev === 'vxa1')).toBe(true);

    expect(await d.call('removePort', 'vxa1')).toEqual({ ok: null });
    await eventually('the TAP to disappear', () => !hasLink(c, 'vxa1'));
    expect((await d.call<Array<{ dev?: string }>>('fdb')).ok!.some((r) => r.dev === 'vxa1')).toBe(false);
    expect((await d.call('ports')).ok).toEqual(['vxa0']);
    expect(await pings(a, `${OVERLAY}.2`)).toBe(true);
  });

  it('adds a second network beside the first, and removes it whole', async () => {
    expect(await d.call('addNetwork', network(43, ipB, [{ dev: 'vxb0', address: `${BENCH}.1/24` }]))).toEqual({ ok: null });
    expect(await pings(a, `${BENCH}.2`)).toBe(true);
    expect((await d.call('vnis')).ok).toEqual([42, 43]);

    expect(await d.call('removeNetwork', 43)).toEqual({ ok: null });
    await eventually('the TAP to disappear', () => !hasLink(a, 'vxb0'));
    expect((await d.call('vnis')).ok).toEqual([42]);
    expect((await d.call<Array<{ vni: number }>>('fdb')).ok!.some((r) => r.vni === 43)).toBe(false);
    const before = (await d.call<{ drops: Record<string, number> }>('stats')).ok!.drops.unknown_vni;
    b.ip('neigh flush dev vx1');
    expect(await pings(b, `${BENCH}.1`)).toBe(false);
    expect((await d.call<{ drops: Record<string, number> }>('stats')).ok!.drops.unknown_vni).toBeGreaterThan(before);
    expect(await pings(a, `${OVERLAY}.2`), 'VNI 42 is untouched').toBe(true);
  });
});
