// A thread of a near cache (wasmap/redis): attaches, then answers
// { id, op: 'get' | 'set' | 'stats', key, value } with { id, value }.
import { parentPort, workerData } from 'node:worker_threads';
import { RedisNearCache } from '../../dist/redis.js';

const near = await RedisNearCache.attach(workerData.near, { url: workerData.url });
parentPort.on('message', async (m) => {
  try {
    if (m.op === 'get') parentPort.postMessage({ id: m.id, value: await near.get(m.key) });
    else if (m.op === 'set') parentPort.postMessage({ id: m.id, value: await near.set(m.key, m.value) });
    else if (m.op === 'stats') parentPort.postMessage({ id: m.id, value: near.stats() });
    else if (m.op === 'close') {
      await near.close();
      parentPort.postMessage({ id: m.id, value: null });
    }
  } catch (err) {
    parentPort.postMessage({ id: m.id, error: String(err?.stack ?? err) });
  }
});
parentPort.postMessage({ ready: true });
