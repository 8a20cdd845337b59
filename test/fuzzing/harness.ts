// The fuzzing harness: named targets, each a fast-check property over one
// parser of untrusted input, run with a fixed seed (VXTAP_FUZZ_SEED overrides
// it) for a number of cases or a time budget. `npm test` runs every target
// with its share of 10^5 cases (fuzz.test.ts); `npm run fuzz` runs them for
// longer (run.ts). A failure reports the seed and the counterexample's path,
// which replay it exactly.
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { VxtapError } from '../../src/core/errors.js';
import { Lab } from '../../src/lab/netns.js';

/** The seed when VXTAP_FUZZ_SEED is not set: every run of `npm test` replays the same cases. */
export const DEFAULT_SEED = 0x15f022;

export function seedFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const s = env.VXTAP_FUZZ_SEED;
  if (s === undefined || s === '') return DEFAULT_SEED;
  if (!/^-?\d+$/.test(s)) throw new Error(`VXTAP_FUZZ_SEED: expected an integer, got '${s}'`);
  return Number(s) | 0;
}

/** What a target's set-up gives the runner: the property, and what to close after it. */
export interface Fuzzer {
  property: fc.IRawProperty<never, boolean>;
  close?: () => void | Promise<void>;
}

export interface Target {
  name: string;
  /** What it feeds, for the runner's summary. */
  what: string;
  /** Cases in `npm test`; the shares add up to TEST_CASES. */
  cases: number;
  /** Needs root and a network namespace of its own (real TAP/TUN devices): run.ts re-runs itself inside one. */
  netns: boolean;
  open(): Promise<Fuzzer>;
}

export interface RunOptions {
  seed: number;
  cases: number;
  /** Stop after this many seconds even if fewer cases ran. */
  seconds?: number;
}

export interface Outcome {
  name: string;
  seed: number;
  runs: number;
  failed: boolean;
  /** fast-check's report on failure: the counterexample, its seed and path. */
  report?: string;
}

/** Counterexamples (a 64 KiB datagram) are cut to this in the report; the seed and path replay them whole. */
const REPORT_CHARS = 2000;

export async function runTarget(t: Target, o: RunOptions): Promise<Outcome> {
  const f = await t.open();
  try {
    const details = await fc.check(f.property as fc.IRawProperty<unknown, boolean>, {
      seed: o.seed,
      numRuns: o.cases,
      ...(o.seconds !== undefined && { interruptAfterTimeLimit: o.seconds * 1000, markInterruptAsFailure: false }),
    });
    const runs = details.numRuns;
    if (!details.failed) return { name: t.name, seed: o.seed, runs, failed: false };
    const error = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
    const example = fc.stringify(details.counterexample);
    const report = [
      `failed after ${runs} cases: ${error}`,
      `seed ${o.seed}, path "${details.counterexamplePath}"`,
      `counterexample: ${example.length > REPORT_CHARS ? `${example.slice(0, REPORT_CHARS)}... (${example.length} characters)` : example}`,
    ].join('\n');
    return {
      name: t.name, seed: o.seed, runs, failed: true,
      report: `${t.name}: ${report}\nreplay: VXTAP_FUZZ_SEED=${o.seed} npm run fuzz -- --only ${t.name}`,
    };
  } finally {
    await f.close?.();
  }
}

/** A user error is one line, names what is wrong and is not a flood of text. */
export const MAX_ERROR_CHARS = 4096;

/**
 * Runs f on fuzzed input: it may return, or throw the project's one-line user
 * error (VxtapError); anything else (a TypeError, a RangeError from a deep
 * recursion, a multi-line message) fails the property.
 */
export function userErrorOnly<T>(f: () => T): T | VxtapError {
  try {
    return f();
  } catch (e) {
    if (!(e instanceof VxtapError)) throw new Error(`threw ${describeError(e)}, not a VxtapError`);
    checkOneLine(e.message);
    return e;
  }
}

/**
 * As userErrorOnly, for parsers whose contract is a plain Error that the
 * caller logs (as a JSON string) and skips: lease values. A TypeError or
 * RangeError there is a bug all the same.
 */
export function plainErrorOnly<T>(f: () => T): T | Error {
  try {
    return f();
  } catch (e) {
    if (!(e instanceof Error) || (e.constructor !== Error && !(e instanceof SyntaxError) && !(e instanceof VxtapError))) {
      throw new Error(`threw ${describeError(e)}, not an Error saying what is wrong`);
    }
    if (e.message.length > MAX_ERROR_CHARS) throw new Error(`the error is ${e.message.length} characters long`);
    return e;
  }
}

export function checkOneLine(message: string): void {
  if (/[\r\n]/.test(message)) throw new Error(`the error is not one line: ${JSON.stringify(message.slice(0, 200))}`);
  if (message.length > MAX_ERROR_CHARS) throw new Error(`the error is ${message.length} characters long: ${message.slice(0, 120)}...`);
}

function describeError(e: unknown): string {
  return e instanceof Error ? `${e.constructor.name}: ${e.message.slice(0, 300)}` : `a non-Error ${typeof e}: ${String(e).slice(0, 100)}`;
}

/** dist/test/fuzzing or test/fuzzing -> the package root. */
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', ...(import.meta.url.includes('/dist/') ? ['..'] : []));
/** The compiled runner (`npm test` and `npm run fuzz` build it first). */
export const RUNNER = join(ROOT, 'dist', 'test', 'fuzzing', 'run.js');

/**
 * Runs targets that need devices inside a fresh network namespace: the
 * runner re-executed there with --inside, one JSON outcome per line on its
 * stdout. A crash of that process (an exception thrown out of a pipeline's
 * callback) is a failure of the target it was running.
 */
export async function runInNamespace(targets: Target[], o: { seed: number; cases: (t: Target) => number; seconds?: (t: Target) => number }): Promise<Outcome[]> {
  const lab = new Lab('fuzz');
  try {
    const h = lab.host('fz');
    const outcomes: Outcome[] = [];
    for (const t of targets) {
      const seconds = o.seconds?.(t);
      const args = [RUNNER, '--inside', '--only', t.name, '--seed', String(o.seed), '--cases', String(o.cases(t)),
        ...(seconds !== undefined ? ['--seconds', String(seconds)] : [])];
      const p = h.spawn(process.execPath, args);
      let out = '';
      let err = '';
      p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      const [code] = (await once(p, 'exit')) as [number | null];
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (code === 0 && line !== undefined) outcomes.push(JSON.parse(line) as Outcome);
      else outcomes.push({ name: t.name, seed: o.seed, runs: 0, failed: true, report: `${t.name}: the fuzzing process exited ${code}: ${err.trim().slice(-4000)}\nreplay: VXTAP_FUZZ_SEED=${o.seed} npm run fuzz -- --only ${t.name}` });
    }
    return outcomes;
  } finally {
    await lab.cleanup();
  }
}
