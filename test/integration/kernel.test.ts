// vxtap <-> the Linux kernel's own vxlan device: the reference peer. Run with
// the kernel learning and with `nolearning` (where it floods unknown MACs),
// on the veth's default offloads (the kernel leaves its inner TCP and UDP
// checksums partial, and vxtap must deliver them so the host accepts them)
// and with tx checksum offload off (the veth finishes them).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Host, Lab, OVERLAY, OVERLAY6, type Vxtap } from '../../src/lab/netns.js';
import { checkOverlay, checkOverlay6, kernelFdb, kernelVxlan, macOf, overlay, udpGsoTrain } from '../helpers/peers.js';

describe.each([
  { learning: true, offload: true, txChecksum: true },
  { learning: false, offload: true, txChecksum: true },
  { learning: true, offload: false, txChecksum: true },
  { learning: false, offload: false, txChecksum: true },
  { learning: true, offload: true, txChecksum: false },
  { learning: false, offload: false, txChecksum: false },
])('vxtap <-> kernel vxlan (kernel learning: $learning, vxtap offload: $offload, underlay tx checksum: $txChecksum)', ({ learning, offload, txChecksum }) => {
  const lab = new Lab(`k${learning ? 'l' : 'n'}${offload ? 'o' : 'p'}${txChecksum ? '' : 'x'}`);
  let a: Host, b: Host, va: Vxtap, ipA: string, ipB: string, kernelMac: string;

  beforeAll(async () => {
    [a, b] = [lab.host('a'), lab.host('b')];
    [ipA, ipB] = lab.underlay([a, b], 1500, { txChecksum });
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

  it('carries inner IPv6: neighbour discovery, ping both ways and 10 MB each way intact over TCP', async () => {
    await checkOverlay6(
      { host: a, ip: `${OVERLAY6}1`, dev: 'vxt0' },
      { host: b, ip: `${OVERLAY6}2`, dev: 'vx0' },
      (x, y, what) => expect(x, what).toBe(y),
    );
  });

  it(txChecksum
    ? 'finished (or had the TAP finish) the partial checksums the kernel sent, and dropped nothing'
    : 'saw no partial checksum: the veth finished them all', async () => {
    const s = await va.stats();
    if (txChecksum) expect(s.partial_csums).toBeGreaterThan(0);
    else expect(s.partial_csums).toBe(0);
    expect(s.ports.vxt0.partial_csums).toBe(s.partial_csums);
    expect(s.drops).toEqual(Object.fromEntries(Object.keys(s.drops).map((k) => [k, 0])));
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
