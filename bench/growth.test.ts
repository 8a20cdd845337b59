import { describe, expect, it } from 'vitest';
import { growing, type Sample } from './growth.js';

const MiB = 2 ** 20;

/** 60 one-minute samples with rss from f(minute), a flat heap and fds. */
function run(f: (m: number) => number, fds: (m: number) => number = () => 40): Sample[] {
  return Array.from({ length: 60 }, (_, m) => ({ t: m * 60, rss: f(m), heapUsed: 16 * MiB, fds: fds(m) }));
}

describe('soak growth rule', () => {
  it('passes a flat series with noise and a warm-up rise in the first half', () => {
    const noisy = run((m) => (m < 10 ? 80 + 2 * m : 100) * MiB + ((m * 7919) % 11 - 5) * MiB);
    expect(growing(noisy, 'rss').growing).toBe(false);
    expect(growing(noisy, 'heapUsed').growing).toBe(false);
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
});
