import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  Fdb, LEARN_CREATED, LEARN_MOVED, LEARN_REFRESHED, LEARN_REFUSED_FULL, LEARN_REFUSED_STATIC, NO_PORT,
} from './fdb.js';

const hiOf = (mac: number) => Math.floor(mac / 0x100000000);
const loOf = (mac: number) => (mac % 0x100000000) | 0;

interface ModelEntry { port: number; remote: number; isStatic: boolean; seen: number }

/** The obvious implementation, to check the hash table against. */
class Model {
  readonly m = new Map<number, ModelEntry>();
  constructor(readonly max: number) {}
  learn(mac: number, port: number, remote: number, now: number): number {
    const e = this.m.get(mac);
    if (e) {
      if (e.isStatic) return LEARN_REFUSED_STATIC;
      e.seen = now;
      if (e.port === port && e.remote === remote) return LEARN_REFRESHED;
      e.port = port;
      e.remote = remote;
      return LEARN_MOVED;
    }
    if (this.max > 0 && this.m.size >= this.max) return LEARN_REFUSED_FULL;
    this.m.set(mac, { port, remote, isStatic: false, seen: now });
    return LEARN_CREATED;
  }
  addStatic(mac: number, port: number, remote: number): boolean {
    if (!this.m.has(mac) && this.max > 0 && this.m.size >= this.max) return false;
    this.m.set(mac, { port, remote, isStatic: true, seen: 0 });
    return true;
  }
  sweep(now: number, age: number): number {
    let n = 0;
    for (const [mac, e] of this.m) {
      if (!e.isStatic && e.seen < now - age) {
        this.m.delete(mac);
        n++;
      }
    }
    return n;
  }
}

// A small MAC space makes collisions, moves and re-learning common; the top
// bits exercise the hi/lo split (lo negative as int32).
const macArb = fc.oneof(
  fc.integer({ min: 0, max: 40 }),
  fc.integer({ min: 0, max: 40 }).map((x) => 0xfeffffff0000 + x * 0x10001),
);
const opArb = fc.oneof(
  fc.record({ op: fc.constant('learn' as const), mac: macArb, port: fc.integer({ min: -1, max: 3 }), remote: fc.integer({ min: 1, max: 4 }), dt: fc.integer({ min: 0, max: 50 }) }),
  fc.record({ op: fc.constant('static' as const), mac: macArb, port: fc.integer({ min: -1, max: 3 }), remote: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ op: fc.constant('delete' as const), mac: macArb }),
  fc.record({ op: fc.constant('sweep' as const), age: fc.integer({ min: 0, max: 200 }) }),
);

describe('Fdb against a naive model', () => {
  it('agrees on every operation, lookup and snapshot', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 300 }), fc.integer({ min: 0, max: 30 }), (ops, max) => {
        const fdb = new Fdb(max);
        const model = new Model(max);
        let now = 1000;
        for (const o of ops) {
          if (o.op === 'learn') {
            now += o.dt;
            const remote = o.port === NO_PORT ? o.remote : 0;
            expect(fdb.learn(hiOf(o.mac), loOf(o.mac), o.port, remote, now)).toBe(model.learn(o.mac, o.port, remote, now));
          } else if (o.op === 'static') {
            const remote = o.port === NO_PORT ? o.remote : 0;
            expect(fdb.addStatic(hiOf(o.mac), loOf(o.mac), o.port, remote)).toBe(model.addStatic(o.mac, o.port, remote));
          } else if (o.op === 'delete') {
            expect(fdb.delete(hiOf(o.mac), loOf(o.mac))).toBe(model.m.delete(o.mac));
          } else {
            expect(fdb.sweep(now, o.age)).toBe(model.sweep(now, o.age));
          }
          expect(fdb.size).toBe(model.m.size);
        }
        for (let mac = 0; mac <= 40; mac++) {
          for (const m of [mac, 0xfeffffff0000 + mac * 0x10001]) {
            const slot = fdb.find(hiOf(m), loOf(m));
            const e = model.m.get(m);
            expect(slot >= 0).toBe(e !== undefined);
            if (e) {
              expect(fdb.port[slot]).toBe(e.port);
              expect(fdb.remote[slot] >>> 0).toBe(e.remote);
            }
          }
        }
        const snap = fdb.entries(now).map((e) => [e.mac, e.port, e.remote, e.isStatic]).sort((a, b) => Number(a[0]) - Number(b[0]));
        const want = [...model.m].map(([mac, e]) => [mac, e.port, e.remote, e.isStatic]).sort((a, b) => Number(a[0]) - Number(b[0]));
        expect(snap).toEqual(want);
      }),
      { numRuns: 300 },
    );
  });
});

describe('Fdb', () => {
  it('keeps a static entry where it is when a spoofed source is learned', () => {
    const fdb = new Fdb();
    const mac = 0x02aabbccddee;
    fdb.addStatic(hiOf(mac), loOf(mac), NO_PORT, 0xc6336403);
    expect(fdb.learn(hiOf(mac), loOf(mac), NO_PORT, 0xc6336402, 5)).toBe(LEARN_REFUSED_STATIC);
    expect(fdb.learn(hiOf(mac), loOf(mac), 0, 0, 5)).toBe(LEARN_REFUSED_STATIC);
    const slot = fdb.find(hiOf(mac), loOf(mac));
    expect(fdb.remote[slot] >>> 0).toBe(0xc6336403);
    expect(fdb.sweep(1e12, 1)).toBe(0);
  });

  it('ages learned entries only after the ageing time', () => {
    const fdb = new Fdb();
    fdb.learn(0x0200, 1, NO_PORT, 7, 1000);
    expect(fdb.sweep(1000 + 300_000, 300_000)).toBe(0);
    expect(fdb.sweep(1001 + 300_000, 300_000)).toBe(1);
    expect(fdb.find(0x0200, 1)).toBe(-1);
  });

  it('holds 100,000 entries and finds each one', () => {
    const fdb = new Fdb();
    for (let i = 0; i < 100_000; i++) fdb.learn(0x0200 + (i & 0xff), i * 2654435761 | 0, i & 3, 0, 1);
    expect(fdb.size).toBe(100_000);
    for (let i = 0; i < 100_000; i += 997) {
      const slot = fdb.find(0x0200 + (i & 0xff), i * 2654435761 | 0);
      expect(fdb.port[slot]).toBe(i & 3);
    }
  });

  it('flushes the entries of a removed port', () => {
    const fdb = new Fdb();
    for (let i = 0; i < 50; i++) fdb.learn(2, i, i % 2, 0, 1);
    fdb.flushPort(1);
    expect(fdb.size).toBe(25);
    expect(fdb.entries(1).every((e) => e.port === 0)).toBe(true);
  });
});
