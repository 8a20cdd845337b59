// FDB changes at runtime (`vxtap fdb add|append|replace|del`) against a
// kernel VTEP: vxtap starts with no --remote, so nothing leaves it until a
// flood destination is appended. With --queues 2 every queue applies the
// change before the command returns.
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, type Host, Lab, OVERLAY, type Vxtap } from '../../src/lab/netns.js';
import { eventually, kernelVxlan, overlay, pings, udpFlows, udpListener } from '../helpers/peers.js';

const ZERO = '00:00:00:00:00:00';
const SPOOFED = '02:00:00:00:00:99';

/** Runs `vxtap fdb WORDS...` inside h; returns its exit code and stderr. */
async function fdb(h: Host, ...words: string[]): Promise<{ code: number | null; stderr: string }> {
  const p = h.spawn(process.execPath, [CLI, 'fdb', ...words]);
  let stderr = '';
  p.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(p, 'exit')) as [number | null];
  return { code, stderr };
}

describe('runtime FDB commands against a kernel VTEP', () => {
  const lab = new Lab('fdbrt');
  let a: Host, b: Host, va: Vxtap, ipA: string, ipB: string, kernelMac: string;

  beforeAll(async () => {
    [a, b] = [lab.host('a'), lab.host('b')];
    [ipA, ipB] = lab.underlay([a, b]);
    va = await a.vxtap(['vxlan', '--dev', 'vxt0', '--vni', '42', '--local', ipA, '--address', overlay(1)]);
    kernelMac = kernelVxlan(b, { vni: 42, local: ipB, remotes: [ipA], address: overlay(2), learning: true }).mac;
  });
  afterAll(() => lab.cleanup());

  it('floods to a destination once it is appended, and no more once it is deleted', async () => {
    expect(await pings(a, `${OVERLAY}.2`), 'no flood list: the ARP request goes nowhere').toBe(false);

    expect(await fdb(a, 'append', ZERO, 'dev', 'vxt0', 'dst', ipB)).toEqual({ code: 0, stderr: '' });
    expect(await va.fdb()).toContainEqual({ vni: 42, mac: ZERO, dst: ipB, static: true, ageSec: 0 });
    // The failed ARP before leaves a FAILED neighbour entry, which holds the next request back: start afresh.
    a.ip('neigh flush dev vxt0');
    expect(await pings(a, `${OVERLAY}.2`)).toBe(true);
    // As the kernel: appending a destination already listed changes nothing and is no error.
    expect(await fdb(a, 'append', ZERO, 'dev', 'vxt0', 'dst', ipB)).toEqual({ code: 0, stderr: 'vxtap: fdb: nothing changed (the destination is listed already)\n' });
    expect((await va.fdb()).filter((r) => r.mac === ZERO)).toHaveLength(1);

    // The kernel's answers to the same mistakes: EEXIST, ENOENT.
    const exists = await fdb(a, 'add', ZERO, 'dev', 'vxt0', 'dst', ipB);
    expect(exists.code).toBe(2);
    expect(exists.stderr).toMatch(/^vxtap: fdb: 00:00:00:00:00:00 exists on VNI 42 \(EEXIST\)[^\n]*\n$/);
    const wrongDst = await fdb(a, 'del', ZERO, 'dev', 'vxt0', 'dst', '198.51.100.250');
    expect(wrongDst.code).toBe(2);
    expect(wrongDst.stderr).toContain("dst '198.51.100.250'");
    const wrongVni = await fdb(a, 'append', ZERO, 'dev', 'vxt0', 'dst', ipB, 'vni', '7');
    expect(wrongVni.code).toBe(2);
    expect(wrongVni.stderr).toContain("vni '7'");
    const wrongDev = await fdb(a, 'append', ZERO, 'dev', 'vxt9', 'dst', ipB, '--control', va.control);
    expect(wrongDev.code).toBe(2);
    expect(wrongDev.stderr).toContain("dev 'vxt9'");

    expect(await fdb(a, 'del', ZERO, 'dev', 'vxt0', 'dst', ipB)).toEqual({ code: 0, stderr: '' });
    expect((await va.fdb()).some((r) => r.mac === ZERO)).toBe(false);
    // Forget the kernel's MAC on a's side, so the next echo request needs an ARP broadcast.
    a.ip('neigh flush dev vxt0');
    expect(await pings(a, `${OVERLAY}.2`), 'the flood list is empty again').toBe(false);
    const gone = await fdb(a, 'del', ZERO, 'dev', 'vxt0', 'dst', ipB);
    expect(gone.code).toBe(2);
    expect(gone.stderr).toContain('ENOENT');
  });

  it('keeps a static entry added at runtime when another VTEP sends from its MAC, and moves a dynamic one', async () => {
    expect(await fdb(a, 'add', SPOOFED, 'dev', 'vxt0', 'static')).toEqual({ code: 0, stderr: '' });
    expect(await va.fdb()).toContainEqual(expect.objectContaining({ mac: SPOOFED, dev: 'vxt0', static: true }));
    const refused0 = (await va.stats()).learning.refused_static;
    // The kernel VTEP takes the static MAC and sends from it (it floods to a).
    b.ip(`link set dev vx0 address ${SPOOFED}`);
    await b.exec('sh', ['-c', `ping -c 1 -W 1 ${OVERLAY}.1 >/dev/null || true`]);
    await eventually('a to refuse learning the static MAC', async () => (await va.stats()).learning.refused_static > refused0);
    expect((await va.fdb()).find((r) => r.mac === SPOOFED)).toEqual(expect.objectContaining({ dev: 'vxt0', static: true }));
    expect((await va.fdb()).some((r) => r.mac === SPOOFED && r.dst !== undefined)).toBe(false);
    b.ip(`link set dev vx0 address ${kernelMac}`);

    const twice = await fdb(a, 'add', SPOOFED, 'dev', 'vxt0', 'dst', ipB);
    expect(twice.code).toBe(2);
    expect(twice.stderr).toContain('02:00:00:00:00:99 exists on VNI 42 (EEXIST)');
    expect(await fdb(a, 'replace', SPOOFED, 'dev', 'vxt0', 'dst', ipB)).toEqual({ code: 0, stderr: '' });
    expect((await va.fdb()).find((r) => r.mac === SPOOFED)).toEqual(expect.objectContaining({ dst: ipB, static: true }));
    // A dynamic entry is a learned one: the next frame from that MAC elsewhere moves it
    // (nothing is sent to the address it names first: no frame goes to that MAC).
    expect(await fdb(a, 'replace', SPOOFED, 'dev', 'vxt0', 'dst', '198.51.100.250', 'dynamic')).toEqual({ code: 0, stderr: '' });
    expect((await va.fdb()).find((r) => r.mac === SPOOFED)).toEqual(expect.objectContaining({ dst: '198.51.100.250', static: false }));
    b.ip(`link set dev vx0 address ${SPOOFED}`);
    await b.exec('sh', ['-c', `ping -c 1 -W 1 ${OVERLAY}.1 >/dev/null || true`]);
    b.ip(`link set dev vx0 address ${kernelMac}`);
    expect((await va.fdb()).find((r) => r.mac === SPOOFED)).toEqual(expect.objectContaining({ dst: ipB, static: false }));
    expect(await fdb(a, 'del', SPOOFED, 'dev', 'vxt0', 'dst', ipB)).toEqual({ code: 0, stderr: '' });
    expect((await va.fdb()).some((r) => r.mac === SPOOFED)).toBe(false);
  });
});

describe('runtime FDB commands with --queues 2', () => {
  const lab = new Lab('fdbmq');
  const PORT = 9999;
  const N = 32;
  let a: Host, b: Host, va: Vxtap, ipA: string, ipB: string;
  let received: string[] = [];

  /** N datagrams to b, each its own flow, spread over the queues. */
  const send = (tag: string) => udpFlows(a, `${OVERLAY}.2`, PORT, tag, N);
  const queuePackets = async () => ((await va.stats()) as unknown as { queue_packets: number[] }).queue_packets;
  /** Gives datagrams that were going to arrive the time to (a negative check: nothing arrives). */
  const settle = () => new Promise((r) => setTimeout(r, 1000));

  beforeAll(async () => {
    [a, b] = [lab.host('a'), lab.host('b')];
    [ipA, ipB] = lab.underlay([a, b]);
    // No learning: every frame to b's MAC, in either queue, goes by the flood list.
    va = await a.vxtap(['vxlan', '--dev', 'vxt0', '--vni', '42', '--local', ipA, '--address', overlay(1), '--queues', '2', '--nolearning']);
    const kernelMac = kernelVxlan(b, { vni: 42, local: ipB, remotes: [ipA], address: overlay(2), learning: true }).mac;
    a.ip(`neigh replace ${OVERLAY}.2 lladdr ${kernelMac} dev vxt0 nud permanent`);
    received = (await udpListener(b, `${OVERLAY}.2`, PORT)).received;
  });
  afterAll(() => lab.cleanup());

  it('reaches both queues: all flows arrive after the append, none after the delete', async () => {
    await send('before');
    await settle();
    expect(received, 'no flood list in any queue').toEqual([]);

    expect(await fdb(a, 'append', ZERO, 'dev', 'vxt0', 'dst', ipB)).toEqual({ code: 0, stderr: '' });
    const q0 = await queuePackets();
    await send('after');
    await eventually(`all ${N} datagrams at b`, () => received.length >= N);
    expect(new Set(received)).toEqual(new Set(Array.from({ length: N }, (_, i) => `after${i}`)));
    const q1 = await queuePackets();
    expect(q1[0] - q0[0], 'queue 0 carried some of the flows').toBeGreaterThan(0);
    expect(q1[1] - q0[1], 'queue 1 carried some of the flows').toBeGreaterThan(0);

    expect(await fdb(a, 'del', ZERO, 'dev', 'vxt0')).toEqual({ code: 0, stderr: '' });
    received.length = 0;
    const q2 = await queuePackets();
    await send('deleted');
    await settle();
    const q3 = await queuePackets();
    expect(q3[0] - q2[0]).toBeGreaterThan(0);
    expect(q3[1] - q2[1]).toBeGreaterThan(0);
    expect(received, 'the flood list is empty in every queue').toEqual([]);
  });
});
