// `npm run bench`: micro-benchmarks of the per-frame work on vxtap's data
// path, reported as ns/op and Mpps (millions of operations per second: the
// packet rate one core could sustain if it did nothing else).
//
// As in pino's benchmarks, every benchmark runs in a fresh process
// (`node dist/bench/micro.js --only NAME`), so one benchmark's JIT state,
// inline caches and heap do not colour the next. Without --only, this file is
// the driver: it prints the machine, runs each child in turn, and prints a
// table and bench/results/micro.json.
//
// Operations are timed in batches (`ops` per call, usually the data path's
// 128-frame batch) because a single op takes less time than one
// performance.now() call; ns/op is the batch time divided by `ops`.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Bench } from 'tinybench';
import { BATCH, HEADROOM, SlabPool, slotSizeFor } from '../src/io/pool.js';
import { HEADER_STRIDE } from '../src/io/queues.js';
import { Fdb, NO_PORT } from '../src/switch/fdb.js';
import { FAMILY_IPV4, FAMILY_IPV6, NeighTable } from '../src/switch/neigh.js';
import { NeighProxy } from '../src/switch/proxy.js';
import { RouteTable } from '../src/switch/routes.js';
import { writeOuterHeaders } from '../src/wire/outer.js';
import { flowHash, sourcePort } from '../src/vxlan/flowhash.js';
import { checksumAdd, checksumFold } from '../src/wire/checksum.js';
import { ETH_HLEN, ETH_TYPE, VLAN_HLEN, isVlanType } from '../src/wire/ethernet.js';
import { emitIpv4, ipv4HeaderChecksum } from '../src/wire/ipv4.js';
import { isZeroMac, macNumberHi, macNumberLo, writeMac } from '../src/wire/mac.js';
import { VXLAN_HLEN, getVni, vxlanCheck, writeVxlanHeader } from '../src/wire/vxlan.js';
import { BUSY_WARN_PCT, fmt, machine, machineLine, quiet, table, writeResult } from './report.js';

interface MicroBench {
  name: string;
  what: string;
  /** Operations (frames, lookups, checksums) per timed call. */
  ops: number;
  /** Bytes each operation reads, for a Gbit/s figure; only where the cost scales with bytes. */
  bytes?: number;
  /** Builds the state, untimed, and returns the timed call; its result feeds a sink so nothing is optimised away. */
  setup(): (() => number) | Promise<() => number>;
}

/** The overlay MTU over a 1500-byte underlay (1500 - 50), and the full Ethernet frame that carries it. */
const MTU = 1450;
const FRAME = ETH_HLEN + MTU;
const VNI = 42;
const LOCAL = 0xc6336401; // 198.51.100.1
const REMOTE = 0xc6336402; // 198.51.100.2

/** mulberry32: a seeded PRNG, so every run looks up the same keys. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 0x100000000;
  };
}

/** A random unicast, locally administered MAC as a 48-bit number. */
function randomMac(rand: () => number): number {
  const hi = ((Math.floor(rand() * 0x10000) & 0xfeff) | 0x0200) & 0xffff;
  return hi * 0x100000000 + Math.floor(rand() * 0x100000000);
}

function shuffle<T>(a: T[], rand: () => number): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

/**
 * A receive batch as the TAP fills it: BATCH full-MTU Ethernet/IPv4/TCP
 * frames, each a different flow, at their slots' offsets after `headroom`
 * bytes (room for the VXLAN header on encap; `prefix` bytes written before
 * the frame, e.g. a VXLAN header as the UDP socket delivers it).
 */
function frameBatch(headroom: number, prefix: number) {
  const rx = new SlabPool(BATCH * slotSizeFor(headroom, prefix + FRAME + VLAN_HLEN)).batch(
    slotSizeFor(headroom, prefix + FRAME + VLAN_HLEN), headroom, BATCH);
  const rand = rng(1);
  for (let i = 0; i < BATCH; i++) {
    const off = rx.offset(i) + prefix;
    writeMac(rx.slab, off, randomMac(rand));
    writeMac(rx.slab, off + 6, randomMac(rand));
    rx.slab.writeUInt16BE(0x0800, off + ETH_TYPE);
    const ip = off + ETH_HLEN;
    emitIpv4({ src: 0xcb007101, dst: 0xcb007102, protocol: 6, ttl: 64, tos: 0, id: i, dontFragment: true, payloadLen: MTU - 20 }, rx.slab, ip);
    rx.slab.writeUInt16BE(40000 + i, ip + 20);
    rx.slab.writeUInt16BE(5201, ip + 22);
    rx.lens[i] = prefix + FRAME;
  }
  return rx;
}

/** TCP with timestamps (32-byte header) in the 1450-byte overlay MTU. */
const TSO_MSS = MTU - 20 - 32;
/** The largest IPv4 super-frame: Total Length 65535. */
const TSO_PAYLOAD = 65535 - 20 - 32;
const TSO_FRAME = ETH_HLEN + 20 + 32 + TSO_PAYLOAD;
const TSO_SEGMENTS = Math.ceil(TSO_PAYLOAD / TSO_MSS);
/** Super-frames per split call: a burst of one bulk TCP flow. */
const TSO_FRAMES = 8;

/**
 * A TSO super-frame as the TAP hands it over with IFF_VNET_HDR: the 10-byte
 * virtio-net header at the start of the slot (HEADROOM bytes before the
 * frame), then Ethernet/IPv4/TCP with the pseudo-header checksum left for
 * the splitter (NEEDS_CSUM), as the kernel leaves it.
 */
function writeSuperFrame(b: Buffer, off: number, flow: number): void {
  const v = off - HEADROOM;
  b[v] = 1; // VIRTIO_NET_HDR_F_NEEDS_CSUM
  b[v + 1] = 1; // VIRTIO_NET_HDR_GSO_TCPV4
  b.writeUInt16LE(ETH_HLEN + 20 + 32, v + 2); // hdr_len
  b.writeUInt16LE(TSO_MSS, v + 4); // gso_size
  b.writeUInt16LE(ETH_HLEN + 20, v + 6); // csum_start: the TCP header
  b.writeUInt16LE(16, v + 8); // csum_offset: TCP's checksum field
  writeMac(b, off, 0x020000000002);
  writeMac(b, off + 6, 0x020000000001);
  b.writeUInt16BE(0x0800, off + ETH_TYPE);
  const ip = off + ETH_HLEN;
  emitIpv4({ src: 0xcb007101, dst: 0xcb007102, protocol: 6, ttl: 64, tos: 0, id: 1, dontFragment: true, payloadLen: 32 + TSO_PAYLOAD }, b, ip);
  const tcp = ip + 20;
  b.writeUInt16BE(40000 + flow, tcp);
  b.writeUInt16BE(5201, tcp + 2);
  b.writeUInt32BE(1000, tcp + 4);
  b.writeUInt32BE(1, tcp + 8);
  b[tcp + 12] = 8 << 4; // data offset: 32 bytes
  b[tcp + 13] = 0x18; // ACK PSH
  b.writeUInt16BE(501, tcp + 14);
  b.set([1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2], tcp + 20); // NOP NOP timestamps
  b.fill(0x5a, tcp + 32, tcp + 32 + TSO_PAYLOAD);
}

// Each entry is one benchmark, run in its own process.
/** An ARP request for 203.0.113.2 from 203.0.113.1. */
const ARP_REQUEST = Buffer.from('ffffffffffff 020000000001 0806 0001 0800 06 04 0001 020000000001 cb007101 000000000000 cb007102'.replace(/ /g, ''), 'hex');
/** Linux resolving 2001:db8::2 from 2001:db8::1 (src/wire/ndisc.test.ts). */
const NS_REQUEST = Buffer.from(('3333ff000002 020000000001 86dd 6000 0000 0020 3a ff 20010db8000000000000000000000001 ff0200000000000000000001ff000002 ' +
  '87 00 1c27 00000000 20010db8000000000000000000000002 0101 020000000001').replace(/ /g, ''), 'hex');

const BENCHES: MicroBench[] = [
  {
    name: 'vxlan-encap',
    what: `flowHash + sourcePort + writeVxlanHeader + writeOuterHeaders, ${FRAME}-byte frame`,
    ops: BATCH,
    setup() {
      const rx = frameBatch(HEADROOM, 0);
      const hdr = Buffer.alloc(BATCH * HEADER_STRIDE);
      const b = rx.slab;
      return () => {
        let s = 0;
        for (let i = 0; i < BATCH; i++) {
          const off = rx.offset(i);
          const len = rx.lens[i];
          const sport = sourcePort(flowHash(b, off, len), 49152, 65535);
          writeVxlanHeader(b, off - VXLAN_HLEN, VNI);
          writeOuterHeaders(hdr, i * HEADER_STRIDE, LOCAL, REMOTE, sport, 4789, len + VXLAN_HLEN);
          s += sport;
        }
        return s;
      };
    },
  },
  {
    name: 'vxlan-decap',
    what: 'vxlanCheck + getVni + VNI map + inner runt/VLAN/source-MAC checks (Vtep.onWire)',
    ops: BATCH,
    setup() {
      const rx = frameBatch(0, VXLAN_HLEN);
      for (let i = 0; i < BATCH; i++) writeVxlanHeader(rx.slab, rx.offset(i), VNI);
      const networks = new Map([[VNI, { allowInnerVlan: false }]]);
      const b = rx.slab;
      const lens = rx.lens;
      const cap = rx.capacity;
      // The checks of Vtep.onWire, in its order, up to learning; keep in step with it.
      return () => {
        let accepted = 0;
        for (let i = 0; i < BATCH; i++) {
          const off = rx.offset(i);
          const len = lens[i];
          if (len > cap) continue;
          if (vxlanCheck(b, off, len, false) !== 0) continue;
          const net = networks.get(getVni(b, off));
          if (net === undefined) continue;
          const inner = off + VXLAN_HLEN;
          if (len - VXLAN_HLEN < ETH_HLEN) continue;
          if (!net.allowInnerVlan && isVlanType((b[inner + ETH_TYPE] << 8) | b[inner + ETH_TYPE + 1])) continue;
          const src = inner + 6;
          if ((b[src] & 1) !== 0 || isZeroMac(b, src)) continue;
          accepted++;
        }
        return accepted;
      };
    },
  },
  fdbBench(10),
  fdbBench(100_000),
  {
    name: 'route-lookup-1k',
    what: 'RouteTable.lookup, 1000 /24 routes in 10.0.0.0/8, random hits',
    ops: 1024,
    setup() {
      const rand = rng(3);
      const table = new RouteTable();
      const subnets = shuffle(Array.from({ length: 1 << 16 }, (_, i) => (10 << 24) | (i << 8)), rand).slice(0, 1000);
      subnets.forEach((s, i) => table.set(s, 24, REMOTE + i, 8285));
      const dsts = Int32Array.from({ length: 4096 }, () => subnets[Math.floor(rand() * subnets.length)] | (1 + Math.floor(rand() * 254)));
      let k = 0;
      return () => {
        let s = 0;
        for (let i = 0; i < 1024; i++) {
          s += table.peer[table.lookup(dsts[k])];
          k = (k + 1) & 4095;
        }
        return s;
      };
    },
  },
  {
    name: 'ipv4-header-checksum',
    what: 'ipv4HeaderChecksum over a 20-byte header (each outer header of a batch)',
    ops: BATCH,
    setup() {
      const hdr = Buffer.alloc(BATCH * HEADER_STRIDE);
      for (let i = 0; i < BATCH; i++) writeOuterHeaders(hdr, i * HEADER_STRIDE, LOCAL, REMOTE, 49152 + i, 4789, 1000 + i);
      return () => {
        let s = 0;
        for (let i = 0; i < BATCH; i++) s += ipv4HeaderChecksum(hdr, i * HEADER_STRIDE);
        return s;
      };
    },
  },
  checksumBench('checksum-1500', 1500, 16),
  checksumBench('checksum-64k', 65536, 1),
  {
    name: 'tso-split',
    what: `native tsoSplit: 64 KiB TCP/IPv4 super-frame -> ${TSO_SEGMENTS} VXLAN-prefixed segments of MSS ${TSO_MSS}`,
    ops: TSO_FRAMES,
    bytes: TSO_PAYLOAD,
    async setup() {
      // Imported here, not at the top: it loads the native addon, which no other benchmark needs.
      const { TsoSplitter } = await import('../src/io/offload.js');
      const rx = new SlabPool(TSO_FRAMES * slotSizeFor(HEADROOM, TSO_FRAME)).batch(slotSizeFor(HEADROOM, TSO_FRAME), HEADROOM, TSO_FRAMES);
      for (let i = 0; i < TSO_FRAMES; i++) writeSuperFrame(rx.slab, rx.offset(i), i);
      const splitter = new TsoSplitter(TSO_FRAMES);
      const prefix = Buffer.alloc(VXLAN_HLEN);
      writeVxlanHeader(prefix, 0, VNI);
      return () => {
        for (let i = 0; i < TSO_FRAMES; i++) splitter.push(rx.offset(i), TSO_FRAME, i);
        splitter.split(rx.slab, HEADROOM, true, prefix);
        let s = 0;
        for (let i = 0; i < TSO_FRAMES; i++) s += splitter.counts[i];
        if (s !== TSO_FRAMES * TSO_SEGMENTS) throw new Error(`tso-split: ${s} segments, expected ${TSO_FRAMES * TSO_SEGMENTS}`);
        return s;
      };
    },
  },
  groBench('gro-coalesce', 'TCP/IPv4 segments -> one 64 KiB super-frame (checksums verified', 'complete', TSO_FRAMES),
  groBench('gro-coalesce-partial', 'segments whose checksums a kernel sender left partial -> one 64 KiB super-frame (NEEDS_CSUM', 'partial', TSO_FRAMES),
  groBench('gro-lone', 'segments GRO cannot merge (URG set), each written alone (the partial-checksum probe', 'lone', TSO_FRAMES * TSO_SEGMENTS),
  proxyBench('proxy-arp', 'ARP request copied into a slot, answered from a 1k-entry neighbour table (NeighProxy.answer)', ARP_REQUEST, 42),
  proxyBench('proxy-nd', 'neighbour solicitation (a kernel\'s, with its source link-layer option) copied into a slot, checked (RFC 4861 7.1.1, checksum) and answered', NS_REQUEST, 86),
  proxyBench('proxy-pass', `${FRAME}-byte IPv4 frame let pass: what --proxy costs other traffic`, null, 0),
];

/** The ARP/ND proxy on one request kind per op, the request restored into its slot each time (the reply overwrites it). */
function proxyBench(name: string, what: string, request: Buffer | null, reply: number): MicroBench {
  return {
    name,
    what,
    ops: BATCH,
    setup() {
      const table = new NeighTable();
      for (let i = 0; i < 1000; i++) table.set({ family: FAMILY_IPV4, addr: [(0xcb007100 + i + 2) >>> 0], mac: 0x02000000000b + i, dev: 'p' });
      for (let i = 0; i < 24; i++) table.set({ family: FAMILY_IPV6, addr: [0x20010db8, 0, 0, i + 2], mac: 0x02000000000b + i, dev: 'p' });
      const proxy = new NeighProxy(table, new Fdb());
      const slot = Buffer.alloc(FRAME + 64);
      const frame = request ?? frameBatch(HEADROOM, 0).slab.subarray(HEADROOM, HEADROOM + FRAME);
      slot.set(frame, 0);
      if (proxy.answer(slot, 0, frame.length) !== reply) throw new Error(`${name}: the proxy did not answer ${reply}`);
      // A frame let pass is left as it is: no copy needed to run it again.
      const restore = request !== null;
      return () => {
        let s = 0;
        for (let i = 0; i < BATCH; i++) {
          if (restore) slot.set(frame, 0);
          s += proxy.answer(slot, 0, frame.length);
        }
        return s;
      };
    },
  };
}

/**
 * The GRO of device writes over the segments a split super-frame becomes, as
 * the far end receives them: with their checksums complete, left partial as
 * a kernel sender leaves them on a veth, or made uncoalescible (each segment
 * its own write, with a complete checksum). `outputs` is what the batch must
 * give.
 */
function groBench(name: string, what: string, segments: 'complete' | 'partial' | 'lone', outputs: number): MicroBench {
  return {
    name,
    what: `native GRO of device writes: ${TSO_SEGMENTS} ${what}; gathered as a device write would; no syscall)`,
    ops: TSO_FRAMES,
    bytes: TSO_PAYLOAD,
    async setup() {
      const { TsoSplitter } = await import('../src/io/offload.js');
      const { addon } = await import('../src/io/native.js');
      const rx = new SlabPool(TSO_FRAMES * slotSizeFor(HEADROOM, TSO_FRAME)).batch(slotSizeFor(HEADROOM, TSO_FRAME), HEADROOM, TSO_FRAMES);
      for (let i = 0; i < TSO_FRAMES; i++) writeSuperFrame(rx.slab, rx.offset(i), i);
      const splitter = new TsoSplitter(TSO_FRAMES);
      for (let i = 0; i < TSO_FRAMES; i++) splitter.push(rx.offset(i), TSO_FRAME, i);
      splitter.split(rx.slab, HEADROOM, true, null);
      const n = TSO_FRAMES * TSO_SEGMENTS;
      const b = splitter.out;
      for (let k = 0; k < n; k++) {
        const tcp = splitter.segOffs[k] + ETH_HLEN + 20;
        if (segments === 'lone') b[tcp + 13] |= 0x20;
        if (segments === 'partial') b.writeUInt16BE(partialTcpChecksum(b, splitter.segOffs[k] + ETH_HLEN, splitter.segLens[k] - ETH_HLEN - 20), tcp + 16);
      }
      const out = Buffer.alloc(14 + 65535);
      return () => {
        const runs = addon.groCoalesce(b, splitter.segOffs, splitter.segLens, n, 14, out);
        if (runs !== outputs) throw new Error(`${name}: ${runs} outputs, expected ${outputs}`);
        return runs;
      };
    },
  };
}

/** What a kernel sender leaves in a TCP/IPv4 checksum field for the device to finish: the folded pseudo-header sum. */
function partialTcpChecksum(b: Buffer, ip: number, tcpLen: number): number {
  const pseudo = Buffer.alloc(12);
  b.copy(pseudo, 0, ip + 12, ip + 20);
  pseudo[9] = 6;
  pseudo.writeUInt16BE(tcpLen, 10);
  return ~checksumFold(checksumAdd(pseudo, 0, 12, 0)) & 0xffff;
}

/** FDB.find + reading the entry, as onTap does per frame, over random known MACs. */
function fdbBench(entries: number): MicroBench {
  return {
    name: `fdb-lookup-${entries >= 1000 ? `${entries / 1000}k` : entries}`,
    what: `Fdb.find + remote read, ${entries.toLocaleString('en')} learned entries, random hits`,
    ops: 1024,
    setup() {
      const rand = rng(2);
      const fdb = new Fdb();
      const macs = Array.from({ length: entries }, () => randomMac(rand));
      for (const m of macs) fdb.learn(macNumberHi(m), macNumberLo(m), NO_PORT, REMOTE, 0);
      // A lookup order that visits every entry in random order (cycled for small tables), so the
      // large table pays its cache misses as a busy switch would.
      const n = Math.max(entries, 1024);
      const order = shuffle(Array.from({ length: n }, (_, i) => macs[i % entries]), rand);
      const his = Int32Array.from(order, macNumberHi);
      const los = Int32Array.from(order, macNumberLo);
      let k = 0;
      return () => {
        let s = 0;
        for (let i = 0; i < 1024; i++) {
          s += fdb.remote[fdb.find(his[k], los[k])];
          if (++k === n) k = 0;
        }
        return s;
      };
    },
  };
}

/** The Internet checksum (sum and fold) over `bytes` bytes of a received frame. */
function checksumBench(name: string, bytes: number, ops: number): MicroBench {
  return {
    name,
    what: `checksumAdd + checksumFold over ${bytes.toLocaleString('en')} bytes`,
    ops,
    bytes,
    setup() {
      const rand = rng(4);
      const b = Buffer.from(Array.from({ length: bytes }, () => Math.floor(rand() * 256)));
      return () => {
        let s = 0;
        for (let i = 0; i < ops; i++) s += checksumFold(checksumAdd(b, 0, bytes, i));
        return s;
      };
    },
  };
}

interface MicroResult {
  name: string;
  what: string;
  nsPerOp: number;
  mpps: number;
  gbps: number | null;
  /** Relative margin of error of the mean, in percent. */
  rme: number;
  samples: number;
  /** CPU use of the whole machine just before this benchmark's process started (after up to 5 s waiting for quiet): other people's load. */
  othersBusyPct?: number;
}

/** Child: runs one benchmark and prints its result as one JSON line. */
async function runOne(spec: MicroBench): Promise<void> {
  const fn = await spec.setup();
  let sink = 0;
  const bench = new Bench({ time: 2000, warmupTime: 500 });
  bench.add(spec.name, () => {
    sink += fn();
  });
  await bench.run();
  const r = bench.tasks[0].result;
  if (r.state !== 'completed') throw new Error(`${spec.name}: ${r.state === 'errored' ? r.error.message : r.state}`);
  const nsPerOp = (r.latency.mean * 1e6) / spec.ops;
  const result: MicroResult = {
    name: spec.name,
    what: spec.what,
    nsPerOp,
    mpps: 1e3 / nsPerOp,
    gbps: spec.bytes === undefined ? null : (spec.bytes * 8) / nsPerOp,
    rme: r.latency.rme,
    samples: r.latency.samplesCount,
  };
  // The sink goes to stderr so the work that produced it counts as observed.
  process.stderr.write(`${spec.name}: sink ${sink}\n`);
  process.stdout.write(JSON.stringify(result) + '\n');
}

/** Driver: one child process per benchmark, then the report. */
async function runAll(names: string[]): Promise<void> {
  const m = machine();
  console.log(machineLine(m));
  const self = fileURLToPath(import.meta.url);
  const results: MicroResult[] = [];
  const failures: Array<{ name: string; error: string }> = [];
  for (const name of names) {
    const othersBusyPct = (await quiet(5000, 300)).busyPct;
    const child = spawnSync(process.execPath, [...process.execArgv, self, '--only', name], { encoding: 'utf8' });
    if (child.status === 0) {
      results.push({ ...(JSON.parse(child.stdout.trim().split('\n').pop()!) as MicroResult), othersBusyPct });
    } else {
      // One broken benchmark (say, an addon not built) must not hide the others' figures.
      failures.push({ name, error: child.stderr.trim().split('\n').pop() ?? `exited ${child.status}` });
    }
    process.stderr.write(`  ${name} ${child.status === 0 ? 'done' : 'FAILED'}\n`);
  }
  console.log(table(
    ['benchmark', 'ns/op', 'Mpps', 'Gbit/s', '±%', 'what'],
    results.map((r) => [r.name, fmt(r.nsPerOp), fmt(r.mpps), r.gbps === null ? '' : fmt(r.gbps), r.rme.toFixed(1), r.what]),
    'lrrrrl',
  ));
  const busy = results.filter((r) => (r.othersBusyPct ?? 0) > BUSY_WARN_PCT);
  if (busy.length > 0) {
    console.log(`WARNING: other load on the machine before ${busy.map((r) => `${r.name} (${r.othersBusyPct!.toFixed(0)}%)`).join(', ')}: rerun on an idle machine.`);
  }
  for (const f of failures) console.log(`FAILED: ${f.name}: ${f.error}`);
  const path = writeResult('micro.json', JSON.stringify({ machine: m, results, failures }, null, 2) + '\n');
  console.log(`wrote ${path}`);
}

async function main(): Promise<void> {
  const i = process.argv.indexOf('--only');
  const only = i < 0 ? undefined : process.argv[i + 1];
  if (only === undefined) return runAll(BENCHES.map((b) => b.name));
  const names = only.split(',');
  const unknown = names.filter((n) => !BENCHES.some((b) => b.name === n));
  if (unknown.length > 0) {
    console.error(`bench: --only: unknown benchmark ${unknown.join(', ')}; choose from ${BENCHES.map((b) => b.name).join(', ')}`);
    process.exit(2);
  }
  // One name: this is a child (or a single benchmark by hand). Several: drive a subset.
  if (names.length > 1) return runAll(names);
  await runOne(BENCHES.find((b) => b.name === names[0])!);
}

main().catch((e: unknown) => {
  console.error(`bench failed: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});
