// `npm run bench:flannel` (root): how long a `vxtap flannel` node takes to
// program a cluster of 1000 other nodes (for each, a permanent neighbour, an
// onlink route and an FDB entry), against a real etcd in a namespace: the
// flannel tests' bench (store and node hosts on a veth/bridge underlay).
//   - watch: 1000 leases are written to etcd while the node runs; the time
//     from the first write, and from the last, until all 1000 routes are in
//     the node's kernel;
//   - start-up: a node starts in that cluster; the time from spawn to `vxtap
//     ready` (every lease programmed: /readyz would answer 200), and the part
//     of it after Node.js started (the node's own readyMs).
// Each round uses a fresh etcd prefix; the median round is reported (3
// rounds by default, --rounds N). Output: a table and bench/results/flannel.json.
import { performance } from 'node:perf_hooks';
import {
  FlannelBench, netAddr, remoteFdb, routesOn, SCALE_CONFIG, simulatedLeases,
} from '../test/integration/flannel-helpers.js';
import { fmt, machine, machineLine, quiet, table, writeResult } from './report.js';

const NODES = 1000;
/** Longest wait for a quiet machine before each round. */
const QUIET_WAIT_MS = 5000;
/** How often the kernel's routes are read while the watch applies the leases. */
const POLL_MS = 20;

interface Round {
  /** Milliseconds: writing the 1000 leases to etcd. */
  writeMs: number;
  /** Milliseconds from the first write until the 1000th route was in the kernel. */
  watchFromFirstMs: number;
  /** The same from the last write. */
  watchFromLastMs: number;
  /** Milliseconds from spawn to `vxtap ready` for a node starting in the cluster. */
  startupMs: number;
  /** The node's own readyMs (after Node.js started). */
  startupNodeMs: number;
  /** How busy the rest of the machine was before the round, in percent. */
  busyPct: number;
}

async function round(bench: FlannelBench): Promise<Round> {
  const { busyPct } = await quiet(QUIET_WAIT_MS);
  const [h] = bench.nodes;
  const prefix = bench.prefix(SCALE_CONFIG);
  let node = await bench.startNode(h, prefix, ['--iface', 'ul0']);
  const { subnet } = bench.subnetEnv(node);
  const leases = simulatedLeases(NODES, `${netAddr(subnet)}-${subnet.split('/')[1]}`);

  const t0 = performance.now();
  await bench.putLeases(prefix, leases);
  const written = performance.now();
  while (routesOn(h, 'flannel.1').length < NODES) {
    if (performance.now() - t0 > 60_000) throw new Error(`only ${routesOn(h, 'flannel.1').length} of ${NODES} routes after 60 s`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  const programmed = performance.now();
  if ((await remoteFdb(node)).size !== NODES) throw new Error('the FDB does not hold every remote VTEP');

  await node.v.stop();
  const s0 = performance.now();
  node = await bench.startNode(h, prefix, ['--iface', 'ul0'], {}, 60_000);
  const startupMs = performance.now() - s0;
  if (routesOn(h, 'flannel.1').length !== NODES) throw new Error('ready before every route was programmed');
  const startupNodeMs = Number(/"readyMs":(\d+)/.exec(node.v.stderr)?.[1] ?? NaN);
  await bench.reset();
  return { writeMs: written - t0, watchFromFirstMs: programmed - t0, watchFromLastMs: programmed - written, startupMs, startupNodeMs, busyPct };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function main(): Promise<void> {
  const i = process.argv.indexOf('--rounds');
  const rounds = i < 0 ? 3 : Number(process.argv[i + 1]);
  if (!Number.isInteger(rounds) || rounds < 1) {
    console.error('bench:flannel: --rounds: give a whole number of rounds, 1 or more (default 3)');
    process.exit(2);
  }
  const m = machine();
  console.log(machineLine(m));
  const bench = new FlannelBench(1);
  const runs: Round[] = [];
  try {
    await bench.start();
    for (let r = 1; r <= rounds; r++) {
      runs.push(await round(bench));
      console.log(`[${r}/${rounds}] ${JSON.stringify(runs[r - 1], (_, v: unknown) => (typeof v === 'number' ? Math.round(v) : v))}`);
    }
  } finally {
    await bench.destroy();
  }
  const keys: Array<[keyof Round, string]> = [
    ['writeMs', `${NODES} leases written to etcd`],
    ['watchFromFirstMs', `all ${NODES} routes in the kernel, from the first write`],
    ['watchFromLastMs', `all ${NODES} routes in the kernel, from the last write`],
    ['startupMs', `a node starting among ${NODES}: spawn to ready`],
    ['startupNodeMs', '  of it after Node.js started (readyMs)'],
  ];
  console.log(table(['what', 'ms (median)', 'range'], keys.map(([k, what]) => {
    const xs = runs.map((r) => r[k]);
    return [what, fmt(median(xs)), `${fmt(Math.min(...xs))}-${fmt(Math.max(...xs))}`];
  })));
  const busy = Math.max(...runs.map((r) => r.busyPct));
  if (busy > 10) console.log(`warning: the machine was ${fmt(busy, 2)}% busy before a round: the figures are suspect`);
  console.log(`wrote ${writeResult('flannel.json', JSON.stringify({ machine: m, nodes: NODES, rounds: runs }, null, 2) + '\n')}`);
}

main().catch((e: unknown) => {
  console.error(`bench:flannel failed: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
