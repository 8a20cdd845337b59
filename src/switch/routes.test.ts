import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { prefixMask, RouteTable } from './routes.js';

/** The obvious implementation: scan everything, keep the longest match. */
function naiveLookup(routes: Map<string, { addr: number; len: number; peer: number }>, dst: number): number | undefined {
  let best: { len: number; peer: number } | undefined;
  for (const r of routes.values()) {
    if (((dst & prefixMask(r.len)) >>> 0) === r.addr && (!best || r.len > best.len)) best = r;
  }
  return best?.peer;
}

// Addresses from a small space so that prefixes nest and overlap often.
const addrArb = fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 255 })).map(([a, b]) => (0xc6120000 | (a << 8) | b) >>> 0);
const opArb = fc.oneof(
  fc.record({ op: fc.constant('set' as const), addr: addrArb, len: fc.constantFrom(0, 8, 15, 16, 22, 24, 30, 32), peer: fc.integer({ min: 1, max: 9 }) }),
  fc.record({ op: fc.constant('delete' as const), addr: addrArb, len: fc.constantFrom(0, 16, 24, 32) }),
);

describe('RouteTable', () => {
  it('matches a naive longest-prefix scan over random sets and deletes', () => {
    fc.assert(fc.property(fc.array(opArb, { maxLength: 60 }), fc.array(addrArb, { minLength: 20, maxLength: 20 }), (ops, probes) => {
      const t = new RouteTable();
      const model = new Map<string, { addr: number; len: number; peer: number }>();
      for (const o of ops) {
        const addr = (o.addr & prefixMask(o.len)) >>> 0;
        const key = `${addr}/${o.len}`;
        if (o.op === 'set') {
          t.set(o.addr, o.len, o.peer, 8285);
          model.set(key, { addr, len: o.len, peer: o.peer });
        } else {
          expect(t.delete(o.addr, o.len)).toBe(model.delete(key));
        }
        expect(t.size).toBe(model.size);
      }
      for (const dst of probes) {
        const i = t.lookup(dst);
        expect(i < 0 ? undefined : t.peer[i]).toBe(naiveLookup(model, dst));
      }
    }), { numRuns: 300 });
  });

  it('prefers the longer prefix and falls back to the default route', () => {
    const t = new RouteTable();
    t.set(0xc6120000, 16, 1, 8285);
    t.set(0xc6120200, 24, 2, 9000);
    t.set(0, 0, 3, 8285);
    expect(t.peer[t.lookup(0xc6120201)]).toBe(2);
    expect(t.port[t.lookup(0xc6120201)]).toBe(9000);
    expect(t.peer[t.lookup(0xc6120301)]).toBe(1);
    expect(t.peer[t.lookup(0x01020304)]).toBe(3);
    expect(t.routes().map((r) => r.len)).toEqual([24, 16, 0]);
  });
});
