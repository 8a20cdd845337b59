// Longest-prefix-match routes for the UDP overlay: subnet -> peer (IPv4 and
// UDP port). One hash map per prefix length in use, probed from the longest
// length down, so a lookup costs at most one Map.get per distinct length (a
// flannel cluster uses one or two) and allocates nothing: keys are int32.

export interface Route {
  /** Network address (uint32), host bits zero. */
  addr: number;
  len: number;
  /** Peer underlay address (uint32) and UDP port. */
  peer: number;
  port: number;
}

export function prefixMask(len: number): number {
  return len === 0 ? 0 : (-1 << (32 - len)) | 0;
}

export class RouteTable {
  /** Prefix lengths in use, longest first. */
  private lengths: number[] = [];
  private readonly byLength = new Map<number, Map<number, number>>();
  /** Entry storage; `peer[i]` / `port[i]` for an index from lookup(). */
  readonly peer: number[] = [];
  readonly port: number[] = [];
  private readonly addr: number[] = [];
  private readonly len: number[] = [];
  private readonly free: number[] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Adds or replaces the route for addr/len (host bits are cleared). */
  set(addr: number, len: number, peer: number, port: number): void {
    const key = addr & prefixMask(len);
    let table = this.byLength.get(len);
    if (table === undefined) {
      table = new Map();
      this.byLength.set(len, table);
      this.lengths = [...this.byLength.keys()].sort((a, b) => b - a);
    }
    let i = table.get(key);
    if (i === undefined) {
      i = this.free.pop() ?? this.peer.length;
      table.set(key, i);
      this.count++;
    }
    this.addr[i] = key >>> 0;
    this.len[i] = len;
    this.peer[i] = peer >>> 0;
    this.port[i] = port;
  }

  /** Removes the route for exactly addr/len. Returns whether it existed. */
  delete(addr: number, len: number): boolean {
    const table = this.byLength.get(len);
    const key = addr & prefixMask(len);
    const i = table?.get(key);
    if (table === undefined || i === undefined) return false;
    table.delete(key);
    this.free.push(i);
    this.count--;
    if (table.size === 0) {
      this.byLength.delete(len);
      this.lengths = this.lengths.filter((l) => l !== len);
    }
    return true;
  }

  /** The index of the route for exactly addr/len, or -1. */
  lookupExact(addr: number, len: number): number {
    return this.byLength.get(len)?.get(addr & prefixMask(len)) ?? -1;
  }

  /** The index of the longest prefix containing dst (uint32 or int32), or -1. */
  lookup(dst: number): number {
    const lengths = this.lengths;
    for (let k = 0; k < lengths.length; k++) {
      const len = lengths[k];
      const i = this.byLength.get(len)!.get(dst & prefixMask(len));
      if (i !== undefined) return i;
    }
    return -1;
  }

  /** A snapshot, longest prefixes first; not for the data path. */
  routes(): Route[] {
    const out: Route[] = [];
    for (const table of this.byLength.values()) {
      for (const i of table.values()) out.push({ addr: this.addr[i], len: this.len[i], peer: this.peer[i], port: this.port[i] });
    }
    return out.sort((a, b) => b.len - a.len || a.addr - b.addr);
  }
}
