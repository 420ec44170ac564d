// For linearizability.test.ts: when the main thread signals (ctl[0] = 1,
// from inside its clock, after it took its reading), moves the shared fake
// clock past the entry's expiry and removes the expired entry, then lets
// the main thread go on (ctl[0] = 2).
import { parentPort, workerData } from 'node:worker_threads';
import { SharedMap } from '../../dist/index.js';

const { handle, timeMs, ctl } = workerData;
const map = await SharedMap.attach(handle, { clock: () => 1_000_000 + Atomics.load(timeMs, 0) });
parentPort.postMessage({ ready: true });
Atomics.wait(ctl, 0, 0);
Atomics.add(timeMs, 0, 10);
const removed = map.purgeExpired();
map.close();
Atomics.store(ctl, 0, 2);
Atomics.notify(ctl, 0);
parentPort.postMessage({ removed });
