// The fuzzing harness in `npm test`: every target with its share of 10^5
// cases and the fixed seed (VXTAP_FUZZ_SEED replays another). A failure
// prints fast-check's report: the counterexample, its seed and path.
import { describe, expect, it } from 'vitest';
import { runInNamespace, runTarget, seedFromEnv } from './harness.js';
import { TARGETS, TEST_CASES } from './targets.js';

const seed = seedFromEnv();

describe(`fuzzing, seed ${seed}`, () => {
  it('runs 10^5 cases in all', () => {
    expect(TEST_CASES).toBe(100_000);
  });

  for (const t of TARGETS.filter((x) => !x.netns)) {
    it(`${t.name}: ${t.cases} cases of ${t.what}`, async () => {
      const o = await runTarget(t, { seed, cases: t.cases });
      expect(o.failed, o.report).toBe(false);
      expect(o.runs).toBe(t.cases);
    });
  }

  const netns = TARGETS.filter((x) => x.netns);
  it(`${netns.map((t) => t.name).join(', ')}: ${netns.reduce((a, t) => a + t.cases, 0)} cases in a network namespace, real devices`, async () => {
    const outcomes = await runInNamespace(netns, { seed, cases: (t) => t.cases });
    for (const o of outcomes) {
      expect(o.failed, o.report).toBe(false);
      expect(o.runs, o.name).toBe(netns.find((t) => t.name === o.name)!.cases);
    }
  }, 300_000);
});
