import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ETH_HLEN } from './ethernet.js';
import { getIcmpChecksum, setIcmpChecksum } from './icmp.js';
import { parseIpv6Addr } from './ipaddr.js';
import { IPV6_HLEN, setIpv6HopLimit, setIpv6PayloadLength } from './ipv6.js';
import {
  ICMPV6_NEIGHBOR_ADVERT, ICMPV6_NEIGHBOR_SOLICIT, icmpv6Checksum, lladdrOf, lladdrOption, ND_ERR_CHECKSUM, ND_ERR_CODE, ND_ERR_DAD, ND_ERR_HOP_LIMIT, ND_ERR_IPV6, ND_ERR_OPT_LLADDR,
  ND_ERR_OPT_MANY, ND_ERR_OPT_TRUNCATED, ND_ERR_OPT_ZERO, ND_ERR_TARGET, ND_ERR_TRUNCATED, ND_ERR_TYPE, ND_MAX_OPTIONS,
  ND_MSG_LEN, ND_OPT_SOURCE_LLADDR, ND_OPT_TARGET_LLADDR, ndBufferLen, ndCheck, ndOption, type NdRepr, emitNd,
  getNdFlags, nsCheck, parseNd,
} from './ndisc.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

// Linux 6.18 resolving 2001:db8::2 from 2001:db8::1 on a veth (02:00:00:00:00:01),
// as tshark captured it: to the solicited-node address, with a source
// link-layer address option and the kernel's checksum 0x1c27.
const FRAME = hex(`
  3333ff000002 020000000001 86dd
  6000 0000 0020 3a ff 20010db8000000000000000000000001 ff0200000000000000000001ff000002
  87 00 1c27 00000000 20010db8000000000000000000000002 0101 020000000001`);
const IP = ETH_HLEN;
const ICMP = IP + IPV6_HLEN;
const NS_LEN = 32;
const NS: NdRepr = {
  type: ICMPV6_NEIGHBOR_SOLICIT, flags: 0, target: parseIpv6Addr('2001:db8::2'),
  options: [lladdrOption(ND_OPT_SOURCE_LLADDR, 0x020000000001)],
};

/** The frame with its NS changed by `edit` and, unless `keepSum`, its checksum made right again. */
function edited(edit: (b: Uint8Array) => void, keepSum = false): Uint8Array {
  const b = FRAME.slice();
  edit(b);
  if (!keepSum) setIcmpChecksum(b, ICMP, icmpv6Checksum(b, IP, (b[IP + 4] << 8) | b[IP + 5]));
  return b;
}

/** An NS whose options area is `opts`, in a frame of its own, payload length and checksum right. */
function withOptions(opts: Uint8Array): Uint8Array {
  const b = new Uint8Array(ICMP + ND_MSG_LEN + opts.length);
  b.set(FRAME.subarray(0, ICMP + ND_MSG_LEN));
  b.set(opts, ICMP + ND_MSG_LEN);
  setIpv6PayloadLength(b, IP, ND_MSG_LEN + opts.length);
  setIcmpChecksum(b, ICMP, icmpv6Checksum(b, IP, ND_MSG_LEN + opts.length));
  return b;
}

describe('ndisc', () => {
  it('deconstructs a real neighbour solicitation, checksum included', () => {
    expect(nsCheck(FRAME, IP, FRAME.length - IP)).toBe(0);
    expect(icmpv6Checksum(FRAME, IP, NS_LEN)).toBe(0x1c27);
    expect(getIcmpChecksum(FRAME, ICMP)).toBe(0x1c27);
    const sll = ndOption(FRAME, ICMP, NS_LEN, ND_OPT_SOURCE_LLADDR);
    expect(sll).toBe(ICMP + 24);
    expect(lladdrOf(FRAME, sll)).toBe(0x020000000001);
    expect(ndOption(FRAME, ICMP, NS_LEN, ND_OPT_TARGET_LLADDR)).toBe(-1);
    expect(parseNd(FRAME, ICMP, NS_LEN)).toEqual(NS);
  });

  it('emits exactly the real message (checksum set after), into a stale buffer', () => {
    const b = new Uint8Array(FRAME.length + 2).fill(0xa5);
    b.set(FRAME.subarray(0, ICMP), 1); // the IPv6 header the checksum covers
    expect(emitNd(NS, b, 1 + ICMP)).toBe(NS_LEN);
    expect(ndBufferLen(NS)).toBe(NS_LEN);
    setIcmpChecksum(b, 1 + ICMP, icmpv6Checksum(b, 1 + IP, NS_LEN));
    expect(b.subarray(1, 1 + FRAME.length)).toEqual(FRAME);
    expect([b[0], b[b.length - 1]]).toEqual([0xa5, 0xa5]);
  });

  const repr = fc.record({
    type: fc.constantFrom(ICMPV6_NEIGHBOR_SOLICIT, ICMPV6_NEIGHBOR_ADVERT),
    flags: fc.integer({ min: 0, max: 0xff }),
    target: fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 4, maxLength: 4 }),
    options: fc.array(fc.oneof(
      fc.tuple(fc.constantFrom(ND_OPT_SOURCE_LLADDR, ND_OPT_TARGET_LLADDR), fc.integer({ min: 0, max: 0xffff_ffff_ffff })).map(([t, m]) => lladdrOption(t, m)),
      fc.tuple(fc.integer({ min: 3, max: 255 }), fc.integer({ min: 1, max: 4 })).chain(([type, units]) =>
        fc.uint8Array({ minLength: units * 8 - 2, maxLength: units * 8 - 2 }).map((data) => ({ type, data }))),
    ), { maxLength: ND_MAX_OPTIONS }),
  });

  it('emit -> parse round-trips, and emit writes every byte of the message and no other', () => {
    fc.assert(fc.property(repr, fc.integer({ min: 0, max: 9 }), (r, off) => {
      const len = ndBufferLen(r);
      const a = new Uint8Array(off + len + 3).fill(0xa5);
      const z = new Uint8Array(off + len + 3).fill(0x5a);
      expect(emitNd(r, a, off)).toBe(len);
      emitNd(r, z, off);
      expect(a.subarray(off, off + len)).toEqual(z.subarray(off, off + len));
      expect([...a.subarray(0, off), ...a.subarray(off + len)].every((x) => x === 0xa5)).toBe(true);
      expect(ndCheck(a, off, len)).toBe(0);
      expect(parseNd(a, off, len)).toEqual(r);
      expect(getNdFlags(a, off)).toBe(r.flags);
    }));
  });

  it('refuses impossible lengths and malformed options, each with its reason', () => {
    const opt = (...bytes: number[]) => Uint8Array.from(bytes);
    for (const len of [0, 1, ND_MSG_LEN - 1]) expect(ndCheck(FRAME, ICMP, len)).toBe(ND_ERR_TRUNCATED);
    const cases: Array<[string, Uint8Array, number]> = [
      ['an option of length 0', opt(5, 0, 0, 0, 0, 0, 0, 0), ND_ERR_OPT_ZERO],
      ['an option past the message', opt(5, 2, 0, 0, 0, 0, 0, 0), ND_ERR_OPT_TRUNCATED],
      ['an option of length 255 in 8 bytes', opt(5, 255, 0, 0, 0, 0, 0, 0), ND_ERR_OPT_TRUNCATED],
      ['one byte after the last option', opt(5, 1, 0, 0, 0, 0, 0, 0, 1), ND_ERR_OPT_TRUNCATED],
      ['a 16-byte source link-layer address', opt(1, 2, ...Array(14).fill(0)), ND_ERR_OPT_LLADDR],
      ['a 16-byte target link-layer address', opt(2, 2, ...Array(14).fill(0)), ND_ERR_OPT_LLADDR],
      [`${ND_MAX_OPTIONS + 1} options`, Uint8Array.from(Array.from({ length: ND_MAX_OPTIONS + 1 }, () => [14, 1, 0, 0, 0, 0, 0, 0]).flat()), ND_ERR_OPT_MANY],
    ];
    for (const [what, o, reason] of cases) {
      const b = withOptions(o);
      expect(ndCheck(b, ICMP, ND_MSG_LEN + o.length), what).toBe(reason);
      expect(nsCheck(b, IP, b.length - IP), what).toBe(reason);
      expect(() => parseNd(b, ICMP, ND_MSG_LEN + o.length), what).toThrow(/^ndisc: /);
    }
    const most = Uint8Array.from(Array.from({ length: ND_MAX_OPTIONS }, () => [14, 1, 0, 0, 0, 0, 0, 0]).flat());
    expect(nsCheck(withOptions(most), IP, ICMP + ND_MSG_LEN + most.length - IP)).toBe(0);
  });

  it('checks a solicitation by RFC 4861 section 7.1.1', () => {
    const cases: Array<[string, Uint8Array, number]> = [
      ['hop limit 254', edited((b) => setIpv6HopLimit(b, IP, 254)), ND_ERR_HOP_LIMIT],
      ['a wrong checksum', edited((b) => (b[ICMP + 3] ^= 1), true), ND_ERR_CHECKSUM],
      ['code 1', edited((b) => (b[ICMP + 1] = 1)), ND_ERR_CODE],
      ['an advertisement', edited((b) => (b[ICMP] = ICMPV6_NEIGHBOR_ADVERT)), ND_ERR_TYPE],
      ['a multicast target', edited((b) => (b[ICMP + 8] = 0xff)), ND_ERR_TARGET],
      ['another next header', edited((b) => (b[IP + 6] = 0)), ND_ERR_IPV6],
      ['IPv4 in the version field', edited((b) => (b[IP] = 0x40)), ND_ERR_IPV6],
      ['a payload length past the frame', edited((b) => setIpv6PayloadLength(b, IP, 33)), ND_ERR_IPV6],
      ['a payload length short of an NS', edited((b) => setIpv6PayloadLength(b, IP, 23)), ND_ERR_TRUNCATED],
      ['DAD (unspecified source) with a source link-layer address', edited((b) => b.fill(0, IP + 8, IP + 24)), ND_ERR_DAD],
      ['DAD to all-nodes rather than the solicited-node address', edited((b) => {
        b.fill(0, IP + 8, IP + 24);
        b.fill(0, IP + 26, IP + 40); // ff02::1
        b[IP + 39] = 1;
        setIpv6PayloadLength(b, IP, ND_MSG_LEN);
      }), ND_ERR_DAD],
    ];
    for (const [what, b, reason] of cases) expect(nsCheck(b, IP, b.length - IP), what).toBe(reason);
    // DAD done right: from ::, to the solicited-node address, no source link-layer address option.
    const dad = edited((b) => {
      b.fill(0, IP + 8, IP + 24);
      setIpv6PayloadLength(b, IP, ND_MSG_LEN);
    });
    expect(nsCheck(dad, IP, dad.length - IP)).toBe(0);
    // Ethernet padding after the message is not part of it.
    const padded = new Uint8Array(FRAME.length + 10);
    padded.set(FRAME);
    expect(nsCheck(padded, IP, padded.length - IP)).toBe(0);
    expect(nsCheck(FRAME, IP, FRAME.length - IP - 1)).toBe(ND_ERR_IPV6);
  });

  it('walks any options area without throwing or reading past the message', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (opts) => {
      const b = withOptions(opts);
      const len = ND_MSG_LEN + opts.length;
      const err = ndCheck(b, ICMP, len);
      if (err !== 0) return;
      let n = 0;
      for (let p = ICMP + ND_MSG_LEN; p < ICMP + len; p += b[p + 1] * 8) {
        expect(b[p + 1]).toBeGreaterThan(0);
        expect(p + b[p + 1] * 8).toBeLessThanOrEqual(ICMP + len);
        n++;
      }
      expect(n).toBeLessThanOrEqual(ND_MAX_OPTIONS);
      expect(parseNd(b, ICMP, len).options).toHaveLength(n);
    }));
  });
});
