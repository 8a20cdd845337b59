import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { checksumAdd, checksumFold } from './checksum.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

describe('checksum', () => {
  it('matches the RFC 1071 section 3 example', () => {
    // 0001 + f203 + f4f5 + f6f7 = 2ddf0, folded ddf2, complemented 220d.
    const b = hex('0001 f203 f4f5 f6f7');
    expect(checksumAdd(b, 0, 8, 0)).toBe(0x2ddf0);
    expect(checksumFold(0x2ddf0)).toBe(0x220d);
  });

  it('pads an odd trailing byte with zero as the low byte', () => {
    const b = hex('a5 12 34 56');
    expect(checksumAdd(b, 1, 3, 0)).toBe(0x1234 + 0x5600);
    expect(checksumAdd(b, 1, 1, 7)).toBe(7 + 0x1200);
    expect(checksumAdd(b, 1, 0, 7)).toBe(7);
  });

  it('folds carries of a maximal 64 KiB region', () => {
    const b = new Uint8Array(65536).fill(0xff);
    expect(checksumFold(checksumAdd(b, 0, b.length, 0))).toBe(0);
    expect(checksumFold(0)).toBe(0xffff);
    expect(checksumFold(2 ** 48 + 2 ** 40)).toBe(~(1 + 0x100) & 0xffff); // 2^16 ≡ 1 (mod 0xffff)
  });

  it('chains across regions split at an even boundary', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(), (b, k) => {
        const split = b.length === 0 ? 0 : (k % (b.length + 1)) & ~1;
        const chained = checksumAdd(b, split, b.length - split, checksumAdd(b, 0, split, 0));
        expect(checksumFold(chained)).toBe(checksumFold(checksumAdd(b, 0, b.length, 0)));
      }),
    );
  });

  it('yields a value that makes the data verify when appended', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (data) => {
        const b = new Uint8Array((data.length + 1) & ~1).fill(0);
        b.set(data);
        const c = checksumFold(checksumAdd(b, 0, b.length, 0));
        const all = new Uint8Array(b.length + 2);
        all.set(b);
        all[b.length] = c >>> 8;
        all[b.length + 1] = c & 0xff;
        expect(checksumFold(checksumAdd(all, 0, all.length, 0))).toBe(0);
      }),
    );
  });
});
