// A VTEP with several queues: queue 0 runs on the main thread (it owns the
// link configuration, the control socket and capture), queues 1..N-1 each in
// a worker thread. The kernel spreads TAP frames over the TAP's queues and
// datagrams over the SO_REUSEPORT sockets by flow hash.
//
// Each queue learns into its own FDB: a MAC learned by one queue is unknown
// to the others until they see it too, and they flood it meanwhile. Static
// entries and flood lists are the same everywhere: a runtime change
// (applyFdb) reaches every queue before it is answered. So do networks and
// ports added or removed at runtime (addNetwork, addPort, ...): queue 0
// first, since it creates a TAP that the other queues then attach to.
import { Worker } from 'node:worker_threads';
import { type ErrorCode, VxtapError } from '../core/errors.js';
import { type FdbChange, type NetworkSpec, type PortSpec, type TopologyChange, Vtep, type VtepSpec } from './vtep.js';
import type { QueueReply, QueueRequest } from './worker.js';

/** Stats keys that describe queue 0 rather than add up across queues. */
const LEADER_ONLY = new Set(['fdb_entries', 'offloads', 'capture']);
/**
 * How long a queue has to answer a stats request, and to end after close():
 * it answers between two batches, so a queue that takes longer is wedged.
 */
export const QUEUE_ANSWER_MS = 2000;

type Tree = Record<string, unknown>;

function addInto(total: Tree, part: Tree): void {
  for (const [k, v] of Object.entries(part)) {
    const t = total[k];
    if (LEADER_ONLY.has(k)) continue;
    if (typeof v === 'number' && typeof t === 'number') total[k] = t + v;
    else if (v !== null && typeof v === 'object' && t !== null && typeof t === 'object') addInto(t as Tree, v as Tree);
  }
}

/** TAP frames read plus VXLAN datagrams accepted, from one queue's stats. */
function packetsIn(stats: Tree): number {
  const sum = (t: unknown) => Object.values(t as Record<string, { rx_packets: number }>).reduce((a, c) => a + c.rx_packets, 0);
  return sum(stats.ports) + sum(stats.vnis);
}

interface Pending {
  resolve: (answer: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class VtepQueues {
  readonly leader: Vtep;
  private readonly workers: Worker[] = [];
  /** The thread id of each worker queue (1..N-1), as /proc/PID/task lists it. */
  readonly threadIds: number[] = [];
  /**
   * Called once if a worker queue fails after start-up (an uncaught error,
   * or its thread ended): its share of the flows goes nowhere from then on,
   * so the instance must stop. stats() fails from then on too.
   */
  onFailure: ((e: Error) => void) | null = null;
  /** Why a queue failed, once one has. */
  failure: Error | null = null;
  private closing = false;
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();

  constructor(readonly spec: VtepSpec) {
    this.leader = new Vtep({ ...spec, queue: 0 });
  }

  get count(): number {
    return this.spec.queues ?? 1;
  }

  /** Starts queue 0, then the workers one by one (the TAP must exist before they attach). */
  async start(): Promise<void> {
    this.leader.start();
    for (let q = 1; q < this.count; q++) {
      const w = new Worker(new URL('./worker.js', import.meta.url), { workerData: { ...this.spec, queue: q } });
      this.workers.push(w);
      this.threadIds.push(await this.started(w, q));
    }
  }

  /**
   * Waits for queue q's start-up answer, its thread id. Every 'error' and
   * 'exit' of the worker is listened to for its whole life: one after
   * start-up is a failure of the instance, never lost.
   */
  private started(w: Worker, q: number): Promise<number> {
    return new Promise((resolve, reject) => {
      let up = false;
      let refused = false;
      const refuse = (why: string) => {
        up = refused = true;
        reject(new VxtapError('E_DEVICE', `queue ${q}: ${why}`));
      };
      w.on('message', (m: QueueReply) => {
        if (up) return this.answered(m);
        if ('error' in m) return refuse(m.error);
        if ('tid' in m) {
          up = true;
          resolve(m.tid);
        }
      });
      w.on('error', (e: Error) => (up ? this.fail(q, e.message) : refuse(e.message)));
      w.on('exit', (code: number) => {
        if (!up) refuse(`its thread ended (exit code ${code}) before it started`);
        else if (!refused && !this.closing) this.fail(q, `its thread ended (exit code ${code})`);
      });
    });
  }

  private fail(q: number, why: string): void {
    if (this.failure !== null) return;
    this.failure = new Error(`queue ${q} failed: ${why}`);
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(this.failure);
    }
    this.pending.clear();
    this.onFailure?.(this.failure);
  }

  private answered(m: QueueReply): void {
    if (!('id' in m)) return;
    const p = this.pending.get(m.id);
    if (p === undefined) return; // it came after its request gave up
    this.pending.delete(m.id);
    clearTimeout(p.timer);
    if ('error' in m) p.reject(new VxtapError(m.code as ErrorCode, m.error));
    else p.resolve('stats' in m ? m.stats : m.applied);
  }

  /** Queue q's answer to a request, or an error if it does not answer within QUEUE_ANSWER_MS or fails meanwhile. */
  private ask(w: Worker, q: number, request: { cmd: 'stats' } | { cmd: 'fdb'; change: FdbChange } | { cmd: 'topology'; change: TopologyChange }): Promise<unknown> {
    if (this.failure !== null) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`queue ${q} did not answer within ${QUEUE_ANSWER_MS} ms`));
      }, QUEUE_ANSWER_MS);
      this.pending.set(id, { resolve, reject, timer });
      w.postMessage({ ...request, id } satisfies QueueRequest);
    });
  }

  /**
   * Applies an FDB change in every queue, queue 0 first; resolves once all
   * have. Returns the queues whose FDB was full (maxaddress) and refused it.
   */
  async applyFdb(change: FdbChange): Promise<number[]> {
    const applied = [this.leader.applyFdb(change), ...await Promise.all(this.workers.map((w, k) => this.ask(w, k + 1, { cmd: 'fdb', change })))];
    return applied.flatMap((ok, q) => (ok === true ? [] : [q]));
  }

  /** Adds a network with its ports, flood list and statics, in every queue; a VxtapError if any queue cannot. */
  addNetwork(network: NetworkSpec): Promise<void> {
    return this.everyQueue({ op: 'add-network', network }, { op: 'remove-network', vni: network.vni });
  }

  /** Removes a network, its ports (their TAPs disappear) and its FDB, in every queue. */
  removeNetwork(vni: number): Promise<void> {
    return this.everyQueue({ op: 'remove-network', vni });
  }

  /** Adds a TAP port to network `vni`; every queue attaches its TAP queue. */
  addPort(vni: number, port: PortSpec): Promise<void> {
    return this.everyQueue({ op: 'add-port', vni, port }, { op: 'remove-port', dev: port.dev });
  }

  /** Removes a port and its FDB entries; its TAP disappears once every queue has closed its share. */
  removePort(dev: string): Promise<void> {
    return this.everyQueue({ op: 'remove-port', dev });
  }

  /**
   * Makes a topology change in queue 0 (which throws what it refuses, before
   * any other queue sees it), then in the others. If one of them fails, `undo`
   * takes the change back where it was made, and the first failure is thrown.
   */
  private async everyQueue(change: TopologyChange, undo?: TopologyChange): Promise<void> {
    this.leader.applyTopology(change);
    const asked = await Promise.allSettled(this.workers.map((w, k) => this.ask(w, k + 1, { cmd: 'topology', change })));
    const failed = asked.findIndex((r) => r.status === 'rejected');
    if (failed < 0) return;
    if (undo !== undefined) {
      this.leader.applyTopology(undo);
      await Promise.allSettled(this.workers.flatMap((w, k) => (asked[k].status === 'fulfilled' ? [this.ask(w, k + 1, { cmd: 'topology', change: undo })] : [])));
    }
    const e = (asked[failed] as PromiseRejectedResult).reason as Error;
    throw e instanceof VxtapError ? new VxtapError(e.code, `queue ${failed + 1}: ${e.message}`) : e;
  }

  /**
   * Counters summed over all queues (FDB sizes, offloads and capture are
   * queue 0's), and `queue_packets`: packets each queue took in from its TAP
   * queue and its socket, which shows how the kernel spreads the load.
   * Rejects when a queue has failed or does not answer in time.
   */
  async stats(): Promise<Tree> {
    const total = this.leader.stats() as Tree;
    const perQueue = [packetsIn(total)];
    const parts = (await Promise.all(this.workers.map((w, k) => this.ask(w, k + 1, { cmd: 'stats' })))) as Tree[];
    for (const part of parts) {
      perQueue.push(packetsIn(part));
      addInto(total, part);
    }
    return { ...total, queues: this.count, queue_packets: perQueue };
  }

  /** Closes every queue; a worker that has not ended QUEUE_ANSWER_MS later (wedged) is terminated. */
  close(): void {
    this.closing = true;
    this.leader.close();
    for (const w of this.workers) {
      w.postMessage({ cmd: 'close' } satisfies QueueRequest);
      setTimeout(() => void w.terminate(), QUEUE_ANSWER_MS).unref();
    }
  }
}
