// Underlay addresses a pipeline accepts datagrams from. Each address is held
// with a count, so that it stays trusted while any route or lease still
// refers to it (two routes through one peer, a lease replaced in place).
// Keys are int32, so a lookup allocates nothing.

export class TrustedAddresses {
  private readonly uses = new Map<number, number>();

  /** Whether datagrams from this IPv4 address (uint32 or int32) are accepted. */
  has(addr: number): boolean {
    return this.uses.has(addr | 0);
  }

  add(addr: number): void {
    this.uses.set(addr | 0, (this.uses.get(addr | 0) ?? 0) + 1);
  }

  /** Drops one use; the address stops being trusted with its last use. */
  remove(addr: number): void {
    const n = (this.uses.get(addr | 0) ?? 1) - 1;
    if (n <= 0) this.uses.delete(addr | 0);
    else this.uses.set(addr | 0, n);
  }
}
