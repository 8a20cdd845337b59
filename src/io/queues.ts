// Transmit queues: descriptors (offset, length, destination) of packets that
// stay in their receive slots. A batch fills the queues, then each queue is
// flushed with one native call. Nothing is copied.
import { type NativeEndpoint, WriteMode } from './native.js';
import { BATCH } from './pool.js';

/**
 * Frames per device write call. A receive batch of UDP GRO trains can carry
 * far more than BATCH frames (up to 64 segments a datagram), so a full queue
 * is written out mid-batch rather than dropped; four batches' worth keeps a
 * coalesced 64 KiB run from being cut more than about once per ten.
 */
export const DEVICE_QUEUE = 4 * BATCH;

/** Frames bound for one TAP/TUN device. */
export class FrameQueue {
  readonly offs: Uint32Array;
  readonly lens: Uint32Array;
  /** Per frame: 0, or the payload size to cut a super-frame from the wire into (see writeFrames). */
  readonly gso: Uint16Array;
  /** Per frame of the last flush: 0 if written, else the errno (EAGAIN: the device queue was full). */
  readonly status: Int32Array;
  n = 0;

  constructor(readonly capacity: number) {
    this.offs = new Uint32Array(capacity);
    this.lens = new Uint32Array(capacity);
    this.gso = new Uint16Array(capacity);
    this.status = new Int32Array(capacity);
  }

  /** Returns false (and queues nothing) when the queue is full. */
  push(off: number, len: number, gso = 0): boolean {
    const n = this.n;
    if (n === this.capacity) return false;
    this.offs[n] = off;
    this.lens[n] = len;
    this.gso[n] = gso;
    this.n = n + 1;
    return true;
  }

  /**
   * Writes the queued frames from `buf`; returns how many could not be
   * written, each with its errno in `status` for the caller to count.
   * `hdrBack` places the virtio-net headers in InBuffer mode.
   */
  flush(ep: NativeEndpoint, buf: Buffer, mode: WriteMode = WriteMode.Plain, hdrBack = 0): number {
    const n = this.n;
    if (n === 0) return 0;
    this.n = 0;
    return n - ep.writeFrames(buf, this.offs, this.lens, n, mode, hdrBack, this.gso, this.status);
  }
}

/** Bytes reserved per message for headers written in front of the payload. */
export const HEADER_STRIDE = 32;

/**
 * Datagrams for one socket: a per-message header area (`hdr`, HEADER_STRIDE
 * bytes each) sent in front of a payload that stays in its receive slot.
 * Flooding sends one payload to many destinations this way.
 */
export class DatagramQueue {
  readonly hdr: Buffer;
  readonly offs: Uint32Array;
  readonly lens: Uint32Array;
  readonly addrs: Uint32Array;
  readonly ports: Uint16Array;
  readonly status: Int32Array;
  /** UDP GSO segment size per message; 0 sends the message as one datagram. */
  readonly gso: Uint16Array;
  n = 0;

  constructor(readonly capacity: number, readonly hdrLen: number) {
    this.hdr = Buffer.alloc(capacity * HEADER_STRIDE);
    this.offs = new Uint32Array(capacity);
    this.lens = new Uint32Array(capacity);
    this.addrs = new Uint32Array(capacity);
    this.ports = new Uint16Array(capacity);
    this.status = new Int32Array(capacity);
    this.gso = new Uint16Array(capacity);
  }

  get full(): boolean {
    return this.n === this.capacity;
  }

  /**
   * Queues a payload for addr:port, cut into `gso`-byte datagrams by the
   * kernel when gso > 0; returns the offset of its header in `hdr`. Check
   * `full` first.
   */
  push(off: number, len: number, addr: number, port: number, gso = 0): number {
    const n = this.n++;
    this.offs[n] = off;
    this.lens[n] = len;
    this.addrs[n] = addr;
    this.ports[n] = port;
    this.gso[n] = gso;
    return n * HEADER_STRIDE;
  }

  /**
   * Sends everything queued with payloads from `payload` and returns how many
   * went out. When fewer than the n queued did, status[0..n) holds each
   * message's errno (0 for sent) for the caller to count.
   */
  flush(ep: NativeEndpoint, payload: Buffer): number {
    const n = this.n;
    if (n === 0) return 0;
    this.n = 0;
    const sent = ep.sendDatagrams(
      this.hdrLen > 0 ? this.hdr : null, HEADER_STRIDE, this.hdrLen,
      payload, this.offs, this.lens, this.addrs, this.ports, n, this.status, this.gso,
    );
    if (sent < n) oversizeGsoAsEmsgsize(this.status, this.gso, n);
    return sent;
  }
}

const EINVAL = 22;
const EMSGSIZE = 90;

/**
 * A UDP GSO send whose segments are over the path MTU fails with EMSGSIZE
 * since Linux 6.13 (and the stable kernels that took the change), but with
 * EINVAL before. A GSO send from vxtap meets none of EINVAL's other causes
 * (over 64 segments, SO_NO_CHECK), so its EINVAL is reported as EMSGSIZE:
 * the packet was too big (tx_too_big) on every kernel.
 */
export function oversizeGsoAsEmsgsize(status: Int32Array, gso: Uint16Array, n: number): void {
  for (let i = 0; i < n; i++) if (status[i] === EINVAL && gso[i] > 0) status[i] = EMSGSIZE;
}
