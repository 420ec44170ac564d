// Reads cached keys of a near cache (wasmap/redis) in a loop while the test
// sends FLUSHALL: once the cache's generation moved (the flush began), a
// read may never return a value from before the flush (Redis has none).
import { parentPort, workerData } from 'node:worker_threads';
import { RedisNearCache } from '../../dist/redis.js';

const near = await RedisNearCache.attach(workerData.near, { url: workerData.url });
const ns = near.ns; // the cache's namespace, to watch its generation
const g0 = ns.getEntry('g').modRevision;
let stop = false;
parentPort.on('message', () => (stop = true));
parentPort.postMessage({ ready: true });
let reads = 0;
let afterFlush = 0;
let violations = 0;
for (let i = 0; !stop; i++) {
  const key = `user:${(i * 7919) % workerData.keys}`;
  const flushed = ns.getEntry('g').modRevision !== g0;
  const v = await near.get(key);
  reads++;
  if (flushed) {
    afterFlush++;
    if (v !== null) violations++;
  }
}
await near.close();
parentPort.postMessage({ reads, afterFlush, violations });
