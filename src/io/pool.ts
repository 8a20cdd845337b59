// Packet memory: fixed-size slots carved out of one preallocated slab per
// pool, each with headroom in front of the packet so an outer header can be
// written in place. Slots are handed out once at start-up as whole receive
// batches and reused for every batch after that: the data path allocates
// nothing per packet.

/** Bytes kept free in front of every received frame for encapsulation. */
export const HEADROOM = 64;

/** wireguard-go's IdealBatchSize: packets per native call. */
export const BATCH = 128;

const ALIGN = 64;

export function slotSizeFor(headroom: number, maxPacket: number): number {
  return Math.ceil((headroom + maxPacket) / ALIGN) * ALIGN;
}

/**
 * One receive batch: `budget` slots of `slotSize` bytes in `slab`; packet i
 * starts at i*slotSize + headroom. Native code fills lens (and, for sockets,
 * the source address and port) and JS reads them back.
 */
export class RxBatch {
  readonly lens: Uint32Array;
  readonly addrs: Uint32Array;
  readonly ports: Uint16Array;
  /** UDP GRO segment size of each datagram (0: one datagram). */
  readonly segs: Uint16Array;
  /** Largest packet that fits a slot; natives report cut-off datagrams as capacity + 1. */
  readonly capacity: number;

  constructor(
    readonly slab: Buffer,
    readonly slotSize: number,
    readonly headroom: number,
    readonly budget: number,
  ) {
    this.lens = new Uint32Array(budget);
    this.addrs = new Uint32Array(budget);
    this.ports = new Uint16Array(budget);
    this.segs = new Uint16Array(budget);
    this.capacity = slotSize - headroom;
  }

  offset(i: number): number {
    return i * this.slotSize + this.headroom;
  }
}

export class SlabPool {
  private readonly memory: ArrayBuffer;
  private used = 0;

  constructor(readonly bytes: number) {
    this.memory = new ArrayBuffer(bytes);
  }

  /** Carves a receive batch out of the pool; throws at start-up if it is exhausted. */
  batch(slotSize: number, headroom: number, budget: number): RxBatch {
    const size = slotSize * budget;
    if (this.used + size > this.bytes) throw new Error(`buffer pool exhausted: ${this.used + size} > ${this.bytes} bytes`);
    const slab = Buffer.from(this.memory, this.used, size);
    this.used += size;
    return new RxBatch(slab, slotSize, headroom, budget);
  }
}
