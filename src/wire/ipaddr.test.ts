import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { formatIpv4Addr, parseCidr, parseIpv4Addr } from './ipaddr.js';

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
});
