// `npm run bench:rtt` (root): idle ping RTT A/B (issue 12). bench:e2e's
// paths (kernel VXLAN, tinc, vxtap VXLAN by default) and vxtap builds or
// settings to compare, interleaved: each round runs every one in fresh
// namespaces, in alternating order, so that the load other work puts on the
// machine spreads over all of them. A run: after a ping has crossed (ARP,
// FDB), 3 pings, then `--count` pings `--interval` s apart, each RTT kept.
//
//   npm run bench:rtt -- [--rounds 8] [--count 20] [--interval 0.2]
//     [--paths kernel-vxlan,tinc,vxtap-vxlan] [--variant NAME=DIR[,K=V...]]...
//
// --variant runs vxtap VXLAN from the build in DIR (its dist/src/cli.js),
// with the environment variables K=V; DIR "." is this tree. Reported per
// path: the median RTT over all pings, the 10th-90th percentiles, the
// median first ping, ratios to kernel VXLAN and tinc from the same run, and
// the CPU time both vxtaps took per ping (every thread's run time in
// /proc/PID/task/*/schedstat: a figure the machine's load moves less than
// time). Output: a table and bench/results/rtt.json.
import { readdirSync, readFileSync, rmSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { CLI, Lab, OVERLAY, type Host } from '../src/lab/netns.js';
import { eventually } from '../test/helpers/peers.js';
import { PATHS, type PathSpec, type Scratch } from './e2e.js';
import { fmt, machine, machineLine, table, writeResult } from './report.js';

interface Run {
  rtts: number[];
  cpuMsPerPing?: number;
}

function flags(name: string): string[] {
  return process.argv.flatMap((a, i) => (a === name ? [process.argv[i + 1] ?? ''] : []));
}

function fail(msg: string): never {
  console.error(`bench:rtt: ${msg}`);
  process.exit(2);
}

/** vxtap VXLAN from the build in `dir`, with `env` set while it starts. */
function variant(spec: string): PathSpec {
  const m = /^([\w.-]+)=([^,]+)((?:,[A-Z_][A-Z0-9_]*=[^,]*)*)$/.exec(spec);
  if (!m) fail(`--variant: give NAME=DIR[,K=V...], not '${spec}'`);
  const [, name, dir, envs] = m;
  const cli = dir === '.' ? CLI : join(resolve(dir), 'dist', 'src', 'cli.js');
  const env = envs.split(',').filter(Boolean).map((kv) => kv.split('=') as [string, string]);
  return {
    key: name,
    label: `vxtap ${name}`,
    color: '',
    async setup(lab, a, b, ipA, ipB) {
      const saved = env.map(([k]) => [k, process.env[k]] as const);
      for (const [k, v] of env) process.env[k] = v;
      try {
        const vxlan = (h: Host, local: string, remote: string, n: number) => h.vxtap([
          'vxlan', '--dev', 'vxt0', '--vni', '42', '--local', local, '--remote', remote, '--address', `${OVERLAY}.${n}/24`,
          '--mtu', '1450', '--control', `/run/vxtap/${lab.id}-${h.name}.sock`,
        ], `/run/vxtap/${lab.id}-${h.name}.sock`, cli);
        return { dst: `${OVERLAY}.2`, dev: 'vxt0', vxtaps: { a: await vxlan(a, ipA, ipB, 1), b: await vxlan(b, ipB, ipA, 2) } };
      } finally {
        for (const [k, v] of saved) {
          if (v === undefined) delete process.env[k];
          else process.env[k] = v;
        }
      }
    },
  };
}

/** CPU time (ms) of every thread of each process so far. */
function cpuMs(pids: number[]): number {
  let ns = 0;
  for (const pid of pids) {
    for (const t of readdirSync(`/proc/${pid}/task`)) ns += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
  }
  return ns / 1e6;
}

async function runOnce(p: PathSpec, count: number, interval: string): Promise<Run> {
  const lab = new Lab(`rtt-${p.key}`.slice(0, 12));
  const deferred: Array<() => void> = [];
  const scratch: Scratch = { dir: mkdtempSync(join(tmpdir(), 'vxtap-rtt-')), defer: (fn) => deferred.push(fn) };
  try {
    const [a, b] = [lab.host('a'), lab.host('b')];
    const [ipA, ipB] = lab.underlay([a, b], 1500);
    const o = await p.setup(lab, a, b, ipA, ipB, scratch);
    await eventually(`a ping across ${p.label}`, () => a.ping(o.dst, 1, 0.2).then(() => true, () => false), 10_000);
    await a.ping(o.dst, 3, 0.2);
    const pids = Object.values(o.vxtaps).map((v) => v.proc.pid!);
    const c0 = cpuMs(pids);
    const out = await a.exec('ping', ['-c', String(count), '-i', interval, '-W', '2', o.dst]);
    const cpu = cpuMs(pids) - c0;
    const rtts = [...out.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]) * 1000);
    return { rtts, ...(pids.length > 0 ? { cpuMsPerPing: cpu / count } : {}) };
  } finally {
    await lab.cleanup();
    for (const fn of deferred) fn();
    rmSync(scratch.dir, { recursive: true, force: true });
  }
}

const sorted = (xs: number[]) => [...xs].sort((x, y) => x - y);
const pct = (xs: number[], q: number) => sorted(xs)[Math.min(xs.length - 1, Math.floor(q * xs.length))];
const median = (xs: number[]) => pct(xs, 0.5);

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) fail('needs root (it creates network namespaces): sudo npm run bench:rtt');
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130));
  const rounds = Number(flags('--rounds')[0] ?? 8);
  const count = Number(flags('--count')[0] ?? 20);
  const interval = flags('--interval')[0] ?? '0.2';
  if (!Number.isInteger(rounds) || rounds < 1) fail('--rounds: give a whole number, 1 or more (default 8)');
  if (!Number.isInteger(count) || count < 1) fail('--count: give a whole number of pings, 1 or more (default 20)');
  if (!(Number(interval) >= 0.002)) fail('--interval: give seconds between pings, 0.002 or more (default 0.2)');
  const keys = (flags('--paths')[0] ?? 'kernel-vxlan,tinc,vxtap-vxlan').split(',').filter(Boolean);
  const unknown = keys.filter((k) => !PATHS.some((p) => p.key === k));
  if (unknown.length > 0) fail(`--paths: unknown path ${unknown.join(', ')}; choose from ${PATHS.map((p) => p.key).join(', ')}`);
  const paths = [...PATHS.filter((p) => keys.includes(p.key)), ...flags('--variant').map(variant)];

  const m = machine();
  console.log(machineLine(m));
  console.log(`${rounds} rounds; ${count} pings ${interval} s apart per run`);
  const runs = new Map<string, Run[]>(paths.map((p) => [p.key, []]));
  for (let r = 0; r < rounds; r++) {
    for (const p of r % 2 === 0 ? paths : [...paths].reverse()) {
      const run = await runOnce(p, count, interval);
      runs.get(p.key)!.push(run);
      process.stderr.write(`[${r + 1}/${rounds}] ${p.label}: median ${fmt(median(run.rtts))} µs${run.cpuMsPerPing === undefined ? '' : `, CPU ${fmt(run.cpuMsPerPing)} ms per ping`}\n`);
    }
  }
  const all = (key: string) => runs.get(key)?.flatMap((r) => r.rtts) ?? [];
  const ref = (key: string) => (all(key).length > 0 ? median(all(key)) : undefined);
  const [kernel, tinc] = [ref('kernel-vxlan'), ref('tinc')];
  const rows = paths.map((p) => {
    const rtts = all(p.key);
    const med = median(rtts);
    const cpu = runs.get(p.key)!.flatMap((r) => (r.cpuMsPerPing === undefined ? [] : [r.cpuMsPerPing]));
    return {
      path: p.key,
      medianUs: med,
      p10Us: pct(rtts, 0.1),
      p90Us: pct(rtts, 0.9),
      firstUs: median(runs.get(p.key)!.map((r) => r.rtts[0])),
      roundMediansUs: runs.get(p.key)!.map((r) => median(r.rtts)),
      ...(cpu.length > 0 ? { cpuMsPerPing: median(cpu) } : {}),
    };
  });
  console.log(table(['path', 'median µs', 'p10-p90 µs', 'first ping µs', 'x kernel', 'x tinc', 'CPU ms/ping'], rows.map((r) => [
    r.path, fmt(r.medianUs), `${fmt(r.p10Us)}-${fmt(r.p90Us)}`, fmt(r.firstUs),
    kernel ? fmt(r.medianUs / kernel, 2) : '-', tinc ? fmt(r.medianUs / tinc, 2) : '-', r.cpuMsPerPing === undefined ? '-' : fmt(r.cpuMsPerPing, 2),
  ])));
  const file = writeResult('rtt.json', JSON.stringify({ machine: m, rounds, count, interval, paths: rows }, null, 2) + '\n');
  console.log(`wrote ${file}`);
}

await main();
