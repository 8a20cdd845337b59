// The userspace UDP overlay, wire-compatible with flannel's udp backend: IP
// packets from a TUN device are routed by longest prefix to a peer and sent
// as the whole payload of a UDP datagram (no header of our own), and
// datagrams from known peers are written back into the TUN.
//
//   TUN rx batch -> IPv4 checks -> route lookup -> TTL - 1 -> queue to peer
//                   (no route: ICMP net unreachable written back to the TUN)
//   UDP rx batch -> sender is a route's peer? -> IPv4 checks -> TTL - 1 -> TUN
//
// Like the VXLAN path: packets stay in their receive slots, and each batch
// ends with one native call per queue.
//
// Capture, as in vtep.ts: `capture.active` is read once per batch, flush or
// drop; while no capture is attached that check is all the mirroring costs.
// The TUN points (tap-rx, tap-tx) carry raw IP; the wire points carry each
// datagram behind synthesized outer headers, one by one through GRO trains
// and GSO sends; tap-tx has each packet as queued, also when the write
// coalesces TCP segments. Every drop goes through dropPacket (an IP packet
// from or for the TUN) or dropDatagram (a received datagram), which count it
// and mirror it.
import { CaptureHub } from '../capture/hub.js';
import { NeighbourTable } from '../capture/neighbours.js';
import { NO_REASON, OVERLAY_DROP, OVERLAY_WIRE_RX, OVERLAY_WIRE_TX, TUN_RX, TUN_TX } from '../capture/points.js';
import {
  DROP_BAD_GSO, DROP_BAD_IP_HEADER, DROP_BAD_IP_LENGTH, DROP_BAD_IP_VERSION, DROP_NO_ROUTE, DROP_OVERSIZE, DROP_RX_ERROR,
  DROP_TRUNCATED, DROP_TSO_NO_ROOM, DROP_TTL_EXPIRED, DROP_UNKNOWN_SENDER, countSendFailures, countWriteFailures,
  dropsToRecord, newDropCounters, sendDropReason, writeDropReason,
} from '../dataplane/drops.js';
import { openOrClose } from '../dataplane/lifecycle.js';
import { RxErrors } from '../dataplane/rxerrors.js';
import { configureLink, ipBatch, openDevice } from '../io/device.js';
import { type NativeEndpoint, WriteMode } from '../io/native.js';
import { capDeviceSegments, enableDeviceOffloads, enableUdpOffloads, gsoSegmentsPerSend, TsoSplitter } from '../io/offload.js';
import { BATCH, type RxBatch, SlabPool, slotSizeFor } from '../io/pool.js';
import { DatagramQueue, DEVICE_QUEUE, FrameQueue } from '../io/queues.js';
import { openUdpSocket } from '../io/socket.js';
import { RouteTable, type Route } from '../switch/routes.js';
import { TrustedAddresses } from '../switch/trust.js';
import { formatIpv4Addr } from '../wire/ipaddr.js';
import {
  IPV4_ERR_IHL, IPV4_ERR_TOTAL_LENGTH, IPV4_ERR_VERSION, decrementIpv4Ttl, getIpv4Dst, getIpv4TotalLength, ipv4Check,
} from '../wire/ipv4.js';
import { UNREACHABLE_MAX, wantsUnreachable, writeNetUnreachable } from './unreachable.js';

/** flannel's udp backend port. */
export const FLANNEL_UDP_PORT = 8285;
/** A datagram can carry an IPv4 packet of up to 65535 - 28 bytes. */
const MAX_DATAGRAM = 65536;

export interface UdpOverlaySpec {
  /** Underlay IPv4 address (uint32) to bind; datagrams go out from local:port. */
  local: number;
  port: number;
  dev: string;
  /** TUN address (uint32): the source of the ICMP errors vxtap sends. */
  address: number;
  /** CIDR put on the TUN, e.g. 198.18.1.1/16. */
  cidr: string;
  mtu: number;
  routes: Route[];
  /** Also route each route's subnet into the TUN in the kernel (the CLI does; a flannel node routes the Network once). */
  kernelRoutes: boolean;
  /** Use TUN TSO/GRO and UDP GSO/GRO where the kernel has them. */
  offload: boolean;
}

/** Which offloads are active, as probed at start-up. */
export interface OverlayOffloads {
  tunVnetHdr: boolean;
  tunTso: boolean;
  /** The TUN hands over UDP super-frames too (USO), split like TSO ones. */
  tunUso: boolean;
  udpGso: boolean;
  udpGro: boolean;
  /** The TUN's gso_max_segs: a TSO super-frame's packets fit one UDP GSO send (0: the kernel's default). */
  tunGsoMaxSegs: number;
}

// Counter indexes.
const RX_PACKETS = 0; // from the wire into the TUN
const RX_BYTES = 1;
const TX_PACKETS = 2; // from the TUN onto the wire
const TX_BYTES = 3;
const UNREACHABLE_SENT = 4;

/** Maps an ipv4Check reason to a drop reason. */
function ipDropReason(err: number): number {
  return err === IPV4_ERR_VERSION ? DROP_BAD_IP_VERSION
    : err === IPV4_ERR_IHL ? DROP_BAD_IP_HEADER
      : err === IPV4_ERR_TOTAL_LENGTH ? DROP_BAD_IP_LENGTH
        : DROP_TRUNCATED;
}

export class UdpOverlay {
  readonly drops = newDropCounters();
  /** Receive errors, reported once per descriptor (set onError to log them). */
  readonly rxErrors = new RxErrors();
  /** The process's capture hub: a VTEP's when one runs beside, else the overlay's own. */
  readonly capture: CaptureHub;
  readonly counters = new Float64Array(5);
  readonly routes = new RouteTable();
  /** The routes' peers, counted per route: the trust check. */
  private readonly peers = new TrustedAddresses();
  private tun: NativeEndpoint | null = null;
  private udp: NativeEndpoint | null = null;
  private tunRx: RxBatch | null = null;
  private udpRx: RxBatch | null = null;
  /** A GRO train of up to 64 segments per datagram: room for a batch of them. */
  private readonly toTunQ = new FrameQueue(DEVICE_QUEUE);
  private readonly replies = new FrameQueue(BATCH);
  private readonly replySlab = Buffer.alloc(BATCH * UNREACHABLE_MAX);
  private readonly sendq = new DatagramQueue(BATCH * 2, 0);
  private splitter: TsoSplitter | null = null;
  readonly offloads: OverlayOffloads = { tunVnetHdr: false, tunTso: false, tunUso: false, udpGso: false, udpGro: false, tunGsoMaxSegs: 0 };
  private tunWrite = WriteMode.Plain;

  /** `capture`: a hub to mirror through (a VTEP's in the same process); by default one of its own. */
  constructor(readonly spec: UdpOverlaySpec, capture?: CaptureHub) {
    for (const r of spec.routes) this.setRoute(r);
    this.capture = capture ?? new CaptureHub(null, new NeighbourTable(spec.local));
    this.capture.addOverlay(spec.port);
  }

  get devName(): string {
    return this.spec.dev;
  }

  start(): void {
    openOrClose(() => this.open(), () => this.close());
  }

  private open(): void {
    const spec = this.spec;
    const off = this.offloads;
    this.udp = openUdpSocket(formatIpv4Addr(spec.local), spec.port, 'local');
    if (spec.offload) {
      const u = enableUdpOffloads(this.udp.fd);
      off.udpGso = u.gso;
      off.udpGro = u.gro;
    }
    const dev = openDevice(spec.dev, { tap: false, vnetHdr: spec.offload });
    this.tun = dev.endpoint;
    off.tunVnetHdr = spec.offload;
    if (spec.offload) {
      const d = enableDeviceOffloads(this.tun.fd);
      off.tunTso = d.tso;
      off.tunUso = d.uso;
    }
    if (off.tunTso) this.splitter = new TsoSplitter(BATCH);
    this.tunWrite = !off.tunVnetHdr ? WriteMode.Plain : off.tunUso ? WriteMode.CoalesceUdp : WriteMode.Coalesce;

    // TSO super-frames and GRO trains are up to 64 KiB; a TUN frame's vnet
    // header sits at the start of its slot.
    const headroom = off.tunVnetHdr ? 16 : 0;
    const tunSlot = slotSizeFor(headroom, off.tunTso ? MAX_DATAGRAM : spec.mtu);
    const udpSlot = slotSizeFor(0, MAX_DATAGRAM);
    const pool = new SlabPool(BATCH * (tunSlot + udpSlot));
    this.udpRx = pool.batch(udpSlot, 0, BATCH);
    this.tunRx = pool.batch(tunSlot, headroom, BATCH);
    configureLink(dev.name, { mtu: spec.mtu, address: spec.cidr, up: true });
    if (off.tunTso && off.udpGso) off.tunGsoMaxSegs = capDeviceSegments(dev.name, spec.mtu);
    if (spec.kernelRoutes && spec.routes.length > 0) {
      ipBatch(spec.routes.map((r) => `route replace ${formatIpv4Addr(r.addr)}/${r.len} dev ${dev.name}`), `routing into ${dev.name}`);
    }
    const u = this.udpRx;
    this.udp.startRx(u.slab, u.slotSize, u.headroom, u.budget, u.lens, u.addrs, u.ports, off.udpGro ? u.segs : null,
      (n, stopped) => this.onWire(n, stopped));
    const t = this.tunRx;
    this.tun.startRx(t.slab, t.slotSize, t.headroom, t.budget, t.lens, null, null, null, (n, stopped) => this.onTun(n, stopped));
  }

  close(): void {
    this.capture.close();
    this.udp?.close();
    this.tun?.close();
    this.udp = this.tun = null;
  }

  /** Adds or replaces a route; its peer becomes a trusted sender. */
  setRoute(r: Route): void {
    const old = this.routes.lookupExact(r.addr, r.len);
    if (old >= 0) this.peers.remove(this.routes.peer[old]);
    this.routes.set(r.addr, r.len, r.peer, r.port);
    this.peers.add(r.peer);
  }

  /** Removes a route; its peer stays trusted while other routes use it. */
  deleteRoute(addr: number, len: number): boolean {
    const i = this.routes.lookupExact(addr, len);
    if (i < 0) return false;
    this.peers.remove(this.routes.peer[i]);
    return this.routes.delete(addr, len);
  }

  // ---- data path --------------------------------------------------------

  private onTun(n: number, stopped: boolean): void {
    if (n < 0) {
      this.drops[DROP_RX_ERROR]++;
      this.rxErrors.report(this.spec.dev, n, stopped);
      return;
    }
    const rx = this.tunRx!;
    const b = rx.slab;
    const routes = this.routes;
    const q = this.sendq;
    const splitter = this.splitter;
    const mirror = this.capture.active;
    for (let i = 0; i < n; i++) {
      const off = rx.offset(i);
      if (mirror) this.capture.frame(TUN_RX, b, off, rx.lens[i], -1, NO_REASON);
      const err = ipv4Check(b, off, rx.lens[i]);
      if (err !== 0) {
        this.dropPacket(ipDropReason(err), b, off, rx.lens[i]);
        continue;
      }
      const len = getIpv4TotalLength(b, off);
      const r = routes.lookup(getIpv4Dst(b, off));
      if (r < 0) {
        this.dropPacket(DROP_NO_ROUTE, b, off, len);
        if (wantsUnreachable(b, off)) this.reply(b, off, len);
        continue;
      }
      // The TTL step happens once on a super-frame: every segment copies it.
      if (!decrementIpv4Ttl(b, off)) {
        this.dropPacket(DROP_TTL_EXPIRED, b, off, len);
        continue;
      }
      if (splitter !== null && b[off - rx.headroom + 1] !== 0) { // the vnet header's gso_type
        splitter.push(off, len, r); // a TSO super-frame: split after the batch
        continue;
      }
      q.push(off, len, routes.peer[r], routes.port[r]);
      this.counters[TX_PACKETS]++;
      this.counters[TX_BYTES] += len;
    }
    this.flushWire(b);
    if (splitter !== null) this.sendSegments(b, splitter, splitter.split(b, rx.headroom, false, null));
    this.flushTun(this.replies, this.replySlab);
  }

  /**
   * Sends `frames` split super-frames (read into `b`): one UDP GSO send per
   * run of segments, or one datagram each.
   */
  private sendSegments(b: Buffer, s: TsoSplitter, frames: number): void {
    if (frames === 0) return;
    const q = this.sendq;
    const routes = this.routes;
    const gso = this.offloads.udpGso;
    let seg = 0;
    for (let j = 0; j < frames; j++) {
      const count = s.counts[j];
      if (count === 0) {
        this.dropPacket(s.noRoom(j) ? DROP_TSO_NO_ROOM : DROP_BAD_GSO, b, s.inOffs[j], s.inLens[j]);
        continue;
      }
      const r = s.tag[j];
      const peer = routes.peer[r];
      const port = routes.port[r];
      const stride = s.strides[j];
      const per = gso ? gsoSegmentsPerSend(stride) : 1;
      for (let k = 0; k < count; k += per) {
        const m = Math.min(per, count - k);
        const first = seg + k;
        const len = s.trainBytes(first, m, stride);
        if (q.full) this.flushWire(s.out);
        q.push(s.segOffs[first], len, peer, port, m > 1 ? stride : 0);
        this.counters[TX_BYTES] += len;
      }
      this.counters[TX_PACKETS] += count;
      seg += count;
    }
    this.flushWire(s.out);
  }

  private flushWire(b: Buffer): void {
    const q = this.sendq;
    const queued = q.n;
    if (queued === 0) return;
    const failed = q.flush(this.udp!, b) < queued;
    if (failed) countSendFailures(this.drops, q.status, queued);
    if (this.capture.active) this.mirrorSent(b, queued, failed);
  }

  /**
   * wire-tx for each datagram of the last send that went out (a GSO send
   * datagram by datagram); the drop point for each message that failed
   * (countSendFailures counted it).
   */
  private mirrorSent(b: Buffer, n: number, failed: boolean): void {
    const q = this.sendq;
    const local = this.spec.local;
    const port = this.spec.port;
    for (let i = 0; i < n; i++) {
      const e = failed ? q.status[i] : 0;
      const point = e === 0 ? OVERLAY_WIRE_TX : OVERLAY_DROP;
      const reason = e === 0 ? NO_REASON : sendDropReason(e);
      const len = q.lens[i];
      const step = q.gso[i] === 0 ? len : q.gso[i];
      let o = 0;
      do {
        this.capture.datagram(point, b, q.offs[i] + o, Math.min(step, len - o), local, port, q.addrs[i], q.ports[i], reason);
        o += step;
      } while (o < len);
    }
  }

  /** Queues an ICMP error; a batch holds at most BATCH packets, so the queue has room. */
  private reply(b: Buffer, off: number, len: number): void {
    const q = this.replies;
    const o = q.n * UNREACHABLE_MAX;
    const n = writeNetUnreachable(this.replySlab, o, b, off, len, this.spec.address);
    if (q.push(o, n)) this.counters[UNREACHABLE_SENT]++;
  }

  private onWire(n: number, stopped: boolean): void {
    if (n < 0) {
      this.drops[DROP_RX_ERROR]++;
      this.rxErrors.report(`udp ${formatIpv4Addr(this.spec.local)}:${this.spec.port}`, n, stopped);
      return;
    }
    const rx = this.udpRx!;
    const b = rx.slab;
    const lens = rx.lens;
    const addrs = rx.addrs;
    const segs = rx.segs;
    const gro = this.offloads.udpGro;
    const cap = rx.capacity;
    const mirror = this.capture.active;
    for (let i = 0; i < n; i++) {
      const off = rx.offset(i);
      const dlen = lens[i];
      if (dlen > cap) {
        // A datagram cut off at the slot size is mirrored as far as it was received.
        if (mirror) this.capture.datagram(OVERLAY_WIRE_RX, b, off, cap, addrs[i], rx.ports[i], this.spec.local, this.spec.port, NO_REASON);
        this.dropDatagram(DROP_OVERSIZE, b, off, cap, i);
        continue;
      }
      // flannel accepts datagrams from anyone; vxtap only from its peers.
      const known = this.peers.has(addrs[i]);
      // A GRO train holds datagrams of segs[i] bytes (the last may be shorter).
      const step = gro && segs[i] > 0 ? segs[i] : dlen;
      const end = off + dlen;
      let p = off;
      do {
        this.toTun(b, p, Math.min(step, end - p), i, known, mirror); // an empty datagram is looked at once
        p += step;
      } while (p < end);
    }
    this.flushTun(this.toTunQ, b);
  }

  /** One datagram, b[off, +dlen), of received message i: an IPv4 packet bound for the TUN. */
  private toTun(b: Buffer, off: number, dlen: number, i: number, known: boolean, mirror: boolean): void {
    if (mirror) {
      const rx = this.udpRx!;
      this.capture.datagram(OVERLAY_WIRE_RX, b, off, dlen, rx.addrs[i], rx.ports[i], this.spec.local, this.spec.port, NO_REASON);
    }
    if (!known) {
      this.dropDatagram(DROP_UNKNOWN_SENDER, b, off, dlen, i);
      return;
    }
    const err = ipv4Check(b, off, dlen);
    if (err !== 0) {
      this.dropDatagram(ipDropReason(err), b, off, dlen, i);
      return;
    }
    if (!decrementIpv4Ttl(b, off)) {
      this.dropDatagram(DROP_TTL_EXPIRED, b, off, dlen, i);
      return;
    }
    const len = getIpv4TotalLength(b, off);
    if (!this.toTunQ.push(off, len)) {
      // Full (GRO trains fill it faster than one packet a datagram): write it out now.
      this.flushTun(this.toTunQ, b);
      this.toTunQ.push(off, len);
    }
    this.counters[RX_PACKETS]++;
    this.counters[RX_BYTES] += len;
  }

  private flushTun(q: FrameQueue, b: Buffer): void {
    const queued = q.n;
    if (queued === 0) return;
    const lost = q.flush(this.tun!, b, this.tunWrite);
    if (lost > 0) countWriteFailures(this.drops, q.status, queued);
    if (this.capture.active) this.mirrorWritten(q, b, queued, lost > 0);
  }

  /**
   * tap-tx for each packet of the last write that went out (one by one, also
   * where the write merged TCP segments), the drop point for each that did
   * not (dev_busy, or dev_error: countWriteFailures counted it).
   */
  private mirrorWritten(q: FrameQueue, b: Buffer, queued: number, failed: boolean): void {
    const { offs, lens, status } = q;
    for (let i = 0; i < queued; i++) {
      const e = failed ? status[i] : 0;
      if (e === 0) this.capture.frame(TUN_TX, b, offs[i], lens[i], -1, NO_REASON);
      else this.capture.frame(OVERLAY_DROP, b, offs[i], lens[i], -1, writeDropReason(e));
    }
  }

  /** Counts a drop of an IP packet from or for the TUN; a capture gets the packet. */
  private dropPacket(reason: number, b: Buffer, off: number, len: number): void {
    this.drops[reason]++;
    if (this.capture.active) this.capture.frame(OVERLAY_DROP, b, off, len, -1, reason);
  }

  /** Counts a drop of a datagram from received message i; a capture gets it behind its outer headers. */
  private dropDatagram(reason: number, b: Buffer, off: number, len: number, i: number): void {
    this.drops[reason]++;
    if (this.capture.active) {
      const rx = this.udpRx!;
      this.capture.datagram(OVERLAY_DROP, b, off, len, rx.addrs[i], rx.ports[i], this.spec.local, this.spec.port, reason);
    }
  }

  // ---- control plane views -----------------------------------------------

  stats(): object {
    const c = this.counters;
    return {
      udp: {
        dev: this.spec.dev,
        rx_packets: c[RX_PACKETS], rx_bytes: c[RX_BYTES], tx_packets: c[TX_PACKETS], tx_bytes: c[TX_BYTES],
        unreachable_sent: c[UNREACHABLE_SENT], partial_csums: this.tun?.partialChecksums ?? 0, routes: this.routes.size,
        offloads: this.offloads,
      },
      drops: dropsToRecord(this.drops),
      rx_stopped: this.rxErrors.stopped,
      capture: this.capture.stats(),
    };
  }

  routeRows(): Array<{ subnet: string; peer: string; port: number }> {
    return this.routes.routes().map((r) => ({ subnet: `${formatIpv4Addr(r.addr)}/${r.len}`, peer: formatIpv4Addr(r.peer), port: r.port }));
  }
}
