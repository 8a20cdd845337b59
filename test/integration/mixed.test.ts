// Three hosts on a Linux bridge: vxtap on a, the kernel's vxlan on b and c,
// one VNI, each with the other two on its flood list. Run on the bridge's and
// veths' default offloads (kernel senders leave inner checksums partial and
// TSO packets whole across the bridge) and with tx checksum offload off.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Host, Lab, OVERLAY, type Vxtap } from '../../src/lab/netns.js';
import { checkOverlay, kernelVxlan, overlay } from '../helpers/peers.js';

describe.each([{ txChecksum: true }, { txChecksum: false }])('vxtap and two kernel VTEPs on a bridge (underlay tx checksum: $txChecksum)', ({ txChecksum }) => {
  const lab = new Lab(`mix${txChecksum ? '' : 'x'}`);
  let a: Host, b: Host, c: Host, va: Vxtap;

  beforeAll(async () => {
    [a, b, c] = [lab.host('a'), lab.host('b'), lab.host('c')];
    const [ipA, ipB, ipC] = lab.underlay([a, b, c], 1500, { txChecksum });
    va = await a.vxtap([
      'vxlan', '--dev', 'vxt0', '--vni', '42', '--local', ipA, '--remote', ipB, '--remote', ipC, '--address', overlay(1),
      '--control', `/run/vxtap/${lab.id}-a.sock`,
    ]);
    kernelVxlan(b, { vni: 42, local: ipB, remotes: [ipA, ipC], address: overlay(2), learning: true });
    kernelVxlan(c, { vni: 42, local: ipC, remotes: [ipA, ipB], address: overlay(3), learning: true });
  });
  afterAll(() => lab.cleanup());

  for (const [peer, n] of [['b', 2], ['c', 3]] as const) {
    it(`vxtap <-> kernel on ${peer}: ARP, ping both ways and 50 MB each way intact over TCP`, async () => {
      await checkOverlay(
        { host: a, ip: `${OVERLAY}.1`, dev: 'vxt0' },
        { host: peer === 'b' ? b : c, ip: `${OVERLAY}.${n}`, dev: 'vx0' },
        (x, y, what) => expect(x, what).toBe(y),
      );
    });
  }

  it('dropped nothing, and met partial checksums only where the underlay leaves them to offload', async () => {
    const s = await va.stats();
    expect(Object.entries(s.drops).filter(([, v]) => v > 0)).toEqual([]);
    if (txChecksum) expect(s.partial_csums).toBeGreaterThan(0);
    else expect(s.partial_csums).toBe(0);
  });
});
