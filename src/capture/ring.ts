// A bounded byte ring between the data path (which writes whole records into
// it and must never wait) and an asynchronous sink (a socket). Records are
// contiguous, so the sink gets zero-copy chunks of the ring itself; at most one
// chunk is out at a time, and its bytes stay untouched until it is released.
//
//   not wrapped:  [ free | tail ... head | free ]
//   wrapped:      [ ... head | free | tail ... wrap | unused ]
//
// A record that does not fit between head and the end of the buffer starts
// again at 0, and `wrap` remembers where the older data ends.

export class ByteRing {
  readonly buf: Buffer;
  private head = 0;
  private tail = 0;
  private wrap = -1;
  private out = 0;

  constructor(readonly size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }

  /**
   * Returns where a record of n bytes can be written, or -1 if the ring is
   * full. `commit(n)` must follow before the next reserve.
   */
  reserve(n: number): number {
    if (this.wrap < 0) {
      if (this.head + n <= this.size) return this.head;
      if (n > this.tail) return -1;
      this.wrap = this.head;
      this.head = 0;
      return 0;
    }
    return this.head + n <= this.tail ? this.head : -1;
  }

  commit(n: number): void {
    this.head += n;
  }

  /**
   * Hands out the oldest contiguous run of committed bytes as [start, start +
   * `taken`), or returns -1 if there is none or a chunk is already out.
   */
  take(): number {
    if (this.out > 0) return -1;
    const end = this.wrap < 0 ? this.head : this.wrap;
    if (end === this.tail) return -1;
    this.out = end - this.tail;
    return this.tail;
  }

  /** Bytes of the chunk handed out by `take`. */
  get taken(): number {
    return this.out;
  }

  /** The sink is done with the chunk from `take`: its bytes are free again. */
  release(): void {
    this.tail += this.out;
    this.out = 0;
    if (this.wrap >= 0 && this.tail === this.wrap) {
      this.wrap = -1;
      this.tail = 0;
    }
    // Empty: start again from 0 for the longest contiguous space.
    if (this.wrap < 0 && this.tail === this.head) this.head = this.tail = 0;
  }

  get empty(): boolean {
    return this.wrap < 0 && this.tail === this.head;
  }
}
