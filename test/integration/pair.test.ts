// vxtap <-> vxtap across a veth underlay, in two network namespaces.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Host, Lab, OVERLAY, OVERLAY6, transfer, type Vxtap } from '../../src/lab/netns.js';
import { checkOverlay, checkOverlay6, framesDuring, macOf, overlay, udpGsoTrain } from '../helpers/peers.js';

// With TAP TSO/GRO and UDP GSO/GRO on, and with them off, on the veth's
// default offloads (the peer's UDP GSO trains cross the veth whole and arrive
// as GRO trains of up to 64 segments each) and with tx checksum offload off.
describe.each([
  { offload: true, txChecksum: true },
  { offload: false, txChecksum: true },
  { offload: true, txChecksum: false },
])('vxtap <-> vxtap (offload: $offload, underlay tx checksum: $txChecksum)', ({ offload, txChecksum }) => {
  const lab = new Lab(`pair${offload ? '' : 'nooff'}${txChecksum ? 'tx' : ''}`);
  let a: Host, b: Host, va: Vxtap, vb: Vxtap, ipA: string, ipB: string;

  beforeAll(async () => {
    [a, b] = [lab.host('a'), lab.host('b')];
    [ipA, ipB] = lab.underlay([a, b], 1500, { txChecksum });
    const args = (local: string, remote: string, n: number, name: string) => [
      'vxlan', '--dev', 'vxt0', '--vni', '42', '--local', local, '--remote', remote, '--address', overlay(n),
      '--control', `/run/vxtap/${lab.id}-${name}.sock`, ...(offload ? [] : ['--no-offload']),
    ];
    va = await a.vxtap(args(ipA, ipB, 1, 'a'));
    vb = await b.vxtap(args(ipB, ipA, 2, 'b'));
  });
  afterAll(() => lab.cleanup());

  it('resolves ARP, pings both ways and moves 50 MB each way intact over TCP', async () => {
    await checkOverlay(
      { host: a, ip: `${OVERLAY}.1`, dev: 'vxt0' },
      { host: b, ip: `${OVERLAY}.2`, dev: 'vxt0' },
      (x, y, what) => expect(x, what).toBe(y),
    );
  });

  it('learns the remote MAC behind the peer and its own MAC on the port', async () => {
    const fdb = await va.fdb();
    expect(fdb).toContainEqual(expect.objectContaining({ vni: 42, mac: macOf(b, 'vxt0'), dst: ipB, static: false }));
    expect(fdb).toContainEqual(expect.objectContaining({ vni: 42, mac: macOf(a, 'vxt0'), dev: 'vxt0', static: false }));
    expect(fdb).toContainEqual({ vni: 42, mac: '00:00:00:00:00:00', dst: ipB, static: true, ageSec: 0 });
    const stats = await vb.stats();
    expect(stats.vnis['42'].rx_packets).toBeGreaterThan(30_000);
    // Drops for load (a full socket buffer) may happen; drops for bad input must not.
    for (const reason of ['truncated', 'no_i_flag', 'reserved_bits', 'unknown_vni', 'inner_runt', 'bad_src_mac', 'oversize']) {
      expect(stats.drops[reason], reason).toBe(0);
    }
    // Nor may the TAP side drop: a TAP's send buffer is unbounded, and a
    // device queue that a batch of GRO trains fills is written out, not dropped.
    for (const v of [va, vb]) expect((await v.stats()).drops.dev_busy, 'dev_busy').toBe(0);
  });

  it('caps the TAP\'s super-frames at the segments one UDP GSO send carries (65507 / (8 + 14 + 1450) = 44)', async () => {
    const link = JSON.parse(a.run('ip', '-d', '-j', 'link', 'show', 'dev', 'vxt0'))[0] as { gso_max_segs: number };
    expect(link.gso_max_segs).toBe(offload ? 44 : 65535);
    expect((await va.stats()).offloads).toMatchObject({ tapGsoMaxSegs: offload ? 44 : 0 });
  });

  it('carries a UDP GSO train as its datagrams, as one super-frame through each TAP (USO, UDP GRO) with offloads', async () => {
    // 20 datagrams of 1000 bytes: one 14 + 20 + 8 + 20 * 1000 = 20042-byte
    // super-frame on each TAP with offloads; without them the kernel cuts the
    // train before a's TAP, and b's vxtap writes its 20 frames of 1042 bytes one by one.
    let got = { lens: [] as number[], intact: false };
    const [onA, onB] = await framesDuring([{ host: a, dev: 'vxt0' }, { host: b, dev: 'vxt0' }], 9999, { from: a, dst: `${OVERLAY}.2` },
      async () => void (got = await udpGsoTrain(a, b, `${OVERLAY}.2`, 9999, 20, 1000)));
    expect(got.lens).toEqual(Array(20).fill(1000));
    expect(got.intact).toBe(true);
    const frames = offload ? [14 + 20 + 8 + 20 * 1000] : Array(20).fill(14 + 20 + 8 + 1000);
    expect(onA, 'frames a\'s TAP carried out to vxtap').toEqual(frames);
    expect(onB, 'frames b\'s vxtap wrote into its TAP').toEqual(frames);
    expect((await va.stats()).offloads).toMatchObject({ tapUso: offload });
  });

  it(offload
    ? (txChecksum ? 'sends full UDP GSO trains of 44 datagrams, which cross the veth whole' : 'sends UDP GSO trains, which the veth cuts into datagrams')
    : 'sends one datagram per packet (raw socket)', async () => {
    // tshark on b's underlay during a 10 MB stream: with UDP GSO on a veth
    // that keeps tx checksum offload, a train is one packet there, its
    // length 14 + 20 + 8 and 44 datagrams of 8 + 14 + 1450 bytes (what one
    // send carries, the TAP's gso_max_segs); otherwise every frame fits the 1500-byte MTU.
    const [onWire] = await framesDuring([{ host: b, dev: 'ul0' }], 4789, { from: a, dst: ipB },
      async () => void (await transfer(a, b, `${OVERLAY}.2`, 10_000_000)));
    const largest = Math.max(...onWire);
    expect(largest).toBe(offload && txChecksum ? 14 + 20 + 8 + 44 * (8 + 14 + 1450) : 14 + 1500);
  });

  it('carries inner IPv6: neighbour discovery, ping both ways and 10 MB each way intact over TCP', async () => {
    await checkOverlay6(
      { host: a, ip: `${OVERLAY6}1`, dev: 'vxt0' },
      { host: b, ip: `${OVERLAY6}2`, dev: 'vxt0' },
      (x, y, what) => expect(x, what).toBe(y),
    );
  });

  it('removes its TAP and exits 0 on SIGTERM', async () => {
    expect(await va.stop()).toBe(0);
    expect(() => a.run('ip', 'link', 'show', 'dev', 'vxt0')).toThrow(/does not exist/);
    expect(va.stderr).toContain('devices removed');
  });
});
