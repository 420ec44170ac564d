// Reads keys on a clock shared with the main thread (ms in an Int32Array).
import { parentPort, workerData } from 'node:worker_threads';
import { SharedMap } from '../../dist/index.js';

const time = new Int32Array(workerData.time);
const map = await SharedMap.attach(workerData.handle, { clock: () => 1_000_000 + Atomics.load(time, 0) });
parentPort.on('message', ({ keys }) => {
  parentPort.postMessage({ seen: keys.map((k) => map.get(k) ?? null), size: map.size });
});
parentPort.postMessage({ ready: true });
