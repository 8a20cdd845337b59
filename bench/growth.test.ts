import { describe, expect, it } from 'vitest';
import { growing, type Sample } from './growth.js';

const MiB = 2 ** 20;

/** 60 one-minute samples with rss from f(minute), a flat heap and fds. */
function run(f: (m: number) => number, fds: (m: number) => number = () => 40): Sample[] {
  return Array.from({ length: 60 }, (_, m) => ({ t: m * 60, rss: f(m), heapUsed: 16 * MiB, heapAfterGc: 16 * MiB, fds: fds(m) }));
}

describe('soak growth rule', () => {
  it('passes a flat series with noise and a warm-up rise in the first half', () => {
    const noisy = run((m) => (m < 10 ? 80 + 2 * m : 100) * MiB + ((m * 7919) % 11 - 5) * MiB);
    expect(growing(noisy, 'rss').growing).toBe(false);
    expect(growing(noisy, 'heapAfterGc').growing).toBe(false);
    expect(growing(noisy, 'fds').growing).toBe(false);
  });

  it('fails a leak of 0.5 MiB a minute, and a descriptor lost every 5 minutes', () => {
    const leak = run((m) => (80 + 0.5 * m) * MiB, (m) => 40 + Math.floor(m / 5));
    const rss = growing(leak, 'rss');
    expect(rss.growing).toBe(true);
    expect(rss.rise).toBeCloseTo(14.5 * MiB, -4);
    expect(growing(leak, 'fds').growing).toBe(true);
  });

  it('passes a steady rise below the floor (6 MiB over the second half, the floor is 8)', () => {
    const slow = run((m) => (80 + (6 / 29) * m) * MiB);
    const rss = growing(slow, 'rss');
    expect(rss.rise).toBeCloseTo(6 * MiB, -4);
    expect(rss.growing).toBe(false);
  });

  // Flannel a in the hour's soak at 2f7f810: full collections at minutes 0,
  // 29 and 45, each leaving 15.9 MiB, and the floor of heapUsed climbing
  // 0.4 MiB a minute in between.
  const sawtooth = (leakPerMin: number): Sample[] => {
    const gcs = [0, 29, 45];
    return Array.from({ length: 61 }, (_, m) => {
      const last = gcs.filter((g) => g <= m).pop()!;
      const live = (15.9 + leakPerMin * m) * MiB;
      return { t: m * 60, rss: 90 * MiB, heapUsed: live + 0.4 * (m - last) * MiB, heapAfterGc: (15.9 + leakPerMin * last) * MiB, fds: 40 };
    });
  };

  it('passes a heap whose full collections all leave the same live heap, however the floor between them climbs', () => {
    expect(growing(sawtooth(0), 'heapAfterGc')).toMatchObject({ rise: 0, growing: false });
  });

  it('fails a heap whose full collections leave more each time (0.25 MiB a minute)', () => {
    const g = growing(sawtooth(0.25), 'heapAfterGc');
    expect(g.growing).toBe(true);
    expect(g.rise).toBeGreaterThan(4 * MiB);
  });

  it('leaves out the samples taken before the first full collection', () => {
    const samples = sawtooth(0).map((s, m) => ({ ...s, heapAfterGc: m < 40 ? null : 16 * MiB + (m - 40) * MiB }));
    const g = growing(samples, 'heapAfterGc');
    expect(g.rise).toBeCloseTo(20 * MiB, -4);
    expect(g.growing).toBe(true);
    expect(growing(samples.map((s) => ({ ...s, heapAfterGc: null })), 'heapAfterGc')).toEqual({ rise: 0, limit: Infinity, growing: false });
  });
});
