// Read-cache test (read-cache.test.ts): writers change keys in every way a
// key can change while a reader reads them through its cache.
import { parentPort, workerData } from 'node:worker_threads';
import { SharedMap } from '../../dist/index.js';
import { rng } from './common.mjs';

const { handle, role, keys, progress, stop, index } = workerData;
const map = await SharedMap.attach(handle, { readCache: 1024 });
parentPort.postMessage({ ready: true });
const next = rng(index * 31 + 7);
const tally = { reads: 0, cachedHits: 0, stale: [], writes: 0 };
const seqOf = (v) => (typeof v === 'number' ? v : Number(String(v).split(':')[0]));
if (role === 'writer') {
  // Writer `index` owns keys k with k % writers === index; progress[k] is
  // the sequence number of its last write that returned (a set, an
  // increment, a commit, an update or a new expiry: each writes a larger
  // number; a delete writes none and leaves progress as it was).
  const { writers } = workerData;
  let seq = 1;
  for (let i = 0; Atomics.load(stop, 0) === 0; i++) {
    const k = index + writers * Math.floor(next() * Math.ceil(keys / writers));
    if (k >= keys) continue;
    const key = `k${k}`;
    const p = next();
    seq++;
    if (p < 0.3) map.set(key, `${seq}:set`);
    else if (p < 0.4) map.delete(key);
    else if (p < 0.5) map.atomic().set(key, `${seq}:commit`).commit();
    else if (p < 0.6) map.update(key, () => `${seq}:update`);
    else if (p < 0.65) {
      map.set(key, `${seq}:ttl`, { ttl: 60_000 }); // timed: not cached
    } else if (p < 0.7) {
      // Cached by a reader, then expired: it must read as absent (or newer).
      map.set(key, `${seq}:expiring`);
      map.expire(key, 1);
    } else if (p < 0.8) {
      map.set(key, `${seq}:persist`, { ttl: 60_000 });
      map.persist(key);
    } else if (p < 0.9) {
      // A counter at seq: deleted, then incremented up to it.
      map.delete(key);
      map.increment(key, seq);
    } else {
      // Growth: a burst of other keys, then their deletion (migrations).
      for (let j = 0; j < 200; j++) map.set(`fill:${index}:${j}`, 'x');
      for (let j = 0; j < 200; j++) map.delete(`fill:${index}:${j}`);
      map.set(key, `${seq}:grown`);
    }
    if (p >= 0.3 && p < 0.4) continue;
    Atomics.store(progress, k, seq);
    tally.writes++;
  }
} else {
  // The reader: a read that begins after a write returned sees that write
  // or a later one, never an older value.
  for (let i = 0; Atomics.load(stop, 0) === 0; i++) {
    // Mostly a few hot keys, so that their copies are cached and reused.
    const k = next() < 0.8 ? Math.floor(next() * 4) : Math.floor(next() * keys);
    const before = Atomics.load(progress, k);
    const v = map.get(`k${k}`);
    tally.reads++;
    if (v !== undefined && seqOf(v) < before) tally.stale.push([k, before, v]);
  }
  tally.cachedHits = map.stats().hits;
}
map.close();
parentPort.postMessage({ result: tally });
