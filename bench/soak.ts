// `npm run soak` (root; not in CI): vxtap under an hour of mixed traffic and
// churn, watched for leaks. Two hosts in network namespaces joined by a veth
// underlay run a vxtap VXLAN pair (VNI 42, 203.0.113.0/24) and a flannel node
// pair (the lease file, Network 198.18.0.0/16). Cycle after cycle, until the
// time is up (--minutes N, default 60):
//   - traffic: iperf3 TCP and a UDP burst over each pair, pings over both;
//   - MAC churn: 16 macvlans on a's VXLAN TAP, each with a new random MAC
//     every cycle, ping across, so both VTEPs learn new MACs and age old ones;
//   - capture churn: `vxtap capture` clients attach to a VTEP and a flannel
//     node and are stopped, alternately with SIGINT (clean) and SIGKILL;
//   - lease churn: 8 leases of made-up nodes added to the lease file, and
//     removed the next cycle, so the flannel nodes program and unprogram them.
// Every minute (--interval S) it records each vxtap process's RSS, V8 heap
// (the floor of each interval, and what the latest full collection left),
// reserved heap, Buffer memory and open file descriptors from its `vxtap
// stats` (the `process` section).
// At the end: bench/results/soak.json and soak.svg, and exit 1 if a series
// keeps growing (see growing()).
import { type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GROWTH, growing, type Sample, type Series } from './growth.js';
import { parseFlags, one } from '../src/control/args.js';
import { CONTROL_DIR } from '../src/control/control-path.js';
import type { ProcessStats } from '../src/control/process-stats.js';
import { FileStore } from '../src/flannel/file-store.js';
import { vxlanAttrs } from '../src/flannel/lease.js';
import { CLI, Lab, OVERLAY, sh, type Host, type Vxtap } from '../src/lab/netns.js';
import { parseIpv4Addr } from '../src/wire/ipaddr.js';
import { fmt, machine, machineLine, table, writeResult } from './report.js';

const VNI = 42;
const MACVLANS = 16;
const FAKE_LEASES = 8;
const NETWORK_CONFIG = '{"Network":"198.18.0.0/16","SubnetLen":24,"Backend":{"Type":"vxlan"}}';

interface Watched {
  name: string;
  v: Vxtap;
  samples: Sample[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs a command in h, to its end or for at most timeoutMs; a failure is logged, not thrown (the soak goes on). */
async function run(h: Host, cmd: string, args: string[], timeoutMs: number, log: (s: string) => void): Promise<boolean> {
  try {
    await h.exec(cmd, args, timeoutMs);
    return true;
  } catch (e) {
    log(`  ${h.name}: ${cmd} ${args.slice(0, 3).join(' ')}: ${(e as Error).message.split('\n')[0].slice(0, 200)}`);
    return false;
  }
}

async function stopChild(p: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  p.kill(signal);
  const timer = setTimeout(() => p.kill('SIGKILL'), 5000);
  await once(p, 'exit');
  clearTimeout(timer);
}

function randomMac(): string {
  const b = Array.from({ length: 6 }, () => Math.floor(Math.random() * 256));
  b[0] = (b[0] & 0xfe) | 0x02; // unicast, locally administered
  return b.map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** Replaces a's macvlans with fresh ones (new MACs) and pings across from each. */
async function macChurn(a: Host, log: (s: string) => void): Promise<void> {
  const cmds: string[] = [];
  for (let i = 0; i < MACVLANS; i++) {
    cmds.push(`link del mv${i}`, `link add mv${i} link vxt0 address ${randomMac()} type macvlan mode bridge`, `address add ${OVERLAY}.${100 + i}/32 dev mv${i}`, `link set mv${i} up`);
  }
  try {
    // -force: the first cycle has nothing to delete, and one failed command must not stop the rest.
    sh('ip', ['-n', a.ns, '-force', '-batch', '-'], cmds.join('\n') + '\n');
  } catch (e) {
    if (!/Cannot find device/.test((e as { stderr?: string }).stderr ?? '')) log(`  a: macvlans: ${(e as Error).message.split('\n')[0].slice(0, 200)}`);
  }
  // Bound to the macvlan, a ping with no route there goes out on-link: ARP and echo from the new MAC.
  await Promise.all(Array.from({ length: MACVLANS }, (_, i) => run(a, 'ping', ['-c', '2', '-i', '0.2', '-W', '1', '-I', `mv${i}`, `${OVERLAY}.2`], 10_000, () => {})));
}

function chart(watched: Watched[], verdicts: string[]): string {
  const W = 900;
  const H = 420;
  const L = 70;
  const R = 200;
  const T = 40;
  const B = 50;
  const all = watched.flatMap((w) => w.samples);
  const tMax = Math.max(1, ...all.map((s) => s.t));
  const yMax = Math.max(1, ...all.map((s) => s.rss)) * 1.1;
  const x = (t: number) => L + ((W - L - R) * t) / tMax;
  const y = (v: number) => H - B - ((H - T - B) * v) / yMax;
  const colors = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd'];
  const mib = (v: number) => (v / 2 ** 20).toFixed(0);
  const lines = watched.map((w, k) => {
    const pts = (f: (s: Sample) => number | null) => w.samples.flatMap((s) => {
      const v = f(s);
      return v === null ? [] : [`${x(s.t).toFixed(1)},${y(v).toFixed(1)}`];
    }).join(' ');
    return `<polyline fill="none" stroke="${colors[k % 4]}" stroke-width="2" points="${pts((s) => s.rss)}"/>` +
      `<polyline fill="none" stroke="${colors[k % 4]}" stroke-width="1" stroke-dasharray="4 3" points="${pts((s) => s.heapUsed)}"/>` +
      `<polyline fill="none" stroke="${colors[k % 4]}" stroke-width="1.5" stroke-dasharray="1 2" points="${pts((s) => s.heapAfterGc)}"/>` +
      `<text x="${W - R + 10}" y="${T + 20 + 36 * k}" fill="${colors[k % 4]}" font-size="12">${w.name}</text>` +
      `<text x="${W - R + 10}" y="${T + 34 + 36 * k}" fill="#555" font-size="10">${verdicts[k]}</text>`;
  });
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => {
    const v = yMax * f;
    return `<line x1="${L}" x2="${W - R}" y1="${y(v)}" y2="${y(v)}" stroke="#eee"/><text x="${L - 6}" y="${y(v) + 4}" text-anchor="end" font-size="10">${mib(v)}</text>`;
  });
  const xticks = [0, 0.25, 0.5, 0.75, 1].map((f) => `<text x="${x(tMax * f)}" y="${H - B + 16}" text-anchor="middle" font-size="10">${(tMax * f / 60).toFixed(1)}</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="${L}" y="22" font-size="14">vxtap soak, MiB per process: RSS (solid), heap floor (dashed), heap after a full GC (dotted)</text>
${ticks.join('\n')}
${xticks.join('\n')}
<text x="${(L + W - R) / 2}" y="${H - 12}" text-anchor="middle" font-size="11">minutes</text>
<line x1="${x(tMax / 2)}" x2="${x(tMax / 2)}" y1="${T}" y2="${H - B}" stroke="#bbb" stroke-dasharray="2 4"/>
<text x="${x(tMax / 2) + 4}" y="${T + 10}" font-size="9" fill="#888">second half: the slope is fitted here</text>
${lines.join('\n')}
</svg>
`;
}

async function main(argv: string[]): Promise<number> {
  const p = parseFlags(argv, { minutes: { arity: 1, int: true }, interval: { arity: 1, int: true } });
  const minutes = one<number>(p, 'minutes') ?? 60;
  const intervalMs = (one<number>(p, 'interval') ?? 60) * 1000;
  const m = machine();
  const log = (s: string) => console.log(`${new Date().toISOString().slice(11, 19)} ${s}`);
  console.log(machineLine(m));
  log(`soak: ${minutes} minutes, a sample every ${intervalMs / 1000} s`);

  const lab = new Lab('soak');
  const dir = mkdtempSync(join(tmpdir(), 'vxtap-soak-'));
  const leaseFile = join(CONTROL_DIR, `${lab.id}-leases.json`);
  const store = new FileStore(leaseFile);
  let stopping = false;
  const onSignal = () => {
    stopping = true;
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const a = lab.host('a');
    const b = lab.host('b');
    const [ipA, ipB] = lab.underlay([a, b]);
    const ctl = (h: Host, what: string) => `${CONTROL_DIR}/${lab.id}-${h.name}-${what}.sock`;
    const vxlan = (h: Host, local: string, remote: string, n: number) => h.vxtap([
      'vxlan', '--dev', 'vxt0', '--vni', String(VNI), '--local', local, '--remote', remote, '--address', `${OVERLAY}.${n}/24`,
      '--ageing', '60', '--control', ctl(h, 'vxlan'),
    ]);
    const flannel = (h: Host) => h.vxtap([
      'flannel', '--lease-file', leaseFile, '--network-config', NETWORK_CONFIG, '--iface', 'ul0',
      '--subnet-file', join(dir, `${h.name}.env`), '--control', ctl(h, 'flannel'),
    ], ctl(h, 'flannel'));
    const watched: Watched[] = [
      { name: 'vxlan a', v: await vxlan(a, ipA, ipB, 1), samples: [] },
      { name: 'vxlan b', v: await vxlan(b, ipB, ipA, 2), samples: [] },
      { name: 'flannel a', v: await flannel(a), samples: [] },
      { name: 'flannel b', v: await flannel(b), samples: [] },
    ];
    const subnetOf = async (w: Watched) => ((await w.v.stats()) as unknown as { flannel: { subnet: string } }).flannel.subnet;
    const own = [await subnetOf(watched[2]), await subnetOf(watched[3])];
    const podB = own[1].split('/')[0]; // b's flannel.1 address, the subnet's network address
    let iperfd = b.spawn('iperf3', ['-s']);
    await sleep(500);
    // A client cut off mid-test (a timeout on a loaded machine) can leave the
    // server waiting for it forever, and every later test then fails: start a
    // fresh server after any failed test.
    const iperf = async (args: string[]): Promise<void> => {
      if (await run(a, 'iperf3', ['-c', ...args], 30_000, log)) return;
      await stopChild(iperfd, 'SIGKILL');
      iperfd = b.spawn('iperf3', ['-s']);
      await sleep(500);
    };
    log(`up: vxlan ${OVERLAY}.1 <-> ${OVERLAY}.2, flannel b at ${podB}`);

    const t0 = Date.now();
    const end = t0 + minutes * 60_000;
    let cycle = 0;
    // Probes every few seconds; each interval becomes one sample per process:
    // the median RSS, the lowest heap (the floor the collector leaves, which a
    // leak raises; a single reading lands anywhere on the GC sawtooth) and the
    // most descriptors seen.
    const probeMs = Math.min(5000, intervalMs / 4);
    const probe = async (w: Watched) => {
      if (!w.v.alive) throw new Error(`${w.name} exited: ${w.v.stderr.trim().split('\n').slice(-3).join(' | ')}`);
      return ((await w.v.stats()) as unknown as { process: ProcessStats }).process;
    };
    const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
    const sampleAll = async (readings: ProcessStats[][]) => {
      const t = (Date.now() - t0) / 1000;
      watched.forEach((w, k) => {
        const r = readings[k];
        w.samples.push({
          t,
          rss: median(r.map((x) => x.rss)),
          heapUsed: Math.min(...r.map((x) => x.heapUsed)),
          heapAfterGc: r[r.length - 1].heapAfterGc,
          fullGcs: r[r.length - 1].fullGcs,
          heapTotal: median(r.map((x) => x.heapTotal)),
          external: median(r.map((x) => x.external)),
          fds: Math.max(...r.map((x) => x.fds)),
        });
      });
      const mib = (v: number | null | undefined) => (v == null ? '-' : fmt(v / 2 ** 20));
      log(`sample ${(t / 60).toFixed(1)} min (rss/heap floor/after GC/reserved/external MiB): ${watched.map((w) => {
        const s = w.samples[w.samples.length - 1];
        return `${w.name} ${mib(s.rss)}/${mib(s.heapUsed)}/${mib(s.heapAfterGc)}/${mib(s.heapTotal)}/${mib(s.external)} ${s.fds} fds`;
      }).join('; ')}`);
    };
    await sampleAll(await Promise.all(watched.map(async (w) => [await probe(w)])));
    let traffic = true;
    const sampler = (async () => {
      let readings = watched.map(() => [] as ProcessStats[]);
      let next = t0 + intervalMs;
      try {
        while (Date.now() < end && !stopping) {
          await sleep(Math.max(0, Math.min(probeMs, end - Date.now())));
          const got = await Promise.all(watched.map(probe));
          got.forEach((g, k) => readings[k].push(g));
          if (Date.now() >= next || Date.now() >= end) {
            await sampleAll(readings);
            readings = watched.map(() => []);
            next += intervalMs;
          }
        }
      } finally {
        traffic = false;
      }
    })();
    let fake: Array<{ addr: number; len: number }> = [];
    // A vxtap that exits ends the sampler with an error: the loop stops with it.
    const failedSampler = sampler.then(() => null, (e: unknown) => e);
    while (traffic && !stopping) {
      // Captures attach for the length of the cycle's traffic.
      const caps = [
        a.spawn(process.execPath, [CLI, 'capture', '--control', ctl(a, 'vxlan'), '--snaplen', '128', '-w', '/dev/null']),
        b.spawn(process.execPath, [CLI, 'capture', '--control', ctl(b, 'flannel'), '--filter', 'icmp or udp', '-w', '/dev/null']),
      ];
      await macChurn(a, log);
      // Lease churn: last cycle's made-up nodes leave, new ones join.
      // Only leases this loop created are removed; a subnet a node holds is never touched.
      for (const s of fake) await store.delete(s);
      fake = [];
      for (let i = 0; i < FAKE_LEASES; i++) {
        const net = `198.18.${200 + ((cycle * FAKE_LEASES + i) % 50)}.0`;
        if (own.includes(`${net}/24`)) continue;
        const s = { addr: parseIpv4Addr(net), len: 24 };
        if (await store.create(s, vxlanAttrs(`198.51.100.${50 + i}`, { vni: 1, vtepMac: randomMac() }), 3600) !== null) fake.push(s);
      }
      await iperf([`${OVERLAY}.2`, '-t', '5']);
      await iperf([podB, '-t', '5']);
      await iperf([`${OVERLAY}.2`, '-u', '-b', '200M', '-t', '2', '-l', '1200']);
      await iperf([podB, '-u', '-b', '200M', '-t', '2', '-l', '64']);
      await Promise.all([
        run(a, 'ping', ['-c', '20', '-i', '0.05', '-W', '1', `${OVERLAY}.2`], 30_000, log),
        run(a, 'ping', ['-c', '20', '-i', '0.05', '-W', '1', podB], 30_000, log),
      ]);
      await Promise.all(caps.map((c) => stopChild(c, cycle % 2 === 0 ? 'SIGINT' : 'SIGKILL')));
      cycle++;
    }
    const e = await failedSampler;
    if (e !== null) throw e;
    await stopChild(iperfd, 'SIGTERM');

    const verdicts: string[] = [];
    const rows: string[][] = [];
    let failed = false;
    for (const w of watched) {
      const parts: string[] = [];
      for (const series of Object.keys(GROWTH) as Series[]) {
        // A process that ran no full collection in the second half has no
        // heapAfterGc from it to fit: it is judged by its heap floor, under the same rule.
        const half = w.samples[Math.floor(w.samples.length / 2)];
        const noGc = series === 'heapAfterGc' && half.fullGcs === w.samples[w.samples.length - 1].fullGcs;
        const samples = noGc ? w.samples.map((s) => ({ ...s, heapAfterGc: s.heapUsed })) : w.samples;
        const g = growing(samples, series);
        failed ||= g.growing;
        const unit = series === 'fds' ? 1 : 2 ** 20;
        const known = samples.filter((s) => s[series] !== null);
        const val = (s: Sample | undefined) => (s === undefined ? '-' : fmt(s[series]! / unit));
        rows.push([w.name, noGc ? 'heapUsed (floor: no full GC in the 2nd half)' : series, val(known[0]), val(known[known.length - 1]), fmt(g.rise / unit), fmt(g.limit / unit), g.growing ? 'GROWING' : 'flat']);
        const name = series === 'heapAfterGc' ? 'heap' : series;
        parts.push(`${name} ${g.growing ? 'grows' : 'flat'}`);
      }
      verdicts.push(parts.join(', '));
    }
    const report = table(['process', 'series', 'first', 'last', 'rise (2nd half)', 'limit', 'verdict'], rows);
    console.log(`${cycle} cycles in ${((Date.now() - t0) / 60_000).toFixed(1)} minutes (MiB for rss and heapAfterGc)\n${report}`);
    writeResult('soak.json', JSON.stringify({ machine: m, minutes, intervalSec: intervalMs / 1000, cycles: cycle, growth: GROWTH, processes: watched.map((w) => ({ name: w.name, samples: w.samples })), failed }, null, 2) + '\n');
    writeResult('soak.svg', chart(watched, verdicts));
    log(`results: bench/results/soak.json, bench/results/soak.svg${failed ? '; a series keeps growing' : ''}`);
    return failed ? 1 : 0;
  } finally {
    await store.close();
    await lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
    rmSync(leaseFile, { force: true });
  }
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
}, (e: unknown) => {
  console.error(`soak: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 2;
});
