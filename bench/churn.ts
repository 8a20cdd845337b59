// `npm run churn` (root; not in CI): the soak's lease churn, far faster, to
// look for a leak in minutes instead of hours. Two `vxtap flannel` nodes (the
// flannel tests' bench: namespaces on a veth underlay) share the lease file
// (--store file, the default) or a real etcd in a third namespace (--store
// etcd). Every --period-ms (default 200) the 8 leases of made-up nodes added
// last time are deleted and 8 new ones, with new VtepMACs, are added, so both
// nodes program and remove neighbours, FDB entries and routes; the soak does
// this once per 16 s cycle. For --minutes (default 10) it prints, every 10 s,
// each node's RSS, live heap (heapAfterGc), reserved heap, Buffer memory,
// descriptors and lease file reads from `vxtap stats`.
//
// --snapshots: the nodes write V8 heap snapshots (SIGUSR2) at 30% and at 97%
// of the run, and the objects whose retained count or size grew between the
// two are printed by constructor. A snapshot costs its process tens of MiB of
// malloc that it keeps: RSS after the first one is not comparable with
// before.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { has, parseFlags, one } from '../src/control/args.js';
import { CONTROL_DIR } from '../src/control/control-path.js';
import type { ProcessStats } from '../src/control/process-stats.js';
import { FileStore } from '../src/flannel/file-store.js';
import { vxlanAttrs } from '../src/flannel/lease.js';
import { parseIpv4Addr } from '../src/wire/ipaddr.js';
import { formatMac, randomLocalMac } from '../src/wire/mac.js';
import { FlannelBench, type FlannelNode, netAddr, VXLAN_CONFIG } from '../test/integration/flannel-helpers.js';
import { fmt, machine, machineLine, table } from './report.js';

const LEASES = 8;
const SAMPLE_MS = 10_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mib = (v: number | null) => (v === null ? '-' : fmt(v / 2 ** 20));

/** The made-up nodes' leases of round k: keys 198.18.200-249.0/24, PublicIPs 198.51.100.50-57 (no traffic goes to them). */
function leasesOf(k: number): Array<{ addr: string; attrs: ReturnType<typeof vxlanAttrs> }> {
  return Array.from({ length: LEASES }, (_, i) => ({
    addr: `198.18.${200 + ((k * LEASES + i) % 50)}.0`,
    attrs: vxlanAttrs(`198.51.100.${50 + i}`, { vni: 1, vtepMac: formatMac(randomLocalMac()) }),
  }));
}

/** Churns the lease file in this process until `stop()` is true, calling `done(k)` after round k. */
async function churnFile(store: FileStore, own: string[], periodMs: number, stop: () => boolean, done: (k: number) => void): Promise<void> {
  let added: Array<{ addr: number; len: number }> = [];
  for (let k = 0; !stop(); k++) {
    for (const s of added) await store.delete(s);
    added = [];
    for (const l of leasesOf(k)) {
      if (own.includes(`${l.addr}/24`)) continue; // a subnet a node holds is never touched
      const s = { addr: parseIpv4Addr(l.addr), len: 24 };
      if (await store.create(s, l.attrs, 3600) !== null) added.push(s);
    }
    done(k);
    await sleep(periodMs);
  }
}

/**
 * The same against etcd, from inside the store's namespace (the test process
 * reaches etcd only from there), with etcd3 from this package; each lease's
 * keys on one etcd lease, as flanneld's are.
 */
const ETCD_CHURNER = `
const { Etcd3 } = require(process.argv[1]);
const [endpoint, prefix, periodMs, own] = process.argv.slice(2);
const c = new Etcd3({ hosts: endpoint });
const mac = () => '02:' + Array.from({ length: 5 }, () => Math.floor(Math.random() * 256).toString(16).padStart(2, '0')).join(':');
(async () => {
  let added = [];
  for (let k = 0; ; k++) {
    await Promise.all(added.map((key) => c.kv.deleteRange({ key: Buffer.from(key) })));
    added = [];
    const { ID } = await c.leaseClient.leaseGrant({ TTL: 3600 });
    for (let i = 0; i < ${LEASES}; i++) {
      const net = '198.18.' + (200 + ((k * ${LEASES} + i) % 50)) + '.0';
      if (own.split(',').includes(net + '/24')) continue;
      const key = prefix + '/subnets/' + net + '-24';
      const value = JSON.stringify({ PublicIP: '198.51.100.' + (50 + i), PublicIPv6: null, BackendType: 'vxlan', BackendData: { VNI: 1, VtepMAC: mac() } });
      await c.kv.put({ key: Buffer.from(key), value: Buffer.from(value), lease: ID });
      added.push(key);
    }
    process.stdout.write(k + '\\n');
    await new Promise((r) => setTimeout(r, Number(periodMs)));
  }
})().catch((e) => { console.error(e.message); process.exit(1); });`;

/** Retained objects of a heap snapshot: count and self size per node type and constructor name. */
function census(file: string): Map<string, { count: number; size: number }> {
  const s = JSON.parse(readFileSync(file, 'utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = s.snapshot.meta.node_fields;
  const types = s.snapshot.meta.node_types[0];
  const [type, name, size] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f));
  const out = new Map<string, { count: number; size: number }>();
  for (let i = 0; i < s.nodes.length; i += fields.length) {
    const t = types[s.nodes[i + type]];
    // Strings, code and numbers are named by their contents: one entry each.
    const key = /string|code|number/.test(t) ? `(${t})` : `${t}:${s.strings[s.nodes[i + name]].slice(0, 60)}`;
    const e = out.get(key) ?? { count: 0, size: 0 };
    e.count++;
    e.size += s.nodes[i + size];
    out.set(key, e);
  }
  return out;
}

function heapDiff(before: string, after: string): string {
  const a = census(before);
  const b = census(after);
  const rows = [...new Set([...a.keys(), ...b.keys()])].map((k) => {
    const x = a.get(k) ?? { count: 0, size: 0 };
    const y = b.get(k) ?? { count: 0, size: 0 };
    return { k, dc: y.count - x.count, ds: y.size - x.size, now: y.count };
  }).sort((p, q) => Math.abs(q.ds) - Math.abs(p.ds)).slice(0, 15);
  const total = (m: typeof a) => [...m.values()].reduce((s, e) => s + e.size, 0);
  return `retained: ${mib(total(a))} -> ${mib(total(b))} MiB\n` +
    table(['objects', 'count change', 'size change (B)', 'count now'], rows.map((r) => [r.k, String(r.dc), String(r.ds), String(r.now)]), 'lrrr');
}

async function main(argv: string[]): Promise<number> {
  const p = parseFlags(argv, { store: { arity: 1 }, minutes: { arity: 1, int: true }, 'period-ms': { arity: 1, int: true }, snapshots: { arity: 0 } });
  const kind = one<string>(p, 'store') ?? 'file';
  if (kind !== 'file' && kind !== 'etcd') throw new Error(`--store ${kind}: give file or etcd`);
  const minutes = one<number>(p, 'minutes') ?? 10;
  const periodMs = one<number>(p, 'period-ms') ?? 200;
  const snapshots = has(p, 'snapshots');
  const log = (s: string) => console.log(`${new Date().toISOString().slice(11, 19)} ${s}`);
  console.log(machineLine(machine()));
  const bench = new FlannelBench(2);
  const dir = mkdtempSync(join(tmpdir(), 'vxtap-churn-'));
  const leaseFile = join(CONTROL_DIR, `${bench.lab.id}-leases.json`);
  const store = new FileStore(leaseFile);
  try {
    let prefix: string | null = null;
    if (kind === 'etcd') {
      await bench.start();
      prefix = bench.prefix(VXLAN_CONFIG);
    }
    const args = ['--iface', 'ul0', ...(prefix === null ? ['--lease-file', leaseFile, '--network-config', VXLAN_CONFIG] : [])];
    const env: Record<string, string> = snapshots ? { NODE_OPTIONS: `--heapsnapshot-signal=SIGUSR2 --diagnostic-dir=${dir}` } : {};
    const nodes: FlannelNode[] = [];
    for (const h of bench.nodes) nodes.push(await bench.startNode(h, prefix, args, env));
    const own = nodes.map((n) => `${netAddr(bench.subnetEnv(n).subnet)}/24`);
    log(`${kind} store, 8 leases replaced every ${periodMs} ms for ${minutes} minutes; nodes hold ${own.join(' ')}`);

    const t0 = Date.now();
    const end = t0 + minutes * 60_000;
    let rounds = 0;
    const churn = prefix === null
      ? churnFile(store, own, periodMs, () => Date.now() >= end, (k) => void (rounds = k + 1))
      : (async () => {
        const c = bench.store.spawn(process.execPath, ['-e', ETCD_CHURNER, createRequire(import.meta.url).resolve('etcd3'), bench.endpoint, prefix, String(periodMs), own.join(',')]);
        c.stdout!.on('data', (d: Buffer) => void (rounds = Number(d.toString().trim().split('\n').pop()) + 1));
        c.stderr!.on('data', (d: Buffer) => log(`etcd churner: ${d.toString().trim()}`));
        await sleep(end - Date.now());
        c.kill('SIGKILL');
      })();
    const snapAt = snapshots ? [0.3, 0.97].map((f) => t0 + f * (end - t0)) : [];
    const snapshot = async (): Promise<void> => {
      // One at a time: a snapshot stops its process for seconds.
      for (const n of nodes) {
        n.v.proc.kill('SIGUSR2');
        await sleep(5000);
      }
    };
    const first: Array<ProcessStats | null> = [null, null];
    let last: ProcessStats[] = [];
    while (Date.now() < end) {
      last = [];
      for (const n of nodes) {
        const s = (await n.v.stats()) as unknown as { process: ProcessStats; flannel: { leaseFileReads?: number } };
        last.push(s.process);
        if (Date.now() - t0 >= (end - t0) / 3) first[last.length - 1] ??= s.process; // after warm-up
      }
      log(`${((Date.now() - t0) / 60_000).toFixed(1)} min, round ${rounds}: ${last.map((s, i) => `n${i + 1} rss ${mib(s.rss)} live heap ${mib(s.heapAfterGc)} reserved ${mib(s.heapTotal)} external ${mib(s.external)} MiB, ${s.fds} fds`).join('; ')}`);
      if (snapAt.length > 0 && Date.now() >= snapAt[0]) {
        snapAt.shift();
        await snapshot();
      }
      await sleep(Math.min(SAMPLE_MS, Math.max(0, end - Date.now())));
    }
    await churn;
    if (snapAt.length > 0) await snapshot(); // the last one, if the samples ended before it
    console.log(`${rounds} rounds (${rounds * LEASES} leases added and removed) in ${minutes} minutes; from a third of the run to its end${snapshots ? ' (RSS holds what the snapshots took)' : ''}:`);
    console.log(table(['node', 'rss', 'live heap', 'reserved heap', 'external', 'fds'], last.map((s, i) => {
      const f = first[i] ?? s;
      const pair = (a: number | null, b: number | null) => `${mib(a)} -> ${mib(b)}`;
      return [`n${i + 1}`, pair(f.rss, s.rss), pair(f.heapAfterGc, s.heapAfterGc), pair(f.heapTotal, s.heapTotal), pair(f.external, s.external), `${f.fds} -> ${s.fds}`];
    })));
    if (snapshots) {
      for (const n of nodes) {
        const files = readdirSync(dir).filter((f) => f.includes(`.${n.v.proc.pid}.`) && f.endsWith('.heapsnapshot')).sort();
        if (files.length < 2) {
          log(`${n.host.name}: ${files.length} heap snapshots, not 2: no diff`);
          continue;
        }
        console.log(`${n.host.name}, heap snapshots at 30% and 97% of the run:\n${heapDiff(join(dir, files[0]), join(dir, files[files.length - 1]))}`);
      }
    }
    return 0;
  } finally {
    await store.close();
    await bench.destroy();
    rmSync(dir, { recursive: true, force: true });
    rmSync(leaseFile, { force: true });
  }
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
}, (e: unknown) => {
  console.error(`churn: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 2;
});
