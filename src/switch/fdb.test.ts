import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  Fdb, LEARN_CREATED, LEARN_MOVED, LEARN_REFRESHED, LEARN_REFUSED_FULL, LEARN_REFUSED_LOCAL, LEARN_REFUSED_STATIC, NO_PORT,
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
  forgetPort(port: number): number {
    let n = 0;
    for (const [mac, e] of this.m) {
      if (e.port === port) {
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
  fc.record({ op: fc.constant('forget' as const), port: fc.integer({ min: 0, max: 3 }) }),
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
          } else if (o.op === 'forget') {
            expect(fdb.forgetPort(o.port)).toBe(model.forgetPort(o.port));
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
});

describe('FDB hash seeding', () => {
  /** The hash the table used before it was keyed: anyone could compute its collisions offline. */
  function unseededHash(hi: number, lo: number): number {
    let h = Math.imul(lo ^ (hi << 16) ^ (hi >>> 3), 0x9e3779b1);
    h ^= h >>> 15;
    h = Math.imul(h ^ hi, 0x85ebca77);
    return h ^ (h >>> 13);
  }

  const N = 1000;
  /** The table grows to 2048 slots for N entries, so these share home slot 0 at every size it passes. */
  const MASK = 2047;
  const HI = 0x0200;

  function collidingMacs(): number[] {
    const los: number[] = [];
    for (let lo = 1; los.length < N; lo++) if ((unseededHash(HI, lo) & MASK) === 0) los.push(lo);
    return los;
  }

  /** The longest run of consecutive occupied slots among these keys' slots: what a probe may walk. */
  function longestRun(fdb: Fdb, los: number[]): number {
    const slots = los.map((lo) => fdb.find(HI, lo)).sort((a, b) => a - b);
    let longest = 1;
    for (let k = 1, run = 1; k < slots.length; k++) {
      run = slots[k] === slots[k - 1] + 1 ? run + 1 : 1;
      longest = Math.max(longest, run);
    }
    return longest;
  }

  it('spreads MACs chosen to collide in the unseeded hash instead of chaining them all from one slot', () => {
    const los = collidingMacs();
    const fdb = new Fdb();
    for (const lo of los) expect(fdb.learn(HI, lo, NO_PORT, 7, 1)).toBe(LEARN_CREATED);
    for (const lo of los) expect(fdb.remote[fdb.find(HI, lo)]).toBe(7);
    // Unseeded, all N form one run of N slots from slot 0. Keyed, they land as random keys
    // do at load ~0.5, in short runs (a run of 100 has a vanishing probability).
    expect(longestRun(fdb, los)).toBeLessThan(100);
  });

  it('keys each table on its own, so a collision found against one says nothing of another', () => {
    const los = collidingMacs().slice(0, 64);
    const a = new Fdb();
    const b = new Fdb();
    for (const lo of los) {
      a.learn(HI, lo, 0, 0, 1);
      b.learn(HI, lo, 0, 0, 1);
    }
    // 64 keys in 128 slots: two independent keys placing all of them alike has a vanishing probability.
    expect(los.map((lo) => a.find(HI, lo))).not.toEqual(los.map((lo) => b.find(HI, lo)));
  });
});

describe('FDB local MACs', () => {
  const HI = 0x0200;
  const AGE = 300_000;
  const REMOTE = 0xc6336402 | 0;

  it('keeps a fresh MAC of a local port from moving to a remote (a spoofed VXLAN source), and counts the refusal', () => {
    const fdb = new Fdb(0, AGE);
    expect(fdb.learn(HI, 1, 0, 0, 1000)).toBe(LEARN_CREATED);
    expect(fdb.learn(HI, 1, NO_PORT, REMOTE, 1000 + AGE - 1)).toBe(LEARN_REFUSED_LOCAL);
    const slot = fdb.find(HI, 1);
    expect(fdb.port[slot]).toBe(0);
    // The refusal does not refresh the entry: it still ages from the local sighting.
    expect(fdb.entries(1000 + AGE - 1)[0].ageMs).toBe(AGE - 1);
    // Another local port may still take it over, as on a bridge.
    expect(fdb.learn(HI, 1, 1, 0, 2000)).toBe(LEARN_MOVED);
    expect(fdb.port[fdb.find(HI, 1)]).toBe(1);
  });

  it('lets a local MAC that has aged out (not yet swept) move to a remote, and a remote MAC move to a local port', () => {
    const fdb = new Fdb(0, AGE);
    fdb.learn(HI, 1, 0, 0, 1000);
    expect(fdb.learn(HI, 1, NO_PORT, REMOTE, 1000 + AGE)).toBe(LEARN_MOVED);
    expect(fdb.remote[fdb.find(HI, 1)]).toBe(REMOTE);
    expect(fdb.learn(HI, 1, 0, 0, 1000 + AGE + 1)).toBe(LEARN_MOVED);
    expect(fdb.port[fdb.find(HI, 1)]).toBe(0);
  });

  it('moves a local MAC to a remote like any learned MAC when stickiness is off', () => {
    const fdb = new Fdb();
    fdb.learn(HI, 1, 0, 0, 1000);
    expect(fdb.learn(HI, 1, NO_PORT, REMOTE, 1001)).toBe(LEARN_MOVED);
  });
});
