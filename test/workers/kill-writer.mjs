// A writer that is killed at a random instant: it publishes how many of its
// sets have returned in progress[index] (after each one returns).
import { parentPort, workerData } from 'node:worker_threads';
import { SharedMap } from '../../dist/index.js';
import { killValue } from './kill-value.mjs';

const map = await SharedMap.attach(workerData.handle);
const { progress, slot, round } = workerData;
parentPort.postMessage({ ready: true });
for (let i = 0; ; i++) {
  // Keys unique per round, so the table keeps growing.
  map.set(`kill:${round}:${i}`, killValue(i));
  if (i % 7 === 0) map.increment(`killcount:${round % 4}`);
  Atomics.store(progress, slot, i + 1);
}
