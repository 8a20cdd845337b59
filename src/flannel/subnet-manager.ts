// The subnet manager of a flannel node: flanneld's LocalManager
// (pkg/subnet/etcd/local_manager.go) and its lease monitor, over either store.
//  - acquire(): a reservation for our PublicIP, else the previous subnet
//    from subnet.env (our lease there, or free), else another lease that
//    carries our PublicIP, else a random one of the first 100 free subnets
//    in [SubnetMin, SubnetMax]; on a create race, list again and retry (10
//    times, as flannel's raceRetries).
//  - start(): renew `renewMarginSec` before expiry; list, then watch, the
//    leases, emitting other nodes' leases as 'added'/'removed' batches; on
//    compaction list again and emit the difference; while the store is
//    unreachable keep the last known leases and retry with backoff, resuming
//    the watch where it stopped. If our own key is deleted, emit 'revoked'
//    and stop, as flanneld does ("Lease has been revoked").
// stop() leaves the lease in the store, as flanneld does, so that a restart
// with the same PublicIP gets the same subnet.
//
// Where it departs from flanneld, on purpose:
//  - A renewal rewrites the key only if it still exists; flanneld's plain put
//    would bring back a lease that was deleted. A missing key means revoked.
//  - A reservation it reuses stays one, with no TTL. flanneld on etcd v3 asks
//    for an etcd lease with TTL 0, which etcd raises to its minimum (2 s),
//    and its renewal then makes the key an ordinary 24 h lease (see flannel
//    issue #1329, "reservation not working with etcd3").
//  - A renewal elsewhere rewrites an unchanged value; it is not re-emitted.
//  - The previous subnet comes before a lease found by PublicIP (flanneld
//    looks by PublicIP first, then at subnet.env), and any other lease with
//    our PublicIP is deleted once ours is taken (flanneld leaves it to
//    expire, and peers route part of the overlay to us meanwhile).
import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import pino, { type Logger } from 'pino';
import { VxtapError } from '../core/errors.js';
import { formatIpv4Addr } from '../wire/ipaddr.js';
import { fitsConfig, parseNetworkConfig, type FlannelConfig } from './config.js';
import { encodeAttrs, subnetKey, type Lease, type LeaseAttrs } from './lease.js';
import type { LeaseStore, StoreEvent } from './store.js';
import { formatSubnet, overlaps, subnetSize, type Subnet } from './subnet.js';

/** flannel's subnetTTL. */
const SUBNET_TTL_SEC = 24 * 3600;
/** flanneld's --subnet-lease-renew-margin default, 60 minutes. */
const DEFAULT_RENEW_MARGIN_SEC = 3600;
/** flannel's raceRetries. */
const RACE_RETRIES = 10;
/** flannel picks at random among the first this many free subnets. */
const CANDIDATES = 100;
const DEFAULT_BACKOFF_MS = [100, 5000] as const;

export interface HeldLease extends Lease {
  /** ms since the epoch; Infinity for a reservation. */
  readonly expires: number;
}

/**
 * A change to another node's lease. A lease whose value changed (a node that
 * restarted with a new VtepMAC) comes as 'removed' (old) then 'added' (new)
 * in one batch, so the data path never has to diff.
 */
export interface LeaseEvent {
  readonly type: 'added' | 'removed';
  readonly lease: Lease;
}

export interface SubnetManagerOptions {
  store: LeaseStore;
  /** What this node publishes. Its PublicIP is how a restarted node finds its lease. */
  attrs: LeaseAttrs;
  /** Default 24 h, flannel's subnetTTL. */
  ttlSec?: number;
  /** Renew this long before expiry: flanneld's --subnet-lease-renew-margin. Default 1 h; must be below ttlSec. */
  renewMarginSec?: number;
  /** FLANNEL_SUBNET of the last subnet.env (readPreviousSubnet), tried first when free. */
  previousSubnet?: Subnet | null;
  /** Retry delays while the store is unreachable, doubling from the first to the second. Default [100, 5000] ms. */
  backoffMs?: readonly [number, number];
  /** How long getConfig() and acquire() retry an unreachable store before failing. Default 60 s. */
  startupTimeoutMs?: number;
  log?: Logger;
}

interface Events {
  leases: [batch: LeaseEvent[]];
  /** Our lease is gone: the node must stop. The manager has stopped already. */
  revoked: [err: VxtapError];
  renewed: [lease: HeldLease];
  /**
   * A full list of the leases has been applied (any difference emitted as
   * 'leases' just before): after start(), and after each re-list. The data
   * path is current once it has programmed what it was given up to here.
   */
  synced: [];
}

class Backoff {
  private cur: number;

  constructor(private readonly range: readonly [number, number]) {
    this.cur = range[0];
  }

  next(): number {
    const d = this.cur;
    this.cur = Math.min(this.cur * 2, this.range[1]);
    return d;
  }

  reset(): void {
    this.cur = this.range[0];
  }
}

/** Sleeps, or returns early when the signal aborts. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return sleep(ms, undefined, { signal }).catch(() => undefined);
}

/**
 * A store that cannot be used now. Refused credentials count too once the
 * node runs (a certificate rotated on etcd's side is an outage to ride out);
 * at start-up they fail at once (startup()).
 */
function isStoreError(e: unknown): e is VxtapError {
  return e instanceof VxtapError && (e.code === 'E_STORE' || e.code === 'E_CREDENTIALS');
}

/**
 * flannel's allocateSubnet: the first 100 subnets from SubnetMin that overlap
 * no lease, and one of them at random, so that nodes starting together seldom
 * race for the same one.
 */
function pickSubnet(c: FlannelConfig, taken: readonly Lease[], where: string): Subnet {
  const free: number[] = [];
  for (let addr = c.subnetMin; addr <= c.subnetMax && free.length < CANDIDATES; addr += subnetSize(c.subnetLen)) {
    const s = { addr, len: c.subnetLen };
    if (!taken.some((l) => overlaps(l.subnet, s))) free.push(addr);
  }
  if (free.length === 0) {
    throw new VxtapError('E_LEASE', `no free /${c.subnetLen} subnet in ${formatIpv4Addr(c.subnetMin)}-${formatIpv4Addr(c.subnetMax)} (${taken.length} leases): widen Network in ${where} or delete stale leases`);
  }
  return { addr: free[Math.floor(Math.random() * free.length)], len: c.subnetLen };
}

export class SubnetManager extends EventEmitter<Events> {
  private held: HeldLease | null = null;
  /** Other nodes' leases by key, as last emitted. */
  private readonly known = new Map<string, Lease>();
  private up = false;
  private readonly abort = new AbortController();
  private renewTimer: NodeJS.Timeout | undefined;
  private readonly backoffMs: readonly [number, number];
  private readonly renewBackoff: Backoff;
  private readonly log: Logger;
  private readonly ttlSec: number;
  private readonly marginMs: number;

  constructor(private readonly o: SubnetManagerOptions) {
    super();
    this.ttlSec = o.ttlSec ?? SUBNET_TTL_SEC;
    const margin = o.renewMarginSec ?? DEFAULT_RENEW_MARGIN_SEC;
    // A margin as long as the TTL would renew in a tight loop.
    if (margin <= 0 || margin >= this.ttlSec) throw new RangeError(`renewMarginSec ${margin} must be between 0 and ttlSec ${this.ttlSec}`);
    this.marginMs = margin * 1000;
    this.backoffMs = o.backoffMs ?? DEFAULT_BACKOFF_MS;
    this.renewBackoff = new Backoff(this.backoffMs);
    this.log = o.log ?? pino({ level: 'silent' });
  }

  /** Our lease, once acquired. */
  get lease(): HeldLease | null {
    return this.held;
  }

  /** Other nodes' leases as last emitted: the state the data path should hold. */
  remoteLeases(): Lease[] {
    return [...this.known.values()];
  }

  /** Whether the last list or watch reached the store. */
  get storeUp(): boolean {
    return this.up;
  }

  private get stopped(): boolean {
    return this.abort.signal.aborted;
  }

  /**
   * Retries a startup step while the store is unreachable, up to
   * startupTimeoutMs; stop() ends the wait at once, failing with the last error.
   */
  private async startup<T>(fn: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + (this.o.startupTimeoutMs ?? 60_000);
    const backoff = new Backoff(this.backoffMs);
    for (;;) {
      try {
        return await fn();
      } catch (e) {
        const delay = backoff.next();
        if (!(e instanceof VxtapError && e.code === 'E_STORE') || this.stopped || Date.now() + delay > deadline) throw e;
        this.log.warn(`${e.message}; retrying in ${delay} ms`);
        await pause(delay, this.abort.signal);
        if (this.stopped) throw e;
      }
    }
  }

  /** Reads and checks the network config (flanneld's GetNetworkConfig). */
  async getConfig(): Promise<FlannelConfig> {
    const text = await this.startup(() => this.o.store.getConfig());
    return parseNetworkConfig(text, this.o.store.configKey);
  }

  /** Takes our subnet lease (flanneld's AcquireLease). */
  async acquire(config: FlannelConfig): Promise<HeldLease> {
    for (let i = 0; i < RACE_RETRIES; i++) {
      const got = await this.startup(async () => this.tryAcquire(config, (await this.o.store.list()).leases));
      if (got !== null) {
        this.log.info(`holding lease ${formatSubnet(got.subnet)}${got.reservation ? ' (a reservation)' : ''} for ${got.attrs.PublicIP}`);
        this.held = got;
        return got;
      }
    }
    throw new VxtapError('E_LEASE', `could not take a subnet lease: other nodes took the chosen subnet ${RACE_RETRIES} times in a row; try again`);
  }

  /**
   * One try; null when another node won a race for the key. The choice, in
   * order: a reservation for our PublicIP (an operator's choice); the
   * previous subnet from subnet.env, our lease there or free; another lease
   * with our PublicIP; a free subnet. Then the other leases with our
   * PublicIP are deleted: they are leftovers of earlier runs, which peers
   * would otherwise keep routing to us until they expire.
   */
  private async tryAcquire(config: FlannelConfig, leases: Lease[]): Promise<HeldLease | null> {
    const { store, attrs } = this.o;
    const ours: Lease[] = [];
    for (const l of leases.filter((k) => k.attrs.PublicIP === attrs.PublicIP)) {
      if (fitsConfig(config, l.subnet)) {
        ours.push(l);
        continue;
      }
      this.log.info(`${store.leaseKey(l.subnet)} carries our PublicIP but does not fit the network config: deleting it`);
      await store.delete(l.subnet);
    }
    const prev = this.o.previousSubnet;
    const usablePrev = prev && fitsConfig(config, prev) ? prev : null;
    const atPrev = usablePrev && ours.find((l) => subnetKey(l.subnet) === subnetKey(usablePrev));
    const prevFree = usablePrev !== null && !leases.some((l) => overlaps(l.subnet, usablePrev));
    const reuse = ours.find((l) => l.reservation) ?? atPrev ?? (prevFree ? undefined : ours[0]);
    let got: HeldLease | null;
    if (reuse !== undefined) {
      // A reservation stays one: no TTL.
      const expires = await store.update(reuse.subnet, attrs, reuse.reservation ? 0 : this.ttlSec);
      got = expires === null ? null : { subnet: reuse.subnet, attrs, reservation: reuse.reservation, expires };
    } else {
      const subnet = prevFree ? usablePrev : pickSubnet(config, leases, store.configKey);
      const expires = await store.create(subnet, attrs, this.ttlSec);
      got = expires === null ? null : { subnet, attrs, reservation: false, expires };
    }
    if (got === null) return null;
    for (const l of ours) {
      if (l.reservation || subnetKey(l.subnet) === subnetKey(got.subnet)) continue;
      this.log.info(`${store.leaseKey(l.subnet)} carries our PublicIP too, a leftover of an earlier run: deleting it (we hold ${formatSubnet(got.subnet)})`);
      await store.delete(l.subnet);
    }
    return got;
  }

  /** Starts renewing the lease and watching the others'. Listen for 'leases' and 'revoked' first. */
  start(): void {
    if (this.held === null) throw new Error('SubnetManager.start() before acquire()');
    this.scheduleRenew();
    void this.watchLoop();
  }

  /** Stops renewing and watching, and any start-up retries; the lease stays in the store. */
  stop(): void {
    clearTimeout(this.renewTimer);
    this.abort.abort();
  }

  private scheduleRenew(delay = this.held!.expires - this.marginMs - Date.now()): void {
    if (this.stopped || !Number.isFinite(delay)) return; // stopped, or a reservation: never renewed
    this.renewTimer = setTimeout(() => void this.renew(), Math.max(0, delay));
  }

  private async renew(): Promise<void> {
    const l = this.held!;
    let expires: number | null;
    try {
      expires = await this.o.store.update(l.subnet, l.attrs, this.ttlSec);
    } catch (e) {
      if (!isStoreError(e)) throw e;
      const delay = this.renewBackoff.next();
      this.log.warn(`renewing the lease: ${e.message}; retrying in ${delay} ms`);
      return this.scheduleRenew(delay);
    }
    if (this.stopped) return;
    // A renewal never recreates a key someone deleted (flanneld's would): it is gone.
    if (expires === null) return this.revoke('has been revoked (it was gone when renewing it)');
    this.renewBackoff.reset();
    this.held = { ...l, expires };
    this.log.info(`lease ${formatSubnet(l.subnet)} renewed until ${new Date(expires).toISOString()}`);
    this.emit('renewed', this.held);
    this.scheduleRenew();
  }

  private revoke(why: string): void {
    if (this.stopped) return;
    const err = new VxtapError('E_LEASE', `lease ${this.o.store.leaseKey(this.held!.subnet)} ${why}: shutting down; restart vxtap to take a lease again`);
    this.log.error(err.message);
    this.stop();
    this.emit('revoked', err);
  }

  private setUp(up: boolean, err?: VxtapError): void {
    if (up && !this.up) this.log.info('lease store reachable: leases are current');
    if (!up) this.log.warn(`${err!.message}; keeping the last known leases and retrying`);
    this.up = up;
  }

  private async watchLoop(): Promise<void> {
    const signal = this.abort.signal;
    const backoff = new Backoff(this.backoffMs);
    let revision: number | null = null; // null: list first
    while (!signal.aborted) {
      if (revision === null) {
        try {
          const r = await this.o.store.list();
          if (signal.aborted) return;
          revision = r.revision;
          this.setUp(true);
          this.resync(r.leases);
          if (!this.stopped) this.emit('synced');
        } catch (e) {
          if (!isStoreError(e)) throw e;
          this.setUp(false, e);
          await pause(backoff.next(), signal);
        }
        continue;
      }
      const end = await new Promise<'compacted' | 'stopped' | VxtapError>((resolve) => {
        const onAbort = (): void => {
          cancel();
          resolve('stopped');
        };
        const done = (how: 'compacted' | VxtapError): void => {
          signal.removeEventListener('abort', onAbort);
          resolve(how);
        };
        const cancel = this.o.store.watch(revision! + 1, {
          events: (batch, rev) => {
            backoff.reset();
            this.setUp(true);
            this.apply(batch);
            revision = rev;
          },
          compacted: () => done('compacted'),
          failed: done,
        });
        signal.addEventListener('abort', onAbort, { once: true });
      });
      if (end === 'compacted') {
        this.log.warn(`the store's history no longer reaches revision ${revision! + 1}: listing the leases again`);
        revision = null;
      } else if (end !== 'stopped') {
        // Resume from `revision`: the store replays what happened meanwhile,
        // or says it was compacted.
        this.setUp(false, end);
        await pause(backoff.next(), signal);
      }
    }
  }

  private isOwn(s: Subnet): boolean {
    return subnetKey(s) === subnetKey(this.held!.subnet);
  }

  /** Our own key as the store now has it (null: absent). */
  private checkOwn(l: Lease | null): void {
    if (l === null) this.revoke('has been revoked (deleted from the store)');
    else if (l.attrs.PublicIP !== this.o.attrs.PublicIP) this.revoke(`now belongs to PublicIP ${l.attrs.PublicIP}`);
  }

  /** Sets one other node's lease (null: gone), recording what changed in `out`. */
  private replace(s: Subnet, lease: Lease | null, out: LeaseEvent[]): void {
    const key = subnetKey(s);
    const old = this.known.get(key);
    // A renewal rewrites the same value: nothing for the data path.
    if (lease !== null && old !== undefined && encodeAttrs(old.attrs) === encodeAttrs(lease.attrs)) return;
    if (old !== undefined) {
      this.known.delete(key);
      out.push({ type: 'removed', lease: old });
    }
    if (lease !== null) {
      this.known.set(key, lease);
      out.push({ type: 'added', lease });
    }
  }

  private flush(out: LeaseEvent[]): void {
    if (out.length > 0 && !this.stopped) this.emit('leases', out);
  }

  private apply(batch: StoreEvent[]): void {
    const out: LeaseEvent[] = [];
    for (const ev of batch) {
      const [subnet, lease] = ev.type === 'put' ? [ev.lease.subnet, ev.lease] : [ev.subnet, null];
      if (this.isOwn(subnet)) this.checkOwn(lease);
      else this.replace(subnet, lease, out);
    }
    this.flush(out);
  }

  /** Brings the known leases to a fresh list, emitting the difference. */
  private resync(leases: Lease[]): void {
    const fresh = new Map(leases.map((l) => [subnetKey(l.subnet), l]));
    const own = subnetKey(this.held!.subnet);
    this.checkOwn(fresh.get(own) ?? null);
    fresh.delete(own);
    const out: LeaseEvent[] = [];
    for (const [key, old] of this.known) if (!fresh.has(key)) this.replace(old.subnet, null, out);
    for (const l of fresh.values()) this.replace(l.subnet, l, out);
    this.flush(out);
  }
}
