// What the two pipelines (vxlan/vtep.ts, udp/overlay.ts) share, written
// once so they cannot drift apart: the underlay socket and its receive walk
// through GRO trains, the send of split super-frames as UDP GSO trains,
// device writes, the offload probing at start-up, and the drop and mirror
// calls. Each pipeline says what a datagram means to it (fromWire) and how
// a train is addressed (sendTrain).
//
// A pipeline mirrors at its five capture points (points.ts): the VXLAN one
// at channels 0-4, the udp overlay at OVERLAY_BASE + 0-4. `capture.active`
// is read once per batch or flush; while no capture is attached that check
// is all the mirroring costs. Everything here runs per batch with no
// allocation: methods on the pipeline, typed arrays, no closures.
import type { CaptureHub } from '../capture/hub.js';
import { DROP, NO_REASON, TAP_TX, WIRE_RX } from '../capture/points.js';
import {
  DROP_BAD_GSO, DROP_OVERSIZE, DROP_RX_ERROR, DROP_TSO_NO_ROOM, DROP_UNKNOWN_SENDER, countWriteFailures, newDropCounters,
  writeDropReason,
} from '../core/drops.js';
import { type Device, openDevice } from '../io/device.js';
import { type NativeEndpoint, WriteMode } from '../io/native.js';
import { enableDeviceOffloads, enableUdpOffloads, gsoSegmentsPerSend, type TsoSplitter, type UdpOffloads } from '../io/offload.js';
import type { RxBatch } from '../io/pool.js';
import type { FrameQueue } from '../io/queues.js';
import { openUdpSocket } from '../io/socket.js';
import { TrustedAddresses } from '../switch/trust.js';
import { formatIpv4Addr } from '../wire/ipaddr.js';
import { RxErrors } from './rxerrors.js';

/** A TAP or TUN as a pipeline opens it, and the offloads it took. */
export interface PipelineDevice extends Device {
  /** TCP super-frames (TSO). */
  tso: boolean;
  /** UDP super-frames (USO). */
  uso: boolean;
}

/**
 * Opens a TAP (`tap`) or TUN; with offloads, with a virtio-net header and
 * TSO, and USO where the kernel has it.
 */
export function openPipelineDevice(name: string, tap: boolean, offload: boolean, multiQueue = false): PipelineDevice {
  const dev = openDevice(name, { tap, vnetHdr: offload, multiQueue });
  const d = offload ? enableDeviceOffloads(dev.endpoint.fd) : { tso: false, uso: false };
  return { ...dev, ...d };
}

/**
 * How packets from the wire are written to a device: TCP segments (and UDP
 * datagrams where the device takes USO) merged into super-frames behind a
 * virtio-net header, or one by one without offloads.
 */
export function wireWriteMode(offload: boolean, uso: boolean): WriteMode {
  return !offload ? WriteMode.Plain : uso ? WriteMode.CoalesceUdp : WriteMode.Coalesce;
}

export abstract class Pipeline {
  readonly drops = newDropCounters();
  /** Receive errors, reported once per descriptor (set onError to log them). */
  readonly rxErrors = new RxErrors();
  /** Which offloads are active, as probed at start-up; both pipelines have at least these. */
  abstract readonly offloads: { udpGso: boolean; udpGro: boolean };
  /** Underlay addresses accepted with `trustedOnly`, counted per use so that trust nests. */
  protected readonly trusted = new TrustedAddresses();
  protected udp: NativeEndpoint | null = null;
  protected udpRx: RxBatch | null = null;
  protected splitter: TsoSplitter | null = null;
  /** The message of the wire batch being walked that the flow cache missed (a pipeline may install it), or -1. */
  protected wireMiss = -1;
  private readonly tapTxPoint: number;
  private readonly wireRxPoint: number;
  private readonly dropPoint: number;

  constructor(
    /** The process's capture hub. */
    readonly capture: CaptureHub,
    /** The pipeline's first capture channel: 0, or OVERLAY_BASE. */
    channels: number,
    /** The underlay address (uint32) and UDP port it receives on. */
    protected readonly local: number,
    protected readonly localPort: number,
    /** Accept datagrams only from `trusted` senders. */
    private readonly trustedOnly: boolean,
  ) {
    this.tapTxPoint = channels + TAP_TX;
    this.wireRxPoint = channels + WIRE_RX;
    this.dropPoint = channels + DROP;
  }

  /** One datagram b[off, +len) of received message i, from a sender it accepts; udpSize as in onWire. */
  protected abstract fromWire(b: Buffer, off: number, len: number, i: number, udpSize: number): void;

  /** Writes out what a receive batch from the wire queued. */
  protected abstract endWireBatch(b: Buffer): void;

  /** Queues a train of `packets` datagrams (of `gso` bytes each, 0: one datagram) for split frame j of `s`. */
  protected abstract sendTrain(s: TsoSplitter, j: number, off: number, len: number, gso: number, packets: number): void;

  /** Sends what the send queues hold, payloads from `b`. */
  protected abstract flushWire(b: Buffer): void;

  /** Called before a receive batch from the wire is walked. */
  protected beginWireBatch(): void {}

  /** Whether a GRO message b[off, +len) of `seg`-byte segments is one datagram after all (vtep.ts: a super-frame inside). */
  protected oneDatagram(_b: Buffer, _off: number, _len: number, _seg: number): boolean {
    return false;
  }

  /**
   * Binds the underlay socket on local:port (`flags` as openUdpSocket) and,
   * with offloads, turns on UDP GRO and probes UDP GSO.
   */
  protected openUnderlay(flags: number, offload: boolean): UdpOffloads {
    this.udp = openUdpSocket(formatIpv4Addr(this.local), this.localPort, 'local', flags);
    return offload ? enableUdpOffloads(this.udp.fd) : { gso: false, gro: false };
  }

  /** Starts receiving from the underlay into `rx`, GRO trains as whole messages where the socket has GRO. */
  protected startWireRx(rx: RxBatch): void {
    this.udpRx = rx;
    this.udp!.startRx(rx.slab, rx.slotSize, rx.headroom, rx.budget, rx.lens, rx.addrs, rx.ports,
      this.offloads.udpGro ? rx.segs : null, (n, stopped, start, missed) => this.onWire(n, stopped, start, missed));
  }

  /**
   * A receive batch from the underlay. A GRO message holds datagrams of
   * segs[i] bytes (the last may be shorter), walked one by one; each is
   * mirrored at wire-rx, refused when its sender is not trusted, else
   * handed to fromWire. The sender is looked up once per message. Messages
   * before `start` were forwarded by the socket's flow cache.
   */
  private onWire(n: number, stopped: boolean, start: number, missed: boolean): void {
    if (n < 0) {
      this.drops[DROP_RX_ERROR]++;
      this.rxErrors.report(`udp ${formatIpv4Addr(this.local)}:${this.localPort}`, n, stopped);
      return;
    }
    const rx = this.udpRx!;
    const b = rx.slab;
    const lens = rx.lens;
    const segs = rx.segs;
    const gro = this.offloads.udpGro;
    const cap = rx.capacity;
    const mirror = this.capture.active;
    const trustedOnly = this.trustedOnly;
    this.beginWireBatch();
    this.wireMiss = missed ? start : -1;
    for (let i = start; i < n; i++) {
      const off = rx.offset(i);
      const len = lens[i];
      if (len > cap) {
        // A datagram cut off at the slot size is mirrored as far as it was received.
        if (mirror) this.mirrorReceived(b, off, cap, i);
        this.dropDatagram(DROP_OVERSIZE, b, off, cap, i);
        continue;
      }
      const known = !trustedOnly || this.trusted.has(rx.addrs[i]);
      const seg = gro ? segs[i] : 0;
      if (seg === 0 || seg >= len || this.oneDatagram(b, off, len, seg)) {
        this.received(b, off, len, i, mirror, known, seg); // an empty datagram is looked at once
        continue;
      }
      const end = off + len;
      for (let p = off; p < end; p += seg) this.received(b, p, Math.min(seg, end - p), i, mirror, known, 0);
    }
    this.endWireBatch(b);
  }

  private received(b: Buffer, off: number, len: number, i: number, mirror: boolean, known: boolean, udpSize: number): void {
    if (mirror) this.mirrorReceived(b, off, len, i);
    if (known) this.fromWire(b, off, len, i, udpSize);
    else this.dropDatagram(DROP_UNKNOWN_SENDER, b, off, len, i);
  }

  /**
   * Sends the segments of `frames` super-frames split out of `src` (where
   * they were read; a frame that could not be split is counted and mirrored
   * from there, as bad_gso or tso_no_room), as UDP GSO trains where the
   * socket has GSO.
   */
  protected sendSegments(src: Buffer, s: TsoSplitter, frames: number, vni: number): void {
    if (frames === 0) return;
    const gso = this.offloads.udpGso;
    let seg = 0;
    for (let j = 0; j < frames; j++) {
      const count = s.counts[j];
      if (count === 0) {
        this.dropFrame(s.noRoom(j) ? DROP_TSO_NO_ROOM : DROP_BAD_GSO, src, s.inOffs[j], s.inLens[j], vni);
        continue;
      }
      const stride = s.strides[j];
      const per = gso ? gsoSegmentsPerSend(stride) : 1;
      for (let k = 0; k < count; k += per) {
        const m = Math.min(per, count - k);
        const first = seg + k;
        this.sendTrain(s, j, s.segOffs[first], s.trainBytes(first, m, stride), m > 1 ? stride : 0, m);
      }
      seg += count;
    }
    this.flushWire(s.out);
  }

  /**
   * Writes a device queue (payloads in `b`; `mode` and `hdrBack` place the
   * virtio-net headers) and returns how many frames went out. Those that did
   * not are counted by their errno (dev_busy, dev_error); a capture gets
   * tap-tx for each written frame and the drop point for each other. `vni` is
   * the frames' network, -1 for none.
   */
  protected flushDevice(q: FrameQueue, ep: NativeEndpoint, b: Buffer, mode: WriteMode, hdrBack: number, vni: number): number {
    const queued = q.n;
    if (queued === 0) return 0;
    const lost = q.flush(ep, b, mode, hdrBack);
    if (lost > 0) countWriteFailures(this.drops, q.status, queued);
    if (this.capture.active) {
      const { offs, lens, status } = q;
      for (let i = 0; i < queued; i++) {
        const e = lost > 0 ? status[i] : 0;
        if (e === 0) this.capture.frame(this.tapTxPoint, b, offs[i], lens[i], vni, NO_REASON);
        else this.capture.frame(this.dropPoint, b, offs[i], lens[i], vni, writeDropReason(e));
      }
    }
    return queued - lost;
  }

  /** wire-rx: b[off, +len) of received message i, behind outer headers from its sender to us. */
  private mirrorReceived(b: Buffer, off: number, len: number, i: number): void {
    const rx = this.udpRx!;
    this.capture.datagram(this.wireRxPoint, b, off, len, rx.addrs[i], rx.ports[i], this.local, this.localPort, NO_REASON);
  }

  /** Counts a drop of a frame (or packet) from or for a device; a capture gets it as it is. */
  protected dropFrame(reason: number, b: Buffer, off: number, len: number, vni: number): void {
    this.drops[reason]++;
    if (this.capture.active) this.capture.frame(this.dropPoint, b, off, len, vni, reason);
  }

  /** Counts a drop of a datagram of received message i; a capture gets it behind its outer headers. */
  protected dropDatagram(reason: number, b: Buffer, off: number, len: number, i: number): void {
    this.drops[reason]++;
    if (this.capture.active) {
      const rx = this.udpRx!;
      this.capture.datagram(this.dropPoint, b, off, len, rx.addrs[i], rx.ports[i], this.local, this.localPort, reason);
    }
  }
}
