// Every fuzz target, in the order the runner takes them.
import type { Target } from './harness.js';
import { dockerTarget } from './docker.js';
import { NEIGH_TARGETS } from './neigh.js';
import { PARSER_TARGETS } from './parsers.js';
import { PIPELINE_TARGETS } from './pipelines.js';

export const TARGETS: Target[] = [...PARSER_TARGETS, ...NEIGH_TARGETS, ...PIPELINE_TARGETS, dockerTarget];

/** Cases in `npm test`, all targets together. */
export const TEST_CASES = TARGETS.reduce((a, t) => a + t.cases, 0);
