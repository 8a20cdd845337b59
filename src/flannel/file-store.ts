// The embedded lease store for one machine with no etcd: one JSON file that
// several vxtap processes share (one per network namespace of a lab), with
// etcd's semantics so the subnet manager cannot tell the difference:
//  - a revision bumped by every change;
//  - leases with an expiry time, or none (reservations); expired ones are
//    deleted, with a delete event, by whichever process next holds the lock;
//  - a bounded history of changes, so a watcher resumes from a revision, and
//    learns that it must re-list ("compacted") once the history has moved on;
//  - every change made under a lock (file-lock.ts) and written to a temporary
//    file that is renamed over the old one, so readers never see half a file
//    and watchers read without the lock.
//
// The file can be seeded by hand with just the network config, as an object
// or as the text etcd would hold: {"config":{"Network":"10.5.0.0/16","Backend":{"Type":"vxlan"}}}.
import { mkdirSync, readFileSync, renameSync, statSync, watch as fsWatch, writeFileSync, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Logger } from 'pino';
import { VxtapError } from '../core/errors.js';
import { CONFIG_EXAMPLE } from './config.js';
import { withFileLock } from './file-lock.js';
import { checkAttrs, parseSubnetKey, subnetKey, type Lease, type LeaseAttrs } from './lease.js';
import type { LeaseStore, StoreEvent, WatchHandler } from './store.js';
import type { Subnet } from './subnet.js';

export interface FileStoreOptions {
  /** How often watchers read the file when no change notification came. Default 1000 ms. */
  pollMs?: number;
  /** Changes kept for watchers to resume from. Default 1000. */
  historyLimit?: number;
  /** How long to wait for another process's lock. Default 10 s. */
  lockTimeoutMs?: number;
  log?: Logger;
}

interface StoredLease {
  attrs: unknown;
  /** ms since the epoch; null for a reservation. */
  expires: number | null;
}

interface Db {
  config?: unknown;
  revision: number;
  /** Changes up to this revision are no longer in `history`. */
  compacted: number;
  leases: Record<string, StoredLease>;
  /** lease null: the key was deleted. */
  history: Array<{ revision: number; key: string; lease: StoredLease | null }>;
}

export class FileStore implements LeaseStore {
  readonly configKey: string;
  private readonly watches = new Set<() => void>();
  private readonly pollMs: number;
  private readonly historyLimit: number;
  private readonly lockTimeoutMs: number;
  /** Aborted by close(): ends a wait for the lock. */
  private readonly closing = new AbortController();
  /** Whole reads of the file, ever (changes, lists and watchers): `vxtap stats` shows them. */
  reads = 0;

  constructor(readonly path: string, private readonly o: FileStoreOptions = {}) {
    this.configKey = `${path}: config`;
    this.pollMs = o.pollMs ?? 1000;
    this.historyLimit = o.historyLimit ?? 1000;
    this.lockTimeoutMs = o.lockTimeoutMs ?? 10_000;
    mkdirSync(dirname(path), { recursive: true });
  }

  leaseKey(s: Subnet): string {
    return `${this.path}: ${subnetKey(s)}`;
  }

  private fail(what: string, e: unknown): VxtapError {
    if (e instanceof VxtapError) return e;
    const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    return new VxtapError('E_STORE', `lease file ${this.path}: ${what} failed (${why}): check that its directory exists and is writable`);
  }

  private read(): Db {
    this.reads++;
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { revision: 0, compacted: 0, leases: {}, history: [] };
      throw this.fail('reading', e);
    }
    let raw: Partial<Db>;
    try {
      raw = JSON.parse(text) as Partial<Db>;
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error('not a JSON object');
    } catch (e) {
      throw new VxtapError('E_STORE', `lease file ${this.path} is not valid (${(e as Error).message}): fix it, or remove it to start afresh (its leases are lost)`);
    }
    return {
      config: raw.config,
      revision: Number(raw.revision) || 0,
      compacted: Number(raw.compacted) || 0,
      leases: raw.leases ?? {},
      history: raw.history ?? [],
    };
  }

  /**
   * Runs `fn` on the file's contents under the lock, after deleting expired
   * leases, and writes the result back if anything changed.
   */
  private async mutate<T>(what: string, fn: (db: Db, now: number) => T): Promise<T> {
    try {
      return await withFileLock(this.path, () => {
        const db = this.read();
        const { revision, compacted } = db;
        const now = Date.now();
        for (const [key, l] of Object.entries(db.leases)) if (l.expires !== null && l.expires <= now) change(db, key, null);
        const out = fn(db, now);
        if (db.history.length > this.historyLimit) {
          const dropped = db.history.splice(0, db.history.length - this.historyLimit);
          db.compacted = dropped[dropped.length - 1].revision;
        }
        // Every change bumps the revision; compaction alone moves `compacted`.
        if (db.revision !== revision || db.compacted !== compacted) {
          // No fsync: the rename keeps the file whole if a process dies, and
          // a power cut takes the processes that use the leases with it.
          const tmp = `${this.path}.${process.pid}.tmp`;
          writeFileSync(tmp, JSON.stringify(db));
          renameSync(tmp, this.path);
        }
        return out;
      }, this.lockTimeoutMs, this.closing.signal);
    } catch (e) {
      throw this.fail(what, e);
    }
  }

  /** Stores the network config text (what etcd would hold at `<prefix>/config`). */
  putConfig(text: string): Promise<void> {
    return this.mutate('writing the config', (db) => {
      db.config = text;
      db.revision++;
    });
  }

  /** Drops the history up to `revision` (default: all of it), as `etcdctl compact` does. */
  compact(revision?: number): Promise<void> {
    return this.mutate('compacting', (db) => {
      const upTo = revision ?? db.revision;
      db.history = db.history.filter((e) => e.revision > upTo);
      db.compacted = Math.max(db.compacted, upTo);
    });
  }

  async getConfig(): Promise<string> {
    const { config } = this.read();
    if (config === undefined || config === null) {
      throw new VxtapError('E_CONFIG', `lease file ${this.path} has no "config": add the network config, e.g. {"config":${CONFIG_EXAMPLE}}`);
    }
    return typeof config === 'string' ? config : JSON.stringify(config);
  }

  list(): Promise<{ leases: Lease[]; revision: number }> {
    return this.mutate('listing leases', (db) => {
      const leases: Lease[] = [];
      for (const [key, l] of Object.entries(db.leases)) {
        const lease = this.leaseOf(key, l.attrs, l.expires === null);
        if (lease) leases.push(lease);
      }
      return { leases, revision: db.revision };
    });
  }

  /** A usable lease, or null (with a warning) for a bad key or value. */
  private leaseOf(key: string, attrs: unknown, reservation: boolean): Lease | null {
    const subnet = parseSubnetKey(key);
    try {
      if (subnet === null) throw new Error('not a flannel subnet key');
      return { subnet, attrs: checkAttrs(attrs), reservation };
    } catch (e) {
      this.o.log?.warn(`lease file ${this.path}: ignoring ${key}: ${(e as Error).message}`);
      return null;
    }
  }

  create(s: Subnet, attrs: LeaseAttrs, ttlSec: number): Promise<number | null> {
    const key = subnetKey(s);
    return this.mutate(`creating ${key}`, (db, now) => (key in db.leases ? null : set(db, key, attrs, ttlSec, now)));
  }

  update(s: Subnet, attrs: LeaseAttrs, ttlSec: number): Promise<number | null> {
    const key = subnetKey(s);
    return this.mutate(`renewing ${key}`, (db, now) => (key in db.leases ? set(db, key, attrs, ttlSec, now) : null));
  }

  async delete(s: Subnet): Promise<void> {
    const key = subnetKey(s);
    await this.mutate(`deleting ${key}`, (db) => {
      if (key in db.leases) change(db, key, null);
    });
  }

  watch(fromRevision: number, h: WatchHandler): () => void {
    let next = fromRevision;
    let scheduled: NodeJS.Timeout | undefined;
    let timer: NodeJS.Timeout | undefined;
    let watcher: FSWatcher | undefined;
    const cancel = (): void => {
      this.watches.delete(cancel);
      clearInterval(timer);
      clearTimeout(scheduled);
      watcher?.close();
    };
    // The file as the last read found it, and the first expiry it holds: a
    // poll that finds the same file before then has nothing to read. Every
    // change renames a new file into place, so a change is a new identity.
    let seen: string | null = null;
    let nextExpiry = Infinity;
    const poll = (): void => {
      scheduled = undefined;
      const id = fileIdentity(this.path);
      if (id !== null && id === seen && Date.now() < nextExpiry) return h.events([], next - 1);
      let db: Db;
      try {
        db = this.read();
      } catch (e) {
        cancel();
        return h.failed(this.fail('watching', e));
      }
      // Taken before the read: a change in between makes the next poll read again.
      seen = id;
      // The history we need is gone, or the revision went back (the file was
      // removed or replaced): either way, only a fresh list is right.
      if (next <= db.compacted || db.revision < next - 1) {
        cancel();
        return h.compacted();
      }
      const batch: StoreEvent[] = [];
      for (const e of db.history) {
        if (e.revision < next) continue;
        const lease = e.lease && this.leaseOf(e.key, e.lease.attrs, e.lease.expires === null);
        const subnet = lease?.subnet ?? parseSubnetKey(e.key);
        // As with etcd: an unusable value means the subnet is gone for us.
        if (subnet !== null) batch.push(lease ? { type: 'put', lease } : { type: 'delete', subnet });
      }
      next = db.revision + 1;
      const now = Date.now();
      nextExpiry = Infinity;
      for (const l of Object.values(db.leases)) if (l.expires !== null && l.expires < nextExpiry) nextExpiry = l.expires;
      // Nobody deletes expired leases unless a process does; the first watcher to notice does.
      if (nextExpiry <= now) {
        this.mutate('expiring leases', () => undefined).catch((e: Error) => this.o.log?.warn(e.message));
      }
      h.events(batch, db.revision);
    };
    // A write is a rename into the directory: watch the directory, not the
    // file's old inode. A short delay folds bursts of writes into one read.
    const schedule = (): void => {
      scheduled ??= setTimeout(poll, 5);
    };
    try {
      watcher = fsWatch(dirname(this.path), (_type, name) => name === basename(this.path) && schedule());
      watcher.on('error', () => watcher?.close()); // polling still runs
    } catch {
      // no inotify: polling alone
    }
    timer = setInterval(schedule, this.pollMs);
    this.watches.add(cancel);
    schedule();
    return cancel;
  }

  async close(): Promise<void> {
    this.closing.abort();
    for (const cancel of [...this.watches]) cancel();
  }
}

/** What tells one version of the file from another (inode, size, times), or null if it cannot be had. */
function fileIdentity(path: string): string | null {
  try {
    const st = statSync(path, { bigint: true });
    return `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
  } catch {
    return null; // the read reports what is wrong
  }
}

/** Records one change to a key (null: deleted) under a new revision. */
function change(db: Db, key: string, l: StoredLease | null): void {
  db.revision++;
  if (l === null) delete db.leases[key];
  else db.leases[key] = l;
  db.history.push({ revision: db.revision, key, lease: l });
}

/** Puts a lease with a TTL (0: none) and returns its expiry, Infinity for none. */
function set(db: Db, key: string, attrs: LeaseAttrs, ttlSec: number, now: number): number {
  const expires = ttlSec > 0 ? now + ttlSec * 1000 : null;
  change(db, key, { attrs, expires });
  return expires ?? Infinity;
}
