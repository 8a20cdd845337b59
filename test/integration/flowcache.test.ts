// The flow cache (native/src/flows.h) against the data path it stands in
// for: a VTEP on loopback whose port is a socket pair (as the warm-up's are),
// remote VTEPs played by UDP sockets on 127.0.0.2 and 127.0.0.3. Each packet
// is sent twice, one batch each: the first through the JavaScript data path,
// which installs the flow, the second through the cache. What leaves must be
// the same, byte for byte and from the same UDP source port; the counters
// and the FDB's ageing must be what they would be without the cache; and a
// change that could alter a decision (a MAC that moves, an FDB change, a
// capture, a port that goes) must take effect at the next packet.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { ControlServer } from '../../src/control/server.js';
import { WriteMode } from '../../src/io/native.js';
import { parseMac } from '../../src/wire/mac.js';
import { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP } from '../../src/wire/ipv4.js';
import { ETHERTYPE_IPV4 } from '../../src/wire/ethernet.js';
import { socketPairPorts, type WarmEnd } from '../../src/vxlan/warmup.js';
import { Vtep, type NetworkSpec } from '../../src/vxlan/vtep.js';
import { ipv4Packet } from '../fuzzing/frames.js';
import { echo, ethernet, ipv4, tcp, udp, vxlan } from '../helpers/packets.js';
import { eventually } from '../helpers/peers.js';

const VNI = 42;
const LOCAL = 0x7f000001;
const R1 = '127.0.0.2';
const R2 = '127.0.0.3';
const MAC_A = '02:66:63:00:00:0a';
const MAC_B = '02:66:63:00:00:0b';
const VNET_HLEN = 10;
const SLOT = 65536 + 64;

interface Stats {
  vnis: Record<string, { rx_packets: number; rx_bytes: number; tx_packets: number; tx_bytes: number }>;
  ports: Record<string, { rx_packets: number; rx_bytes: number; tx_packets: number }>;
  flow_cache: { packets: number; installs: number; evictions: number; resets: number };
}

interface Datagram {
  bytes: Buffer;
  sport: number;
}

/** A remote VTEP: a UDP socket that keeps what it receives. */
class Remote {
  readonly got: Datagram[] = [];
  private constructor(readonly sock: UdpSocket) {
    sock.on('message', (bytes, r) => this.got.push({ bytes, sport: r.port }));
  }
  static async open(addr: string, port: number): Promise<Remote> {
    const s = createSocket('udp4');
    await new Promise<void>((resolve, reject) => s.once('error', reject).bind(port, addr, () => resolve()));
    return new Remote(s);
  }
  send(b: Buffer, port: number): Promise<void> {
    return new Promise((resolve, reject) => this.sock.send(b, port, '127.0.0.1', (e) => (e ? reject(e) : resolve())));
  }
  async next(seen: number): Promise<Datagram> {
    await eventually('a datagram at the remote', () => this.got.length > seen, 2000);
    return this.got[seen];
  }
}

/** The VTEP under test, its port's host end, and the frames the host end receives. */
class Bench {
  readonly got: Buffer[] = [];
  private readonly out = Buffer.alloc(SLOT);
  private readonly offs = new Uint32Array(1);
  private readonly lens = new Uint32Array(1);
  private readonly status = new Int32Array(1);

  constructor(readonly vtep: Vtep, readonly host: WarmEnd) {
    const slab = Buffer.alloc(SLOT * 8);
    const lens = new Uint32Array(8);
    host.host.startRx(slab, SLOT, VNET_HLEN, 8, lens, null, null, null, (n) => {
      // The virtio-net header as well as the frame: a cached write must build the same one.
      for (let i = 0; i < n; i++) this.got.push(Buffer.from(slab.subarray(i * SLOT, i * SLOT + VNET_HLEN + lens[i])));
    });
  }

  /** The host writes a frame into the port, behind an empty virtio-net header. */
  send(frame: Buffer): void {
    this.out.fill(0, 0, VNET_HLEN);
    frame.copy(this.out, VNET_HLEN);
    this.offs[0] = VNET_HLEN;
    this.lens[0] = frame.length;
    this.host.host.writeFrames(this.out, this.offs, this.lens, 1, WriteMode.InBuffer, VNET_HLEN, null, this.status);
    expect(this.status[0]).toBe(0);
  }

  async next(seen: number): Promise<Buffer> {
    await eventually('a frame at the port', () => this.got.length > seen, 2000);
    return this.got[seen];
  }

  stats(): Stats {
    return this.vtep.stats() as Stats;
  }
}

function network(o: Partial<NetworkSpec> = {}): NetworkSpec {
  return {
    vni: VNI, remotes: [0x7f000002], learning: true, stickyLocal: false, ageingSec: 300, maxAddress: 0, allowInnerVlan: false,
    proxy: false, statics: [], ports: [{ dev: 'fc0', mtu: 1450 }], ...o,
  };
}

/** An IPv6 packet: next header, addresses from `k`, and a TCP/UDP-like payload. */
function ipv6(next: number, k: number, payload: Buffer): Buffer {
  const b = Buffer.alloc(40 + payload.length);
  b.writeUInt32BE(0x60000000, 0);
  b.writeUInt16BE(payload.length, 4);
  b[6] = next;
  b[7] = 64;
  b.writeUInt32BE(0x20010db8, 8);
  b[23] = k;
  b.writeUInt32BE(0x20010db8, 24);
  b[39] = 2;
  payload.copy(b, 40);
  return b;
}

const ETHERTYPE_IPV6 = 0x86dd;

const macBytes = (mac: string): Buffer => Buffer.from(mac.replace(/:/g, ''), 'hex');

/** Frames from A to B of several kinds, each its own flow. */
function frames(): Buffer[] {
  const v4 = (proto: number, l4: Buffer, id = 0) => ethernet(MAC_A, MAC_B, ETHERTYPE_IPV4, ipv4('198.18.0.1', '198.18.0.2', proto, l4, id));
  const fragment = v4(IPPROTO_UDP, udp(7000, 7001, Buffer.alloc(32)));
  fragment.writeUInt16BE(0x2000 | 0x0010, 14 + 6); // MF and an offset: the ports are not hashed
  return [
    v4(IPPROTO_UDP, udp(5000, 5001, Buffer.from('one'))),
    v4(IPPROTO_UDP, udp(5002, 5001, Buffer.from('two'))),
    v4(IPPROTO_TCP, tcp({ sport: 40000, dport: 80, seq: 1, ack: 2, flags: 0x10, win: 100 })),
    v4(IPPROTO_ICMP, echo(8, 7, 1)),
    fragment,
    ethernet(MAC_A, MAC_B, ETHERTYPE_IPV6, ipv6(IPPROTO_UDP, 1, udp(6000, 6001, Buffer.alloc(24)))),
    ethernet(MAC_A, MAC_B, ETHERTYPE_IPV6, ipv6(58, 2, Buffer.alloc(16, 0x80))),
  ];
}

/** The second of each pair must leave as the first did; the first taught the cache. */
async function sendTwice(bench: Bench, remote: Remote, frame: Buffer): Promise<[Datagram, Datagram]> {
  const seen = remote.got.length;
  bench.send(frame);
  const first = await remote.next(seen);
  bench.send(frame);
  return [first, await remote.next(seen + 1)];
}

describe('the flow cache', () => {
  const closers: Array<() => void> = [];
  afterEach(() => {
    for (const c of closers.splice(0).reverse()) c();
  });

  /** A VTEP on a free port with one network (o) and its remotes R1, R2. */
  async function setUp(o: Partial<NetworkSpec> = {}, flowCache = true): Promise<{ bench: Bench; r1: Remote; r2: Remote; port: number }> {
    for (let tries = 0; ; tries++) {
      const port = 20000 + Math.floor(Math.random() * 40000);
      const ends: WarmEnd[] = [];
      const vtep = new Vtep({
        local: LOCAL, dstPort: port, srcPortMin: 49152, srcPortMax: 65535, ignoreReserved: false, offload: true, flowCache,
        networks: [network(o)],
      }, socketPairPorts(true, ends));
      try {
        vtep.start();
        const r1 = await Remote.open(R1, port);
        const r2 = await Remote.open(R2, port);
        closers.push(() => vtep.close(), () => ends.forEach((e) => e.host.close()), () => r1.sock.close(), () => r2.sock.close());
        return { bench: new Bench(vtep, ends[0]), r1, r2, port };
      } catch (e) {
        vtep.close();
        ends.forEach((x) => x.host.close());
        if (tries >= 8) throw e;
      }
    }
  }

  /** B behind R1: a frame from B teaches the VTEP where B is, and where A's port is. */
  async function learnB(bench: Bench, from: Remote, port: number): Promise<void> {
    const seen = bench.got.length;
    await from.send(vxlan(VNI, ethernet(MAC_B, MAC_A, ETHERTYPE_IPV4, ipv4('198.18.0.2', '198.18.0.1', IPPROTO_UDP, udp(1, 2, Buffer.alloc(8))))), port);
    await bench.next(seen);
  }

  it('sends the second packet of each flow as the JavaScript path sent the first, and counts it the same', async () => {
    const { bench, r1, port } = await setUp();
    await learnB(bench, r1, port);
    const list = frames();
    let bytes = 0;
    for (const f of list) {
      const [first, second] = await sendTwice(bench, r1, f);
      expect(second.bytes.equals(first.bytes), `frame ${list.indexOf(f)}`).toBe(true);
      expect(second.sport, `frame ${list.indexOf(f)}'s source port`).toBe(first.sport);
      bytes += 2 * f.length;
    }
    // Flows differ in their source ports, as the hash of their headers says.
    expect(new Set(r1.got.map((d) => d.sport)).size).toBeGreaterThan(2);
    const s = bench.stats();
    expect(s.flow_cache.packets).toBe(list.length);
    expect(s.flow_cache.installs).toBe(list.length);
    expect(s.vnis[VNI].tx_packets).toBe(2 * list.length);
    expect(s.vnis[VNI].tx_bytes).toBe(bytes);
    // The port read them all, and one frame from the wire before.
    expect(s.ports.fc0.rx_packets).toBe(2 * list.length);
    expect(s.ports.fc0.rx_bytes).toBe(bytes);
  });

  it('holds for any IPv4 packet: a fuzzed frame sent twice leaves the same way twice', async () => {
    const { bench, r1, port } = await setUp();
    await learnB(bench, r1, port);
    const a = macBytes(MAC_A);
    const b = macBytes(MAC_B);
    await fc.assert(fc.asyncProperty(ipv4Packet, async (p) => {
      const f = Buffer.alloc(14 + p.length);
      f.set(b, 0);
      f.set(a, 6);
      f.writeUInt16BE(ETHERTYPE_IPV4, 12);
      Buffer.from(p).copy(f, 14);
      const [first, second] = await sendTwice(bench, r1, f);
      expect(second.bytes.equals(first.bytes)).toBe(true);
      expect(second.sport).toBe(first.sport);
    }), { numRuns: 300, seed: 12 });
    expect(bench.stats().flow_cache.packets).toBeGreaterThan(0);
  });

  it('writes the second datagram from the wire as the first, virtio-net header and all, and counts it the same', async () => {
    const { bench, r1, port } = await setUp();
    await learnB(bench, r1, port);
    bench.send(ethernet(MAC_A, MAC_B, ETHERTYPE_IPV4, ipv4('198.18.0.1', '198.18.0.2', IPPROTO_ICMP, echo(8, 1, 1))));
    await r1.next(0); // A is learned on the port
    const inner = [
      ethernet(MAC_B, MAC_A, ETHERTYPE_IPV4, ipv4('198.18.0.2', '198.18.0.1', IPPROTO_ICMP, echo(0, 1, 1))),
      ethernet(MAC_B, MAC_A, ETHERTYPE_IPV4, ipv4('198.18.0.2', '198.18.0.1', IPPROTO_TCP, tcp({ sport: 80, dport: 40000, seq: 9, ack: 1, flags: 0x18, win: 50, payload: Buffer.alloc(100, 1) }))),
    ];
    const before = bench.stats();
    for (const f of inner) {
      const seen = bench.got.length;
      await r1.send(vxlan(VNI, f), port);
      const first = await bench.next(seen);
      await r1.send(vxlan(VNI, f), port);
      const second = await bench.next(seen + 1);
      expect(second.equals(first)).toBe(true);
      expect(first.subarray(VNET_HLEN).equals(f)).toBe(true);
    }
    const s = bench.stats();
    // The key from the wire is the sender, the VXLAN header and the inner Ethernet header:
    // B's frames to A are one flow, and only the very first went through JavaScript.
    expect(s.flow_cache.packets - before.flow_cache.packets).toBe(2 * inner.length - 1);
    expect(s.vnis[VNI].rx_packets - before.vnis[VNI].rx_packets).toBe(2 * inner.length);
    expect(s.ports.fc0.tx_packets - before.ports.fc0.tx_packets).toBe(2 * inner.length);
  });

  it('follows a MAC that moves to another VTEP, and an FDB change, at the next packet', async () => {
    const { bench, r1, r2, port } = await setUp();
    await learnB(bench, r1, port);
    const f = frames()[0];
    await sendTwice(bench, r1, f);
    expect(bench.stats().flow_cache.packets).toBe(1);
    // B now sends from behind R2: learned as a move, and A's next frame follows it.
    await learnB(bench, r2, port);
    bench.send(f);
    await r2.next(0);
    expect(r1.got.length).toBe(2);
    expect(bench.stats().flow_cache.resets).toBeGreaterThan(0);
    // Cached again towards R2, then B's entry deleted: the frame floods (to R1, the flood list).
    bench.send(f);
    await r2.next(1);
    expect(bench.vtep.applyFdb({ op: 'delete', vni: VNI, mac: parseMac(MAC_B) })).toBe(true);
    bench.send(f);
    await r1.next(2);
    expect(r2.got.length).toBe(2);
  });

  it('keeps the sources of cached flows from ageing out, on both sides, and lets them go when they stop', async () => {
    const { bench, r1, port } = await setUp({ ageingSec: 1 });
    await learnB(bench, r1, port);
    const f = frames()[0];
    const back = vxlan(VNI, ethernet(MAC_B, MAC_A, ETHERTYPE_IPV4, ipv4('198.18.0.2', '198.18.0.1', IPPROTO_UDP, udp(5001, 5000, Buffer.from('back')))));
    const t0 = Date.now();
    while (Date.now() - t0 < 2500) {
      bench.send(f);
      await r1.send(back, port);
      await new Promise((r) => setTimeout(r, 100));
    }
    const macs = () => bench.vtep.fdbRows().filter((r) => r.mac !== '00:00:00:00:00:00').map((r) => r.mac).sort();
    expect(macs()).toEqual([MAC_A, MAC_B]);
    // Most of those went through the caches, so only the harvest kept the entries.
    expect(bench.stats().flow_cache.packets).toBeGreaterThan(30);
    await eventually('both entries aged out', () => macs().length === 0, 4000);
  });

  it('stands aside while a capture is attached, so that the capture sees every packet', async () => {
    const { bench, r1, port } = await setUp();
    await learnB(bench, r1, port);
    const f = frames()[0];
    await sendTwice(bench, r1, f);
    const dir = mkdtempSync(join(tmpdir(), 'vxtap-flowcache-'));
    const server = new ControlServer(join(dir, 'c.sock'), {}, { capture: (req, sock) => bench.vtep.capture.attach(req, sock) });
    await server.listen();
    closers.push(() => rmSync(dir, { recursive: true, force: true }), () => void server.close());
    const client: Socket = createConnection(server.path);
    await new Promise<void>((resolve, reject) => client.once('connect', resolve).once('error', reject));
    client.write(JSON.stringify({ cmd: 'capture', points: ['tap-rx'] }) + '\n');
    await eventually('the capture attached', () => bench.vtep.capture.active, 2000);
    const packets = bench.stats().flow_cache.packets;
    for (let k = 0; k < 3; k++) await sendTwice(bench, r1, f);
    expect(bench.stats().flow_cache.packets).toBe(packets);
    await eventually('six frames captured', () => (bench.vtep.stats() as { capture: { captured: number } }).capture.captured >= 6, 2000);
    client.destroy();
    await eventually('the capture detached', () => !bench.vtep.capture.active, 2000);
    await sendTwice(bench, r1, f);
    expect(bench.stats().flow_cache.packets).toBe(packets + 1);
  });

  it('forgets a port that goes: datagrams for it are dropped and counted, not written', async () => {
    const { bench, r1, port } = await setUp();
    await learnB(bench, r1, port);
    const back = vxlan(VNI, ethernet(MAC_B, MAC_A, ETHERTYPE_IPV4, ipv4('198.18.0.2', '198.18.0.1', IPPROTO_UDP, udp(1, 2, Buffer.alloc(8)))));
    bench.send(frames()[0]);
    await r1.next(0);
    for (let k = 0; k < 2; k++) {
      const seen = bench.got.length;
      await r1.send(back, port);
      await bench.next(seen);
    }
    expect(bench.stats().flow_cache.packets).toBe(1);
    const written = bench.got.length;
    bench.vtep.removePort('fc0');
    await r1.send(back, port);
    await eventually('the datagram counted as a drop', () => bench.vtep.drops.some((d) => d > 0), 2000);
    expect(bench.got.length).toBe(written);
  });

  it('is off with flowCache false: every packet goes through JavaScript', async () => {
    const { bench, r1, port } = await setUp({}, false);
    await learnB(bench, r1, port);
    for (const f of frames()) await sendTwice(bench, r1, f);
    expect(bench.stats().flow_cache).toEqual({ packets: 0, installs: 0, evictions: 0, resets: 0 });
  });
});
