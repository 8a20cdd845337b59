// One extra queue of a multi-queue VTEP, in its own thread: its own TAP
// queue (IFF_MULTI_QUEUE), its own SO_REUSEPORT socket, its own pipeline.
// It answers 'stats' and 'close' from the main thread.
import { parentPort, workerData } from 'node:worker_threads';
import { Vtep, type VtepSpec } from './vtep.js';

const port = parentPort!;
const vtep = new Vtep(workerData as VtepSpec);
try {
  vtep.start();
  port.postMessage({ ready: true });
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
