import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { processStats } from './process-stats.js';

setFlagsFromString('--expose-gc');
const fullGc = runInNewContext('gc') as () => void;
/** A full collection, and the GC entries it queues delivered. */
async function collect(): Promise<void> {
  fullGc();
  await new Promise((r) => setTimeout(r, 50));
}

describe('process stats', () => {
  it('reports the live heap that each full collection leaves, from the first one after the first call', async () => {
    const before = processStats();
    expect(before.heapAfterGc).toBeNull();
    // About 8 MiB that stay live across one full collection, then are dropped before the next.
    let live: object[] | null = Array.from({ length: 250_000 }, (_, i) => ({ i, s: `x${i}` }));
    await collect();
    const withLive = processStats().heapAfterGc;
    const kept = live.length; // not through expect(), which would keep a reference
    live = null;
    await collect();
    const after = processStats();
    const without = after.heapAfterGc;
    expect(after.fullGcs - before.fullGcs).toBeGreaterThanOrEqual(2);
    expect(kept).toBe(250_000);
    expect(withLive).not.toBeNull();
    expect(without!).toBeLessThan(withLive! - 4 * 2 ** 20);
  });
});
