// A map bounded by memory alone, with eviction 'lru', filled by several
// writers at once whose entries fall in different size classes: every insert
// evicts what it needs and succeeds. A LocalMap (one thread) fills it alone,
// with the three sizes in turn.
//
// Regression: with two or three writers, most inserts failed with
// ERR_CAPACITY and the map ended nearly empty. Evictions freed entries of any
// size class (useless to the writer that needed a block of its own), came
// back only after other threads' operations had ended, and the table, halved
// for want of a block of its size, ended too small to migrate into any block
// left (bench/lru-threads.mjs measures the same at a larger size).
import { afterEach, expect, test } from 'vitest';
import { SharedMap } from '../dist/index.js';
import { createMap, LOCAL, scale, startWorkers } from './helpers.js';
// @ts-expect-error: plain JS module shared with the workers
import { evictValue, roles } from './workers/roles.mjs';

let map: SharedMap;
afterEach(() => map?.close());

const WRITERS = LOCAL ? 1 : 3;
const MEMORY = scale(2, 4) << 20;

interface Filled {
  inserted: number;
  deleted: number;
  refused: number;
}

test(`${WRITERS} writer(s) of new keys into a full map with eviction 'lru' all succeed, and the map stays full`, async () => {
  map = await createMap({ maxMemoryBytes: MEMORY, eviction: 'lru' });
  const count = scale(40_000, 300_000);
  const params = { count, writers: WRITERS, mixed: LOCAL };
  const started = await startWorkers<Filled>(map, 'stress.mjs', WRITERS - 1, { role: 'fillEvict', params });
  started.go();
  const results: Filled[] = [roles(map).fillEvict({ ...params, writer: 0 }), ...(await started.results)];
  const sum = (k: keyof Filled) => results.reduce((a, r) => a + r[k], 0);
  expect(sum('refused')).toBe(0);
  const { evictions } = map.stats();
  expect(evictions).toBeGreaterThan(0); // the map did fill up
  expect(sum('inserted') - sum('deleted') - evictions).toBe(map.size);
  // Full, not emptied: the entries held take a good part of the memory (an
  // entry is 160 to 256 bytes with its header and padding, the tables and
  // the threads' buffers take the rest).
  expect(map.size * 256).toBeGreaterThan(MEMORY * 0.3);
  let present = 0;
  for (let w = 0; w < WRITERS; w++) {
    for (let i = 0; i < count; i++) {
      const v = map.get(`fe:${w}:${i}`);
      if (v === undefined) continue;
      present++;
      if (v !== evictValue(w, i, LOCAL)) expect(v, `fe:${w}:${i}`).toBe(evictValue(w, i, LOCAL));
    }
  }
  expect(present).toBe(map.size);
  expect(map.__verify()).toBe(0);
});
