// What every benchmark report shares: the machine it ran on (pino prints the
// Node version, CPU and cores with its results, since a figure means nothing
// without them), a plain-text table, and the results directory.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root, from dist/bench/ (compiled) or bench/ (source). */
const ROOT = fileURLToPath(new URL(import.meta.url.includes('/dist/') ? '../../' : '../', import.meta.url));
export const RESULTS = join(ROOT, 'bench', 'results');

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  node: string;
  v8: string;
  /** The tree measured: short commit, "+dirty" with uncommitted changes; "unknown" outside git. */
  commit: string;
  date: string;
}

export function machine(): Machine {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: os.release(),
    node: process.version,
    v8: process.versions.v8,
    commit: commit(),
    date: new Date().toISOString(),
  };
}

function commit(): string {
  try {
    const git = (...args: string[]): string => execFileSync('git', ['-C', ROOT, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return git('rev-parse', '--short', 'HEAD') + (git('status', '--porcelain') === '' ? '' : '+dirty');
  } catch {
    return 'unknown';
  }
}

export function machineLine(m: Machine): string {
  return `machine: ${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB; Linux ${m.kernel}; Node ${m.node} (V8 ${m.v8}); vxtap ${m.commit}; ${m.date}`;
}

/**
 * Columns padded to their widest cell. `align` has one letter per column,
 * 'l' or 'r'; by default the first column is left-aligned and the rest,
 * which hold figures, right-aligned.
 */
export function table(header: string[], rows: string[][], align = 'l' + 'r'.repeat(header.length - 1)): string {
  const all = [header, ...rows];
  const widths = header.map((_, c) => Math.max(...all.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]): string => r.map((cell, c) => (align[c] === 'l' ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** Writes bench/results/NAME and returns its path. */
export function writeResult(name: string, content: string): string {
  mkdirSync(RESULTS, { recursive: true });
  const path = join(RESULTS, name);
  writeFileSync(path, content);
  return path;
}

function cpuTimes(): { idle: number; total: number } {
  // /proc/stat's first line: user nice system idle iowait irq softirq steal (guest time is inside user).
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number);
  return { idle: f[3] + f[4], total: f.reduce((a, b) => a + b, 0) };
}

/**
 * How busy the whole machine was, in percent of all cores, over `ms`
 * milliseconds. Run before a measurement, while the benchmark itself is
 * idle: anything above a few percent is someone else's load, and on a
 * 2-core machine it skews every figure that follows.
 */
export async function othersBusy(ms = 1000): Promise<number> {
  const a = cpuTimes();
  await new Promise((r) => setTimeout(r, ms));
  const b = cpuTimes();
  return b.total === a.total ? 0 : 100 * (1 - (b.idle - a.idle) / (b.total - a.total));
}

/** Above this, othersBusy() means the figures are suspect; the reports say so. */
export const BUSY_WARN_PCT = 10;

/**
 * Waits, up to `maxMs`, for a `windowMs` window in which the machine is
 * quiet (othersBusy below BUSY_WARN_PCT), so that a burst of someone else's
 * work does not land on one measurement. Returns the last window's figure,
 * which the caller records, and how long it waited.
 */
export async function quiet(maxMs: number, windowMs = 1000): Promise<{ busyPct: number; waitedMs: number }> {
  const start = Date.now();
  for (;;) {
    const busyPct = await othersBusy(windowMs);
    const waitedMs = Date.now() - start;
    if (busyPct <= BUSY_WARN_PCT || waitedMs >= maxMs) return { busyPct, waitedMs };
  }
}

/** A figure to `digits` significant digits, without exponent notation for the ranges benchmarks produce. */
export function fmt(v: number, digits = 3): string {
  if (!Number.isFinite(v)) return '-';
  if (v === 0) return '0';
  const decimals = Math.max(0, digits - 1 - Math.floor(Math.log10(Math.abs(v))));
  return v.toFixed(Math.min(decimals, 6));
}
