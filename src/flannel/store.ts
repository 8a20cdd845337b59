// What the subnet manager needs from a lease store: etcd (etcd-store.ts) for
// clusters, a locked file (file-store.ts) for one machine. Both keep etcd's
// semantics: a revision that grows with every change, create-if-absent,
// keys bound to a TTL or none (reservations), and a watch that resumes from
// a revision or says that history is gone (compacted) so the caller re-lists.
import type { VxtapError } from '../core/errors.js';
import type { Lease, LeaseAttrs } from './lease.js';
import type { Subnet } from './subnet.js';

export type StoreEvent =
  | { readonly type: 'put'; readonly lease: Lease }
  | { readonly type: 'delete'; readonly subnet: Subnet };

export interface WatchHandler {
  /**
   * Changes in revision order; afterwards everything up to `revision` has been
   * delivered. An empty batch says the watch is (still) live.
   */
  events(batch: StoreEvent[], revision: number): void;
  /** The history after the start revision is gone: list again. Ends the watch. */
  compacted(): void;
  /** The store could not be reached or the watch broke. Ends the watch. */
  failed(err: VxtapError): void;
}

/**
 * Failures to reach or use the store are VxtapError 'E_STORE' and worth a
 * retry; anything else (a bad config: 'E_CONFIG') is not.
 */
export interface LeaseStore {
  /** Where the network config lives, to name it in messages. */
  readonly configKey: string;
  /** The full name of a lease's key, to name it in messages. */
  leaseKey(s: Subnet): string;
  /** The raw text of the network config. */
  getConfig(): Promise<string>;
  /** All leases, and the revision they are current at. */
  list(): Promise<{ leases: Lease[]; revision: number }>;
  /**
   * Creates the key only if it is absent, bound to a TTL (0: none, a
   * reservation). Returns when it expires (ms since the epoch, Infinity for
   * none), or null if the key exists.
   */
  create(subnet: Subnet, attrs: LeaseAttrs, ttlSec: number): Promise<number | null>;
  /**
   * Rewrites an existing key and binds it to a fresh TTL (0: none): flannel's
   * updateSubnet, used to reuse and to renew a lease. Returns the expiry, or
   * null if the key is gone.
   */
  update(subnet: Subnet, attrs: LeaseAttrs, ttlSec: number): Promise<number | null>;
  delete(subnet: Subnet): Promise<void>;
  /** Watches the leases from `fromRevision` on; returns a function that cancels. */
  watch(fromRevision: number, handler: WatchHandler): () => void;
  close(): Promise<void>;
}
