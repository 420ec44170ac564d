// The read cache (host/read-cache.ts): a thread returns a copy of a value
// only while it is provably current.
import { Worker } from 'node:worker_threads';
import { afterEach, expect, test } from 'vitest';
import { SharedMap } from '../dist/index.js';
import { codeOf, createMap, scale, shared } from './helpers.js';

let map: SharedMap | undefined;
afterEach(() => {
  map?.close();
  map = undefined;
});

shared('a cached value is never returned once this thread changed the key, however it changed it', async () => {
  map = await createMap({ initialCapacity: 8, readCache: 1024 });
  const read = () => map!.get('k');
  map.set('k', 'a');
  expect(read()).toBe('a');
  expect(read()).toBe('a'); // from the copy
  map.set('k', 'b');
  expect(read()).toBe('b');
  expect(map.delete('k')).toBe(true);
  expect(read()).toBeUndefined();
  map.set('k', 'c');
  expect(read()).toBe('c');
  expect(map.atomic().set('k', 'd').commit().ok).toBe(true);
  expect(read()).toBe('d');
  expect(map.update('k', () => 'e')).toBe('e');
  expect(read()).toBe('e');
  expect(map.swap('k', 'f')).toBe('e');
  expect(read()).toBe('f');
  expect(map.compareAndSwap('k', 'f', 'g')).toBe(true);
  expect(read()).toBe('g');
  expect(map.expire('k', 60_000)).toBe(true);
  expect(read()).toBe('g');
  expect(map.persist('k')).toBe(true);
  expect(read()).toBe('g');
  map.delete('k');
  expect(map.increment('k', 5)).toBe(5);
  expect(read()).toBe(5);
  expect(map.increment('k')).toBe(6);
  expect(read()).toBe(6);
  for (let i = 0; i < 5000; i++) map.set(`grow:${i}`, 'x'); // the table migrates under the copy
  expect(read()).toBe(6);
  map.clear();
  expect(read()).toBeUndefined();
  expect(map.__verify()).toBe(0);
});

shared('a cached value is never returned once it expired or was evicted', async () => {
  map = await createMap({ readCache: 1024 });
  map.set('x', 'v');
  expect(map.get('x')).toBe('v');
  expect(map.get('x')).toBe('v'); // from the copy
  expect(map.expire('x', 1)).toBe(true);
  const until = Date.now() + 5;
  while (Date.now() < until); // past its expiry
  expect(map.get('x')).toBeUndefined();
  expect(map.has('x')).toBe(false);
  map.close();

  // Eviction ('lru'): every read must mark its entry used, so such a map
  // keeps no copies; an evicted key reads as absent at once.
  map = await createMap({ maxEntries: 100, eviction: 'lru', readCache: 1024 });
  map.set('old', 'v');
  expect(map.get('old')).toBe('v');
  expect(map.get('old')).toBe('v');
  for (let i = 0; i < 200; i++) map.set(`new:${i}`, 'x');
  expect(map.stats().evictions).toBeGreaterThan(0);
  expect(map.get('old')).toBeUndefined();
});

shared('the cache holds at most its capacity, and keeps a hot key through a stream of cold ones', async () => {
  map = await createMap({ readCache: 16 });
  for (let i = 0; i < 2000; i++) map.set(`cold:${i}`, 'v');
  map.set('hot', 'h');
  // Which reads of the hot key the copy served (the cache is internal).
  const cache = (map as unknown as { cache: { map: Map<string, unknown>; lookup(k: string): unknown } }).cache;
  const lookup = cache.lookup.bind(cache);
  let hotMisses = 0;
  let warm = false;
  cache.lookup = (k: string) => {
    const v = lookup(k);
    if (warm && k === 'hot' && typeof v === 'symbol') hotMisses++;
    return v;
  };
  for (let i = 0; i < 2000; i++) {
    // While the cache fills every copy is read once more, and CLOCK
    // passes them all (the hot one too) once: from then on it stays.
    warm = i >= 100;
    expect(map.get('hot')).toBe('h');
    map.get(`cold:${i}`);
    map.get(`cold:${i}`); // a second miss: let in, pushing another copy out
    expect(cache.map.size).toBeLessThanOrEqual(16);
  }
  expect(hotMisses).toBe(0);
});

shared('a key read once never enters a full cache, also after copies were dropped as stale', async () => {
  map = await createMap({ readCache: 16 });
  const cache = (map as unknown as { cache: { map: Map<string, unknown> } }).cache;
  for (let i = 0; i < 16; i++) map.set(`warm:${i}`, 'v');
  for (let i = 0; i < 16; i++) map.get(`warm:${i}`); // fills the free places
  expect(cache.map.size).toBe(16);
  // Two copies go stale (their keys change) and are read again: their
  // places free up and take the new copies, nothing else moves.
  map.set('warm:3', 'w');
  map.set('warm:9', 'w');
  expect(map.get('warm:3')).toBe('w');
  expect(map.get('warm:9')).toBe('w');
  expect(cache.map.size).toBe(16);
  // A stale copy whose key is not read again leaves a free place, which the
  // next miss takes; then the cache is full again.
  map.set('warm:5', 'w');
  expect(map.get('warm:5')).toBe('w');
  map.delete('warm:5');
  expect(map.get('warm:5')).toBeUndefined();
  expect(cache.map.size).toBe(15);
  for (let i = 0; i < 200; i++) map.set(`once:${i}`, 'v');
  expect(map.get('once:0')).toBe('v'); // the free place
  expect(cache.map.size).toBe(16);
  for (let i = 1; i < 200; i++) expect(map.get(`once:${i}`)).toBe('v');
  // None of the keys read once got in past the first: every warm copy but
  // the deleted one is still there.
  const held = [...cache.map.keys()];
  expect(held.filter((k) => k.startsWith('once:'))).toEqual(['once:0']);
  expect(held.filter((k) => k.startsWith('warm:')).length).toBe(15);
});

shared('hits served from the copy are counted, and the cache can be turned off or sized', async () => {
  map = await createMap({ readCache: 16 });
  map.set('k', 'v');
  for (let i = 0; i < 10; i++) map.get('k');
  expect(map.stats().hits).toBe(10);
  expect(map.stats().misses).toBe(0);
  const off = await SharedMap.attach(map.handle); // off by default
  for (let i = 0; i < 3; i++) off.get('k');
  off.close();
  expect(map.stats().hits).toBe(13);
  await expect(SharedMap.create({ readCache: -1 })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION' });
  await expect(SharedMap.attach(map.handle, { readCache: 1.5 })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION' });
  map.close();
  expect(codeOf(() => map!.get('k'))).toBe('ERR_CLOSED');
  map = undefined;
});

const url = new URL('./workers/cache-rw.mjs', import.meta.url);

shared('readers never get an older value than a write that returned before the read began, while writers set, delete, commit, update, expire (and let expire), increment and grow the table', async () => {
  map = await createMap({ initialCapacity: 8 });
  const keys = 32;
  const writers = 2;
  const progress = new Int32Array(new SharedArrayBuffer(4 * keys));
  const stop = new Int32Array(new SharedArrayBuffer(4));
  const roles = [...Array(writers).fill('writer'), 'reader', 'reader'];
  const started = roles.map((role, index) => {
    const w = new Worker(url, { workerData: { handle: map!.handle, role, keys, progress, stop, index, writers } });
    map!.releaseOnExit(w);
    return {
      ready: new Promise((r) => w.once('message', r)),
      result: new Promise<{ reads: number; cachedHits: number; stale: unknown[]; writes: number }>((resolve, reject) => {
        w.on('message', (m) => m.result && resolve(m.result));
        w.on('error', reject);
      }),
    };
  });
  await Promise.all(started.map((s) => s.ready));
  await new Promise((r) => setTimeout(r, scale(1500, 20_000)));
  Atomics.store(stop, 0, 1);
  const results = await Promise.all(started.map((s) => s.result));
  expect(results.flatMap((r) => r.stale)).toEqual([]);
  expect(results[writers].reads + results[writers + 1].reads).toBeGreaterThan(1000);
  expect(results[0].writes + results[1].writes).toBeGreaterThan(200);
  expect(map.__verify()).toBe(0);
}, scale(60_000, 120_000));
