// Every entry point of the native addon, called with random arguments: right
// and wrong types, typed arrays of every element type, offsets, lengths and
// counts in and far beyond their buffers, and frames that are nearly valid
// TCP/UDP over IPv4 or IPv6 (so that the GRO and the TSO splitter get deep
// into their byte work) at any l3off. Each call must return, or throw a
// TypeError (a bad argument), or an Error with an errno .code (a syscall
// that failed), or the Error of a receive started twice; anything else, and
// above all a crash, fails.
//
// The calls run in a child process, so that a segfault fails this test
// instead of killing vitest, and in a network namespace of its own (unshare
// -n, loopback down): its TAP and TUN devices vanish with it, and a datagram
// sent to a random address finds no route, so nothing leaves it.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ADDON_PATH } from '../../src/io/native.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const SEED = 0x16;
const RUNS = 1000;

/* eslint-disable @typescript-eslint/no-explicit-any */
/**
 * The fuzzer, run in the child as the source text of this function: it may
 * use only its parameters and globals. Returns a summary line.
 */
function fuzz(addon: any, fc: any, seed: number, runs: number): string {
  const TYPED = [Uint8Array, Uint16Array, Uint32Array, Int32Array, Int8Array, Float64Array, Uint8ClampedArray];
  const calls: Record<string, { ok: number; typeError: number; sysError: number }> = {};
  const closers: Array<() => void> = [];

  // A frame: Ethernet (if l3off is 14) or padding up to l3off, then IPv4 or
  // IPv6 with TCP or UDP and a payload; its checksum left partial (the
  // folded pseudo-header sum), which GRO takes as usable. Then mutated.
  const frameArb = fc.record({
    l3off: fc.oneof(fc.constantFrom(0, 14), fc.integer({ min: 0, max: 5000 })),
    v6: fc.boolean(),
    udp: fc.boolean(),
    thl: fc.constantFrom(20, 32, 60, 64),
    payload: fc.integer({ min: 0, max: 3000 }),
    flags: fc.constantFrom(0x10, 0x18, 0x11, 0x02),
    seq: fc.nat(),
    window: fc.constantFrom(501, 502),
    mutations: fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { maxLength: 3 }),
  });
  function emitFrame(f: any): Uint8Array {
    const l4hl = f.udp ? 8 : f.thl;
    const l3hl = f.v6 ? 40 : 20;
    const b = Buffer.alloc(f.l3off + l3hl + l4hl + f.payload, 0x5a);
    if (f.l3off >= 14) b.writeUInt16BE(f.v6 ? 0x86dd : 0x0800, 12);
    const ip = f.l3off;
    const l4len = l4hl + f.payload;
    const proto = f.udp ? 17 : 6;
    if (f.v6) {
      b[ip] = 0x60;
      b.writeUInt16BE(l4len & 0xffff, ip + 4);
      b[ip + 6] = proto;
    } else {
      b[ip] = 0x45;
      b.writeUInt16BE((20 + l4len) & 0xffff, ip + 2);
      b.writeUInt16BE(0x4000, ip + 6);
      b[ip + 8] = 64;
      b[ip + 9] = proto;
    }
    const l4 = ip + l3hl;
    if (f.udp) {
      b.writeUInt16BE(l4len & 0xffff, l4 + 4);
    } else {
      b.writeUInt32BE(f.seq >>> 0, l4 + 4);
      b[l4 + 12] = (f.thl / 4) << 4;
      b[l4 + 13] = f.flags;
      b.writeUInt16BE(f.window, l4 + 14);
    }
    let sum = 0;
    const words = f.v6 ? [ip + 8, 32] : [ip + 12, 8];
    for (let k = 0; k < words[1]; k += 2) sum += b.readUInt16BE(words[0] + k);
    sum += proto + (l4len >>> 16) + (l4len & 0xffff);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    b.writeUInt16BE(sum, l4 + (f.udp ? 6 : 16));
    for (const [at, v] of f.mutations) b[at % b.length] = v;
    return b;
  }
  // Frames back to back in one buffer, each `lead` bytes after the last
  // (room for a virtio-net header), with their offsets and lengths.
  const batchArb = fc.record({
    frames: fc.array(frameArb, { minLength: 0, maxLength: 8 }),
    lead: fc.constantFrom(0, 10, 16),
    gsoType: fc.constantFrom(0, 1, 4, 5, 3),
    gsoSize: fc.oneof(fc.integer({ min: 0, max: 2000 }), fc.constantFrom(65535, 65500)),
    csumStart: fc.integer({ min: 0, max: 200 }),
  }).map((r: any) => {
    const parts = r.frames.map(emitFrame);
    const offs = new Uint32Array(parts.length);
    const lens = new Uint32Array(parts.length);
    let size = 0;
    for (const p of parts) size += r.lead + p.length;
    const buf = Buffer.alloc(size);
    let o = 0;
    parts.forEach((p: Uint8Array, i: number) => {
      if (r.lead >= 10) {
        buf[o] = 1;
        buf[o + 1] = r.gsoType;
        buf.writeUInt16LE(r.gsoSize, o + 4);
        buf.writeUInt16LE(r.csumStart, o + 6);
      }
      o += r.lead;
      buf.set(p, o);
      offs[i] = o;
      lens[i] = p.length;
      o += p.length;
    });
    return { buf, offs, lens, n: parts.length, lead: r.lead, l3off: r.frames[0]?.l3off ?? 0 };
  });

  // Any value at all.
  const junkArb = fc.oneof(
    fc.constantFrom(undefined, null, true, false, '', 'gro', 'gso', 'vxfz0', {}, [], () => 0, NaN, Infinity, -1, 1.5, 2 ** 32, 2 ** 53),
    fc.integer({ min: -10, max: 70000 }),
    fc.tuple(fc.integer({ min: 0, max: TYPED.length - 1 }), fc.integer({ min: 0, max: 300 }), fc.nat())
      .map(([t, n, v]: number[]) => new TYPED[t](n).fill(v % 70000)),
  );
  // Mostly the right thing, sometimes junk.
  const or = (arb: any) => fc.oneof({ arbitrary: arb, weight: 4 }, { arbitrary: junkArb, weight: 1 });
  const u32s = (max: number) => fc.array(fc.integer({ min: 0, max }), { maxLength: 300 }).map((a: number[]) => Uint32Array.from(a));
  const u16s = fc.array(fc.integer({ min: 0, max: 65535 }), { maxLength: 300 }).map((a: number[]) => Uint16Array.from(a));
  const bytes = fc.integer({ min: 0, max: 140000 }).map((n: number) => Buffer.alloc(n));
  const small = fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 2 ** 32 - 1 }));

  function call(name: string, f: () => unknown): void {
    const c = (calls[name] ??= { ok: 0, typeError: 0, sysError: 0 });
    try {
      f();
      c.ok++;
    } catch (e: any) {
      if (e instanceof TypeError) c.typeError++;
      else if (e instanceof Error && (typeof e.code === 'string' || /already receiving or closed/.test(e.message))) c.sysError++;
      else throw e;
    }
  }
  function check(name: string, args: any, f: (args: any) => unknown): void {
    fc.assert(fc.property(args, (a: any) => call(name, () => f(a))), { seed, numRuns: runs });
  }

  // Descriptors to call the methods on, all in this namespace.
  const tap = addon.openTun('vxfz0', true, true, false);
  const tun = addon.openTun('vxfz1', false, false, false);
  const eps: any[] = [
    new addon.Endpoint(tap.fd, addon.KIND_DEVICE, true, 14),
    new addon.Endpoint(tun.fd, addon.KIND_DEVICE, false, 0),
    new addon.Endpoint(addon.openUdp('0.0.0.0', 0, 0, 0), addon.KIND_DATAGRAM),
    new addon.Endpoint(addon.openRaw(0), addon.KIND_RAW),
  ];
  closers.push(() => eps.forEach((e) => e.close()));
  const epArb = fc.integer({ min: 0, max: eps.length - 1 }).map((i: number) => eps[i]);

  check('groCoalesce', fc.tuple(batchArb, or(fc.constantFrom(0, 14, 4000)), or(fc.constant(Buffer.alloc(70000))), or(fc.boolean()), or(fc.constant(Buffer.alloc(80)))),
    ([b, l3, out, udp, hdrs]: any) => addon.groCoalesce(b.buf, b.offs, b.lens, b.n, typeof l3 === 'number' && l3 === 4000 ? b.l3off : l3, out, udp, hdrs));
  check('groCoalesce/junk', fc.array(junkArb, { maxLength: 9 }), (a: any[]) => addon.groCoalesce(...a));
  check('tsoSplit', fc.tuple(batchArb, or(fc.boolean()), or(fc.constantFrom(null, Buffer.alloc(8), Buffer.alloc(300))), or(bytes), or(u32s(10)), or(u32s(10)), or(u32s(10)), or(u32s(10))),
    ([b, eth, prefix, out, oo, ol, counts, strides]: any) =>
      addon.tsoSplit(b.buf, b.lead, b.offs, b.lens, b.n, eth, prefix, out, oo.length ? oo : new Uint32Array(4096), ol.length ? ol : new Uint32Array(4096), counts.length ? counts : new Uint32Array(8), strides.length ? strides : new Uint32Array(8)));
  check('tsoSplit/junk', fc.array(junkArb, { maxLength: 13 }), (a: any[]) => addon.tsoSplit(...a));
  check('writeFrames', fc.tuple(epArb, batchArb, or(fc.integer({ min: 0, max: 3 })), or(fc.constantFrom(0, 10, 16)), or(fc.constantFrom(null, new Uint16Array(8).fill(1000))), or(fc.constant(new Int32Array(8)))),
    ([ep, b, mode, back, gso, status]: any) => ep.writeFrames(b.buf, b.offs, b.lens, b.n, mode, back, gso, status));
  check('writeFrames/junk', fc.tuple(epArb, fc.array(junkArb, { maxLength: 9 })), ([ep, a]: any) => ep.writeFrames(...a));
  check('sendDatagrams', fc.tuple(epArb, or(fc.constantFrom(null, Buffer.alloc(32 * 8))), or(small), or(small), or(bytes), or(u32s(200000)), or(u32s(2000)), or(u32s(2 ** 32 - 1)), or(u16s), or(small), or(fc.constant(new Int32Array(300))), or(fc.oneof(fc.constant(null), u16s))),
    ([ep, ...a]: any) => {
      // Mostly an n the arrays hold, so that the sends are tried.
      if (typeof a[8] === 'number' && a[8] < 1000) a[8] = Math.min(a[8], ...[a[4], a[5], a[6], a[7], a[9]].map((t) => t?.length ?? 0));
      return ep.sendDatagrams(...a);
    });
  // Batches near the edge: slab and arrays about as large as the batch needs.
  const rxArb = fc.record({
    slot: fc.integer({ min: 1, max: 2048 }), headroom: fc.integer({ min: 0, max: 80 }), budget: fc.integer({ min: 0, max: 1100 }),
    slack: fc.integer({ min: -2, max: 2 }), kind: fc.constantFrom(addon.KIND_DATAGRAM, addon.KIND_RAW),
  }).map((x: any) => [x.kind, Buffer.alloc(Math.max(0, x.slot * Math.min(x.budget, 64) + x.slack)), x.slot, x.headroom, x.budget,
    ...[0, 0, 1, 1].map((k) => new (k ? Uint16Array : Uint32Array)(Math.max(0, x.budget + x.slack)))]);
  check('startRx', fc.tuple(rxArb, or(fc.constant(() => undefined))).map(([a, cb]: any) => [...a, cb]).chain((a: any[]) =>
    fc.tuple(...a.map((v, i) => (i === 0 ? fc.constant(v) : or(fc.constant(v)))))),
  ([kind, ...a]: any) => {
      // A fresh socket each time, as a started poll keeps its endpoint.
      const ep = new addon.Endpoint(addon.openUdp('0.0.0.0', 0, 0, 0), kind);
      closers.push(() => ep.close());
      ep.startRx(...a);
    });
  check('Endpoint', fc.array(junkArb, { maxLength: 5 }), (a: any[]) => {
    // fd 0-2 are this process's stdio: a constructed endpoint would close one when collected.
    if (typeof a[0] === 'number' && a[0] >= 0 && a[0] < 1000) a[0] += 100000;
    new addon.Endpoint(...a).close();
  });
  check('openUdp', fc.array(junkArb, { maxLength: 6 }), (a: any[]) => {
    const fd = addon.openUdp(...a);
    new addon.Endpoint(fd, addon.KIND_DATAGRAM).close();
  });
  check('openTun', fc.tuple(or(fc.stringMatching(/^vxfz[a-z0-9]{0,16}$/)), or(fc.boolean()), or(fc.boolean()), or(fc.boolean())), (a: any[]) => {
    const { fd } = addon.openTun(...a);
    new addon.Endpoint(fd, addon.KIND_DEVICE).close();
  });
  check('openRaw', fc.array(junkArb, { maxLength: 2 }), (a: any[]) => new addon.Endpoint(addon.openRaw(...a), addon.KIND_RAW).close());
  check('socketPair', fc.array(junkArb, { maxLength: 2 }), (a: any[]) => {
    for (const fd of addon.socketPair(...a)) new addon.Endpoint(fd, addon.KIND_DEVICE).close();
  });
  // Only the descriptors opened here, or none (an fd beyond any open one).
  const fdArb = fc.oneof(fc.constantFrom(tap.fd, tun.fd, -1, 100000), junkArb);
  check('setOffload', fc.tuple(fdArb, or(fc.nat())), (a: any[]) => addon.setOffload(...a));
  check('setUdpOption', fc.tuple(fdArb, or(fc.constantFrom('gro', 'gso')), or(fc.integer())), (a: any[]) => addon.setUdpOption(...a));
  // Last: capSet may drop capabilities the calls above need.
  check('capGet', fc.array(junkArb, { maxLength: 2 }), (a: any[]) => addon.capGet(...a));
  check('setKeepCaps', fc.tuple(or(fc.boolean())), (a: any[]) => addon.setKeepCaps(...a));
  check('ambientRaise', fc.tuple(or(fc.integer({ min: 0, max: 70 }))), (a: any[]) => addon.ambientRaise(...a));
  check('ambientClear', fc.array(junkArb, { maxLength: 2 }), (a: any[]) => addon.ambientClear(...a));
  check('setNoNewPrivs', fc.array(junkArb, { maxLength: 2 }), (a: any[]) => addon.setNoNewPrivs(...a));
  check('capSet', fc.tuple(or(fc.nat()), or(fc.nat()), or(fc.nat())), (a: any[]) => addon.capSet(...a));
  for (const c of closers) c();
  return `fuzzed ${JSON.stringify(calls)}`;
}

describe('native addon fuzzing', () => {
  it('survives random arguments to every entry point, throwing only TypeErrors and errno Errors', () => {
    const script = [
      `import { createRequire } from 'node:module';`,
      `const require = createRequire(${JSON.stringify(join(ROOT, 'package.json'))});`,
      `const addon = require(${JSON.stringify(ADDON_PATH)});`,
      `const fc = require('fast-check');`,
      `console.log((${fuzz.toString()})(addon, fc, ${SEED}, ${RUNS}));`,
      // Lets the polls started by startRx run once before the process exits.
      `setTimeout(() => process.exit(0), 50);`,
    ].join('\n');
    const r = spawnSync('unshare', ['-n', process.execPath, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 300_000 });
    expect(r.signal, r.stderr).toBeNull();
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const summary = JSON.parse(r.stdout.trim().replace(/^fuzzed /, '')) as Record<string, { ok: number; typeError: number; sysError: number }>;
    // Every entry point was reached, and the structured calls got past the checks.
    expect(Object.keys(summary).sort()).toEqual([
      'Endpoint', 'ambientClear', 'ambientRaise', 'capGet', 'capSet', 'groCoalesce', 'groCoalesce/junk', 'openRaw', 'openTun',
      'openUdp', 'sendDatagrams', 'setKeepCaps', 'setNoNewPrivs', 'setOffload', 'setUdpOption', 'socketPair', 'startRx', 'tsoSplit',
      'tsoSplit/junk', 'writeFrames', 'writeFrames/junk',
    ]);
    for (const name of ['groCoalesce', 'tsoSplit', 'writeFrames', 'sendDatagrams', 'startRx', 'openTun']) {
      expect(summary[name].ok, name).toBeGreaterThan(0);
      expect(summary[name].typeError, name).toBeGreaterThan(0);
    }
  });
});
