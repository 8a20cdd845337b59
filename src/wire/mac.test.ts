import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import {
  MAC_BROADCAST, MAC_ZERO, formatMac, isMulticastMac, isZeroMac, macFromParts,
  macHi, macLo, macNumberHi, macNumberLo, parseMac, randomLocalMac, readMac, writeMac,
} from './mac.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const mac = fc.integer({ min: 0, max: MAC_BROADCAST });

describe('mac', () => {
  it('reads bytes big-endian, with a signed int32 low part', () => {
    const b = hex('a5 00 11 ff 22 33 44 a5');
    expect(readMac(b, 1)).toBe(0x0011ff223344);
    expect(macHi(b, 1)).toBe(0x0011);
    expect(macLo(b, 1)).toBe(0xff223344 | 0);
    expect(macLo(b, 1)).toBeLessThan(0);
    expect(readMac(hex('ffffffffffff'), 0)).toBe(MAC_BROADCAST);
  });

  it('writes exactly six bytes big-endian', () => {
    const b = new Uint8Array(9).fill(0xa5);
    writeMac(b, 2, 0x0242ac1100ff);
    expect(b).toEqual(hex('a5a5 0242ac1100ff a5'));
  });

  it('splits and joins hash-key parts consistently with readMac', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 6, maxLength: 6 }), (b) => {
        const m = readMac(b, 0);
        expect(macFromParts(macHi(b, 0), macLo(b, 0))).toBe(m);
        expect(macNumberHi(m)).toBe(macHi(b, 0));
        expect(macNumberLo(m)).toBe(macLo(b, 0));
        expect(Number.isSafeInteger(m) && m >= 0 && m <= MAC_BROADCAST).toBe(true);
      }),
    );
  });

  it('round-trips writeMac and readMac', () => {
    fc.assert(
      fc.property(mac, fc.nat(8), (m, off) => {
        const b = new Uint8Array(off + 6);
        writeMac(b, off, m);
        expect(readMac(b, off)).toBe(m);
      }),
    );
  });

  it('parses colon and dash forms in any case', () => {
    expect(parseMac('02:42:ac:11:00:02')).toBe(0x0242ac110002);
    expect(parseMac('AA-bb-CC-dd-EE-ff')).toBe(0xaabbccddeeff);
    expect(parseMac('00:00:00:00:00:00')).toBe(MAC_ZERO);
    expect(parseMac('ff:ff:ff:ff:ff:ff')).toBe(MAC_BROADCAST);
  });

  it.each([
    '', '02:42:ac:11:00', '02:42:ac:11:00:02:03', '02:42:ac:11:00:0g', '2:42:ac:11:00:02',
    '02:42-ac:11:00:02', '0242ac110002', ' 02:42:ac:11:00:02', '02:42:ac:11:00:02\n', '02.42.ac.11.00.02',
  ])('rejects %j, naming it', (s) => {
    expect(() => parseMac(s)).toThrow(JSON.stringify(s));
  });

  it('formats lowercase with colons and rejects non-MAC numbers', () => {
    expect(formatMac(0x0242ac1100ff)).toBe('02:42:ac:11:00:ff');
    expect(formatMac(MAC_ZERO)).toBe('00:00:00:00:00:00');
    expect(formatMac(MAC_BROADCAST)).toBe('ff:ff:ff:ff:ff:ff');
    for (const bad of [-1, MAC_BROADCAST + 1, 1.5, NaN]) expect(() => formatMac(bad)).toThrow(RangeError);
  });

  it('round-trips formatMac and parseMac', () => {
    fc.assert(
      fc.property(mac, (m) => {
        const s = formatMac(m);
        expect(parseMac(s)).toBe(m);
        expect(parseMac(s.toUpperCase().replaceAll(':', '-'))).toBe(m);
        expect(formatMac(parseMac(s))).toBe(s);
      }),
    );
  });

  it('classifies group and zero addresses', () => {
    const b = hex('ffffffffffff 01005e000001 333300000001 0242ac110002 000000000000 000000000001');
    expect([0, 6, 12, 18, 24, 30].map((o) => isMulticastMac(b, o))).toEqual([true, true, true, false, false, false]);
    expect([0, 6, 12, 18, 24, 30].map((o) => isZeroMac(b, o))).toEqual([false, false, false, false, true, false]);
  });

  it('generates random unicast, locally administered MACs', () => {
    const seen = new Set<number>();
    for (let i = 0; i < 100; i++) {
      const m = randomLocalMac();
      const b = new Uint8Array(6);
      writeMac(b, 0, m);
      expect(b[0] & 0x02).toBe(0x02); // the U/L bit: locally administered
      expect(isMulticastMac(b, 0)).toBe(false);
      expect(Number.isInteger(m) && m >= 0 && m <= MAC_BROADCAST).toBe(true);
      seen.add(m);
    }
    expect(seen.size).toBeGreaterThan(90);
  });
});
