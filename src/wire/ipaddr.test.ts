import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { isIPv6 } from 'node:net';
import { formatIpv4Addr, formatIpv6Addr, parseCidr, parseIpv4Addr, parseIpv6Addr } from './ipaddr.js';

describe('ipaddr', () => {
  it('parses and formats dotted quads in network order', () => {
    expect(parseIpv4Addr('192.168.0.199')).toBe(0xc0a800c7);
    expect(parseIpv4Addr('0.0.0.0')).toBe(0);
    expect(parseIpv4Addr('255.255.255.255')).toBe(0xffffffff);
    expect(parseIpv4Addr('10.0.0.1')).toBe(0x0a000001);
    expect(formatIpv4Addr(0xc0a800c7)).toBe('192.168.0.199');
    expect(formatIpv4Addr(0xffffffff)).toBe('255.255.255.255');
    expect(formatIpv4Addr(0)).toBe('0.0.0.0');
  });

  it.each(['', '1.2.3', '1.2.3.4.5', '256.0.0.1', '1.2.3.-4', '01.2.3.4', '1.2.3.4 ', 'a.b.c.d', '1..3.4', '0x1.2.3.4'])(
    'rejects address %j, naming it',
    (s) => expect(() => parseIpv4Addr(s)).toThrow(`invalid IPv4 address ${JSON.stringify(s)}`),
  );

  it('round-trips formatIpv4Addr and parseIpv4Addr', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (n) => {
        expect(parseIpv4Addr(formatIpv4Addr(n))).toBe(n);
      }),
    );
    fc.assert(
      fc.property(fc.ipV4(), (s) => {
        expect(formatIpv4Addr(parseIpv4Addr(s))).toBe(s);
      }),
    );
  });

  it('parses CIDR, keeping host bits', () => {
    expect(parseCidr('10.0.0.1/24')).toEqual({ addr: 0x0a000001, len: 24 });
    expect(parseCidr('0.0.0.0/0')).toEqual({ addr: 0, len: 0 });
    expect(parseCidr('192.168.1.1/32')).toEqual({ addr: 0xc0a80101, len: 32 });
  });

  it.each(['10.0.0.1', '10.0.0.1/', '10.0.0.1/33', '10.0.0.1/024', '10.0.0.1/2 4', '10.0.0/8', '/8', '10.0.0.1/8/8'])(
    'rejects CIDR %j, naming it',
    (s) => expect(() => parseCidr(s)).toThrow(`invalid CIDR ${JSON.stringify(s)}`),
  );

  it('parses IPv6 in every RFC 4291 form and formats it as RFC 5952 says', () => {
    expect(parseIpv6Addr('2001:db8::1')).toEqual([0x20010db8, 0, 0, 1]);
    expect(parseIpv6Addr('::')).toEqual([0, 0, 0, 0]);
    expect(parseIpv6Addr('::ffff:192.0.2.1')).toEqual([0, 0, 0xffff, 0xc0000201]);
    expect(parseIpv6Addr('FE80:0:0:0:0:0:0:1')).toEqual([0xfe800000, 0, 0, 1]);
    expect(parseIpv6Addr('1:2:3:4:5:6:7::')).toEqual([0x10002, 0x30004, 0x50006, 0x70000]);
    expect(formatIpv6Addr([0x20010db8, 0, 0, 1])).toBe('2001:db8::1');
    expect(formatIpv6Addr([0, 0, 0, 0])).toBe('::');
    expect(formatIpv6Addr([0x20010db8, 0x10000, 0, 1])).toBe('2001:db8:1::1'); // the longer run
    expect(formatIpv6Addr([0x20010db8, 0, 0x10000, 1])).toBe('2001:db8::1:0:0:1'); // the first of equal runs
    expect(formatIpv6Addr([0x20010db8, 0x10001, 0x10001, 0x10001])).toBe('2001:db8:1:1:1:1:1:1'); // no run of one
  });

  it.each(['', ':', ':::', '1::2::3', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', '12345::', 'g::1', '::1.2.3', '1.2.3.4::', '::1.2.3.4:5', `${'1:'.repeat(30)}1`, '2001:db8::1%eth0', '2001:db8::/64'])(
    'rejects IPv6 address %j, naming it',
    (s) => expect(() => parseIpv6Addr(s)).toThrow(/^invalid IPv6 address /),
  );

  it('agrees with Node on what is IPv6, and round-trips', () => {
    fc.assert(fc.property(fc.ipV6(), (s) => {
      expect(isIPv6(s)).toBe(true);
      const w = parseIpv6Addr(s);
      expect(parseIpv6Addr(formatIpv6Addr(w))).toEqual(w);
    }));
    fc.assert(fc.property(fc.string({ unit: fc.constantFrom('0', '1', 'f', ':', '.', '2', '5'), maxLength: 20 }), (s) => {
      let ok = true;
      try {
        parseIpv6Addr(s);
      } catch {
        ok = false;
      }
      expect(ok).toBe(isIPv6(s));
    }));
  });
});
