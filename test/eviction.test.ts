// A bounded map: maxEntries and maxMemoryBytes with eviction 'none' or 'lru'.
import { afterEach, expect, test } from 'vitest';
import { MapError, SharedMap } from '../dist/index.js';
import { codeOf, createMap, scale, shared, startWorkers } from './helpers.js';
// @ts-expect-error: plain JS module shared with the workers
import { roles } from './workers/roles.mjs';

let map: SharedMap;
afterEach(() => map?.close());

test("with eviction 'none', inserts past maxEntries fail with ERR_CAPACITY and change nothing", async () => {
  map = await createMap({ maxEntries: 3 });
  map.set('a', '1').set('b', '2');
  map.increment('c');
  let error: MapError | undefined;
  try {
    map.set('d', '4');
  } catch (e) {
    error = e as MapError;
  }
  expect(error?.code).toBe('ERR_CAPACITY');
  // The limit that was reached, not the memory's.
  expect(error?.message).toMatch(/maxEntries \(3\)/);
  expect(error?.message).not.toMatch(/maxMemoryBytes/);
  expect(() => map.increment('e')).toThrow(/maxEntries \(3\)/);
  map.set('a', 'updated'); // not a new entry
  expect(map.size).toBe(3);
  map.delete('b');
  map.set('d', '4');
  expect([map.get('a'), map.get('d'), map.has('b')]).toEqual(['updated', '4', false]);
  expect(map.stats().evictions).toBe(0);
});

test("with eviction 'lru', the map stays at maxEntries and keeps what was used recently", async () => {
  map = await createMap({ maxEntries: 1000, eviction: 'lru' });
  for (let i = 0; i < 1000; i++) map.set(`k${i}`, `v${i}`);
  for (let i = 0; i < 100; i++) map.get(`k${i}`); // the oldest hundred, read again
  for (let i = 1000; i < 1500; i++) map.set(`k${i}`, `v${i}`);
  expect(map.size).toBe(1000);
  expect(map.stats().evictions).toBe(500);
  let kept = 0;
  for (let i = 0; i < 100; i++) if (map.get(`k${i}`) === `v${i}`) kept++;
  let oldKept = 0;
  for (let i = 100; i < 600; i++) if (map.has(`k${i}`)) oldKept++;
  // Sampled LRU (8 samples an eviction) approximates LRU: the recently read
  // hundred mostly survive, the untouched old mostly go first.
  expect(kept).toBeGreaterThan(75);
  expect(oldKept).toBeLessThan(300);
});

test.each([
  ['1,000 entries', 1_000, scale(20_000, 400_000)],
  ['100,000 entries', 100_000, scale(300_000, 2_000_000)],
])("with eviction 'lru', a key read more often than the map turns over is never evicted (%s)", async (_name, max, inserts) => {
  // A hot key read after every ten inserts of new keys, which are never read
  // again: lru-cache never evicts it. Sampled eviction must not either,
  // whatever its samples meet (empty, deleted or moved slots, or the hot key
  // alone).
  map = await createMap({ maxEntries: max, eviction: 'lru' });
  map.set('hot', 'h');
  for (let i = 0; i < inserts; i++) {
    map.set(`new:${i}`, 'v');
    if (i % 10 === 9 && map.get('hot') !== 'h') throw new Error(`the hot key was evicted after ${i + 1} inserts`);
  }
  expect(map.stats().evictions).toBe(inserts + 1 - max);
}, scale(120_000, 1_200_000));

test("with eviction 'lru', a full memory evicts for new counters too (increment never fails for room)", async () => {
  map = await createMap({ maxMemoryBytes: 4 << 20, eviction: 'lru' });
  const value = 'x'.repeat(200);
  for (let i = 0; i < 50_000; i++) map.set(`v${i}`, value); // memory fills, then evicts
  expect(map.stats().evictions).toBeGreaterThan(0);
  for (let i = 0; i < 50_000; i++) expect(map.increment(`c${i}`)).toBe(1);
  expect(map.get('c49999')).toBe(1);
});

shared('eviction under three concurrent writers keeps exact accounting', async () => {
  map = await createMap({ maxEntries: 2000, eviction: 'lru', initialCapacity: 16 });
  const count = scale(20_000, 300_000);
  const started = await startWorkers<{ inserted: number }>(map, 'stress.mjs', 2, { role: 'evict', params: { count } });
  started.go();
  const results = [roles(map).evict({ count, writer: 0 }), ...(await started.results)];
  const inserted = results.reduce((s, r) => s + r.inserted, 0);
  const stats = map.stats();
  let present = 0;
  for (let w = 0; w < 3; w++) for (let i = 0; i < count; i++) if (map.has(`ev:${w}:${i}`)) present++;
  expect(map.size).toBe(present);
  expect(stats.sets - stats.evictions).toBe(present); // every set inserted a new key
  expect(stats.sets).toBe(inserted);
  expect(present).toBeLessThanOrEqual(2000 + 3); // at most one over per inserting thread
  expect(present).toBeGreaterThan(1900);
  expect(map.__verify()).toBe(0);
});

test("with eviction 'lru', a full memory evicts instead of failing", async () => {
  map = await createMap({ maxMemoryBytes: 2 << 20, eviction: 'lru' });
  const value = 'v'.repeat(200);
  for (let i = 0; i < 100_000; i++) map.set(`key:${i}`, value);
  const stats = map.stats();
  expect(stats.evictions).toBeGreaterThan(80_000);
  expect(map.size).toBe(100_000 - stats.evictions);
  expect(map.get('key:99999')).toBe(value); // the newest is there
  expect(stats.memoryUsedBytes).toBeLessThanOrEqual(2 << 20);
});

test.each([
  ['1000 B values in 4 MiB', 4, 1000],
  ['200 B values in 2 MiB', 2, 200],
])("with eviction 'lru', a full memory holds its size: each insert evicts a few entries, never a batch (%s)", async (_, mib, bytes) => {
  map = await createMap({ maxMemoryBytes: mib << 20, eviction: 'lru' });
  const value = 'v'.repeat(bytes);
  let previous = 0;
  let most = 0;
  let drops = 0; // inserts after which the map held over 65 entries fewer
  for (let i = 0; i < 30_000; i++) {
    map.set(`key:${i}`, value);
    const size = map.size;
    if (previous - size > 65) drops++;
    most = Math.max(most, size);
    previous = size;
  }
  // An evicted entry's memory goes back by itself (its slot no longer holds
  // it), so a full memory evicts 64 at a time at most. Only when the map
  // first fills up may it evict more at once, to fit a table of its size.
  expect(drops).toBeLessThanOrEqual(1);
  expect(previous).toBeGreaterThan(most * 0.9);
  // The newest are there (eviction is a sampled LRU: nearly all of them).
  expect(map.get('key:29999')).toBe(value);
  let recent = 0;
  for (let i = 29_900; i < 30_000; i++) if (map.get(`key:${i}`) === value) recent++;
  expect(recent).toBeGreaterThanOrEqual(90);
  expect(map.stats().memoryUsedBytes).toBeLessThanOrEqual(mib << 20);
  expect(map.__verify()).toBe(0);
});

test("with eviction 'lru', a map held at its size fills up again after deletes, evicting nothing meanwhile", async () => {
  // Regression: once a full memory held the table at its size, every insert
  // evicted one entry even below that size, so deletes (or a batch evicted
  // for memory) lowered the size for good.
  map = await createMap({ maxMemoryBytes: 4 << 20, eviction: 'lru' });
  const value = 'v'.repeat(1000);
  for (let i = 0; i < 30_000; i++) map.set(`key:${i}`, value);
  const full = map.size;
  let deleted = 0;
  for (let i = 29_000; i < 29_500; i++) if (map.delete(`key:${i}`)) deleted++;
  expect(deleted).toBeGreaterThan(400);
  const evicted = map.stats().evictions;
  for (let i = 0; i < deleted; i++) map.set(`new:${i}`, value);
  // Back to the size the table is held at (a few below the most it held
  // before it was first held there, and a batch evicted while the deleted
  // entries' memory was on its way back, if the deletes met a table
  // migrated to lately, which keeps them until the next migration): the
  // new entries took the deleted ones' room. (The regression lost all 500.)
  expect(map.size).toBeGreaterThanOrEqual(full - 8 - 64);
  expect(map.stats().evictions - evicted).toBeLessThanOrEqual(2 * 64); // at most two batches for memory in flight
  for (let i = 0; i < deleted; i++) expect(map.get(`new:${i}`)).toBe(value);
  expect(map.__verify()).toBe(0);
});

shared('threads attach to a full map: a few scratch buffers are kept spare, and a closed thread gives its own back', async () => {
  // A full LRU map (a cache's steady state) has no free 64 KiB block for a
  // new thread's scratch buffer, and attaching evicts nothing: without
  // spares, no worker could attach any more.
  map = await createMap({ maxMemoryBytes: 4 << 20, eviction: 'lru' });
  const value = 'v'.repeat(1000);
  for (let i = 0; i < 30_000; i++) map.set(`key:${i}`, value);
  const others: SharedMap[] = [];
  for (let k = 0; k < 2; k++) { // a 4 MiB map keeps two spares
    const other = await SharedMap.attach(map.handle);
    others.push(other);
    other.set(`key:9000${k}`, value);
    expect(map.get(`key:9000${k}`)).toBe(value);
  }
  let code: string | undefined;
  await SharedMap.attach(map.handle).catch((e: MapError) => { code = e.code; });
  expect(code).toBe('ERR_CAPACITY'); // past the spares: a clear error, nothing changed
  expect(map.get('key:90001')).toBe(value);
  others.pop()!.close();
  const again = await SharedMap.attach(map.handle); // takes the closed thread's buffer
  again.set('key:90009', value);
  expect(map.get('key:90009')).toBe(value);
  again.close();
  for (const other of others) other.close();
  expect(map.__verify()).toBe(0);
});

test("with eviction 'lru', a full memory takes entries of any size: smaller ones split larger blocks, larger ones evict the entries beside a cold one", async () => {
  map = await createMap({ maxMemoryBytes: 4 << 20, eviction: 'lru' });
  const big = 'v'.repeat(1000);
  for (let i = 0; i < 30_000; i++) map.set(`key:${i}`, big);
  // Larger than any block at hand (40 KB): the memory of the entries
  // evicted for it is merged into a run that holds it. Evicted one by one
  // they lie apart, so the entries beside a cold one go: about a hundred,
  // not the map (a 4 MiB map holds about 2,900 such entries; the old core
  // refused the entry, a merge of evicted entries alone emptied the map).
  let evicted = map.stats().evictions;
  const before = map.size;
  const huge = 'h'.repeat(40_000);
  map.set('huge', huge);
  expect(map.get('huge')).toBe(huge);
  expect(map.stats().evictions - evicted).toBeLessThanOrEqual(before / 8);
  // And back: the 1000-byte entries take the huge one's memory when it goes.
  evicted = map.stats().evictions;
  map.delete('huge');
  for (let i = 0; i < 40; i++) map.set(`again:${i}`, big);
  expect(map.stats().evictions - evicted).toBeLessThanOrEqual(64);
  for (let i = 0; i < 40; i++) expect(map.get(`again:${i}`)).toBe(big);
  // Sizes the full map has no entry of, smaller: split from larger blocks.
  const small = 's'.repeat(500);
  for (let i = 0; i < 1000; i++) {
    map.set(`small:${i}`, small);
    expect(map.get(`small:${i}`)).toBe(small);
  }
  for (let i = 0; i < 200; i++) {
    const v = 'm'.repeat(10 + ((i * 37) % 900));
    map.set(`mixed:${i}`, v);
    expect(map.get(`mixed:${i}`)).toBe(v);
  }
  // Every key new: exact accounting.
  expect(map.size).toBe(30_000 + 1 - 1 + 40 + 1000 + 200 - map.stats().evictions);
  expect(map.stats().memoryUsedBytes).toBeLessThanOrEqual(4 << 20);
  expect(map.__verify()).toBe(0);
});

test("with eviction 'lru', a full memory takes a long string value of a size it holds, whatever the scratch buffer's size", async () => {
  // A string whose three bytes a character would be more than the scratch
  // buffer has goes straight into its entry: growing the buffer needs a free
  // block, which a full map does not have. (Before, every one of these sets
  // failed with ERR_CAPACITY.)
  map = await createMap({ maxMemoryBytes: 4 << 20, eviction: 'lru' });
  const bytes = new Uint8Array(25_000).fill(0x78);
  for (let i = 0; i < 400; i++) map.set(`b${i}`, bytes);
  expect(map.stats().evictions).toBeGreaterThan(0); // full
  const ascii = 'x'.repeat(25_000);
  const wide = 'é'.repeat(12_500); // 25,000 bytes too
  for (let i = 0; i < 50; i++) {
    map.set(`s${i}`, i % 2 === 0 ? ascii : wide);
    expect(map.get(`s${i}`)).toBe(i % 2 === 0 ? ascii : wide);
  }
  expect(map.size).toBe(400 + 50 - map.stats().evictions);
  expect(map.__verify()).toBe(0);
});

shared("with eviction 'lru', a thread that attaches to a full map of 100 KB values writes such values too", async () => {
  // A value larger than a thread's scratch buffer (64 KiB to start) goes
  // straight into its entry, whose block an eviction gives; before, the
  // buffer had to grow first, and a full map has no free block for that:
  // every one of the new thread's sets failed with ERR_CAPACITY.
  map = await createMap({ maxMemoryBytes: 8 << 20, eviction: 'lru' });
  for (let i = 0; i < 200; i++) map.set(`main:${i}`, 'm'.repeat(100_000));
  expect(map.stats().evictions).toBeGreaterThan(0); // full
  for (const bytes of [false, true]) {
    const started = await startWorkers<{ failed: number; wrong: number }>(map, 'stress.mjs', 1, {
      role: 'bigValues', params: { count: 20, size: 100_000, bytes },
    });
    started.go();
    expect(await started.results).toEqual([{ failed: 0, wrong: 0 }]);
  }
  expect(map.size).toBe(200 + 40 - map.stats().evictions); // every key new: exact accounting
  expect(map.stats().memoryUsedBytes).toBeLessThanOrEqual(8 << 20);
  expect(map.__verify()).toBe(0);
});

test('a value written in place (larger than the scratch buffer) is refused whole when it is bad, and leaves the map as it was', async () => {
  map = await createMap({ maxMemoryBytes: 8 << 20, maxValueBytes: 200_000 });
  map.set('k', 'old');
  const before = map.memoryUsage().usedBytes;
  expect(codeOf(() => map.set('k', 'x'.repeat(200_001)))).toBe('ERR_VALUE_TOO_LARGE');
  expect(codeOf(() => map.set('k', 'é'.repeat(100_001)))).toBe('ERR_VALUE_TOO_LARGE'); // 200,002 bytes
  expect(codeOf(() => map.set('k', 'x'.repeat(100_000) + '\ud800'))).toBe('ERR_INVALID_VALUE');
  expect(codeOf(() => map.set('k', new Uint8Array(200_001)))).toBe('ERR_VALUE_TOO_LARGE');
  expect(map.get('k')).toBe('old');
  expect(map.memoryUsage().usedBytes).toBe(before);
  // And the operations that take a value in place do what they do.
  const big = 'b'.repeat(150_000);
  expect(map.swap('k', big)).toBe('old');
  expect(map.getOrSet('k', 'c'.repeat(150_000))).toEqual({ value: big, loaded: true });
  expect(map.compareAndSwap('k', big, new Uint8Array(150_000).fill(7))).toBe(true);
  expect((map.get('k') as Uint8Array)[149_999]).toBe(7);
  expect(map.getOrSet('new', big)).toEqual({ value: big, loaded: false });
  expect(map.size).toBe(2);
  expect(map.__verify()).toBe(0);
});

test('deleting entries gives their memory back at once, with no tombstone to store', async () => {
  map = await createMap({ maxMemoryBytes: 64 << 20, initialCapacity: 60_000 });
  const value = 'v'.repeat(55);
  for (let i = 0; i < 20_000; i++) map.set(`old:${i}`, value);
  const before = map.memoryUsage().usedBytes;
  for (let i = 0; i < 20_000; i++) map.delete(`old:${i}`);
  // New keys reuse the deleted entries' blocks, and the deletes stored
  // nothing (a key-only tombstone each took 72 bytes): the heap barely grows.
  for (let i = 0; i < 20_000; i++) map.set(`new:${i}`, value);
  expect(map.memoryUsage().usedBytes - before).toBeLessThan(20_000 * 8);
  expect(map.size).toBe(20_000);
  expect(map.__verify()).toBe(0);
});

test('a bad eviction or maxEntries option is ERR_INVALID_OPTION', async () => {
  for (const options of [{ eviction: 'lfu' }, { eviction: 1 }, { maxEntries: -1 }, { maxEntries: 1.5 }]) {
    const error = await createMap(options as never).catch((e) => e);
    expect(error.code).toBe('ERR_INVALID_OPTION');
  }
});
