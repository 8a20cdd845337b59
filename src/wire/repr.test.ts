// The Repr contract, checked the same way for every codec in src/wire:
// parse -> emit and emit -> parse round-trip, emit writes exactly its header
// (every byte of it, nothing outside it), and short input is refused.
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { ARP_ERR_TRUNCATED, ARP_HLEN, type ArpRepr, arpCheck, emitArp, parseArp } from './arp.js';
import { ETH_ERR_TRUNCATED, ETH_HLEN, type EthernetRepr, emitEthernet, ethCheck, parseEthernet } from './ethernet.js';
import {
  IPV4_ERR_TRUNCATED, IPV4_FLAG_DF, IPV4_HLEN, type Ipv4Repr, emitIpv4, ipv4Check, ipv4HeaderChecksum, parseIpv4,
  setIpv4Checksum,
} from './ipv4.js';
import { IPV6_ERR_TRUNCATED, IPV6_HLEN, type Ipv6Repr, emitIpv6, ipv6Check, parseIpv6 } from './ipv6.js';
import { MAC_BROADCAST } from './mac.js';
import { UDP_ERR_TRUNCATED, UDP_HLEN, type UdpRepr, emitUdp, parseUdp, udpCheck } from './udp.js';
import {
  VNI_MAX, VXLAN_ERR_TRUNCATED, VXLAN_FLAG_I, VXLAN_HLEN, type VxlanRepr, emitVxlan, parseVxlan, vxlanCheck,
} from './vxlan.js';

interface Codec<R> {
  hlen: number;
  parse(b: Uint8Array, off: number, len: number): R;
  emit(r: R, b: Uint8Array, off: number): number;
  check(b: Uint8Array, off: number, len: number): number;
  truncated: number;
  /** Any value the Repr can hold. */
  repr: fc.Arbitrary<R>;
  /** Bytes after the header that parsing `r` requires (its payload). */
  payload(r: R): number;
  /** A valid packet (header and payload) whose header emit reproduces exactly. */
  packet: fc.Arbitrary<Uint8Array>;
}

const u8 = fc.integer({ min: 0, max: 0xff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const mac = fc.integer({ min: 0, max: MAC_BROADCAST });
const bytes = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
const payload = fc.uint8Array({ maxLength: 64 });
const concat = (...parts: Uint8Array[]) => Uint8Array.from(parts.flatMap((p) => [...p]));

const codecs = {
  ethernet: {
    hlen: ETH_HLEN, parse: parseEthernet, emit: emitEthernet, check: ethCheck, truncated: ETH_ERR_TRUNCATED,
    repr: fc.record({ dst: mac, src: mac, ethertype: u16 }),
    payload: () => 0,
    packet: bytes(ETH_HLEN),
  } satisfies Codec<EthernetRepr>,
  arp: {
    hlen: ARP_HLEN, parse: parseArp, emit: emitArp, check: arpCheck, truncated: ARP_ERR_TRUNCATED,
    repr: fc.record({ op: u16, sha: mac, spa: u32, tha: mac, tpa: u32 }),
    payload: () => 0,
    packet: bytes(ARP_HLEN - 6).map((rest) => concat(Uint8Array.of(0, 1, 8, 0, 6, 4), rest)),
  } satisfies Codec<ArpRepr>,
  ipv4: {
    hlen: IPV4_HLEN, parse: parseIpv4, emit: emitIpv4, check: ipv4Check, truncated: IPV4_ERR_TRUNCATED,
    repr: fc.record({
      src: u32, dst: u32, protocol: u8, ttl: u8, tos: u8, id: u16, dontFragment: fc.boolean(),
      payloadLen: fc.integer({ min: 0, max: 0xffff - IPV4_HLEN }),
    }),
    payload: (r) => r.payloadLen,
    packet: fc.tuple(bytes(IPV4_HLEN), fc.boolean(), payload).map(([h, df, p]) => {
      const b = concat(h, p);
      b[0] = 0x45;
      b[2] = b.length >>> 8;
      b[3] = b.length;
      b[6] = df ? IPV4_FLAG_DF >>> 8 : 0;
      b[7] = 0;
      setIpv4Checksum(b, 0, ipv4HeaderChecksum(b, 0));
      return b;
    }),
  } satisfies Codec<Ipv4Repr>,
  ipv6: {
    hlen: IPV6_HLEN, parse: parseIpv6, emit: emitIpv6, check: ipv6Check, truncated: IPV6_ERR_TRUNCATED,
    repr: fc.record({
      trafficClass: u8, flowLabel: fc.integer({ min: 0, max: 0xfffff }), payloadLen: fc.integer({ min: 0, max: 200 }),
      nextHeader: u8, hopLimit: u8, src: fc.array(u32, { minLength: 4, maxLength: 4 }), dst: fc.array(u32, { minLength: 4, maxLength: 4 }),
    }),
    payload: (r) => r.payloadLen,
    packet: fc.tuple(bytes(IPV6_HLEN), payload).map(([h, p]) => {
      const b = concat(h, p);
      b[0] = 0x60 | (b[0] & 0x0f);
      b[4] = p.length >>> 8;
      b[5] = p.length;
      return b;
    }),
  } satisfies Codec<Ipv6Repr>,
  udp: {
    hlen: UDP_HLEN, parse: parseUdp, emit: emitUdp, check: udpCheck, truncated: UDP_ERR_TRUNCATED,
    repr: fc.record({ srcPort: u16, dstPort: u16, payloadLen: fc.integer({ min: 0, max: 0xffff - UDP_HLEN }), checksum: u16 }),
    payload: (r) => r.payloadLen,
    packet: fc.tuple(bytes(UDP_HLEN), payload).map(([h, p]) => {
      const b = concat(h, p);
      b[4] = b.length >>> 8;
      b[5] = b.length;
      return b;
    }),
  } satisfies Codec<UdpRepr>,
  vxlan: {
    // Reserved flag bits are part of the Repr, so accept them rather than refuse.
    hlen: VXLAN_HLEN, emit: emitVxlan, check: (b, off, len) => vxlanCheck(b, off, len, true),
    parse: (b, off, len) => parseVxlan(b, off, len, true),
    truncated: VXLAN_ERR_TRUNCATED,
    repr: fc.record({ vni: fc.integer({ min: 0, max: VNI_MAX }), flags: u8.map((f) => f | VXLAN_FLAG_I) }),
    payload: () => 0,
    packet: fc.tuple(u8, bytes(3)).map(([f, vni]) => concat(Uint8Array.of(f | VXLAN_FLAG_I, 0, 0, 0), vni, Uint8Array.of(0))),
  } satisfies Codec<VxlanRepr>,
};

const filled = (n: number, fill: number) => new Uint8Array(n).fill(fill);
const offset = fc.integer({ min: 0, max: 9 });

describe.each(Object.entries(codecs) as [string, Codec<unknown>][])('%s Repr', (_, c) => {
  it('parse -> emit reproduces the header bytes', () => {
    fc.assert(
      fc.property(c.packet, offset, (pkt, off) => {
        const inb = filled(off + pkt.length + 3, 0xa5);
        inb.set(pkt, off);
        const out = filled(off + c.hlen + 3, 0xa5);
        expect(c.emit(c.parse(inb, off, pkt.length), out, off)).toBe(c.hlen);
        expect(out.subarray(off, off + c.hlen)).toEqual(pkt.subarray(0, c.hlen));
      }),
    );
  });

  it('emit -> parse returns the same Repr', () => {
    fc.assert(
      fc.property(c.repr, offset, (r, off) => {
        const len = c.hlen + c.payload(r);
        const b = filled(off + len, 0xa5);
        expect(c.emit(r, b, off)).toBe(c.hlen);
        expect(c.check(b, off, len)).toBe(0);
        expect(c.parse(b, off, len)).toEqual(r);
      }),
    );
  });

  it('emit writes every header byte and nothing outside the header', () => {
    fc.assert(
      fc.property(c.repr, offset, (r, off) => {
        const a = filled(off + c.hlen + 3, 0xa5);
        const z = filled(off + c.hlen + 3, 0x5a);
        c.emit(r, a, off);
        c.emit(r, z, off);
        // Identical headers over different stale contents: nothing left unwritten.
        expect(a.subarray(off, off + c.hlen)).toEqual(z.subarray(off, off + c.hlen));
        expect([...a.subarray(0, off), ...a.subarray(off + c.hlen)].every((x) => x === 0xa5)).toBe(true);
      }),
    );
  });

  it('refuses input shorter than the header', () => {
    const b = filled(c.hlen + 4, 0);
    for (const len of [0, 1, c.hlen - 1]) {
      expect(c.check(b, 2, len)).toBe(c.truncated);
      expect(() => c.parse(b, 2, len)).toThrow('truncated');
    }
  });
});
