// `npm run fuzz`: every target for 10^7 cases in all (each its `npm test`
// share times 100), or for a time budget, with the seed of VXTAP_FUZZ_SEED,
// --seed or the fixed default. Needs root for the targets with devices,
// which run in a network namespace of their own. Prints one line per target
// and exits 1 if any failed, with fast-check's report (seed and path) for it.
//
//   node dist/test/fuzzing/run.js [--cases N] [--seconds S] [--seed N] [--only a,b] [--list]
import { parseFlags, one, has } from '../../src/control/args.js';
import { VxtapError } from '../../src/core/errors.js';
import { runInNamespace, runTarget, seedFromEnv, type Outcome, type Target } from './harness.js';
import { TARGETS, TEST_CASES } from './targets.js';

const FLAGS = {
  cases: { arity: 1 as const, int: true },
  seconds: { arity: 1 as const, int: true },
  seed: { arity: 1 as const },
  only: { arity: 1 as const },
  list: { arity: 0 as const },
  inside: { arity: 0 as const },
};

async function main(argv: string[]): Promise<number> {
  const p = parseFlags(argv, FLAGS);
  if (has(p, 'list')) {
    for (const t of TARGETS) console.log(`${t.name.padEnd(18)} ${t.netns ? 'netns' : '     '} ${t.what}`);
    return 0;
  }
  const seedText = one<string>(p, 'seed');
  const seed = seedFromEnv(seedText === undefined ? process.env : { VXTAP_FUZZ_SEED: seedText });
  const names = one<string>(p, 'only')?.split(',');
  const targets = names === undefined ? TARGETS : names.map((n) => {
    const t = TARGETS.find((x) => x.name === n);
    if (t === undefined) throw new VxtapError('E_USAGE', `--only: no target '${n}': one of ${TARGETS.map((x) => x.name).join(', ')}`);
    return t;
  });
  const total = one<number>(p, 'cases') ?? 100 * TEST_CASES;
  const seconds = one<number>(p, 'seconds');
  const share = (t: Target) => t.cases / targets.reduce((a, x) => a + x.cases, 0);
  // With a time budget the case count only caps the run.
  const cases = (t: Target) => (has(p, 'inside') ? total : Math.max(1, Math.round(total * share(t))));
  const budget = seconds === undefined ? undefined : (t: Target) => (has(p, 'inside') ? seconds : Math.max(1, Math.round(seconds * share(t))));

  if (has(p, 'inside')) {
    for (const t of targets) console.log(JSON.stringify(await runTarget(t, { seed, cases: cases(t), seconds: budget?.(t) })));
    return 0;
  }
  console.log(`vxtap fuzz: seed ${seed}, ${seconds === undefined ? `${total} cases` : `${seconds} s (at most ${total} cases)`}, node ${process.version}`);
  const outcomes: Outcome[] = [];
  const started = Date.now();
  for (const t of targets) {
    const o = t.netns
      ? (await runInNamespace([t], { seed, cases, ...(budget && { seconds: budget }) }))[0]
      : await runTarget(t, { seed, cases: cases(t), seconds: budget?.(t) });
    outcomes.push(o);
    console.log(`${o.failed ? 'FAIL' : 'ok  '} ${t.name.padEnd(18)} ${String(o.runs).padStart(9)} cases`);
    if (o.failed) console.log(o.report);
  }
  const runs = outcomes.reduce((a, o) => a + o.runs, 0);
  const failed = outcomes.filter((o) => o.failed);
  console.log(`${runs} cases in ${((Date.now() - started) / 1000).toFixed(1)} s, ${failed.length} target(s) failed${failed.length ? `: ${failed.map((o) => o.name).join(', ')}` : ''}`);
  return failed.length === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
}, (e: unknown) => {
  console.error(e instanceof VxtapError ? `vxtap fuzz: ${e.message}` : e);
  process.exitCode = 2;
});
