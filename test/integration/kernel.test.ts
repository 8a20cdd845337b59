// vxtap <-> the Linux kernel's own vxlan device: the reference peer. Run with
// the kernel learning and with `nolearning` (where it floods unknown MACs).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Host, Lab, OVERLAY, type Vxtap } from '../../src/lab/netns.js';
import { checkOverlay, kernelFdb, kernelVxlan, macOf, overlay, udpGsoTrain } from '../helpers/peers.js';

describe.each([
  { learning: true, offload: true },
  { learning: false, offload: true },
  { learning: true, offload: false },
  { learning: false, offload: false },
])('vxtap <-> kernel vxlan (kernel learning: $learning, vxtap offload: $offload)', ({ learning, offload }) => {
  const lab = new Lab(`k${learning ? 'l' : 'n'}${offload ? 'o' : 'p'}`);
  let a: Host, b: Host, va: Vxtap, ipA: string, ipB: string, kernelMac: string;

  beforeAll(async () => {
    [a, b] = [lab.host('a'), lab.host('b')];
    [ipA, ipB] = lab.underlay([a, b]);
    va = await a.vxtap([
      'vxlan', '--dev', 'vxt0', '--vni', '42', '--local', ipA, '--remote', ipB, '--address', overlay(1),
      '--control', `/run/vxtap/${lab.id}-a.sock`, ...(offload ? [] : ['--no-offload']),
    ]);
    kernelMac = kernelVxlan(b, { vni: 42, local: ipB, remotes: [ipA], address: overlay(2), learning }).mac;
  });
  afterAll(() => lab.cleanup());

  it('resolves ARP, pings both ways and moves 50 MB each way intact over TCP', async () => {
    await checkOverlay(
      { host: a, ip: `${OVERLAY}.1`, dev: 'vxt0' },
      { host: b, ip: `${OVERLAY}.2`, dev: 'vx0' },
      (x, y, what) => expect(x, what).toBe(y),
    );
  });

  it('carries a UDP GSO train both ways as its datagrams, each with a checksum the receiving stack accepts', async () => {
    for (const [from, to, dst] of [[a, b, `${OVERLAY}.2`], [b, a, `${OVERLAY}.1`]] as const) {
      const got = await udpGsoTrain(from, to, dst, 9999, 20, 1000);
      expect(got.lens).toEqual(Array(20).fill(1000));
      expect(got.intact).toBe(true);
    }
  });

  it('learns the kernel\'s MAC behind the kernel\'s VTEP', async () => {
    expect(await va.fdb()).toContainEqual(expect.objectContaining({ vni: 42, mac: kernelMac, dst: ipB, static: false }));
  });

  it(learning ? 'is learned by the kernel' : 'is not learned by a kernel with nolearning', () => {
    const entry = kernelFdb(b, 'vx0').find((e) => e.mac === macOf(a, 'vxt0'));
    if (learning) expect(entry?.dst).toBe(ipA);
    else expect(entry).toBeUndefined();
  });
});
