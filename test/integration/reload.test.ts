// `vxtap run --config FILE` reloaded while it forwards, against a kernel VTEP
// with one vxlan device per VNI. A VNI added by SIGHUP forwards while a TCP
// transfer on the unchanged VNI runs on (the kernel VTEP's host sends, at a
// steady 50 MB/s for 5 s, so that the reload falls inside it): the stream
// arrives intact, no counter on the path counts a drop, and the sender
// retransmits no more than in the same transfer without a reload, measured
// just before. On this bench, a loaded machine makes the kernel's TCP
// retransmit segments that were not lost (tail loss probes after a late ACK:
// the receiver reports each as a duplicate, DSACK), with or without a reload,
// from none to hundreds a transfer; what is compared is the retransmits the
// receiver did not report so, which a lost packet would add to. A file that does not validate, or changes what needs a
// restart, is refused whole and the old config keeps forwarding; a reload
// whose TAP cannot be created is taken back. A VNI removed by `vxtap reload`
// stops forwarding and its TAP is gone. With --queues 2, every queue forwards
// on the VNI added at runtime.
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, type Host, Lab, OVERLAY, transfer, type Vxtap } from '../../src/lab/netns.js';
import { eventually, hasLink, kernelVxlan, pings, udpFlows, udpListener } from '../helpers/peers.js';

const BENCH = '198.18.0'; // VNI 43's overlay
const BYTES = 250_000_000;
const RATE = 50_000_000;
const UDP_PORT = 9999;
const FLOWS = 32;

/** Runs `vxtap reload` inside h; its exit code, stdout and stderr. */
async function reload(h: Host, control: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = h.spawn(process.execPath, [CLI, 'reload', '--control', control]);
  let [stdout, stderr] = ['', ''];
  p.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  p.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(p, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

/** A counter of the namespace's stack, from nstat. */
function nstat(h: Host, name: string): number {
  const m = new RegExp(`^${name}\\s+(\\d+)`, 'm').exec(h.run('nstat', '-asz', name));
  if (!m) throw new Error(`nstat: no ${name}`);
  return Number(m[1]);
}

/**
 * TCP segments the sender's stack has retransmitted, those it was told were
 * duplicates (DSACK), and the duplicates the receiver's stack reported (a
 * report that reaches a sender already closing is not counted there).
 */
function retransmits(sender: Host, receiver: Host): { all: number; dsacked: number; reported: number } {
  return { all: nstat(sender, 'TcpRetransSegs'), dsacked: nstat(sender, 'TcpExtTCPDSACKRecvSegs'), reported: nstat(receiver, 'TcpExtTCPDSACKOldSent') };
}

/** Drops on a link, as `ip -s` counts them. */
function linkDrops(h: Host, dev: string): number {
  const s = (JSON.parse(h.run('ip', '-s', '-j', 'link', 'show', 'dev', dev)) as Array<{ stats64: { rx: { dropped: number }; tx: { dropped: number } } }>)[0].stats64;
  return s.rx.dropped + s.tx.dropped;
}

describe.each([1, 2])('vxtap run --config, reloaded (--queues %i)', (queues) => {
  const lab = new Lab(`reload${queues}`);
  const dir = mkdtempSync(join(tmpdir(), 'vxtap-reload-'));
  const file = join(dir, 'vxtap.json');
  const control = join(dir, 'c.sock');
  let a: Host, b: Host, ipA: string, ipB: string, v: Vxtap;
  const vni42 = () => ({ vni: 42, remotes: [ipB], ports: [{ dev: 'vxa0', address: `${OVERLAY}.1/24` }] });
  const vni43 = () => ({ vni: 43, remotes: [ipB], ports: [{ dev: 'vxb0', address: `${BENCH}.1/24` }] });
  const write = (networks: object[], more: object = {}) => writeFileSync(file, JSON.stringify({ local: ipA, control, queues, networks, ...more }));
  /** Waits for the instance to log the outcome of the n-th reload (counting from 1). */
  const logged = (n: number) => eventually(`reload ${n} in the log`, () => (v.stderr.match(/"msg":"vxtap(?: reloaded|: reload refused)/g) ?? []).length >= n, 15_000);

  beforeAll(async () => {
    [a, b] = [lab.host('a'), lab.host('b')];
    [ipA, ipB] = lab.underlay([a, b]);
    kernelVxlan(b, { vni: 42, local: ipB, remotes: [ipA], address: `${OVERLAY}.2/24`, learning: true });
    kernelVxlan(b, { vni: 43, local: ipB, remotes: [ipA], address: `${BENCH}.2/24`, learning: true, dev: 'vx1' });
    write([vni42()]);
    v = await a.vxtap(['run', '--config', file], control);
  });
  afterAll(async () => {
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('forwards on a VNI added by SIGHUP, while a transfer on the unchanged VNI runs on intact, retransmitting no more than without a reload', async () => {
    expect(await pings(a, `${OVERLAY}.2`)).toBe(true);
    expect(await pings(a, `${BENCH}.2`), 'VNI 43 is not configured yet').toBe(false);
    /** Every drop counter on the path: vxtap's, the kernel's socket drops, the TAP's and the kernel VTEP's links. */
    const drops = async () => {
      const st = (await v.stats()) as unknown as { drops: Record<string, number>; kernel_drops: number };
      return Object.values(st.drops).reduce((x, y) => x + y, 0) + st.kernel_drops + linkDrops(a, 'vxa0') + linkDrops(a, 'ul0') + linkDrops(b, 'vx0') + linkDrops(b, 'ul0');
    };
    type R = ReturnType<typeof retransmits>;
    const notDuplicates = (x: R, y: R) => Math.max(0, (y.all - x.all) - Math.max(y.dsacked - x.dsacked, y.reported - x.reported));

    const r0 = retransmits(b, a);
    const baseline = await transfer(b, a, `${OVERLAY}.1`, BYTES, 5201, RATE);
    expect(baseline.received.sha256).toBe(baseline.sent.sha256);
    const r1 = retransmits(b, a);

    const d0 = await drops();
    const rx = async () => (await v.stats()).vnis['42'].rx_bytes;
    const start = await rx();
    let finished = false;
    const during = transfer(b, a, `${OVERLAY}.1`, BYTES, 5202, RATE).finally(() => (finished = true));
    await eventually('the transfer to be under way', async () => (await rx()) - start > 20_000_000);
    write([vni42(), vni43()]);
    v.proc.kill('SIGHUP');
    await logged(1);
    expect(finished, 'the reload was applied while the transfer ran').toBe(false);
    expect(v.stderr).toContain('"changes":["add VNI 43 with vxb0"]');
    // While the transfer still runs: the new VNI forwards.
    expect(await pings(a, `${BENCH}.2`)).toBe(true);
    const { sent, received } = await during;
    const r2 = retransmits(b, a);
    expect(received.bytes).toBe(BYTES);
    expect(received.sha256).toBe(sent.sha256);
    expect(await drops(), 'drops on the path during the reload').toBe(d0);
    const [base, reloaded] = [notDuplicates(r0, r1), notDuplicates(r1, r2)];
    expect(reloaded, `retransmits not reported as duplicates: ${reloaded} with the reload (of ${r2.all - r1.all} retransmits), ${base} in the baseline (of ${r1.all - r0.all})`).toBeLessThanOrEqual(base);
    expect(v.alive).toBe(true);
  }, 180_000);

  it('carries every flow on the runtime VNI, through every queue', async () => {
    const tx = a.run('ls', '/sys/class/net/vxb0/queues').split('\n').filter((q) => q.startsWith('tx-'));
    expect(tx, 'every queue attached to the TAP added at runtime').toHaveLength(queues);
    const listener = await udpListener(b, `${BENCH}.2`, UDP_PORT);
    const received = listener.received;
    const before = ((await v.stats()) as unknown as { queue_packets: number[] }).queue_packets;
    await udpFlows(a, `${BENCH}.2`, UDP_PORT, 'f', FLOWS);
    await eventually(`all ${FLOWS} datagrams at b`, () => received.length >= FLOWS);
    expect(new Set(received)).toEqual(new Set(Array.from({ length: FLOWS }, (_, i) => `f${i}`)));
    const after = ((await v.stats()) as unknown as { queue_packets: number[] }).queue_packets;
    expect(after).toHaveLength(queues);
    for (let q = 0; q < queues; q++) expect(after[q], `queue ${q} forwarded some`).toBeGreaterThan(before[q]);
    listener.stop();
  });

  it('refuses an invalid file whole, in one line, and keeps the old config forwarding', async () => {
    write([vni42(), vni43(), { vni: 44, ports: [{ dev: 'vxc0', mtu: 10 }] }]);
    const bad = await reload(a, control);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(new RegExp(`^vxtap: ${file}: networks\\[2\\]\\.ports\\[0\\]\\.mtu: [^\\n]*\\n$`));
    expect(hasLink(a, 'vxc0')).toBe(false);

    write([vni42(), vni43()], { dstport: 8472, offload: false });
    const fixed = await reload(a, control);
    expect(fixed.code).toBe(2);
    expect(fixed.stderr).toBe(`vxtap: ${file}: dstport, offload: these cannot change while vxtap runs (it needs a restart); nothing was changed\n`);

    // Valid, but its second TAP cannot be made (the underlay's veth has that name): the first is taken back.
    write([vni42(), vni43(), { vni: 44, remotes: [ipB], ports: [{ dev: 'vxc0' }] }, { vni: 45, ports: [{ dev: 'ul0' }] }]);
    const clash = await reload(a, control);
    expect(clash.code).toBe(2);
    expect(clash.stderr).toMatch(/^vxtap: reload: add VNI 45 with ul0: dev 'ul0' [^\n]*; the old config is back in force\n$/);
    expect(hasLink(a, 'vxc0')).toBe(false);

    // By SIGHUP: logged, and refused all the same.
    write([vni42(), vni43()], { local: '198.51.100.77' });
    const n = (v.stderr.match(/"msg":"vxtap(?: reloaded|: reload refused)/g) ?? []).length;
    v.proc.kill('SIGHUP');
    await logged(n + 1);
    expect(v.stderr).toContain(`"msg":"vxtap: reload refused: ${file}: local: this cannot change while vxtap runs`);

    expect(await pings(a, `${OVERLAY}.2`)).toBe(true);
    expect(await pings(a, `${BENCH}.2`)).toBe(true);
    expect(Object.keys((await v.stats()).vnis).sort()).toEqual(['42', '43']);
  });

  it('stops forwarding on a VNI removed by vxtap reload, and removes its TAP', async () => {
    write([vni42()]);
    expect(await reload(a, control)).toEqual({ code: 0, stdout: 'remove VNI 43\n', stderr: '' });
    await eventually('vxb0 to disappear', () => !hasLink(a, 'vxb0'));
    expect(Object.keys((await v.stats()).vnis)).toEqual(['42']);
    const unknown = (await v.stats()).drops.unknown_vni;
    b.ip('neigh flush dev vx1');
    expect(await pings(b, `${BENCH}.1`)).toBe(false);
    expect((await v.stats()).drops.unknown_vni, 'what the kernel sends on VNI 43 is dropped as unknown').toBeGreaterThan(unknown);
    expect(await pings(a, `${OVERLAY}.2`)).toBe(true);
    expect(await reload(a, control)).toEqual({ code: 0, stdout: 'vxtap: reload: nothing changed\n', stderr: '' });
    expect(v.alive).toBe(true);
  });
});
