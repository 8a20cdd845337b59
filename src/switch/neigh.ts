// The neighbour table of one VNI: IPv4 or IPv6 address -> MAC, as
// `ip neigh add ... nud permanent` programs the kernel's for a vxlan device
// (flannel does it for each peer). The ARP/ND proxy (proxy.ts) answers from
// it. Entries are permanent: no ageing, no probing.
//
// The control plane changes it (a command, between batches); the data path
// only looks up, with the address read from the frame and no allocation.
// So the lookup side is an open-addressing array that each change rebuilds
// whole from the entries (at most maxEntries, a command at a time): nothing
// is ever deleted from a probe run, and a lookup of any address, which the
// sender of the frame chooses, ends at the first empty slot of a table that
// is at most half full. The hash is keyed per table all the same.
import { randomBytes } from 'node:crypto';
import { ipv6Word } from '../wire/ipv6.js';
import { macNumberHi, macNumberLo } from '../wire/mac.js';

/** Entries per VNI unless told otherwise: the kernel's gc_thresh3 for its ARP table is 1024; flannel needs one a node. */
export const NEIGH_MAX = 4096;

export const FAMILY_IPV4 = 4;
export const FAMILY_IPV6 = 6;
export type NeighFamily = typeof FAMILY_IPV4 | typeof FAMILY_IPV6;

export interface NeighEntry {
  family: NeighFamily;
  /** IPv4: one uint32 word; IPv6: four (wire/ipaddr.ts). */
  addr: number[];
  mac: number;
  /** The device the command named (shown; the entry serves every port of the VNI). */
  dev: string;
}

const MIN_SLOTS = 8;

/** Four words of the key: IPv4 in the last, the others 0 (the family tells it from ::a.b.c.d). */
function words(family: NeighFamily, addr: readonly number[]): number[] {
  return family === FAMILY_IPV4 ? [0, 0, 0, addr[0] | 0] : addr.map((w) => w | 0);
}

function keyOf(family: NeighFamily, addr: readonly number[]): string {
  return `${family}/${addr.map((w) => w >>> 0).join('.')}`;
}

export class NeighTable {
  private readonly rows = new Map<string, NeighEntry>();
  private mask = MIN_SLOTS - 1;
  /** Family of each slot; 0: empty. */
  private fam = new Uint8Array(MIN_SLOTS);
  private key = new Int32Array(MIN_SLOTS * 4);
  /** The MAC of each slot as wire/mac.ts's parts. Read by the data path after a find. */
  macHi = new Uint16Array(MIN_SLOTS);
  macLo = new Int32Array(MIN_SLOTS);
  private readonly k0: number;
  private readonly k1: number;

  constructor(readonly maxEntries = NEIGH_MAX) {
    const k = randomBytes(8);
    this.k0 = k.readInt32LE(0);
    this.k1 = k.readInt32LE(4);
  }

  get size(): number {
    return this.rows.size;
  }

  private home(family: number, w0: number, w1: number, w2: number, w3: number): number {
    let h = Math.imul(w3 ^ this.k0, 0x85ebca6b) ^ family;
    h = Math.imul(h ^ (h >>> 13) ^ w2, 0xc2b2ae35);
    h = Math.imul(h ^ (h >>> 16) ^ w1 ^ this.k1, 0x27d4eb2f);
    h = Math.imul(h ^ (h >>> 15) ^ w0, 0x165667b1);
    return (h ^ (h >>> 16)) & this.mask;
  }

  private probe(family: number, w0: number, w1: number, w2: number, w3: number): number {
    const key = this.key;
    const fam = this.fam;
    for (let i = this.home(family, w0, w1, w2, w3); ; i = (i + 1) & this.mask) {
      const f = fam[i];
      if (f === 0) return -1;
      const k = i * 4;
      if (f === family && key[k + 3] === w3 && key[k + 2] === w2 && key[k + 1] === w1 && key[k] === w0) return i;
    }
  }

  /** The slot of IPv4 address `addr` (uint32 or int32), or -1. */
  find4(addr: number): number {
    return this.probe(FAMILY_IPV4, 0, 0, 0, addr | 0);
  }

  /** The slot of the IPv6 address in b[a, +16), or -1. */
  find6(b: Uint8Array, a: number): number {
    return this.probe(FAMILY_IPV6, ipv6Word(b, a, 0), ipv6Word(b, a, 1), ipv6Word(b, a, 2), ipv6Word(b, a, 3));
  }

  /** The entry for an address (control plane). */
  get(family: NeighFamily, addr: readonly number[]): NeighEntry | undefined {
    return this.rows.get(keyOf(family, addr));
  }

  /** Adds or replaces an entry; false, changing nothing, when it is new and the table holds maxEntries. */
  set(e: NeighEntry): boolean {
    const k = keyOf(e.family, e.addr);
    if (!this.rows.has(k) && this.rows.size >= this.maxEntries) return false;
    this.rows.set(k, { ...e, addr: [...e.addr] });
    this.rebuild();
    return true;
  }

  /** Removes an entry; false if there was none. */
  delete(family: NeighFamily, addr: readonly number[]): boolean {
    if (!this.rows.delete(keyOf(family, addr))) return false;
    this.rebuild();
    return true;
  }

  entries(): NeighEntry[] {
    return [...this.rows.values()].map((e) => ({ ...e, addr: [...e.addr] }));
  }

  /** Lays the entries out afresh in a table at most half full. */
  private rebuild(): void {
    let slots = MIN_SLOTS;
    while (slots < this.rows.size * 2) slots *= 2;
    this.mask = slots - 1;
    this.fam = new Uint8Array(slots);
    this.key = new Int32Array(slots * 4);
    this.macHi = new Uint16Array(slots);
    this.macLo = new Int32Array(slots);
    for (const e of this.rows.values()) {
      const [w0, w1, w2, w3] = words(e.family, e.addr);
      let i = this.home(e.family, w0, w1, w2, w3);
      while (this.fam[i] !== 0) i = (i + 1) & this.mask;
      this.fam[i] = e.family;
      this.key.set([w0, w1, w2, w3], i * 4);
      this.macHi[i] = macNumberHi(e.mac);
      this.macLo[i] = macNumberLo(e.mac);
    }
  }
}
