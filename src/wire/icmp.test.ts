import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  ICMP_DEST_UNREACH, ICMP_ECHO_REQUEST, ICMP_ERR_CHECKSUM, ICMP_ERR_TRUNCATED, ICMP_NET_UNREACH, emitIcmp,
  getIcmpChecksum, icmpCheck, parseIcmp,
} from './icmp.js';
import { decrementIpv4Ttl, getIpv4Ttl, ipv4ChecksumValid, ipv4HeaderChecksum } from './ipv4.js';

// An echo request as ping sends it: id 0x1c46, seq 1, 8 bytes of data
// (checksum 0x4a23 computed independently of this code).
const ECHO = Buffer.from('08 00 4a 23 1c 46 00 01 61 62 63 64 65 66 67 68'.replace(/ /g, ''), 'hex');

describe('ICMP', () => {
  it('takes a real echo request apart', () => {
    expect(icmpCheck(ECHO, 0, ECHO.length)).toBe(0);
    expect(parseIcmp(ECHO, 0, ECHO.length)).toEqual({
      type: ICMP_ECHO_REQUEST, code: 0, rest: 0x1c460001, payload: Buffer.from('abcdefgh'),
    });
  });

  it('emits it byte for byte over a dirty buffer', () => {
    const b = Buffer.alloc(ECHO.length + 4, 0xa5);
    const n = emitIcmp({ type: 8, code: 0, rest: 0x1c460001, payload: Buffer.from('abcdefgh') }, b, 2);
    expect(n).toBe(ECHO.length);
    expect(b.subarray(2, 2 + n)).toEqual(ECHO);
    expect([b[0], b[1], b[2 + n], b[3 + n]]).toEqual([0xa5, 0xa5, 0xa5, 0xa5]);
  });

  it('rejects short and corrupted messages', () => {
    for (const len of [0, 1, 7]) expect(icmpCheck(ECHO, 0, len)).toBe(ICMP_ERR_TRUNCATED);
    const bad = Buffer.from(ECHO);
    bad[9] ^= 1;
    expect(icmpCheck(bad, 0, bad.length)).toBe(ICMP_ERR_CHECKSUM);
  });

  it('round-trips emit -> parse for any message', () => {
    fc.assert(fc.property(
      fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 0xffffffff }),
      fc.uint8Array({ maxLength: 64 }), fc.integer({ min: 0, max: 7 }),
      (type, code, rest, payload, off) => {
        const b = new Uint8Array(off + 8 + payload.length).fill(0x5a);
        const n = emitIcmp({ type, code, rest, payload }, b, off);
        expect(parseIcmp(b, off, n)).toEqual({ type, code, rest, payload });
        expect(getIcmpChecksum(b, off)).toBeLessThanOrEqual(0xffff);
      },
    ));
    expect([ICMP_DEST_UNREACH, ICMP_NET_UNREACH]).toEqual([3, 0]);
  });
});

describe('decrementIpv4Ttl', () => {
  const header = () => Buffer.from('4500007300004000' + '4011b861c0a80001c0a800c7', 'hex');

  it('patches the checksum to what a full recompute gives', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 20, maxLength: 20 }), fc.integer({ min: 2, max: 255 }), (h, ttl) => {
      const b = Buffer.from(h);
      b[0] = 0x45;
      b[8] = ttl;
      b.writeUInt16BE(ipv4HeaderChecksum(b, 0), 10);
      expect(decrementIpv4Ttl(b, 0)).toBe(true);
      expect(getIpv4Ttl(b, 0)).toBe(ttl - 1);
      expect(ipv4ChecksumValid(b, 0)).toBe(true);
    }));
    const b = header();
    decrementIpv4Ttl(b, 0);
    expect(b.toString('hex')).toBe('450000730000400' + '03f11b961c0a80001c0a800c7');
  });

  it('refuses to take the TTL to zero and changes nothing', () => {
    const b = header();
    b[8] = 1;
    b.writeUInt16BE(ipv4HeaderChecksum(b, 0), 10);
    const before = Buffer.from(b);
    expect(decrementIpv4Ttl(b, 0)).toBe(false);
    expect(b).toEqual(before);
  });
});
