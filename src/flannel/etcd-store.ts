// The lease store on etcd v3, doing what flanneld's etcd registry does
// (pkg/subnet/etcd/registry.go): leases are `<prefix>/subnets/<ip>-<len>`,
// created by a transaction that puts only if the key's version is 0, each
// bound to its own etcd lease; renewal grants a new etcd lease and re-puts
// the value on it.
//
// It uses etcd3's raw gRPC clients (kv, leaseClient, watchClient) rather than
// its builders, for two reasons:
//  - etcd3's Watcher takes its resume revision from the watch-created
//    response, whose header is the store's current revision, not how far
//    events have been delivered: a reconnect before the replay finishes would
//    skip events. It also reports compaction as a generic "Watcher canceled"
//    error. The raw stream gives compact_revision and every header.
//  - A transaction's put with prev_kv tells which etcd lease the key was on,
//    so renewal can revoke it instead of leaving it to expire.
//
// With https:// endpoints it speaks TLS with the credentials of etcd-tls.ts,
// and with a user it authenticates as etcd3 does (a token per connection).
// A failure of either is E_CREDENTIALS, not E_STORE (see etcd-tls.ts).
import { Etcd3, type IKeyValue, type IWatchResponse } from 'etcd3';
import type { Logger } from 'pino';
import { VxtapError } from '../core/errors.js';
import { CONFIG_EXAMPLE } from './config.js';
import { decodeAttrs, encodeAttrs, parseSubnetKey, subnetKey, type Lease, type LeaseAttrs } from './lease.js';
import { credentialsError, loadEtcdCredentials, quietIpServerName } from './etcd-tls.js';
import type { EtcdAuth, EtcdTlsFiles } from './flags.js';
import type { LeaseStore, StoreEvent, WatchHandler } from './store.js';
import type { Subnet } from './subnet.js';

export interface EtcdStoreOptions {
  /** `http://host:port` URLs, or `https://` ones with `tls`. */
  endpoints: string[];
  /** The key prefix, flanneld's --etcd-prefix: /coreos.com/network by default. */
  prefix: string;
  /** The TLS files (read here, so a bad one fails the constructor); null or absent: http://. */
  tls?: EtcdTlsFiles | null;
  /** An etcd user (flanneld's --etcd-username, --etcd-password). */
  auth?: EtcdAuth | null;
  /** Deadline for each unary call; a dead etcd then fails fast. Default 5 s. */
  callTimeoutMs?: number;
  log?: Logger;
}

export class EtcdStore implements LeaseStore {
  readonly configKey: string;
  private readonly subnets: string;
  private readonly client: Etcd3;
  private readonly where: string;
  private readonly watches = new Set<() => void>();
  private lastWhy = 'no answer yet';

  constructor(private readonly o: EtcdStoreOptions) {
    this.configKey = `${o.prefix}/config`;
    this.subnets = `${o.prefix}/subnets/`;
    this.where = `etcd ${o.endpoints.join(',')}`;
    const timeout = o.callTimeoutMs ?? 5000;
    const creds = o.tls ? loadEtcdCredentials(o.tls) : null;
    if (creds !== null) quietIpServerName();
    this.client = new Etcd3({
      hosts: o.endpoints,
      // grpc-js takes a null CA as "the system's"; etcd3's type wants a Buffer.
      credentials: creds === null ? undefined : {
        rootCertificate: creds.rootCertificate as Buffer,
        certChain: creds.certChain ?? undefined,
        privateKey: creds.privateKey ?? undefined,
      },
      auth: o.auth ? { username: o.auth.username, password: o.auth.password } : undefined,
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + timeout }),
      grpcOptions: {
        // Notice a silently dead etcd while the watch stream is open. etcd
        // accepts pings every 5 s or slower, and only during calls.
        'grpc.keepalive_time_ms': 10_000,
        'grpc.keepalive_timeout_ms': 5_000,
        // gRPC waits up to 2 minutes between reconnects by default; catch up
        // soon after etcd comes back instead.
        'grpc.max_reconnect_backoff_ms': 5_000,
        // A list of many leases is one response (1000 are ~150 kB).
        'grpc.max_receive_message_length': 64 << 20,
      },
    });
  }

  private fail(what: string, e: unknown): VxtapError {
    // gRPC's messages span lines and may end in an empty "Resolution note:".
    let why = (e instanceof Error ? e.message : String(e)).replace(/\s+/g, ' ').replace(/ ?Resolution note: ?$/, '');
    // After three failures in a row etcd3 stops calling etcd for 5 s and says
    // only that its circuit breaker is open: name the failure that opened it.
    if ((e as { isBrokenCircuitError?: boolean }).isBrokenCircuitError === true) why = this.lastWhy;
    else this.lastWhy = why;
    const refused = credentialsError(why, this.where, this.o.tls ?? null, this.o.auth ?? null, what);
    if (refused !== null) return refused;
    return new VxtapError('E_STORE', `${this.where}: ${what} failed (${why}): check that etcd is running and that --etcd-endpoints points at it`);
  }

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw e instanceof VxtapError ? e : this.fail(what, e);
    }
  }

  leaseKey(s: Subnet): string {
    return this.subnets + subnetKey(s);
  }

  private key(s: Subnet): Buffer {
    return Buffer.from(this.leaseKey(s));
  }

  async getConfig(): Promise<string> {
    const r = await this.call(`reading ${this.configKey}`, () => this.client.kv.range({ key: Buffer.from(this.configKey) }));
    if (r.kvs.length === 0) {
      throw new VxtapError('E_CONFIG', `${this.configKey} is not in ${this.where}: create the network config, e.g. etcdctl put ${this.configKey} '${CONFIG_EXAMPLE}'`);
    }
    return r.kvs[0].value.toString();
  }

  async list(): Promise<{ leases: Lease[]; revision: number }> {
    const key = Buffer.from(this.subnets);
    const r = await this.call(`listing ${this.subnets}`, () => this.client.kv.range({ key, range_end: prefixEnd(key) }));
    const leases: Lease[] = [];
    for (const kv of r.kvs) {
      const subnet = this.subnetOf(kv);
      const l = subnet && this.leaseOf(subnet, kv);
      if (l) leases.push(l);
    }
    return { leases, revision: Number(r.header.revision) };
  }

  // Keys that are not subnets and values that are unusable are skipped, with
  // a warning, as flanneld skips "bad subnet nodes".
  private subnetOf(kv: IKeyValue): Subnet | null {
    const subnet = parseSubnetKey(kv.key.toString().slice(this.subnets.length));
    if (subnet === null) this.o.log?.warn(`ignoring ${kv.key.toString()}: not a flannel subnet key`);
    return subnet;
  }

  private leaseOf(subnet: Subnet, kv: IKeyValue): Lease | null {
    try {
      return { subnet, attrs: decodeAttrs(kv.value.toString()), reservation: kv.lease === '0' };
    } catch (e) {
      this.o.log?.warn(`ignoring ${kv.key.toString()}: ${(e as Error).message}`);
      return null;
    }
  }

  /** Grants an etcd lease (none for a TTL of 0) and says when it expires. */
  private async grant(ttlSec: number): Promise<{ id: string; expires: number }> {
    if (ttlSec === 0) return { id: '0', expires: Infinity };
    // Taken before the call, so the expiry we act on is never later than etcd's.
    const now = Date.now();
    const r = await this.client.leaseClient.leaseGrant({ TTL: ttlSec });
    return { id: r.ID, expires: now + Number(r.TTL) * 1000 };
  }

  private async revoke(id: string): Promise<void> {
    if (id === '0') return;
    // Best effort: an orphaned etcd lease holds no key and expires on its own.
    await this.client.leaseClient.leaseRevoke({ ID: id }).catch(() => undefined);
  }

  /** Puts the key on a fresh etcd lease if its version compares as asked. */
  private async putIf(what: string, s: Subnet, attrs: LeaseAttrs, ttlSec: number, exists: boolean): Promise<number | null> {
    const key = this.key(s);
    return this.call(`${what} ${key}`, async () => {
      const lease = await this.grant(ttlSec);
      try {
        const r = await this.client.kv.txn({
          compare: [{ key, target: 'Version', result: exists ? 'Greater' : 'Equal', version: 0 }],
          success: [{ request_put: { key, value: Buffer.from(encodeAttrs(attrs)), lease: lease.id, prev_kv: true } }],
        });
        if (!r.succeeded) {
          await this.revoke(lease.id);
          return null;
        }
        const prev = r.responses[0]?.response_put?.prev_kv?.lease;
        if (prev !== undefined && prev !== lease.id) await this.revoke(prev);
        return lease.expires;
      } catch (e) {
        void this.revoke(lease.id);
        throw e;
      }
    });
  }

  create(s: Subnet, attrs: LeaseAttrs, ttlSec: number): Promise<number | null> {
    return this.putIf('creating', s, attrs, ttlSec, false);
  }

  update(s: Subnet, attrs: LeaseAttrs, ttlSec: number): Promise<number | null> {
    return this.putIf('renewing', s, attrs, ttlSec, true);
  }

  async delete(s: Subnet): Promise<void> {
    const key = this.key(s);
    await this.call(`deleting ${key}`, () => this.client.kv.deleteRange({ key }));
  }

  watch(fromRevision: number, h: WatchHandler): () => void {
    let cancelStream: (() => void) | undefined;
    let done = false;
    const cancel = (): void => {
      done = true;
      this.watches.delete(cancel);
      cancelStream?.();
    };
    const end = (report: () => void): void => {
      if (done) return;
      cancel();
      report();
    };
    const failed = (e: unknown): void => end(() => h.failed(this.fail(`watching ${this.subnets}`, e)));
    this.watches.add(cancel);
    this.client.watchClient.watch().then((stream) => {
      cancelStream = () => stream.cancel();
      if (done) return stream.cancel();
      stream.on('data', (r: IWatchResponse) => {
        if (r.compact_revision !== '0') return end(() => h.compacted());
        if (r.canceled) return failed(new Error(r.cancel_reason || 'etcd canceled the watch'));
        // The created response's revision is "now", not how far events went:
        // nothing is delivered yet, so only say that the watch is live.
        if (r.created) return h.events([], fromRevision - 1);
        // A catch-up batch carries the store's current revision even when
        // more batches follow (etcd sends at most 1000 revisions at a time):
        // count only up to the last event delivered. An empty response is a
        // progress notice, which etcd sends only once the watch is current.
        const last = r.events[r.events.length - 1];
        h.events(this.toEvents(r), Number(last ? last.kv.mod_revision : r.header.revision));
      });
      stream.on('error', failed);
      stream.on('end', () => failed(new Error('the watch stream ended')));
      const key = Buffer.from(this.subnets);
      stream.write({ create_request: { key, range_end: prefixEnd(key), start_revision: fromRevision, progress_notify: true } });
    }, failed);
    return cancel;
  }

  private toEvents(r: IWatchResponse): StoreEvent[] {
    const out: StoreEvent[] = [];
    for (const ev of r.events) {
      const subnet = this.subnetOf(ev.kv);
      if (subnet === null) continue;
      // An unusable value replaces a usable one: to this node that subnet is
      // gone, as a fresh list would say.
      const lease = ev.type === 'Put' ? this.leaseOf(subnet, ev.kv) : null;
      out.push(lease ? { type: 'put', lease } : { type: 'delete', subnet });
    }
    return out;
  }

  async close(): Promise<void> {
    for (const cancel of [...this.watches]) cancel();
    this.client.close();
  }
}

/** etcd's range end for a prefix: the prefix with its last byte incremented. */
function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  // Prefixes here end in '/', so the last byte never overflows.
  end[end.length - 1]++;
  return end;
}
