// One extra queue of a multi-queue VTEP, in its own thread: its own TAP
// queue (IFF_MULTI_QUEUE), its own SO_REUSEPORT socket, its own pipeline.
// It answers 'stats' and 'close' from the main thread.
//
// Capabilities are per thread: started unprivileged with ambient ones (README:
// Privileges), the queue drops its own once its TAP queue and socket are
// open, since the pipeline needs none. Started as root, it keeps root's, which
// the main thread's switch to --user then clears on every thread.
import { parentPort, workerData } from 'node:worker_threads';
import { dropThreadCapabilities, threadId } from '../io/native.js';
import { Vtep, type VtepSpec } from './vtep.js';

const port = parentPort!;
const vtep = new Vtep(workerData as VtepSpec);
try {
  vtep.start();
  if (process.geteuid!() !== 0) dropThreadCapabilities();
  port.postMessage({ ready: true, tid: threadId() });
} catch (e) {
  port.postMessage({ error: e instanceof Error ? e.message : String(e) });
  port.close();
}
port.on('message', (m: string) => {
  if (m === 'stats') {
    port.postMessage({ stats: vtep.stats() });
  } else if (m === 'close') {
    vtep.close();
    port.close();
  }
});
