// A VXLAN frame from the wire whose inner source is a local port's MAC: by
// default vxtap refuses to move that MAC to the remote (counted as
// learning.refused_local) and the local host stays reachable; with
// --no-sticky-local it moves, as on a Linux bridge without sticky entries.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Host, Lab, OVERLAY, type Vxtap } from '../../src/lab/netns.js';
import { ETH_HLEN, emitEthernet } from '../../src/wire/ethernet.js';
import { parseMac } from '../../src/wire/mac.js';
import { VXLAN_FLAG_I, VXLAN_HLEN, emitVxlan } from '../../src/wire/vxlan.js';
import { eventually, kernelVxlan, macOf, overlay, sendDatagrams } from '../helpers/peers.js';

const VNI = 42;
const PORT = 4789;
/** Unicast, locally administered, on no device of the lab. */
const DST_MAC = 0x02_00_5e_00_00_98;
/** IEEE 802 local experimental EtherType: nothing on the TAP acts on it. */
const ETHERTYPE_EXPERIMENTAL = 0x88b5;

/** A VXLAN datagram on VNI 42 carrying a minimum-size frame from `src`. */
function spoofed(src: number): Buffer {
  const b = Buffer.alloc(VXLAN_HLEN + ETH_HLEN + 46, 0xab);
  emitVxlan({ vni: VNI, flags: VXLAN_FLAG_I }, b, 0);
  emitEthernet({ dst: DST_MAC, src, ethertype: ETHERTYPE_EXPERIMENTAL }, b, VXLAN_HLEN);
  return b;
}

describe.each([
  { sticky: true, flags: [] as string[] },
  { sticky: false, flags: ['--no-sticky-local'] },
])('a spoofed VXLAN source with a local port\'s MAC (sticky local: $sticky)', ({ sticky, flags }) => {
  const lab = new Lab(sticky ? 'sticky' : 'nosticky');
  let a: Host, b: Host, va: Vxtap, ipA: string, ipB: string, tapMac: string;

  beforeAll(async () => {
    [a, b] = [lab.host('a'), lab.host('b')];
    [ipA, ipB] = lab.underlay([a, b]);
    va = await a.vxtap([
      'vxlan', '--dev', 'vxt0', '--vni', String(VNI), '--local', ipA, '--remote', ipB, '--address', overlay(1),
      '--control', `/run/vxtap/${lab.id}-a.sock`, ...flags,
    ]);
    kernelVxlan(b, { vni: VNI, local: ipB, remotes: [ipA], address: overlay(2), learning: true });
    tapMac = macOf(a, 'vxt0');
    // The local host answers: vxtap learns its MAC on the port.
    await b.ping(`${OVERLAY}.1`);
    await eventually('the TAP\'s MAC on the local port', async () => (await va.fdb()).some((r) => r.mac === tapMac && r.dev === 'vxt0'));
  });
  afterAll(() => lab.cleanup());

  it(sticky ? 'is refused and counted, and the local host stays reachable' : 'moves the MAC to the remote, as --no-sticky-local asks', async () => {
    const before = (await va.stats()).learning;
    await sendDatagrams(b, ipA, PORT, [spoofed(parseMac(tapMac))]);
    const after = await eventually('the spoofed source to be learned or refused', async () => {
      const l = (await va.stats()).learning;
      return l.refused_local + l.moved > before.refused_local + before.moved && l;
    });
    if (sticky) {
      expect(after.refused_local - before.refused_local).toBe(1);
      expect(after.moved).toBe(before.moved);
      expect((await va.fdb()).find((r) => r.mac === tapMac)).toMatchObject({ dev: 'vxt0' });
      await b.ping(`${OVERLAY}.1`);
    } else {
      expect(after.moved - before.moved).toBe(1);
      expect(after.refused_local).toBe(0);
    }
  });
});
