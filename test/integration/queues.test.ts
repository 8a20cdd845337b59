// Multi-queue VXLAN: --queues 2 runs two pipelines (main thread + a worker)
// on an IFF_MULTI_QUEUE TAP and two SO_REUSEPORT sockets. The overlay checks
// hold against the kernel's vxlan, and the kernel spreads flows over both
// queues on both sides.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Host, Lab, OVERLAY, type Vxtap } from '../../src/lab/netns.js';
import { checkOverlay, eventually, kernelVxlan, overlay } from '../helpers/peers.js';

interface QueueStats {
  queues: number;
  queue_packets: number[];
}

describe('multi-queue vxtap (--queues 2)', () => {
  const lab = new Lab('mq');
  let a: Host, b: Host, c: Host, va: Vxtap, vc: Vxtap, ipA: string, ipB: string, ipC: string;

  beforeAll(async () => {
    [a, b, c] = [lab.host('a'), lab.host('b'), lab.host('c')];
    [ipA, ipB, ipC] = lab.underlay([a, b, c]);
    const args = (local: string, remotes: string[], n: number, name: string) => [
      'vxlan', '--dev', 'vxt0', '--vni', '42', '--local', local, ...remotes.flatMap((r) => ['--remote', r]),
      '--address', overlay(n), '--queues', '2', '--control', `/run/vxtap/${lab.id}-${name}.sock`,
    ];
    va = await a.vxtap(args(ipA, [ipB, ipC], 1, 'a'));
    vc = await c.vxtap(args(ipC, [ipA], 3, 'c'));
    kernelVxlan(b, { vni: 42, local: ipB, remotes: [ipA], address: overlay(2), learning: true });
  });
  afterAll(() => lab.cleanup());

  it('opens a multi-queue TAP', () => {
    const link = JSON.parse(a.run('ip', '-d', '-j', 'link', 'show', 'dev', 'vxt0'))[0] as { linkinfo: { info_data: { multi_queue?: boolean } } };
    expect(link.linkinfo.info_data.multi_queue).toBe(true);
  });

  it('passes the overlay checks against the kernel\'s vxlan', async () => {
    await checkOverlay({ host: a, ip: `${OVERLAY}.1`, dev: 'vxt0' }, { host: b, ip: `${OVERLAY}.2`, dev: 'vx0' }, (x, y, what) => expect(x, what).toBe(y));
  });

  it('spreads flows over both queues on both ends', async () => {
    await a.ping(`${OVERLAY}.3`);
    // queue_packets count from start-up, and the transfers above already
    // moved them: only what the 64 flows add counts here.
    const before = await Promise.all([va, vc].map(async (v) => ((await v.stats()) as unknown as QueueStats).queue_packets));
    // 64 UDP flows (one socket each) from a to c: the TAP picks a queue per
    // flow on a, and SO_REUSEPORT picks a socket per outer flow on c.
    await a.exec(process.execPath, ['-e', `
      const d = require('node:dgram');
      let left = 64;
      for (let i = 0; i < 64; i++) {
        const s = d.createSocket('udp4');
        let k = 0;
        const next = () => (k++ < 5 ? s.send('x', 9, '${OVERLAY}.3', next) : (s.close(), --left));
        next();
      }`]);
    // 64 flows x 5 datagrams reach c; each queue must have taken in some of them.
    const deltas = async (i: number) => {
      const s = (await [va, vc][i].stats()) as unknown as QueueStats;
      expect(s.queues).toBe(2);
      expect(s.queue_packets, 'packets taken in by each queue').toHaveLength(2);
      return s.queue_packets.map((n, q) => n - before[i][q]);
    };
    await eventually('c to take in the 320 datagrams', async () => (await deltas(1)).reduce((x, y) => x + y, 0) >= 320);
    for (const i of [0, 1]) {
      const d = await deltas(i);
      expect(d.every((n) => n > 0), `${['a', 'c'][i]}: packets each queue took in during the 64 flows: ${d.join(', ')}`).toBe(true);
    }
  });
});
