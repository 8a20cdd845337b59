// One extra queue of a multi-queue VTEP, in its own thread: its own TAP
// queue (IFF_MULTI_QUEUE), its own SO_REUSEPORT socket, its own pipeline.
// It answers the main thread's stats, FDB change, topology change (networks
// and ports added or removed) and close requests (QueueRequest).
//
// Capabilities are per thread: started unprivileged with ambient ones (README:
// Privileges), the queue drops its own once its TAP queue and socket are
// open, since the pipeline needs none. Started as root, it keeps root's, which
// the main thread's switch to --user then clears on every thread.
import { parentPort, workerData } from 'node:worker_threads';
import { dropThreadCapabilities, threadId } from '../io/native.js';
import { VxtapError } from '../core/errors.js';
import { type FdbChange, type TopologyChange, Vtep, type VtepSpec } from './vtep.js';

/** What the main thread asks a queue (queues.ts). */
export type QueueRequest =
  | { cmd: 'stats'; id: number }
  | { cmd: 'fdb'; id: number; change: FdbChange }
  | { cmd: 'topology'; id: number; change: TopologyChange }
  | { cmd: 'close' };
/**
 * What a queue answers: once at start-up (its thread id, or why it failed),
 * then each request with its id; a change it could not make with the error's
 * code and message.
 */
export type QueueReply =
  | { tid: number }
  | { error: string }
  | { id: number; stats: object }
  | { id: number; applied: boolean }
  | { id: number; error: string; code: string };

const port = parentPort!;
const vtep = new Vtep(workerData as VtepSpec);
const reply = (m: QueueReply) => port.postMessage(m);
// An uncaught error ends this thread (the main thread hears of it and stops
// the instance): close the pipeline first, since a thread may not end with
// its descriptors still polled.
process.on('uncaughtExceptionMonitor', () => vtep.close());
try {
  vtep.start();
  if (process.geteuid!() !== 0) dropThreadCapabilities();
  reply({ tid: threadId() });
} catch (e) {
  reply({ error: e instanceof Error ? e.message : String(e) });
  port.close();
}
port.on('message', (m: QueueRequest) => {
  if (m.cmd === 'stats') {
    reply({ id: m.id, stats: vtep.stats() });
  } else if (m.cmd === 'fdb' || m.cmd === 'topology') {
    try {
      reply({ id: m.id, applied: m.cmd === 'fdb' ? vtep.applyFdb(m.change) : (vtep.applyTopology(m.change), true) });
    } catch (e) {
      // A change the leader made but this queue cannot (its TAP queue did not attach): the caller undoes it.
      reply({ id: m.id, error: e instanceof Error ? e.message : String(e), code: e instanceof VxtapError ? e.code : 'E_DEVICE' });
    }
  } else {
    vtep.close();
    port.close();
  }
});
