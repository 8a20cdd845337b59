// The `process` section of `vxtap stats`: what a long run watches for leaks
// (the soak benchmark samples it every minute).
import { readdirSync } from 'node:fs';
import { constants, PerformanceObserver } from 'node:perf_hooks';

export interface ProcessStats {
  /** Resident set size, bytes. */
  rss: number;
  /** V8 heap in use and reserved, bytes. */
  heapUsed: number;
  heapTotal: number;
  /**
   * V8 heap in use just after the last full (mark-compact) collection, bytes:
   * the live heap, without the garbage that waits in the old generation for
   * the next one. null until one has run since the first `vxtap stats`.
   */
  heapAfterGc: number | null;
  /** Full collections seen since the first `vxtap stats`. */
  fullGcs: number;
  /** Memory outside the V8 heap that JS objects hold (Buffers, the packet slabs), bytes. */
  external: number;
  /** Open file descriptors (entries of /proc/self/fd, less the one reading it). */
  fds: number;
}

let afterGc: number | null = null;
let fullGcs = 0;
let gcObserver: PerformanceObserver | null = null;

/** Starts noting the heap after each full collection; the observer costs nothing between collections. */
function observeFullGcs(): void {
  gcObserver = new PerformanceObserver((list) => {
    const full = list.getEntries().filter((e) => (e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR).length;
    if (full === 0) return;
    fullGcs += full;
    afterGc = process.memoryUsage().heapUsed;
  });
  gcObserver.observe({ entryTypes: ['gc'] });
}

export function processStats(): ProcessStats {
  if (gcObserver === null) observeFullGcs();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, heapAfterGc: afterGc, fullGcs, external: m.external, fds: readdirSync('/proc/self/fd').length - 1 };
}
