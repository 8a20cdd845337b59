// The forwarding database of one VNI: MAC -> local port or remote VTEP.
//
// Keys are MACs split into a 16-bit high part and a signed 32-bit low part
// (see wire/mac.ts), so a lookup hashes two small integers and allocates
// nothing. The table is open addressing with linear probing and
// backward-shift deletion (no tombstones), entries stored as parallel typed
// arrays. It grows by doubling at half load; growth only happens when a new
// MAC is learned, never on lookup.
//
// Semantics follow the Linux vxlan driver: learning creates or refreshes
// entries and moves a learned MAC to where it was last seen; static entries
// never move and never age; ageing is a separate periodic sweep; once
// `maxEntries` is reached, new MACs are refused (and counted by the caller).
// One departure, on by default: a MAC learned on a local port does not move
// to a remote VTEP while it is fresh (seen within `stickyLocalMs`), so that a
// frame from the wire cannot take a local host's address over (see README).
//
// Anyone who can send frames chooses the MACs learned, so the hash is keyed
// with random bits drawn per table: without them, MACs that share a home
// slot could be computed offline, and learning and lookup would degrade to a
// linear scan of one long probe run.
import { randomBytes } from 'node:crypto';

/** Entry flag: added by configuration, immune to learning and ageing. */
export const FDB_STATIC = 1;

/** What learn() did; the caller counts the refusals. */
export const LEARN_REFRESHED = 0;
export const LEARN_CREATED = 1;
export const LEARN_MOVED = 2;
export const LEARN_REFUSED_STATIC = 3;
export const LEARN_REFUSED_FULL = 4;
/** A remote source claimed a MAC that a local port holds and has seen within stickyLocalMs. */
export const LEARN_REFUSED_LOCAL = 5;

/** Where a frame for an entry goes: a local port index, or a remote VTEP. */
export const NO_PORT = -1;

const EMPTY = -1;
const MIN_CAPACITY = 16;

export interface FdbEntry {
  mac: number;
  /** Local port index, or NO_PORT for a remote entry. */
  port: number;
  /** Remote VTEP IPv4 address (uint32) when port is NO_PORT. */
  remote: number;
  isStatic: boolean;
  /** Milliseconds since the last time this MAC was seen (0 for static entries). */
  ageMs: number;
}

/** The home slot's hash: a multiply-xorshift mix of the key, keyed by two secret words. */
function hashKey(hi: number, lo: number, k0: number, k1: number): number {
  let h = Math.imul(lo ^ k0 ^ (hi << 16) ^ (hi >>> 3), 0x9e3779b1);
  h ^= h >>> 15;
  h = Math.imul(h ^ hi ^ k1, 0x85ebca77);
  return h ^ (h >>> 13);
}

export class Fdb {
  private mask = MIN_CAPACITY - 1;
  private keyHi = new Int32Array(MIN_CAPACITY).fill(EMPTY);
  private keyLo = new Int32Array(MIN_CAPACITY);
  /** Local port index of each slot, or NO_PORT. Read by the data path after find(). */
  port = new Int32Array(MIN_CAPACITY);
  /** Remote VTEP address of each slot (uint32 stored as int32). */
  remote = new Int32Array(MIN_CAPACITY);
  private flags = new Uint8Array(MIN_CAPACITY);
  private seen = new Float64Array(MIN_CAPACITY);
  private count = 0;
  /** The hash's key, secret to this table. */
  private readonly k0: number;
  private readonly k1: number;

  /**
   * @param maxEntries cap on entries, 0 for none (the kernel's maxaddress).
   * @param stickyLocalMs how long after it was last seen a MAC on a local port
   *   refuses to move to a remote (the ageing time: as long as it is fresh);
   *   0: it moves like any learned MAC.
   */
  constructor(readonly maxEntries = 0, readonly stickyLocalMs = 0) {
    const key = randomBytes(8);
    this.k0 = key.readInt32LE(0);
    this.k1 = key.readInt32LE(4);
  }

  get size(): number {
    return this.count;
  }

  /** Returns the slot holding this MAC, or -1. Read port[slot] / remote[slot]. */
  find(hi: number, lo: number): number {
    const mask = this.mask;
    const keyHi = this.keyHi;
    let i = hashKey(hi, lo, this.k0, this.k1) & mask;
    for (;;) {
      const h = keyHi[i];
      if (h === EMPTY) return -1;
      if (h === hi && this.keyLo[i] === lo) return i;
      i = (i + 1) & mask;
    }
  }

  /**
   * Records that `hi:lo` was seen behind `port` (or at `remote` when port is
   * NO_PORT) at time `now` (ms). Returns one of the LEARN_* codes.
   */
  learn(hi: number, lo: number, port: number, remote: number, now: number): number {
    let i = this.find(hi, lo);
    if (i >= 0) {
      if (this.flags[i] & FDB_STATIC) return LEARN_REFUSED_STATIC;
      if (port === NO_PORT && this.port[i] !== NO_PORT && now - this.seen[i] < this.stickyLocalMs) return LEARN_REFUSED_LOCAL;
      this.seen[i] = now;
      if (this.port[i] === port && this.remote[i] === (remote | 0)) return LEARN_REFRESHED;
      this.port[i] = port;
      this.remote[i] = remote;
      return LEARN_MOVED;
    }
    if (this.maxEntries > 0 && this.count >= this.maxEntries) return LEARN_REFUSED_FULL;
    i = this.insertSlot(hi, lo);
    this.port[i] = port;
    this.remote[i] = remote;
    this.flags[i] = 0;
    this.seen[i] = now;
    return LEARN_CREATED;
  }

  /**
   * Marks `hi:lo` seen at `now` if it is a learned entry still behind `port`
   * (or at `remote` when port is NO_PORT): a refresh, never a move.
   */
  refresh(hi: number, lo: number, port: number, remote: number, now: number): void {
    const i = this.find(hi, lo);
    if (i >= 0 && !(this.flags[i] & FDB_STATIC) && this.port[i] === port && this.remote[i] === (remote | 0)) this.seen[i] = now;
  }

  /**
   * Adds or replaces a static entry. Returns false when the table is full
   * (like the kernel, maxaddress counts static entries too).
   */
  addStatic(hi: number, lo: number, port: number, remote: number): boolean {
    let i = this.find(hi, lo);
    if (i < 0) {
      if (this.maxEntries > 0 && this.count >= this.maxEntries) return false;
      i = this.insertSlot(hi, lo);
    }
    this.port[i] = port;
    this.remote[i] = remote;
    this.flags[i] = FDB_STATIC;
    this.seen[i] = 0;
    return true;
  }

  /** Whether the entry at `slot` (from find()) is static. */
  isStatic(slot: number): boolean {
    return (this.flags[slot] & FDB_STATIC) !== 0;
  }

  /** Removes a MAC. Returns whether it was present. */
  delete(hi: number, lo: number): boolean {
    const i = this.find(hi, lo);
    if (i < 0) return false;
    this.removeSlot(i);
    return true;
  }

  /** Removes learned entries last seen before now - maxAgeMs. Returns how many. */
  sweep(now: number, maxAgeMs: number): number {
    const limit = now - maxAgeMs;
    return this.removeWhere((i) => !(this.flags[i] & FDB_STATIC) && this.seen[i] < limit);
  }

  /** Removes every entry, static or learned, behind local port `port` (the port is gone). Returns how many. */
  forgetPort(port: number): number {
    return this.removeWhere((i) => this.port[i] === port);
  }

  /** Removes the entries whose slot `doomed` picks; off the data path (a sweep, a runtime change). */
  private removeWhere(doomed: (slot: number) => boolean): number {
    let removed = 0;
    let i = 0;
    // Backward-shift deletion pulls a later entry into slot i, so slot i is
    // examined again after a removal instead of advancing. Entries that wrap
    // from the table's start were already examined and kept.
    while (i <= this.mask) {
      if (this.keyHi[i] !== EMPTY && doomed(i)) {
        this.removeSlot(i);
        removed++;
      } else {
        i++;
      }
    }
    return removed;
  }

  /** A snapshot for the control API and tests; not for the data path. */
  entries(now: number): FdbEntry[] {
    const out: FdbEntry[] = [];
    for (let i = 0; i <= this.mask; i++) {
      const hi = this.keyHi[i];
      if (hi === EMPTY) continue;
      const isStatic = (this.flags[i] & FDB_STATIC) !== 0;
      out.push({
        mac: hi * 0x100000000 + (this.keyLo[i] >>> 0),
        port: this.port[i],
        remote: this.remote[i] >>> 0,
        isStatic,
        ageMs: isStatic ? 0 : Math.max(0, now - this.seen[i]),
      });
    }
    return out;
  }

  private insertSlot(hi: number, lo: number): number {
    if ((this.count + 1) * 2 > this.mask + 1) this.resize((this.mask + 1) * 2);
    const mask = this.mask;
    let i = hashKey(hi, lo, this.k0, this.k1) & mask;
    while (this.keyHi[i] !== EMPTY) i = (i + 1) & mask;
    this.keyHi[i] = hi;
    this.keyLo[i] = lo;
    this.count++;
    return i;
  }

  private removeSlot(i: number): void {
    const mask = this.mask;
    this.keyHi[i] = EMPTY;
    this.count--;
    // Backward shift: move later members of the probe run into the hole when
    // their home slot does not lie cyclically in (hole, j].
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      const hi = this.keyHi[j];
      if (hi === EMPTY) return;
      const home = hashKey(hi, this.keyLo[j], this.k0, this.k1) & mask;
      const inRange = i <= j ? home > i && home <= j : home > i || home <= j;
      if (inRange) continue;
      this.keyHi[i] = hi;
      this.keyLo[i] = this.keyLo[j];
      this.port[i] = this.port[j];
      this.remote[i] = this.remote[j];
      this.flags[i] = this.flags[j];
      this.seen[i] = this.seen[j];
      this.keyHi[j] = EMPTY;
      i = j;
    }
  }

  private resize(capacity: number): void {
    const { keyHi, keyLo, port, remote, flags, seen } = this;
    this.mask = capacity - 1;
    this.keyHi = new Int32Array(capacity).fill(EMPTY);
    this.keyLo = new Int32Array(capacity);
    this.port = new Int32Array(capacity);
    this.remote = new Int32Array(capacity);
    this.flags = new Uint8Array(capacity);
    this.seen = new Float64Array(capacity);
    this.count = 0;
    for (let k = 0; k < keyHi.length; k++) {
      if (keyHi[k] === EMPTY) continue;
      const i = this.insertSlot(keyHi[k], keyLo[k]);
      this.port[i] = port[k];
      this.remote[i] = remote[k];
      this.flags[i] = flags[k];
      this.seen[i] = seen[k];
    }
  }
}
