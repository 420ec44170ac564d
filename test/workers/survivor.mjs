// Keeps working through every kill: mixed operations on its own keys, with a
// heartbeat in progress[0]. Stops when progress[1] becomes 1; reports the
// keys it left in the map.
import { parentPort, workerData } from 'node:worker_threads';
import { SharedMap } from '../../dist/index.js';

const map = await SharedMap.attach(workerData.handle);
const { progress } = workerData;
parentPort.postMessage({ ready: true });
const live = new Set();
let i = 0;
while (Atomics.load(progress, 1) === 0) {
  const k = `surv:${i % 5000}`;
  if (i % 5 === 4) {
    if (map.delete(k)) live.delete(k);
  } else {
    map.set(k, `s${i}`);
    live.add(k);
  }
  const check = map.get(`surv:${(i * 7) % 5000}`);
  if (check !== undefined && !/^s\d+$/.test(check)) throw new Error(`survivor read a bad value: ${check}`);
  i++;
  Atomics.store(progress, 0, i);
}
map.close();
parentPort.postMessage({ result: { live: [...live], ops: i } });
