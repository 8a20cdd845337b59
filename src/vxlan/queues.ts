// A VTEP with several queues: queue 0 runs on the main thread (it owns the
// link configuration, the control socket and capture), queues 1..N-1 each in
// a worker thread. The kernel spreads TAP frames over the TAP's queues and
// datagrams over the SO_REUSEPORT sockets by flow hash.
//
// Each queue learns into its own FDB: a MAC learned by one queue is unknown
// to the others until they see it too, and they flood it meanwhile. Static
// entries and flood lists are the same everywhere.
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { VxtapError } from '../control/errors.js';
import { Vtep, type VtepSpec } from './vtep.js';

/** Stats keys that describe queue 0 rather than add up across queues. */
const LEADER_ONLY = new Set(['fdb_entries', 'offloads', 'capture']);

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

export class VtepQueues {
  readonly leader: Vtep;
  private readonly workers: Worker[] = [];
  /** The thread id of each worker queue (1..N-1), as /proc/PID/task lists it. */
  readonly threadIds: number[] = [];

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
      const [m] = (await Promise.race([once(w, 'message'), once(w, 'error').then(([e]) => [{ error: String(e) }])])) as [{ error?: string; tid?: number }];
      if (m.error !== undefined) throw new VxtapError('E_DEVICE', `queue ${q}: ${m.error}`);
      this.threadIds.push(m.tid!);
    }
  }

  /**
   * Counters summed over all queues (FDB sizes, offloads and capture are
   * queue 0's), and `queue_packets`: packets each queue took in from its TAP
   * queue and its socket, which shows how the kernel spreads the load.
   */
  async stats(): Promise<Tree> {
    const total = this.leader.stats() as Tree;
    const perQueue = [packetsIn(total)];
    for (const w of this.workers) {
      w.postMessage('stats');
      const [m] = (await once(w, 'message')) as [{ stats: Tree }];
      perQueue.push(packetsIn(m.stats));
      addInto(total, m.stats);
    }
    return { ...total, queues: this.count, queue_packets: perQueue };
  }

  close(): void {
    this.leader.close();
    for (const w of this.workers) w.postMessage('close');
  }
}
