// The data path's warm-up (issue 12): before a VTEP opens its devices, two
// throwaway VTEPs with the same settings pass synthetic pings to each other
// over loopback, so that V8 has compiled and optimised the receive and send
// paths before the first real packet. Cold, the data path runs in V8's
// interpreter without feedback and a ping through two vxtaps takes about
// twice as long as warm (README: Latency, hop by hop).
//
// The two VTEPs are the real class (the feedback and the optimised code V8
// keeps belong to its methods, which every instance shares), bound to
// 127.0.0.1 and 127.0.0.2 on a free port, each with one port that is one end
// of a socket pair instead of a TAP. The other ends play two hosts: ARP, then
// echo requests and replies (and ARP again every 16), with a TSO super-frame beside each request when
// offloads are on (the split, UDP GSO/GRO and coalescing paths). Nothing
// leaves the loopback device, no device is created, and the real VTEP's FDB
// and counters are untouched. Without a loopback address (a namespace whose
// `lo` is down) the warm-up is skipped, and says why.
import { VxtapError } from '../core/errors.js';
import { addon, Kind, type NativeEndpoint, WriteMode } from '../io/native.js';
import { setU16, setU32 } from '../wire/bytes.js';
import { ETH_HLEN, ETHERTYPE_ARP, ETHERTYPE_IPV4 } from '../wire/ethernet.js';
import { Vtep, type PortDevices, type VtepSpec } from './vtep.js';

/** Round trips (echo request and reply through both VTEPs) a warm-up makes at most... */
export const WARM_ROUNDS = 2000;
/** ... and for how long at most. */
export const WARM_MS = 1500;

const LOOP_A = 0x7f000001;
const LOOP_B = 0x7f000002;
const MAC_A = [0x02, 0x76, 0x78, 0x77, 0x00, 0x01];
const MAC_B = [0x02, 0x76, 0x78, 0x77, 0x00, 0x02];
const IP_A = 0xc0000201; // 192.0.2.1: the frames stay inside the socket pairs and loopback
const IP_B = 0xc0000202;
const VNET_HLEN = 10;
const SLOT = 65536 + 64;
const ECHO_LEN = ETH_HLEN + 20 + 8 + 56;
/** Source MACs host A's echo requests come from. */
const SOURCES = 24;
/** Every so many round trips, an ARP exchange before the echo. */
const ARP_EVERY = 16;
/** A warm-up that makes no round trip in this long stops. */
const STALL_MS = 100;
/** Ports tried for the two loopback VTEPs before the warm-up gives up. */
const PORT_TRIES = 8;

export interface WarmUpResult {
  /** Round trips made (0: skipped). */
  rounds: number;
  ms: number;
  /** Why it was skipped or cut short, if it was. */
  note?: string;
}

/** Warms the data path for `spec` (a VTEP about to start); never throws. */
export async function warmUp(spec: VtepSpec, rounds = WARM_ROUNDS, maxMs = WARM_MS): Promise<WarmUpResult> {
  const t0 = performance.now();
  const ends: WarmEnd[] = [];
  const vteps: Vtep[] = [];
  try {
    if (spec.networks[0]?.ports[0] === undefined) return { rounds: 0, ms: 0, note: 'skipped: no port' };
    const port = startPair(spec, ends, vteps);
    if (typeof port === 'string') return { rounds: 0, ms: performance.now() - t0, note: port };
    const done = await new Driver(ends[0], ends[1], spec.offload, spec.networks[0].ports[0].mtu, rounds).run(maxMs);
    const ms = performance.now() - t0;
    if (done === 0) return { rounds: 0, ms, note: 'skipped: no round trip over loopback (is lo up?)' };
    return { rounds: done, ms, ...(done < rounds ? { note: `cut short: ${done} of ${rounds} round trips` } : {}) };
  } catch (e) {
    return { rounds: 0, ms: performance.now() - t0, note: e instanceof Error ? e.message : String(e) };
  } finally {
    for (const v of vteps) v.close();
    for (const e of ends) e.host.close();
  }
}

/** The host end of a warm port: the other end of the socket pair the VTEP takes for its TAP. */
export interface WarmEnd {
  host: NativeEndpoint;
}

/** Starts the two loopback VTEPs on a free port; returns the port, or why it could not. */
function startPair(spec: VtepSpec, ends: WarmEnd[], vteps: Vtep[]): number | string {
  let last = '';
  for (let t = 0; t < PORT_TRIES; t++) {
    const dstPort = 20000 + Math.floor(Math.random() * 40000);
    try {
      for (const [local, remote] of [[LOOP_A, LOOP_B], [LOOP_B, LOOP_A]]) {
        const v = new Vtep(warmSpec(spec, local, remote, dstPort), socketPairPorts(spec.offload, ends));
        vteps.push(v);
        v.start();
        if (spec.trustedOnly) v.trust(remote);
      }
      return dstPort;
    } catch (e) {
      for (const v of vteps.splice(0)) v.close();
      for (const e2 of ends.splice(0)) e2.host.close();
      if (!(e instanceof VxtapError) || e.code !== 'E_ADDRESS') throw e;
      last = e.message;
      if (!/already in use/.test(e.message)) break; // no loopback address: trying other ports will not help
    }
  }
  return `skipped: ${last}`;
}

/** The real VTEP's settings on loopback, with one network and one port. */
function warmSpec(spec: VtepSpec, local: number, remote: number, dstPort: number): VtepSpec {
  const net = spec.networks[0];
  // Without learning, the far host's MACs are static entries (as a flannel node's
  // are), so that unicast to a remote is warmed, not only the flood.
  const far = local === LOOP_A ? [macNumber(MAC_B)] : Array.from({ length: SOURCES }, (_, k) => macNumber(sourceMac(k)));
  return {
    ...spec,
    local,
    dstPort,
    queues: 1,
    queue: 0,
    // The data path's JavaScript is what needs warming: a flow cache would forward the pings past it.
    flowCache: false,
    networks: [{
      ...net, remotes: [remote], statics: net.learning ? [] : far.map((mac) => ({ mac, remote })), ports: [{ dev: 'warm', mtu: net.ports[0].mtu }],
    }],
  };
}

/** Host A's k-th source MAC. */
function sourceMac(k: number): number[] {
  const mac = [...MAC_A];
  mac[4] = k;
  return mac;
}

function macNumber(mac: number[]): number {
  return mac.reduce((n, byte) => n * 256 + byte, 0);
}

/** Ports that are socket pairs: the VTEP reads and writes one end as its TAP, the driver the other. */
export function socketPairPorts(offload: boolean, ends: WarmEnd[]): PortDevices {
  return {
    links: false,
    open(name) {
      const [tap, host] = addon.socketPair();
      ends.push({ host: new addon.Endpoint(host, Kind.Device, offload, 14) });
      return { name, endpoint: new addon.Endpoint(tap, Kind.Device, offload, 14), tso: offload, uso: offload };
    },
  };
}

/** Plays the two hosts: ARP, then echo requests from A answered by B, one round trip at a time. */
class Driver {
  private readonly out = Buffer.alloc(2 * SLOT);
  private readonly offs = new Uint32Array(2);
  private readonly lens = new Uint32Array(2);
  private readonly status = new Int32Array(2);
  private done = 0;
  private seq = 0;
  private finish: (() => void) | null = null;

  constructor(
    private readonly a: WarmEnd,
    private readonly b: WarmEnd,
    private readonly vnet: boolean,
    private readonly mtu: number,
    private readonly rounds: number,
  ) {}

  run(maxMs: number): Promise<number> {
    return new Promise((resolve) => {
      const start = performance.now();
      let seen = -1;
      // Ends at maxMs, or as soon as a check finds no round trip since the last (loopback down, or a drop).
      const timer = setInterval(() => {
        if (this.done === seen || performance.now() - start >= maxMs) this.finish?.();
        seen = this.done;
      }, STALL_MS);
      this.finish = () => {
        this.finish = null;
        clearInterval(timer);
        resolve(this.done);
      };
      this.listen(this.a, (b, off, len) => this.atA(b, off, len));
      this.listen(this.b, (b, off, len) => this.atB(b, off, len));
      this.arp(this.a.host, 1, MAC_A, IP_A, IP_B);
    });
  }

  private listen(end: WarmEnd, frame: (b: Buffer, off: number, len: number) => void): void {
    const headroom = this.vnet ? VNET_HLEN : 0;
    const budget = 8;
    const slab = Buffer.alloc(SLOT * budget);
    const lens = new Uint32Array(budget);
    end.host.startRx(slab, SLOT, headroom, budget, lens, null, null, null, (n) => {
      for (let i = 0; i < n; i++) frame(slab, i * SLOT + headroom, lens[i]);
    });
  }

  /** A gets ARP replies and echo replies; each reply starts the next round. */
  private atA(b: Buffer, off: number, len: number): void {
    const type = b.readUInt16BE(off + 12);
    if (type === ETHERTYPE_ARP && b[off + 21] === 2) {
      if (this.finish !== null) this.echo();
      return;
    }
    if (type !== ETHERTYPE_IPV4 || len < ECHO_LEN || b[off + 23] !== 1 || b[off + 34] !== 0) return;
    if (++this.done >= this.rounds) this.finish?.();
    else if (this.finish === null) return;
    // ARP again now and then: V8 keeps no feedback from a function's first calls, so once is not enough.
    else if (this.done % ARP_EVERY === 0) this.arp(this.a.host, 1, MAC_A, IP_A, IP_B);
    else this.echo();
  }

  /** B answers ARP requests and echo requests. */
  private atB(b: Buffer, off: number, len: number): void {
    const type = b.readUInt16BE(off + 12);
    if (type === ETHERTYPE_ARP && b[off + 21] === 1) {
      this.arp(this.b.host, 2, MAC_B, IP_B, IP_A);
      return;
    }
    if (type === ETHERTYPE_IPV4 && len >= ECHO_LEN && b[off + 23] === 1 && b[off + 34] === 8) {
      this.write(this.b.host, [this.icmp(0, MAC_B, [...b.subarray(off + 6, off + 12)], IP_B, IP_A)]);
    }
  }

  private arp(to: NativeEndpoint, op: number, mac: number[], spa: number, tpa: number): void {
    const o = VNET_HLEN;
    const b = this.clear(o, ETH_HLEN + 28);
    b.fill(op === 1 ? 0xff : 0, o, o + 6);
    if (op === 2) b.set(MAC_A, o);
    b.set(mac, o + 6);
    setU16(b, o + 12, ETHERTYPE_ARP);
    setU32(b, o + 14, 0x00010800); // Ethernet, IPv4
    setU32(b, o + 18, 0x06040000 | op);
    b.set(mac, o + 22);
    setU32(b, o + 28, spa);
    if (op === 2) b.set(MAC_A, o + 32);
    setU32(b, o + 38, tpa);
    this.write(to, [[o, ETH_HLEN + 28]]);
  }

  /**
   * A's echo request, from one of SOURCES MACs in turn (so that the FDBs
   * grow and probe past collisions, as real ones do), with a TSO
   * super-frame of four segments before it when offloads are on.
   */
  private echo(): void {
    const frames = [this.icmp(8, sourceMac(this.seq % SOURCES), MAC_B, IP_A, IP_B)];
    if (this.vnet) frames.unshift(this.tso());
    this.write(this.a.host, frames);
  }

  /** An ICMP echo frame in the first slot of `out`. */
  private icmp(type: number, src: number[], dst: number[], sip: number, dip: number): [number, number] {
    const o = VNET_HLEN;
    const b = this.clear(o, ECHO_LEN);
    this.ethIp(b, o, dst, src, sip, dip, 1, ECHO_LEN - ETH_HLEN);
    b[o + 34] = type;
    setU32(b, o + 38, 0x77610000 | (++this.seq & 0xffff));
    return [o, ECHO_LEN];
  }

  /** A TCP/IPv4 super-frame of four MSS segments from A to B, in the second slot, with its virtio-net header. */
  private tso(): [number, number] {
    const mss = this.mtu - 40;
    const len = ETH_HLEN + 40 + 4 * mss;
    const o = SLOT + VNET_HLEN;
    const b = this.clear(o, len);
    // virtio-net header: NEEDS_CSUM, TCPV4, hdr_len, gso_size, csum_start, csum_offset (little-endian)
    b[o - 10] = 1;
    b[o - 9] = 1;
    b.writeUInt16LE(ETH_HLEN + 40, o - 8);
    b.writeUInt16LE(mss, o - 6);
    b.writeUInt16LE(ETH_HLEN + 20, o - 4);
    b.writeUInt16LE(16, o - 2);
    this.ethIp(b, o, MAC_B, MAC_A, IP_A, IP_B, 6, len - ETH_HLEN);
    const t = o + ETH_HLEN + 20;
    setU32(b, t, 0x9c400050); // ports 40000 -> 80
    setU32(b, t + 4, this.seq * 4 * mss);
    b[t + 12] = 0x50;
    b[t + 13] = 0x10; // ACK
    setU16(b, t + 14, 0xffff);
    return [o, len];
  }

  private ethIp(b: Buffer, o: number, dst: number[], src: number[], sip: number, dip: number, proto: number, ipLen: number): void {
    b.set(dst, o);
    b.set(src, o + 6);
    setU16(b, o + 12, ETHERTYPE_IPV4);
    const ip = o + ETH_HLEN;
    setU32(b, ip, 0x45000000 | ipLen);
    setU32(b, ip + 4, 0x4000); // DF
    setU32(b, ip + 8, 0x40000000 | (proto << 16));
    setU32(b, ip + 12, sip);
    setU32(b, ip + 16, dip);
  }

  /** Zeroes a frame and the virtio-net header in front of it. */
  private clear(o: number, len: number): Buffer {
    return this.out.fill(0, o - VNET_HLEN, o + len);
  }

  private write(to: NativeEndpoint, frames: Array<[number, number]>): void {
    frames.forEach(([o, l], k) => {
      this.offs[k] = o;
      this.lens[k] = l;
    });
    to.writeFrames(this.out, this.offs, this.lens, frames.length, this.vnet ? WriteMode.InBuffer : WriteMode.Plain, VNET_HLEN, null, this.status);
  }
}
