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
// coalesces TCP segments. Every drop goes through dropFrame (an IP packet
// from or for the TUN) or dropDatagram (a received datagram), which count it
// and mirror it (dataplane/pipeline.ts).
import { CaptureHub } from '../capture/hub.js';
import { NeighbourTable } from '../capture/neighbours.js';
import { NO_REASON, OVERLAY_BASE, OVERLAY_DROP, OVERLAY_WIRE_TX, TUN_RX } from '../capture/points.js';
import {
  DROP_BAD_IP_HEADER, DROP_BAD_IP_LENGTH, DROP_BAD_IP_VERSION, DROP_NO_ROUTE, DROP_RX_ERROR,
  DROP_TRUNCATED, DROP_TTL_EXPIRED, countSendFailures, dropsToRecord, sendDropReason,
} from '../core/drops.js';
import { openOrClose } from '../dataplane/lifecycle.js';
import { openPipelineDevice, Pipeline, wireWriteMode } from '../dataplane/pipeline.js';
import { configureLink, ipBatch } from '../io/device.js';
import { type NativeEndpoint, WriteMode } from '../io/native.js';
import { capDeviceSegments, TsoSplitter } from '../io/offload.js';
import { BATCH, type RxBatch, SlabPool, slotSizeFor } from '../io/pool.js';
import { DatagramQueue, DEVICE_QUEUE, FrameQueue } from '../io/queues.js';
import { RouteTable, type Route } from '../switch/routes.js';
import { formatIpv4Addr } from '../wire/ipaddr.js';
import {
  IPV4_ERR_IHL, IPV4_ERR_TOTAL_LENGTH, IPV4_ERR_VERSION, decrementIpv4Ttl, getIpv4Dst, getIpv4TotalLength, ipv4Check,
} from '../wire/ipv4.js';
import { UNREACHABLE_MAX, wantsUnreachable, writeNetUnreachable } from './unreachable.js';

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

export class UdpOverlay extends Pipeline {
  readonly counters = new Float64Array(5);
  readonly routes = new RouteTable();
  private tun: NativeEndpoint | null = null;
  private tunRx: RxBatch | null = null;
  /** A GRO train of up to 64 segments per datagram: room for a batch of them. */
  private readonly toTunQ = new FrameQueue(DEVICE_QUEUE);
  private readonly replies = new FrameQueue(BATCH);
  private readonly replySlab = Buffer.alloc(BATCH * UNREACHABLE_MAX);
  private readonly sendq = new DatagramQueue(BATCH * 2, 0);
  readonly offloads: OverlayOffloads = { tunVnetHdr: false, tunTso: false, tunUso: false, udpGso: false, udpGro: false, tunGsoMaxSegs: 0 };
  private tunWrite = WriteMode.Plain;

  /**
   * `capture`: a hub to mirror through (a VTEP's in the same process); by
   * default one of its own. Only the routes' peers may send (flannel accepts
   * datagrams from anyone).
   */
  constructor(readonly spec: UdpOverlaySpec, capture?: CaptureHub) {
    super(capture ?? new CaptureHub(null, new NeighbourTable(spec.local)), OVERLAY_BASE, spec.local, spec.port, true);
    for (const r of spec.routes) this.setRoute(r);
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
    const u = this.openUnderlay(0, spec.offload);
    off.udpGso = u.gso;
    off.udpGro = u.gro;
    const dev = openPipelineDevice(spec.dev, false, spec.offload);
    this.tun = dev.endpoint;
    off.tunVnetHdr = spec.offload;
    off.tunTso = dev.tso;
    off.tunUso = dev.uso;
    if (off.tunTso) this.splitter = new TsoSplitter(BATCH);
    this.tunWrite = wireWriteMode(off.tunVnetHdr, off.tunUso);

    // TSO super-frames and GRO trains are up to 64 KiB; a TUN frame's vnet
    // header sits at the start of its slot.
    const headroom = off.tunVnetHdr ? 16 : 0;
    const tunSlot = slotSizeFor(headroom, off.tunTso ? MAX_DATAGRAM : spec.mtu);
    const udpSlot = slotSizeFor(0, MAX_DATAGRAM);
    const pool = new SlabPool(BATCH * (tunSlot + udpSlot));
    const udpRx = pool.batch(udpSlot, 0, BATCH);
    this.tunRx = pool.batch(tunSlot, headroom, BATCH);
    configureLink(dev.name, { mtu: spec.mtu, address: spec.cidr, up: true });
    if (off.tunTso && off.udpGso) off.tunGsoMaxSegs = capDeviceSegments(dev.name, spec.mtu);
    if (spec.kernelRoutes && spec.routes.length > 0) {
      ipBatch(spec.routes.map((r) => `route replace ${formatIpv4Addr(r.addr)}/${r.len} dev ${dev.name}`), `routing into ${dev.name}`);
    }
    this.startWireRx(udpRx);
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
    if (old >= 0) this.trusted.remove(this.routes.peer[old]);
    this.routes.set(r.addr, r.len, r.peer, r.port);
    this.trusted.add(r.peer);
  }

  /** Removes a route; its peer stays trusted while other routes use it. */
  deleteRoute(addr: number, len: number): boolean {
    const i = this.routes.lookupExact(addr, len);
    if (i < 0) return false;
    this.trusted.remove(this.routes.peer[i]);
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
        this.dropFrame(ipDropReason(err), b, off, rx.lens[i], -1);
        continue;
      }
      const len = getIpv4TotalLength(b, off);
      const r = routes.lookup(getIpv4Dst(b, off));
      if (r < 0) {
        this.dropFrame(DROP_NO_ROUTE, b, off, len, -1);
        if (wantsUnreachable(b, off)) this.reply(b, off, len);
        continue;
      }
      // The TTL step happens once on a super-frame: every segment copies it.
      if (!decrementIpv4Ttl(b, off)) {
        this.dropFrame(DROP_TTL_EXPIRED, b, off, len, -1);
        continue;
      }
      // A TSO super-frame (the vnet header's gso_type), or a packet after one:
      // split (or copied whole) after the batch, so that none overtakes another.
      if (splitter !== null && (b[off - rx.headroom + 1] !== 0 || splitter.n > 0)) {
        splitter.push(off, len, r);
        continue;
      }
      q.push(off, len, routes.peer[r], routes.port[r]);
      this.counters[TX_PACKETS]++;
      this.counters[TX_BYTES] += len;
    }
    this.flushWire(b);
    if (splitter !== null) this.sendSegments(b, splitter, splitter.split(b, rx.headroom, false, null), -1);
    this.flushTun(this.replies, this.replySlab);
  }

  /** A train of split frame j to the peer of the route it was queued with. */
  protected sendTrain(s: TsoSplitter, j: number, off: number, len: number, gso: number, packets: number): void {
    const q = this.sendq;
    const r = s.tag[j];
    if (q.full) this.flushWire(s.out);
    q.push(off, len, this.routes.peer[r], this.routes.port[r], gso);
    this.counters[TX_PACKETS] += packets;
    this.counters[TX_BYTES] += len;
  }

  protected flushWire(b: Buffer): void {
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

  protected endWireBatch(b: Buffer): void {
    this.flushTun(this.toTunQ, b);
  }

  /** One datagram, b[off, +dlen), of received message i: an IPv4 packet bound for the TUN. */
  protected fromWire(b: Buffer, off: number, dlen: number, i: number): void {
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
    this.flushDevice(q, this.tun!, b, this.tunWrite, 0, -1);
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
