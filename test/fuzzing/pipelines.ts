// Fuzz targets that need real devices: the VXLAN and UDP overlay receive
// paths and the control socket. They run inside a network namespace of their
// own (run.ts re-runs itself there), as root, against real pipelines: TAP and
// TUN devices, the pipelines' own UDP sockets on loopback, and senders on
// 127.0.0.2 and 127.0.0.3. Nothing leaves the namespace.
//
// Accounting: every datagram that reaches a pipeline's socket is either
// delivered (written to a TAP/TUN) or counted under exactly one drop reason.
// The devices have no address and the namespace has IPv6 off, so the kernel
// sends nothing into them: a device-side frame would show up in the ports'
// rx counters, and the property checks that none does.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { neighShow } from '../../src/control/neigh-commands.js';
import { ControlServer } from '../../src/control/server.js';
import { FAMILY_IPV6 } from '../../src/switch/neigh.js';
import { parseIpv4Addr } from '../../src/wire/ipaddr.js';
import { UdpOverlay } from '../../src/udp/overlay.js';
import { Vtep, type NetworkSpec } from '../../src/vxlan/vtep.js';
import { ipv4Packet, maybeTruncated, randomBytes, vxlanDatagram } from './frames.js';
import { checkOneLine, type Fuzzer, type Target } from './harness.js';
import { filterText } from './parsers.js';

const LOCAL = '127.0.0.1';
/** A route's peer, and so a trusted sender. */
const PEER = '127.0.0.2';
/** Nobody's peer. */
const STRANGER = '127.0.0.3';
/**
 * How long a datagram may take to be accounted for before the property
 * fails. Loopback delivers in microseconds; the bound only decides how soon a
 * lost datagram fails the case (and each step of shrinking it).
 */
const SETTLE_MS = 1000;
/** How long a control connection may take to be answered and closed (a capture reads the MAC table first). */
const ANSWER_MS = 3000;

function sum(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s;
}

async function sender(addr: string): Promise<UdpSocket> {
  const s = createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, addr, resolve));
  return s;
}

function send(s: UdpSocket, b: Buffer, port: number): Promise<void> {
  return new Promise((resolve, reject) => s.send(b, port, LOCAL, (e) => (e ? reject(e) : resolve())));
}

/**
 * Waits until `accounted()` has moved by `n` since `before`, then checks
 * that it moved by exactly n and that the device side stayed quiet.
 */
async function settle(what: string, n: number, before: number, accounted: () => number, deviceRx: () => number, rxBefore: number): Promise<void> {
  const deadline = Date.now() + SETTLE_MS;
  while (accounted() - before < n) {
    if (Date.now() > deadline) throw new Error(`${what}: ${n} datagrams sent, ${accounted() - before} accounted for (delivered or dropped) after ${SETTLE_MS} ms`);
    await new Promise((r) => setImmediate(r));
  }
  const got = accounted() - before;
  if (got !== n) throw new Error(`${what}: ${n} datagrams sent, ${got} accounted for: a datagram was counted twice`);
  if (deviceRx() !== rxBefore) throw new Error(`${what}: the device side sent frames during the case (${deviceRx() - rxBefore}); the accounting cannot tell them apart`);
}

/** A capture client that reads and discards, as long as the pipeline runs: mirroring sees every fuzzed datagram. */
async function attachCapture(path: string, filter: string): Promise<() => void> {
  const c = createConnection(path);
  await new Promise<void>((resolve, reject) => c.once('connect', resolve).once('error', reject));
  c.write(JSON.stringify({ cmd: 'capture', filter, snaplen: 256 }) + '\n');
  await new Promise<void>((resolve) => c.once('data', () => resolve()));
  c.on('data', () => {});
  return () => c.destroy();
}

function network(vni: number, dev: string, o: Partial<NetworkSpec> = {}): NetworkSpec {
  return {
    vni, remotes: [], learning: true, stickyLocal: true, ageingSec: 300, maxAddress: 0, allowInnerVlan: false, proxy: false, statics: [],
    ports: [{ dev, mtu: 1450 }], ...o,
  };
}

interface VtepUnderTest {
  vtep: Vtep;
  port: number;
}

function vxlanTarget(name: string, capture: boolean): Target {
  return {
    name,
    what: `VXLAN datagrams into two VTEPs (offloads on; offloads off, trusted senders only)${capture ? ', with a capture attached' : ''}`,
    cases: capture ? 3_000 : 8_000,
    netns: true,
    open: async (): Promise<Fuzzer> => {
      const tag = process.pid.toString(36);
      const local = parseIpv4Addr(LOCAL);
      const vteps: VtepUnderTest[] = [
        {
          port: 4789,
          vtep: new Vtep({
            local, dstPort: 4789, srcPortMin: 49152, srcPortMax: 65535, ignoreReserved: false, offload: true,
            networks: [network(42, `fza${tag}`), network(43, `fzb${tag}`, { allowInnerVlan: true, maxAddress: 3, stickyLocal: false })],
          }),
        },
        {
          port: 8472,
          vtep: new Vtep({
            local, dstPort: 8472, srcPortMin: 49152, srcPortMax: 65535, ignoreReserved: true, offload: false, trustedOnly: true,
            networks: [network(42, `fzc${tag}`, { learning: false })],
          }),
        },
      ];
      const dir = mkdtempSync(join(tmpdir(), 'vxtap-fuzz-'));
      const servers: ControlServer[] = [];
      const detach: Array<() => void> = [];
      for (const v of vteps) {
        v.vtep.start();
        if (v.port === 8472) v.vtep.trust(parseIpv4Addr(PEER));
        if (capture) {
          const cs = new ControlServer(join(dir, `${v.port}.sock`), {}, { capture: (req, sock) => v.vtep.capture.attach(req, sock) });
          await cs.listen();
          servers.push(cs);
          detach.push(await attachCapture(cs.path, 'not port 9 or vni 42 or mac 02:00:00:00:00:01'));
        }
      }
      const senders = [await sender(PEER), await sender(STRANGER)];
      const counters = (v: Vtep) => {
        const ports = Object.values((v.stats() as { ports: Record<string, { rx_packets: number; tx_packets: number }> }).ports);
        return { accounted: sum(v.drops) + ports.reduce((a, p) => a + p.tx_packets, 0), rx: ports.reduce((a, p) => a + p.rx_packets, 0) };
      };
      const datagram = fc.record({ to: fc.nat({ max: 1 }), from: fc.nat({ max: 9 }), bytes: vxlanDatagram([42, 43]) });
      const property = fc.asyncProperty(fc.array(datagram, { minLength: 1, maxLength: 6 }), async (ds) => {
        for (const v of vteps) {
          const mine = ds.filter((d) => vteps[d.to] === v);
          if (mine.length === 0) continue;
          const c0 = counters(v.vtep);
          // Mostly from the trusted peer; now and then from a stranger.
          await Promise.all(mine.map((d) => send(senders[d.from === 0 ? 1 : 0], d.bytes, v.port)));
          await settle(`vtep :${v.port}`, mine.length, c0.accounted, () => counters(v.vtep).accounted, () => counters(v.vtep).rx, c0.rx);
        }
      });
      return {
        property: property as unknown as fc.IRawProperty<never, boolean>,
        close: () => {
          for (const d of detach) d();
          for (const s of servers) s.close();
          for (const s of senders) s.close();
          for (const v of vteps) v.vtep.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  };
}

function overlayTarget(name: string, capture: boolean): Target {
  return {
    name,
    what: `UDP overlay datagrams (raw IPv4 packets) into a TUN pipeline, from its peer and from a stranger${capture ? ', with a capture attached' : ''}`,
    cases: capture ? 3_000 : 8_000,
    netns: true,
    open: async (): Promise<Fuzzer> => {
      const port = 8285;
      const s0 = await sender(PEER);
      const overlay = new UdpOverlay({
        local: parseIpv4Addr(LOCAL), port, dev: `fzt${process.pid.toString(36)}`, address: parseIpv4Addr('198.18.0.1'), cidr: '198.18.0.1/32',
        mtu: 1472, routes: [{ addr: parseIpv4Addr('198.18.0.0'), len: 16, peer: parseIpv4Addr(PEER), port: s0.address().port }],
        kernelRoutes: false, offload: true,
      });
      overlay.start();
      const dir = mkdtempSync(join(tmpdir(), 'vxtap-fuzz-'));
      let server: ControlServer | null = null;
      let detach = () => {};
      if (capture) {
        server = new ControlServer(join(dir, 'udp.sock'), {}, { capture: (req, sock) => overlay.capture.attach(req, sock) });
        await server.listen();
        detach = await attachCapture(server.path, 'host 198.18.2.1 or udp or not icmp');
      }
      const senders = [s0, await sender(STRANGER)];
      const counters = () => {
        const st = overlay.stats() as { udp: { rx_packets: number; tx_packets: number } };
        return { accounted: sum(overlay.drops) + st.udp.rx_packets, rx: st.udp.tx_packets };
      };
      const datagram = fc.record({
        from: fc.nat({ max: 9 }),
        bytes: fc.oneof({ weight: 6, arbitrary: maybeTruncated(ipv4Packet) }, { weight: 1, arbitrary: randomBytes(64) }),
      });
      const property = fc.asyncProperty(fc.array(datagram, { minLength: 1, maxLength: 6 }), async (ds) => {
        const c0 = counters();
        await Promise.all(ds.map((d) => send(senders[d.from === 0 ? 1 : 0], d.bytes, port)));
        await settle('udp overlay', ds.length, c0.accounted, () => counters().accounted, () => counters().rx, c0.rx);
      });
      return {
        property: property as unknown as fc.IRawProperty<never, boolean>,
        close: () => {
          detach();
          server?.close();
          for (const s of senders) s.close();
          overlay.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  };
}

// ---- the control socket ---------------------------------------------------------

/** The largest answer a request line can get (stats of a small instance, an FDB of a few entries). */
const MAX_ANSWER = 1 << 20;
const PCAPNG_SHB = Buffer.from([0x0a, 0x0d, 0x0d, 0x0a]);

const CMDS = ['stats', 'fdb', 'routes', 'capture', 'neigh', '__proto__', 'constructor', 'toString', 'hasOwnProperty', '', 'STATS'];
const requestObject = fc.record({
  cmd: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...CMDS) }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) }, { weight: 1, arbitrary: fc.string({ minLength: 2000, maxLength: 5000 }) }),
  points: fc.option(fc.array(fc.constantFrom('tap-rx', 'tap-tx', 'wire-rx', 'wire-tx', 'drop', 'x'), { maxLength: 6 }), { nil: undefined }),
  vni: fc.option(fc.oneof(fc.integer({ min: -1, max: 0x1000000 }), fc.constant(42)), { nil: undefined }),
  filter: fc.option(filterText, { nil: undefined }),
  snaplen: fc.option(fc.oneof(fc.integer({ min: 0, max: 300_000 }), fc.constant(1.5)), { nil: undefined }),
  nano: fc.option(fc.jsonValue({ maxDepth: 0 }), { nil: undefined }),
  buffer: fc.option(fc.integer({ min: 0, max: 2 << 20 }), { nil: undefined }),
  dev: fc.option(fc.oneof(fc.constantFrom('fzd', 'vxt0', 'a b', ''), fc.jsonValue({ maxDepth: 1 })), { nil: undefined }),
  extra: fc.option(fc.jsonValue({ maxDepth: 1 }), { nil: undefined }),
}, { requiredKeys: [] });
const requestBytes = fc.oneof(
  { weight: 6, arbitrary: requestObject.map((o) => Buffer.from(JSON.stringify(o) + '\n')) },
  { weight: 1, arbitrary: fc.constantFrom('null\n', '5\n', '"stats"\n', '[]\n', '{}\n', '\n', '{"cmd":"stats"}', '{"cmd":"stats"}\n{"cmd":"fdb"}\n').map((s) => Buffer.from(s)) },
  { weight: 1, arbitrary: randomBytes(300) },
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 64 * 1024 - 2, max: 64 * 1024 + 2 }), fc.boolean()).map(([n, nl]) => Buffer.concat([Buffer.alloc(n, 0x61), Buffer.from(nl ? '\n' : '')])) },
);

/** Sends one request, ends the connection's side, and returns all it got back before the server closed. */
function exchange(path: string, bytes: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const c = createConnection(path);
    const chunks: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(() => {
      c.destroy();
      reject(new Error(`no end of the answer within ${ANSWER_MS} ms to ${JSON.stringify(bytes.subarray(0, 80).toString())}`));
    }, ANSWER_MS);
    c.on('data', (d: Buffer) => {
      size += d.length;
      if (size <= MAX_ANSWER + PCAPNG_SHB.length) chunks.push(d);
    });
    // EPIPE/ECONNRESET: the server refused and closed while the request was still being written.
    c.on('error', () => {});
    c.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
    c.end(bytes);
  });
}

function checkAnswer(request: Buffer, answer: Buffer): void {
  if (answer.subarray(0, 4).equals(PCAPNG_SHB)) {
    if (!request.toString().includes('"capture"')) throw new Error(`a pcapng stream for a request that is no capture: ${request.subarray(0, 80).toString()}`);
    return;
  }
  if (answer.length === 0) return; // refused while it was still being written (the over-long line)
  if (answer.length > MAX_ANSWER) throw new Error(`answer of ${answer.length} bytes`);
  const text = answer.toString('utf8');
  if (!text.endsWith('\n') || text.indexOf('\n') !== text.length - 1) throw new Error(`the answer is not one line: ${JSON.stringify(text.slice(0, 200))}`);
  const a = JSON.parse(text) as { ok?: unknown; error?: unknown };
  if (typeof a !== 'object' || a === null || ('ok' in a) === ('error' in a)) throw new Error(`the answer has neither ok nor error: ${text.slice(0, 200)}`);
  if ('error' in a) {
    if (typeof a.error !== 'string') throw new Error('error is not a string');
    checkOneLine(a.error);
  }
}

const controlTarget: Target = {
  name: 'control',
  what: 'request lines on the control socket of a running VTEP (stats, fdb, routes, neigh, capture)',
  cases: 3_000,
  netns: true,
  open: async (): Promise<Fuzzer> => {
    const tag = process.pid.toString(36);
    const vtep = new Vtep({
      local: parseIpv4Addr(LOCAL), dstPort: 4789, srcPortMin: 49152, srcPortMax: 65535, ignoreReserved: false, offload: true,
      networks: [network(42, `fzd${tag}`)],
    });
    vtep.start();
    vtep.applyNeigh({ op: 'set', vni: 42, family: FAMILY_IPV6, addr: [0x20010db8, 0, 0, 2], mac: 0x02000000000b, dev: `fzd${tag}` });
    const dir = mkdtempSync(join(tmpdir(), 'vxtap-fuzz-'));
    const server = new ControlServer(join(dir, 'c.sock'), {
      stats: () => vtep.stats(),
      fdb: () => vtep.fdbRows(),
      neigh: (req) => neighShow(req.dev, vtep),
      routes: () => [],
    }, { capture: (req, sock) => vtep.capture.attach(req, sock) }, { idleTimeoutMs: 1000, maxClients: 64 });
    await server.listen();
    const property = fc.asyncProperty(fc.array(requestBytes, { minLength: 1, maxLength: 3 }), async (reqs) => {
      const answers = await Promise.all(reqs.map((r) => exchange(server.path, r)));
      reqs.forEach((r, i) => checkAnswer(r, answers[i]));
      // Still serving, and not holding a connection per case.
      const a = await exchange(server.path, Buffer.from('{"cmd":"stats"}\n'));
      if (!/^\{"ok":/.test(a.toString())) throw new Error(`stats after the case: ${a.subarray(0, 200).toString()}`);
    });
    return {
      property: property as unknown as fc.IRawProperty<never, boolean>,
      close: () => {
        server.close();
        vtep.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};

export const PIPELINE_TARGETS: Target[] = [
  vxlanTarget('vxlan-rx', false), vxlanTarget('vxlan-rx-captured', true),
  overlayTarget('udp-rx', false), overlayTarget('udp-rx-captured', true),
  controlTarget,
];
