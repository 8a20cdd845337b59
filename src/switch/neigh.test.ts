import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { writeIpv6Addr } from '../wire/ipv6.js';
import { FAMILY_IPV4, FAMILY_IPV6, type NeighEntry, type NeighFamily, NeighTable } from './neigh.js';

const v6 = (w: number[]) => {
  const b = new Uint8Array(20).fill(0xa5);
  writeIpv6Addr(b, 3, w);
  return b;
};
/** The MAC of a lookup's slot, as a 48-bit number. */
const macAt = (t: NeighTable, slot: number) => t.macHi[slot] * 2 ** 32 + (t.macLo[slot] >>> 0);
const lookup = (t: NeighTable, family: NeighFamily, addr: number[]) => (family === FAMILY_IPV4 ? t.find4(addr[0]) : t.find6(v6(addr), 3));

describe('NeighTable', () => {
  it('finds IPv4 and IPv6 entries by the address in the frame, and tells ::a.b.c.d from a.b.c.d', () => {
    const t = new NeighTable();
    expect(t.set({ family: FAMILY_IPV4, addr: [0xcb007102], mac: 0x02000000000b, dev: 'p0' })).toBe(true);
    expect(t.set({ family: FAMILY_IPV6, addr: [0x20010db8, 0, 0, 2], mac: 0xfe0000000001, dev: 'p0' })).toBe(true);
    expect(macAt(t, t.find4(0xcb007102))).toBe(0x02000000000b);
    expect(macAt(t, t.find4(0xcb007102 | 0))).toBe(0x02000000000b); // the int32 a frame reads
    expect(macAt(t, t.find6(v6([0x20010db8, 0, 0, 2]), 3))).toBe(0xfe0000000001);
    expect(t.find6(v6([0, 0, 0, 0xcb007102]), 3)).toBe(-1);
    expect(t.find4(2)).toBe(-1);
    expect(t.get(FAMILY_IPV4, [0xcb007102])).toEqual({ family: FAMILY_IPV4, addr: [0xcb007102], mac: 0x02000000000b, dev: 'p0' });
    expect(t.size).toBe(2);
  });

  it('refuses a new entry beyond maxEntries, but replaces one it has', () => {
    const t = new NeighTable(2);
    const e = (a: number, mac = 1): NeighEntry => ({ family: FAMILY_IPV4, addr: [a], mac, dev: 'p' });
    expect([t.set(e(1)), t.set(e(2)), t.set(e(3))]).toEqual([true, true, false]);
    expect(t.find4(3)).toBe(-1);
    expect(t.set(e(2, 7))).toBe(true);
    expect(macAt(t, t.find4(2))).toBe(7);
    expect(t.delete(FAMILY_IPV4, [3])).toBe(false);
    expect(t.delete(FAMILY_IPV4, [1])).toBe(true);
    expect(t.set(e(3))).toBe(true);
    expect(t.size).toBe(2);
  });

  it('agrees with a plain map over random sets and deletes', () => {
    const family = fc.constantFrom<NeighFamily>(FAMILY_IPV4, FAMILY_IPV6);
    // Few distinct addresses, so operations hit the same ones.
    const word = fc.constantFrom(0, 1, 0xffffffff, 0x80000000, 0xcb007102);
    const addr = fc.tuple(family, fc.array(word, { minLength: 4, maxLength: 4 })).map(([f, w]) => ({ f, a: f === FAMILY_IPV4 ? [w[3]] : w }));
    const op = fc.tuple(fc.boolean(), addr, fc.integer({ min: 1, max: 0xffff_ffff_ffff }));
    fc.assert(fc.property(fc.array(op, { maxLength: 80 }), fc.integer({ min: 1, max: 40 }), (ops, max) => {
      const t = new NeighTable(max);
      const model = new Map<string, number>();
      const key = (f: number, a: number[]) => `${f}/${a.join(',')}`;
      for (const [del, { f, a }, mac] of ops) {
        if (del) {
          expect(t.delete(f, a)).toBe(model.delete(key(f, a)));
        } else {
          const fits = model.has(key(f, a)) || model.size < max;
          expect(t.set({ family: f, addr: a, mac, dev: 'p' })).toBe(fits);
          if (fits) model.set(key(f, a), mac);
        }
        expect(t.size).toBe(model.size);
      }
      for (const [del, { f, a }] of ops) {
        void del;
        const slot = lookup(t, f, a);
        const want = model.get(key(f, a));
        if (want === undefined) expect(slot).toBe(-1);
        else expect(macAt(t, slot)).toBe(want);
      }
      expect(t.entries().map((e) => [key(e.family, e.addr), e.mac]).sort()).toEqual([...model.entries()].sort());
    }));
  });
});
