// What counts as growth in the soak's series (bench/soak.ts): kept apart so
// that the rule is tested without an hour of traffic.

/**
 * A series keeps growing when the least-squares line through the samples of
 * the run's second half rises, across that half, by more than both an
 * absolute floor and a share of the half's mean. The first half is warm-up
 * (JIT, heap sizing, the FDB filling to its churn level); after that a
 * process that does not leak holds level however long it runs, while a leak
 * of one object per packet, per MAC, per lease or per capture rises steadily
 * and shows up in a slope fitted over 30 samples.
 *
 * The heap is judged by what a full collection leaves (heapAfterGc), not by
 * the lowest heapUsed of each interval: between two full collections, which
 * an idle process may run only every quarter of an hour, garbage that
 * survived the young generation piles up in the old one and lifts that
 * floor in a sawtooth that a fit over half an hour reads as growth (issue 15:
 * a flannel node's floor climbed 15.9 -> 22-23.6 MiB and fell back to 15.9
 * MiB at each of its full collections). heapUsed is still recorded.
 */
export const GROWTH = {
  rss: { floor: 8 * 2 ** 20, share: 0.05 },
  heapAfterGc: { floor: 4 * 2 ** 20, share: 0.1 },
  fds: { floor: 2, share: 0 },
} as const;
export type Series = keyof typeof GROWTH;

export interface Sample {
  t: number; // seconds since the start
  rss: number;
  /** The lowest heap in use seen in the interval. */
  heapUsed: number;
  /** The heap in use after the latest full collection; null before the first. */
  heapAfterGc: number | null;
  /** Full collections so far (absent in runs before it was recorded). */
  fullGcs?: number;
  /** V8's reserved heap and the memory Buffers hold outside it, to tell what RSS is made of. */
  heapTotal?: number;
  external?: number;
  fds: number;
}

/** Least-squares slope of y over t. */
function slope(t: number[], y: number[]): number {
  const n = t.length;
  const mt = t.reduce((a, b) => a + b, 0) / n;
  const my = y.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (t[i] - mt) * (y[i] - my);
    den += (t[i] - mt) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/** The rise of `series` across the second half, and whether it counts as growing. */
export function growing(samples: Sample[], series: Series): { rise: number; limit: number; growing: boolean } {
  // No heapAfterGc before the first full collection: those samples are left out.
  const half = samples.slice(Math.floor(samples.length / 2)).filter((s) => s[series] !== null);
  if (half.length < 2) return { rise: 0, limit: Infinity, growing: false };
  const t = half.map((s) => s.t);
  const y = half.map((s) => s[series]!);
  const rise = slope(t, y) * (t[t.length - 1] - t[0]);
  const mean = y.reduce((a, b) => a + b, 0) / y.length;
  const limit = Math.max(GROWTH[series].floor, GROWTH[series].share * mean);
  return { rise, limit, growing: rise > limit };
}

