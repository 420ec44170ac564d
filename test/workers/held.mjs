// A worker that runs operations the main thread sends it, each one held at
// a chosen fault point of the core until the main thread lets it go
// (held-operations.test.ts).
import { parentPort, workerData } from 'node:worker_threads';
import { SharedMap } from '../../dist/index.js';
import { fillWith } from './common.mjs';

// done[0]: operations finished (the main thread may spin on it while this
// worker is held: it cannot read messages then).
const done = new Int32Array(workerData.done);
const time = workerData.timeMs === undefined ? undefined : new Int32Array(workerData.timeMs);
const clock = time === undefined ? undefined : () => 1_000_000 + Atomics.load(time, 0);
const map = await SharedMap.attach(workerData.handle, clock ? { clock } : undefined);
parentPort.on('message', ({ op, args, hold, atDefrag }) => {
  if (hold !== undefined) map.__hold(hold, 0, false, false, atDefrag ?? false);
  parentPort.postMessage({ holdWord: map.__holdWord, started: true });
  let result;
  try {
    // 'fill': sets values of args[0] bytes under keys from args[1] on until
    // the map is full; the count.
    const value = op === 'fill' ? fillWith(map, args[0], args[1]) : map[op](...args);
    result = { value: value === map ? undefined : value };
  } catch (e) {
    result = { error: e.code ?? String(e) };
  }
  map.__hold(0);
  Atomics.add(done, 0, 1);
  parentPort.postMessage(result);
});
parentPort.postMessage({ ready: true, holdWord: map.__holdWord });
