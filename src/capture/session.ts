// One attached capture: a control-socket connection turned into a pcapng
// stream. The data path writes matching frames as Enhanced Packet Blocks into
// the session's preallocated ring and returns; the ring drains to the socket
// one chunk at a time, at the pace the reader reads. When the ring is full,
// frames are counted as lost and never wait.
//
// The stream is one section: a Section Header Block, one Interface
// Description Block per channel (a pipeline's point) asked for, the packets, and, when the client
// half-closes the connection (or the instance stops), one Interface Statistics
// Block per point with the frames that matched (isb_ifrecv) and those lost
// (isb_ifdrop), so the file itself says whether it is complete.
import type { Socket } from 'node:net';
import { z } from 'zod';
import { formatPath, VxtapError } from '../core/errors.js';
import { DROP_NAMES } from '../core/drops.js';
import { VNI_MAX } from '../wire/vxlan.js';
import type { FramePredicate } from './filter.js';
import { commentOption, epbLength, interfaceDescription, interfaceStatistics, sectionHeader, writeEpb } from './pcapng.js';
import { CHANNELS, NO_REASON, POINTS } from './points.js';
import { ByteRing } from './ring.js';

/** tcpdump's default and largest snap length. */
const MAX_SNAPLEN = 262144;
/** Per session, in KiB (tcpdump's -B unit): about 2,700 full-size frames of slack for a reader that falls behind. */
export const DEFAULT_BUFFER_KIB = 4096;
/** A ring must hold the largest EPB (snap length 262144) with room to spare. */
const MIN_BUFFER_KIB = 512;

const captureRequestSchema = z.strictObject({
  cmd: z.literal('capture'),
  points: z.array(z.enum(POINTS)).min(1).optional(),
  vni: z.number().int().min(0).max(VNI_MAX).optional(),
  filter: z.string().optional(),
  snaplen: z.number().int().min(1).max(MAX_SNAPLEN).optional(),
  nano: z.boolean().optional(),
  /** Ring size in KiB. */
  buffer: z.number().int().min(MIN_BUFFER_KIB).max(1 << 20).optional(),
});
export type CaptureRequest = z.infer<typeof captureRequestSchema>;

/**
 * Validates a capture request (the instance does, and the CLI before sending
 * it); errors name the field, or what `describe` makes of it (a flag).
 */
export function parseCaptureRequest(raw: unknown, describe = (field: string) => `capture: ${field}`): CaptureRequest {
  const r = captureRequestSchema.safeParse(raw);
  if (r.success) return r.data;
  const i = r.error.issues[0];
  const msg = i.code === 'unrecognized_keys' ? `unknown field(s) ${i.keys.join(', ')}` : i.message;
  throw new VxtapError('E_USAGE', `${describe(formatPath(i.path))}: ${msg}`);
}

/** Each drop reason's comment option, encoded once. */
const DROP_COMMENTS = DROP_NAMES.map((name) => commentOption(name));

const TWO_32 = 2 ** 32;

/** One interface of the stream: a channel (points.ts) and how its IDB describes it. */
export interface ChannelSpec {
  channel: number;
  name: string;
  description: string;
  linktype: number;
}

export class CaptureSession {
  /** Bit c set: the session takes channel c. */
  readonly mask: number;
  /** Per channel: frames that matched, and of those, frames lost to a full ring. */
  readonly matched = new Float64Array(CHANNELS);
  readonly lost = new Float64Array(CHANNELS);
  private readonly ifIds = new Int32Array(CHANNELS).fill(-1);
  private readonly ring: ByteRing;
  private readonly snaplen: number;
  // Timestamps are units since the epoch in two 32-bit halves: the origin is
  // read once (exactly, as a BigInt), each frame adds the monotonic clock.
  private readonly unitsPerMs: number;
  private readonly originHi: number;
  private readonly originLo: number;
  private tsHi = 0;
  private tsLo = 0;
  private scheduled = false;
  /** Taking frames from the data path. */
  private attached = true;
  /** Sending what is left, then the statistics. */
  private finishing = false;
  /** The socket is done with: nothing more is written. */
  private ended = false;

  constructor(
    private readonly sock: Socket,
    readonly request: CaptureRequest,
    /** The interfaces, in order: one per channel the session takes. */
    channels: readonly ChannelSpec[],
    /** The filter for Ethernet channels, and for raw IP ones. */
    readonly filter: FramePredicate,
    readonly rawFilter: FramePredicate,
    /** Called once when the session stops taking frames. */
    private readonly onDetach: (s: CaptureSession) => void,
  ) {
    this.mask = channels.reduce((m, c) => m | (1 << c.channel), 0);
    channels.forEach((c, i) => (this.ifIds[c.channel] = i));
    this.snaplen = request.snaplen ?? MAX_SNAPLEN;
    this.ring = new ByteRing((request.buffer ?? DEFAULT_BUFFER_KIB) * 1024);
    const nano = request.nano ?? false;
    this.unitsPerMs = nano ? 1e6 : 1e3;
    const origin = BigInt(Math.round(performance.timeOrigin * 1000)) * (nano ? 1000n : 1n);
    this.originHi = Number(origin >> 32n);
    this.originLo = Number(origin & 0xffffffffn);
    sock.write(Buffer.concat([
      sectionHeader('vxtap'),
      ...channels.map((c) => interfaceDescription({
        linktype: c.linktype, snaplen: this.snaplen, name: c.name, description: c.description, nano,
      })),
    ]));
    // The client half-closes to stop: finish the stream. A reset or error just ends it.
    sock.on('end', () => this.finish());
    sock.on('close', () => {
      this.ended = true;
      this.detach();
    });
    sock.on('error', () => sock.destroy());
    sock.resume(); // nothing more is read, but 'end' only comes to a flowing stream
    // A client that half-closed right after its request line did so before
    // this listener existed (the hub awaits the MAC table first): 'end' is
    // not emitted twice, so finish now, once the hub has taken the session.
    if (sock.readableEnded) queueMicrotask(() => this.finish());
  }

  /** Copies a frame seen at channel `point` into the ring as an EPB, or counts it lost. Never waits. */
  record(point: number, b: Uint8Array, off: number, len: number, reason: number): void {
    this.matched[point]++;
    const cap = len < this.snaplen ? len : this.snaplen;
    const opts = reason === NO_REASON ? null : DROP_COMMENTS[reason];
    const n = epbLength(cap, opts === null ? 0 : opts.length);
    const at = this.ring.reserve(n);
    if (at < 0) {
      this.lost[point]++;
      return;
    }
    this.stamp();
    writeEpb(this.ring.buf, at, this.ifIds[point], this.tsHi, this.tsLo, b, off, cap, len, opts);
    this.ring.commit(n);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.drain);
    }
  }

  private stamp(): void {
    const lo = this.originLo + Math.round(performance.now() * this.unitsPerMs);
    const carry = Math.floor(lo / TWO_32);
    this.tsHi = this.originHi + carry;
    this.tsLo = lo - carry * TWO_32;
  }

  /** Hands the next chunk of the ring to the socket; its callback releases it and drains on. */
  private readonly drain = (): void => {
    this.scheduled = false;
    if (this.ended) return;
    const at = this.ring.take();
    if (at >= 0) this.sock.write(this.ring.buf.subarray(at, at + this.ring.taken), this.written);
    else if (this.finishing && this.ring.empty) this.end();
  };

  private readonly written = (err?: Error | null): void => {
    if (err) return; // 'close' follows and detaches the session
    this.ring.release();
    this.drain();
  };

  /** Stops taking frames, sends what the ring holds and the statistics, then ends the stream. */
  finish(): void {
    this.detach();
    this.finishing = true;
    this.drain();
  }

  private end(): void {
    this.ended = true;
    this.stamp();
    const stats: Buffer[] = [];
    for (let c = 0; c < CHANNELS; c++) {
      if (this.ifIds[c] >= 0) stats.push(interfaceStatistics(this.ifIds[c], this.tsHi, this.tsLo, this.matched[c], this.lost[c]));
    }
    this.sock.end(Buffer.concat(stats));
  }

  private detach(): void {
    if (!this.attached) return;
    this.attached = false;
    this.onDetach(this);
  }
}
