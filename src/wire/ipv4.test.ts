import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import {
  IPPROTO_UDP, IPV4_ERR_IHL, IPV4_ERR_TOTAL_LENGTH, IPV4_ERR_TRUNCATED, IPV4_ERR_VERSION, IPV4_HLEN, emitIpv4,
  getIpv4Checksum, getIpv4DontFragment, getIpv4Dst, getIpv4FragOffset, getIpv4Id, getIpv4Ihl, getIpv4MoreFragments,
  getIpv4Protocol, getIpv4Src, getIpv4TotalLength, getIpv4Tos, getIpv4Ttl, getIpv4Version, ipv4Check,
  ipv4ChecksumValid, ipv4HeaderChecksum, parseIpv4, setIpv4Checksum,
} from './ipv4.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

// The classic example header: 192.168.0.1 -> 192.168.0.199, UDP, DF, 115 bytes.
const HDR = hex('4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7');
const REPR = {
  src: 0xc0a80001, dst: 0xc0a800c7, protocol: IPPROTO_UDP, ttl: 64, tos: 0, id: 0, dontFragment: true,
  payloadLen: 115 - 20,
};
/** HDR at offset 2 of a buffer holding the whole 115-byte datagram. */
function datagram(): Uint8Array {
  const b = new Uint8Array(2 + 115);
  b.set(HDR, 2);
  return b;
}

describe('ipv4', () => {
  it('deconstructs a real header at an offset', () => {
    const b = datagram();
    expect(getIpv4Version(b, 2)).toBe(4);
    expect(getIpv4Ihl(b, 2)).toBe(20);
    expect(getIpv4Tos(b, 2)).toBe(0);
    expect(getIpv4TotalLength(b, 2)).toBe(115);
    expect(getIpv4Id(b, 2)).toBe(0);
    expect(getIpv4DontFragment(b, 2)).toBe(true);
    expect(getIpv4MoreFragments(b, 2)).toBe(false);
    expect(getIpv4FragOffset(b, 2)).toBe(0);
    expect(getIpv4Ttl(b, 2)).toBe(64);
    expect(getIpv4Protocol(b, 2)).toBe(IPPROTO_UDP);
    expect(getIpv4Checksum(b, 2)).toBe(0xb861);
    expect(getIpv4Src(b, 2)).toBe(0xc0a80001);
    expect(getIpv4Dst(b, 2)).toBe(0xc0a800c7);
    expect(ipv4Check(b, 2, 115)).toBe(0);
    expect(parseIpv4(b, 2, 115)).toEqual(REPR);
  });

  it('reads fragment fields', () => {
    // MF set, offset 185 * 8 = 1480 bytes, reserved bit clear.
    const b = hex('4500 05dc 1c46 20b9 4001 0000 0a000001 0a000002');
    expect(getIpv4MoreFragments(b, 0)).toBe(true);
    expect(getIpv4DontFragment(b, 0)).toBe(false);
    expect(getIpv4FragOffset(b, 0)).toBe(1480);
  });

  it('emits exactly the expected bytes, checksum included', () => {
    const b = new Uint8Array(IPV4_HLEN + 3).fill(0xa5);
    expect(emitIpv4(REPR, b, 1)).toBe(IPV4_HLEN);
    expect(b).toEqual(Uint8Array.from([0xa5, ...HDR, 0xa5, 0xa5]));
  });

  it('computes the known header checksum, ignoring the stored one', () => {
    const b = datagram();
    expect(ipv4HeaderChecksum(b, 2)).toBe(0xb861);
    setIpv4Checksum(b, 2, 0x1234);
    expect(ipv4HeaderChecksum(b, 2)).toBe(0xb861);
    expect(ipv4ChecksumValid(b, 2)).toBe(false);
    expect(() => parseIpv4(b, 2, 115)).toThrow('ipv4: bad header checksum');
  });

  it('checksums options: the whole IHL, not just 20 bytes', () => {
    const b = hex('4600 0018 abcd 0000 0101 f714 0a000001 0a000002 01010100');
    expect(ipv4HeaderChecksum(b, 0)).toBe(0xf714);
    expect(ipv4ChecksumValid(b, 0)).toBe(true);
    b[23] = 1;
    expect(ipv4ChecksumValid(b, 0)).toBe(false);
    b[23] = 0;
    expect(parseIpv4(b, 0, 24)).toMatchObject({ payloadLen: 0, ttl: 1, protocol: 1 });
  });

  it('detects any single-bit corruption of a valid header', () => {
    // Bits 4-7 (IHL) are skipped: they change how many bytes are summed.
    fc.assert(
      fc.property(fc.integer({ min: 0, max: IPV4_HLEN * 8 - 1 }).filter((i) => i >= 8 || i < 4), (bit) => {
        const b = HDR.slice();
        b[bit >>> 3] ^= 0x80 >>> (bit & 7);
        expect(ipv4ChecksumValid(b, 0)).toBe(false);
      }),
    );
  });

  it('refuses truncated input', () => {
    for (const len of [0, 1, IPV4_HLEN - 1]) expect(ipv4Check(datagram(), 2, len)).toBe(IPV4_ERR_TRUNCATED);
  });

  it.each([
    ['version 6', 0x65],
    ['version 0', 0x05],
  ])('refuses %s', (_, verIhl) => {
    const b = datagram();
    b[2] = verIhl;
    expect(ipv4Check(b, 2, 115)).toBe(IPV4_ERR_VERSION);
    expect(() => parseIpv4(b, 2, 115)).toThrow('version is not 4');
  });

  it('refuses IHL below 5 words or beyond the bytes available', () => {
    const b = datagram();
    for (const ihl of [0, 1, 4]) {
      b[2] = 0x40 | ihl;
      expect(ipv4Check(b, 2, 115)).toBe(IPV4_ERR_IHL);
    }
    b[2] = 0x46; // 24-byte header in 20 available bytes
    expect(ipv4Check(b, 2, 20)).toBe(IPV4_ERR_IHL);
    b[2] = 0x4f; // 60-byte header fits in 115 bytes; the total length check passes too
    expect(ipv4Check(b, 2, 115)).toBe(0);
  });

  it('refuses a total length below the header or beyond the bytes available', () => {
    const b = datagram();
    expect(ipv4Check(b, 2, IPV4_HLEN)).toBe(IPV4_ERR_TOTAL_LENGTH); // says 115, has 20
    expect(ipv4Check(b, 2, 114)).toBe(IPV4_ERR_TOTAL_LENGTH);
    expect(ipv4Check(b, 2, 116)).toBe(0); // trailing padding is allowed
    for (const total of [0, 19]) {
      b[4] = 0;
      b[5] = total;
      expect(ipv4Check(b, 2, 115)).toBe(IPV4_ERR_TOTAL_LENGTH);
    }
    b[2] = 0x46;
    b[5] = 20; // total 20 < IHL 24
    expect(ipv4Check(b, 2, 115)).toBe(IPV4_ERR_TOTAL_LENGTH);
    b[5] = 0xff;
    b[4] = 0xff; // 65535 > 115
    expect(() => parseIpv4(b, 2, 115)).toThrow('bad total length');
  });

  it('parse refuses fragments, which the Repr cannot describe', () => {
    for (const flagsFrag of [0x2000, 0x0001, 0x4001]) {
      const b = datagram();
      b[8] = flagsFrag >>> 8;
      b[9] = flagsFrag & 0xff;
      setIpv4Checksum(b, 2, ipv4HeaderChecksum(b, 2));
      expect(() => parseIpv4(b, 2, 115)).toThrow('fragments');
    }
  });

  it('refuses to emit a payload that overflows Total Length', () => {
    const b = new Uint8Array(IPV4_HLEN);
    expect(emitIpv4({ ...REPR, payloadLen: 65515 }, b, 0)).toBe(IPV4_HLEN);
    expect(getIpv4TotalLength(b, 0)).toBe(65535);
    expect(() => emitIpv4({ ...REPR, payloadLen: 65516 }, b, 0)).toThrow('ipv4 payloadLen');
  });
});
