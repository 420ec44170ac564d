// The leader of a near cache (wasmap/redis) in a worker thread, which the
// test then terminates: posts the cache's handle and waits.
import { parentPort, workerData } from 'node:worker_threads';
import { RedisNearCache } from '../../dist/redis.js';

const near = await RedisNearCache.create({ url: workerData.url, prefixes: ['user:'], leaseMs: workerData.leaseMs });
parentPort.postMessage(near.handle);
setInterval(() => {}, 1000); // stays until terminated
