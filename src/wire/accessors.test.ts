// Every getX/setX pair in src/wire round-trips at nonzero offsets, and each
// setter changes only its own field's bits.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import * as arp from './arp.js';
import * as ethernet from './ethernet.js';
import * as icmp from './icmp.js';
import * as ipv4 from './ipv4.js';
import * as ipv6 from './ipv6.js';
import * as ndisc from './ndisc.js';
import * as udp from './udp.js';
import * as vxlan from './vxlan.js';
import { MAC_BROADCAST } from './mac.js';

type Arb = fc.Arbitrary<number> | fc.Arbitrary<boolean>;
type Get = (b: Uint8Array, off: number) => unknown;
type Set = (b: Uint8Array, off: number, v: never) => void;

const u8 = fc.integer({ min: 0, max: 0xff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const mac = fc.integer({ min: 0, max: MAC_BROADCAST });

const modules: Record<string, Record<string, unknown>> = { arp, ethernet, icmp, ipv4, ipv6, ndisc, udp, vxlan };

// Field name (without get/set) -> values the field can hold.
const fields: Record<string, Record<string, Arb>> = {
  ethernet: { EthDst: mac, EthSrc: mac, EthType: u16 },
  arp: {
    ArpHtype: u16, ArpPtype: u16, ArpHlen: u8, ArpPlen: u8, ArpOper: u16,
    ArpSha: mac, ArpSpa: u32, ArpTha: mac, ArpTpa: u32,
  },
  ipv4: {
    Ipv4Version: fc.integer({ min: 0, max: 15 }),
    Ipv4Ihl: fc.integer({ min: 0, max: 15 }).map((w) => w * 4),
    Ipv4Tos: u8, Ipv4TotalLength: u16, Ipv4Id: u16,
    Ipv4DontFragment: fc.boolean(), Ipv4MoreFragments: fc.boolean(),
    Ipv4FragOffset: fc.integer({ min: 0, max: 0x1fff }).map((u) => u * 8),
    Ipv4Ttl: u8, Ipv4Protocol: u8, Ipv4Checksum: u16, Ipv4Src: u32, Ipv4Dst: u32,
  },
  ipv6: {
    Ipv6Version: fc.integer({ min: 0, max: 15 }), Ipv6TrafficClass: u8, Ipv6FlowLabel: fc.integer({ min: 0, max: 0xfffff }),
    Ipv6PayloadLength: u16, Ipv6NextHeader: u8, Ipv6HopLimit: u8,
  },
  ndisc: { NdFlags: u8 },
  icmp: { IcmpType: u8, IcmpCode: u8, IcmpChecksum: u16, IcmpRest: u32 },
  udp: { UdpSrcPort: u16, UdpDstPort: u16, UdpLength: u16, UdpChecksum: u16 },
  vxlan: { VxlanFlags: u8, Vni: fc.integer({ min: 0, max: vxlan.VNI_MAX }) },
};

describe('field accessors', () => {
  it.each(Object.keys(modules))('%s: every getter has a setter and a test below', (name) => {
    const getters = Object.keys(modules[name]).filter((k) => k.startsWith('get')).map((k) => k.slice(3));
    expect(getters.sort()).toEqual(Object.keys(fields[name]).sort());
    for (const f of getters) expect(typeof modules[name][`set${f}`]).toBe('function');
  });

  const cases = Object.entries(fields).flatMap(([m, fs]) => Object.entries(fs).map(([f, arb]) => ({ m, f, arb })));
  it.each(cases)('$m: set$f then get$f round-trips and touches only its field', ({ m, f, arb }) => {
    const get = modules[m][`get${f}`] as Get;
    const set = modules[m][`set${f}`] as Set;
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 40, maxLength: 40 }), fc.integer({ min: 1, max: 9 }), arb, (orig, off, v) => {
        const b = orig.slice();
        set(b, off, v as never);
        expect(get(b, off)).toBe(v);
        // Writing the original value back must restore every byte: a setter
        // that clobbered a neighbouring field or bit would leave a difference.
        set(b, off, get(orig, off) as never);
        expect(b).toEqual(orig);
      }),
    );
  });
});
