// Offload features, probed per descriptor at start-up, and the TSO splitter.
//
// With offloads on, a TAP/TUN hands vxtap TSO and USO super-frames (up to
// 64 KiB of one TCP flow, or of equal UDP datagrams, with a virtio-net
// header) and takes coalesced TCP ones back; UDP
// sockets send a train of equal-size datagrams in one call (UDP_SEGMENT) and
// receive a train as one buffer (UDP_GRO). Each feature the kernel lacks is
// turned off on its own and the rest keep working.
import { ipBatch } from './device.js';
import { addon, TUN_F_CSUM, TUN_F_TSO4, TUN_F_TSO6, TUN_F_USO4, TUN_F_USO6 } from './native.js';

export interface UdpOffloads {
  gso: boolean;
  gro: boolean;
}

export interface DeviceOffloads {
  /** TCP super-frames (TSO4/TSO6). */
  tso: boolean;
  /** UDP super-frames (USO4/USO6, Linux 6.2 and later). */
  uso: boolean;
}

/**
 * Asks a vnet TAP/TUN for checksum offload and TSO, and USO where the kernel
 * has it (older kernels refuse the USO flags with EINVAL).
 */
export function enableDeviceOffloads(fd: number): DeviceOffloads {
  const tso = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
  if (addon.setOffload(fd, tso | TUN_F_USO4 | TUN_F_USO6) === 0) return { tso: true, uso: true };
  if (addon.setOffload(fd, tso) === 0) return { tso: true, uso: false };
  addon.setOffload(fd, 0);
  return { tso: false, uso: false };
}

/** Turns on UDP GRO and probes UDP GSO on a UDP socket. */
export function enableUdpOffloads(fd: number): UdpOffloads {
  return { gro: addon.setUdpOption(fd, 'gro', 1) === 0, gso: addon.setUdpOption(fd, 'gso', 0) === 0 };
}

/** Room for one split super-frame: 64 KiB of payload plus a header copy per segment. */
const SPLIT_ROOM = 72 * 1024;
/** Segments a batch may produce (a 64 KiB frame at an MSS of 536 gives 123). */
const MAX_SEGMENTS = 16384;

/**
 * Collects the TSO super-frames of one receive batch, then splits them all
 * with one native call. Segments of frame j are contiguous in `out` at a
 * fixed stride, so they can go out as one UDP GSO send. A frame without GSO
 * pushed here (one that follows a super-frame in the batch) is copied whole,
 * as one segment, and leaves in its place among them.
 */
export class TsoSplitter {
  readonly out: Buffer;
  readonly segOffs = new Uint32Array(MAX_SEGMENTS);
  readonly segLens = new Uint32Array(MAX_SEGMENTS);
  readonly counts: Uint32Array;
  readonly strides: Uint32Array;
  /** The queued super-frames (still readable after split(), e.g. to mirror one that could not be split). */
  readonly inOffs: Uint32Array;
  readonly inLens: Uint32Array;
  /** Caller data per queued frame (e.g. a route or FDB slot). */
  readonly tag: Int32Array;
  n = 0;

  constructor(readonly capacity: number) {
    this.out = Buffer.allocUnsafe(capacity * SPLIT_ROOM);
    this.counts = new Uint32Array(capacity);
    this.strides = new Uint32Array(capacity);
    this.inOffs = new Uint32Array(capacity);
    this.inLens = new Uint32Array(capacity);
    this.tag = new Int32Array(capacity);
  }

  /**
   * Bytes of the m segments from segment `first` on, which lie back to back at
   * `stride` (only the last may be shorter): one UDP GSO send.
   */
  trainBytes(first: number, m: number, stride: number): number {
    return (m - 1) * stride + this.segLens[first + m - 1];
  }

  /** Queues the super-frame at src[off, +len). */
  push(off: number, len: number, tag: number): void {
    const n = this.n++;
    this.inOffs[n] = off;
    this.inLens[n] = len;
    this.tag[n] = tag;
  }

  /**
   * Whether unsplit frame j (counts[j] 0) could have been split but its
   * segments did not fit what was left of `out` or of the segment arrays;
   * otherwise the frame itself cannot be split.
   */
  noRoom(j: number): boolean {
    return this.strides[j] > 0;
  }

  /**
   * Splits every queued frame of `src` (Ethernet frames if `ethernet`, else
   * IP packets; each frame's virtio-net header `hdrBack` bytes before it),
   * each segment after a copy of `prefix`. Returns how many frames were
   * queued; counts[j] is 0 for a frame that was not split (see noRoom).
   */
  split(src: Buffer, hdrBack: number, ethernet: boolean, prefix: Buffer | null): number {
    const n = this.n;
    this.n = 0;
    if (n > 0) {
      addon.tsoSplit(src, hdrBack, this.inOffs, this.inLens, n, ethernet, prefix, this.out, this.segOffs, this.segLens, this.counts, this.strides);
    }
    return n;
  }
}


/** UDP payload a single send can carry: 65535 - IPv4 (20) - UDP (8). */
const MAX_GSO_BYTES = 65507;
/** The kernel's cap on segments per UDP GSO send (UDP_MAX_SEGMENTS in older kernels). */
const MAX_GSO_SEGMENTS = 64;

/** How many `stride`-byte datagrams one UDP GSO send may carry. */
export function gsoSegmentsPerSend(stride: number): number {
  return Math.max(1, Math.min(MAX_GSO_SEGMENTS, Math.floor(MAX_GSO_BYTES / stride)));
}

/**
 * Caps the super-frames the kernel hands a TSO device at the segments one
 * UDP GSO send carries, each segment leaving as a datagram of at most
 * `datagram` bytes (gso_max_segs), so that a super-frame goes as one train
 * instead of a full one and a short one. Returns the cap, or 0 where the
 * kernel or iproute2 cannot set it and the device keeps its default.
 */
export function capDeviceSegments(dev: string, datagram: number): number {
  const cap = segmentCap(dev, datagram);
  try {
    ipBatch([cap.cmd], cap.what);
    return cap.segs;
  } catch {
    return 0;
  }
}

/** capDeviceSegments' iproute2 command, for a caller that runs it asynchronously (ipBatchAsync). */
export function segmentCap(dev: string, datagram: number): { cmd: string; what: string; segs: number } {
  const segs = gsoSegmentsPerSend(datagram);
  return { cmd: `link set dev ${dev} gso_max_segs ${segs}`, what: `capping ${dev}'s GSO segments`, segs };
}
