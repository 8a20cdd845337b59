import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ByteRing } from './ring.js';

/**
 * Drives a ring with random writes, takes and releases, as the data path and
 * a socket would, and checks it against the simplest model: a FIFO of the
 * records it accepted, each of which must stay intact until released.
 */
describe('ByteRing', () => {
  // Writes outnumber drains, so the ring fills, wraps and refuses often.
  const op = fc.oneof(
    { arbitrary: fc.record({ kind: fc.constant('write' as const), len: fc.integer({ min: 1, max: 24 }) }), weight: 3 },
    { arbitrary: fc.record({ kind: fc.constant('take' as const) }), weight: 1 },
    { arbitrary: fc.record({ kind: fc.constant('release' as const) }), weight: 1 },
  );

  it('never overwrites a record before its release, and hands records out in order', () => {
    fc.assert(fc.property(fc.integer({ min: 24, max: 96 }), fc.array(op, { maxLength: 300 }), (size, ops) => {
      const ring = new ByteRing(size);
      const live: Array<{ at: number; len: number; seq: number }> = [];
      let out: { at: number; len: number } | null = null;
      let seq = 0;
      const intact = () => {
        for (const r of live) expect(ring.buf.subarray(r.at, r.at + r.len).every((x) => x === r.seq)).toBe(true);
      };
      for (const o of ops) {
        if (o.kind === 'write') {
          const at = ring.reserve(o.len);
          // An empty ring takes any record that fits it.
          if (live.length === 0) expect(at).toBe(o.len <= size ? 0 : -1);
          if (at < 0) continue;
          seq = (seq % 255) + 1;
          ring.buf.fill(seq, at, at + o.len);
          ring.commit(o.len);
          live.push({ at, len: o.len, seq });
          intact();
        } else if (o.kind === 'take') {
          const at = ring.take();
          if (out !== null || live.length === 0) {
            expect(at).toBe(-1);
            continue;
          }
          // The chunk is the oldest records, whole and contiguous.
          expect(at).toBe(live[0].at);
          out = { at, len: ring.taken };
        } else if (out !== null) {
          let covered = 0;
          while (covered < out.len) {
            const r = live.shift()!;
            expect(r.at).toBe(out.at + covered);
            covered += r.len;
          }
          expect(covered).toBe(out.len);
          ring.release();
          out = null;
        }
      }
      expect(ring.empty).toBe(live.length === 0);
    }), { numRuns: 300 });
  });

  it('takes a record that exactly fits at either end, and refuses one byte more', () => {
    const ring = new ByteRing(100);
    const write = (n: number) => {
      const at = ring.reserve(n);
      if (at >= 0) ring.commit(n);
      return at;
    };
    expect([write(40), write(40)]).toEqual([0, 40]);
    expect(ring.take()).toBe(0);
    expect(write(21)).toBe(-1); // 80 + 21 > 100, and the space before the chunk out is not free
    expect(write(20)).toBe(80); // exactly to the end
    ring.release(); // data is now [80, 100)
    expect(write(81)).toBe(-1);
    expect(write(80)).toBe(0); // wraps, ending exactly at the oldest byte
    expect(write(1)).toBe(-1);
    expect(ring.take()).toBe(80);
    expect(ring.taken).toBe(20);
    ring.release();
    expect(ring.take()).toBe(0);
    expect(ring.taken).toBe(80);
    ring.release();
    expect(ring.empty).toBe(true);
  });
});
