// A caller of getOrCompute in a worker (compute.test.ts): attaches, waits
// for the go word, then asks for `key`. Its computation counts itself in
// `calls`, then (mode) returns its value after `ms`, hangs, or throws.
import { parentPort, workerData } from 'node:worker_threads';
import { SharedMap } from '../../dist/index.js';

const { handle, key, mode, ms, ttl, shared, name } = workerData;
const words = new Int32Array(shared); // [0] go, [1] computations
const map = await SharedMap.attach(handle);
parentPort.postMessage({ ready: true });
while (Atomics.load(words, 0) === 0) await new Promise((r) => setTimeout(r, 1));
const compute = async () => {
  Atomics.add(words, 1, 1);
  parentPort.postMessage({ computing: true });
  if (mode === 'hang') {
    setInterval(() => {}, 1000); // alive (a worker with nothing pending exits)
    await new Promise(() => {});
  }
  await new Promise((r) => setTimeout(r, ms));
  if (mode === 'throw') throw new Error(`${name} failed`);
  return `from ${name}`;
};
try {
  const value = await map.getOrCompute(key, compute, ttl === undefined ? undefined : { ttl });
  parentPort.postMessage({ value });
} catch (e) {
  parentPort.postMessage({ error: e.message });
}
