// The `process` section of `vxtap stats`: what a long run watches for leaks
// (the soak benchmark samples it every minute).
import { readdirSync } from 'node:fs';

export interface ProcessStats {
  /** Resident set size, bytes. */
  rss: number;
  /** V8 heap in use and reserved, bytes. */
  heapUsed: number;
  heapTotal: number;
  /** Memory outside the V8 heap that JS objects hold (Buffers, the packet slabs), bytes. */
  external: number;
  /** Open file descriptors (entries of /proc/self/fd, less the one reading it). */
  fds: number;
}

export function processStats(): ProcessStats {
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, fds: readdirSync('/proc/self/fd').length - 1 };
}
