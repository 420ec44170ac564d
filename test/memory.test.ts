// Memory is reused: churn over a fixed key set does not grow it, and the
// layout the core reports is what the host and the docs rely on.
import { Worker } from 'node:worker_threads';
import { expect, test } from 'vitest';
import { LocalMap, type MapError, SharedMap } from '../dist/index.js';
import { coreModule, instantiate } from '../dist/core.js';
import { codeOf, createMap, LOCAL, scale, shared, startWorkers } from './helpers.js';
// @ts-expect-error: plain JS module shared with the workers
import { check, fillWith } from './workers/common.mjs';
// @ts-expect-error: plain JS module shared with the workers
import { roles } from './workers/roles.mjs';

test('ten million set/delete cycles over a fixed key set do not grow memory', async () => {
  const map = await createMap({ maxMemoryBytes: 64 << 20 });
  const keys = Array.from({ length: 1000 }, (_, i) => `churn:${i}`);
  const values = Array.from({ length: 7 }, (_, i) => 'v'.repeat(10 + i * 40));
  const cycles = scale(10_000_000, 50_000_000);
  const run = (from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const k = keys[i % 1000];
      if ((i / 1000) & 1) map.delete(k);
      else map.set(k, values[i % 7]);
    }
  };
  run(0, cycles / 10);
  const warm = map.memoryUsage().usedBytes;
  run(cycles / 10, cycles);
  const after = map.memoryUsage().usedBytes;
  // Blocks are reused (size classes), so after warm-up the high-water mark
  // stays put; allow a little slack for a table migration landing elsewhere.
  expect(after - warm).toBeLessThan(256 << 10);
  expect(map.size).toBe(Math.floor((cycles - 1) / 1000) & 1 ? 0 : 1000); // last phase deletes or sets
  map.close();
});

test('churn over ever-new keys (sessions that come and go) stays bounded', async () => {
  const map = await createMap({ maxMemoryBytes: 64 << 20 });
  const live = 5000;
  const total = scale(400_000, 5_000_000);
  let warm = 0;
  for (let i = 0; i < total; i++) {
    map.set(`session:${i}`, `data for session ${i}`);
    if (i >= live) map.delete(`session:${i - live}`);
    if (i === total / 4) warm = map.memoryUsage().usedBytes;
  }
  expect(map.size).toBe(live);
  expect(map.memoryUsage().usedBytes - warm).toBeLessThan(1 << 20);
  map.close();
});

test('the core reports the layout the host relies on', async () => {
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 16, shared: !LOCAL });
  const core = instantiate(await coreModule(LOCAL ? 'local' : 'shared'), memory);
  const [magic, version, header, heapStart, entryKey, tableHeader, threadSize, maxThreads, classes] =
    Array.from({ length: 9 }, (_, i) => core.layout(i));
  expect(magic).toBe(0x50414d57);
  expect(version).toBeGreaterThanOrEqual(1);
  expect(header % 64).toBe(0);
  expect(heapStart % 64).toBe(0);
  expect(heapStart).toBeGreaterThan(header + 384 + classes * 16 + maxThreads * threadSize - 1);
  expect(entryKey).toBe(36); // a header of lengths and revisions; keys are 4-aligned (values 8-aligned)
  expect(tableHeader).toBe(64);
  expect(threadSize % 64).toBe(0); // whole cache lines: threads never share one
  // Value kinds and write modes are shared with the host (host/core.ts).
  expect([core.layout(9), core.layout(10), core.layout(11)]).toEqual([1, 2, 3]);
  expect([core.layout(12), core.layout(13), core.layout(14)]).toEqual([0, 1, 2]);
});

shared('threads that attach, write and close in turn leave every entry intact', async () => {
  // Regression: a closing thread once freed its scratch buffer with a size
  // read from bytes the host had written over, corrupting the free lists.
  const map = await createMap({ initialCapacity: 8 });
  const val = (i: number) => `value ${i} `.padEnd(8 + (i % 90), '*');
  const counts: number[] = [];
  for (let round = 0; round < scale(150, 600); round++) {
    const other = await SharedMap.attach(map.handle);
    const count = 200 + ((round * 7919) % 3000);
    for (let i = 0; i < count; i++) {
      other.set(`kill:${round}:${i}`, val(i));
      if (i % 7 === 0) other.increment(`count:${round % 4}`);
    }
    other.close();
    counts.push(count);
  }
  let present = 0;
  counts.forEach((count, round) => {
    for (let i = 0; i < count; i++) {
      const v = map.get(`kill:${round}:${i}`);
      if (v !== val(i)) expect(v, `kill:${round}:${i}`).toBe(val(i));
      present++;
    }
  });
  expect(map.size).toBe(present + 4);
  map.close();
});

test('the debug walk passes on a healthy map and catches a corrupted one', async () => {
  const map = await createMap({ initialCapacity: 4 });
  for (let i = 0; i < 1000; i++) map.set(`k${i}`, `v${i}`);
  for (let i = 0; i < 1000; i += 3) map.delete(`k${i}`);
  expect(map.__verify()).toBe(0);
  // Overwrite the hash of the first live slot of the root table (header +16
  // is the root; a table's +36 is its slots block; slot = hash32 | entry32).
  const view = new DataView(map.__memory.buffer);
  const root = view.getUint32(64 + 16, true);
  const slots = view.getUint32(root + 36, true);
  // (A live slot: an entry address, no flag bits; a DELETED one has bit 1.)
  let i = 0;
  while (view.getUint32(slots + i * 8, true) < 8 || (view.getUint32(slots + i * 8, true) & 7) !== 0) i++;
  view.setUint32(slots + i * 8 + 4, view.getUint32(slots + i * 8 + 4, true) ^ 0x5a5a, true);
  expect(map.__verify()).toBe(7); // the slot's hash is no longer its key's
  map.close();
});

test('a LocalMap\'s memory starts small and grows, up to maxMemoryBytes, as entries need it', async () => {
  const map = await LocalMap.create({ maxMemoryBytes: 8 << 20 });
  const start = map.memoryUsage().reservedBytes;
  expect(start).toBeLessThan(1 << 20);
  let stored = 0;
  const value = 'v'.repeat(200);
  for (;;) {
    try {
      map.set(`grow:${stored}`, `${stored}:${value}`);
    } catch (e) {
      expect((e as MapError).code).toBe('ERR_CAPACITY');
      break;
    }
    stored++;
  }
  // Every entry reads back across the growths (each one renews the host's views).
  for (let i = 0; i < stored; i += 97) expect(map.get(`grow:${i}`)).toBe(`${i}:${value}`);
  expect(map.size).toBe(stored);
  expect(stored).toBeGreaterThan(10_000);
  const usage = map.memoryUsage();
  expect(usage.reservedBytes).toBeGreaterThan(start);
  expect(usage.reservedBytes).toBeLessThanOrEqual(8 << 20);
  expect(usage.limitBytes).toBe(8 << 20);
  map.close();
});

test('a map that grows reuses the memory of the tables it outgrew for entries', async () => {
  // Against a map whose first table is already its last (131,072 entries
  // need 2^18 slots; 180,000 stay below that table's growth mark): without
  // reuse the grown map would also hold every table it outgrew, as much
  // again as the last one (2 MiB here).
  const n = 180_000;
  const fill = async (initialCapacity?: number) => {
    const map = await createMap({ initialCapacity, maxMemoryBytes: 256 << 20 });
    for (let i = 0; i < n; i++) map.set(`user:${i}:profile`, `{"name":"user ${i}","plan":"free"}`);
    const used = map.memoryUsage().usedBytes;
    expect(map.size).toBe(n);
    expect(map.__verify()).toBe(0);
    map.close();
    return used;
  };
  const grown = await fill();
  const sized = await fill(131_072);
  expect(grown - sized).toBeLessThan(512 << 10);
});

test('preTouch backs all of the map\'s memory at creation, and the map works as usual', async () => {
  const size = 128 << 20;
  const rssGrowth = async (preTouch: boolean) => {
    const before = process.memoryUsage().rss;
    const map = await createMap({ maxMemoryBytes: size, preTouch });
    const grown = process.memoryUsage().rss - before;
    return { map, grown };
  };
  // Without it, the OS backs pages only as entries reach them.
  const lazy = await rssGrowth(false);
  expect(lazy.grown).toBeLessThan(size / 4);
  lazy.map.close();
  const touched = await rssGrowth(true);
  // Not all of it: a collection during create gives heap pages back, and
  // this VM's kernel (DAMON pageout) may page idle memory out again at once
  // (seen: 114.7 of 128 MiB). Half is far from the lazy case either way.
  expect(touched.grown).toBeGreaterThan(size / 2);
  const { map } = touched;
  // A LocalMap takes all of its memory at once instead of growing.
  expect(map.memoryUsage().reservedBytes).toBe(size);
  for (let i = 0; i < 20_000; i++) map.set(`k${i}`, `v${i}`);
  expect(map.size).toBe(20_000);
  expect(map.get('k19999')).toBe('v19999');
  expect(map.__verify()).toBe(0);
  map.close();
});

test('memory that larger entries gave back serves smaller ones (their blocks are split)', async () => {
  // Values drift down: a map filled with 200-byte values, every key then
  // deleted, takes 100-byte values in the blocks they left, split in two.
  const limit = 8 << 20;
  const fresh = await createMap({ maxMemoryBytes: limit });
  const freshFit = fillWith(fresh, 100, 0);
  fresh.close();
  const map = await createMap({ maxMemoryBytes: limit });
  const n = fillWith(map, 200, 0);
  for (let i = 0; i < n; i++) map.delete(`k${i}`);
  const again = fillWith(map, 100, n);
  expect(map.size).toBe(again);
  expect(map.__verify()).toBe(0);
  // Before splitting: none at all (every block kept its class). The rest is
  // the table, which must grow for twice the entries and finds no block.
  expect(again / freshFit).toBeGreaterThan(0.5);
  map.close();
});

test('stats, metrics and memoryUsage report freed memory, and how much of it an entry of a given size could take', async () => {
  const map = await createMap({ maxMemoryBytes: 8 << 20 });
  const value = 'v'.repeat(200);
  let n = 0;
  try {
    for (;; n++) map.set(`k${n}`, value);
  } catch (e) {
    expect((e as MapError).code).toBe('ERR_CAPACITY');
  }
  const full = map.memoryUsage({ valueBytes: 200 });
  expect(full.usableBytes).toBeLessThan(64 << 10); // full: nothing left for one more
  for (let i = 0; i < n; i++) map.delete(`k${i}`);
  const usage = map.memoryUsage();
  expect(usage.freeBytes).toBeGreaterThan(usage.usedBytes / 2); // the entries' blocks
  expect(map.stats().memoryFreeBytes).toBe(usage.freeBytes);
  expect(map.metrics()).toContain(`wasmap_memory_free_bytes ${usage.freeBytes}`);
  // Entries of the size that left fit in all of it; larger ones in almost none.
  expect(map.memoryUsage({ valueBytes: 200 }).usableBytes).toBeGreaterThan(usage.freeBytes * 0.8);
  expect(map.memoryUsage({ valueBytes: 5_000 }).usableBytes).toBeLessThan(usage.freeBytes * 0.1);
  // Filling again takes it back.
  for (let i = 0; i < n / 2; i++) map.set(`again${i}`, value);
  expect(map.memoryUsage().freeBytes).toBeLessThan(usage.freeBytes * 0.6);
  for (const bad of [-1, 1.5, Number.NaN]) {
    expect(() => map.memoryUsage({ valueBytes: bad })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }));
  }
  map.close();
});

/**
 * Fills the map with 100-byte values, deletes them all, and lets the table
 * shrink (a compaction, which writes help along): the next insert of
 * another size finds no block and goes straight to merging free memory.
 * Returns how many keys it used.
 */
function emptied(map: SharedMap): number {
  const n = fillWith(map, 100, 0);
  for (let i = 0; i < n; i++) map.delete(`k${i}`);
  map.clear();
  for (let i = 0; i < 5_000; i++) map.set('pad', `${i}`);
  map.delete('pad');
  return n;
}

test('memoryUsage(entry) counts only the free memory an entry of that size could take: an insert refused for room finds almost none', async () => {
  // Drifting sizes: at every ERR_CAPACITY, the usable bytes reported for
  // the entry refused are less than two of it. Before, every free region
  // counted, whatever its size: 2.2 MB usable for a 92 KB value refused.
  const map = await createMap({ maxMemoryBytes: 8 << 20 });
  let x = 4242;
  const random = () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 4294967296;
  const ops = 20_000;
  let refused = 0;
  for (let i = 0; i < ops; i++) {
    const phase = (Math.sin((i / ops) * Math.PI * 6) + 1) / 2;
    const size = Math.floor(16 * 2 ** (phase * 12) * (0.5 + random()));
    const key = `d${Math.floor(random() * 1_000)}`;
    if (random() < 1 / 3) {
      map.delete(key);
      continue;
    }
    if (codeOf(() => map.set(key, 'v'.repeat(size))) !== 'ERR_CAPACITY') continue;
    refused++;
    const { usableBytes } = map.memoryUsage({ keyBytes: key.length, valueBytes: size });
    expect(usableBytes, `${size} B refused at ${i}`).toBeLessThan(2 * (size + 64));
  }
  expect(refused).toBeGreaterThan(0);
  map.close();
});

test('memory freed by entries of one size serves entries of any other (free blocks that touch are merged)', async () => {
  const limit = 8 << 20;
  const sizes = scale([16, 100, 1_000, 16_384, 65_536], [16, 50, 100, 200, 1_000, 3_000, 16_384, 65_536]);
  const fresh = new Map<number, number>();
  for (const size of sizes) {
    const map = await createMap({ maxMemoryBytes: limit });
    fresh.set(size, fillWith(map, size, 0));
    map.close();
  }
  let pair = 0;
  for (const first of sizes) {
    for (const then of sizes) {
      if (first === then) continue;
      const map = await createMap({ maxMemoryBytes: limit });
      const n = fillWith(map, first, 0);
      // After clear(), or every key deleted (in CI one or the other in turn).
      if (pair++ % 2 === 0) map.clear();
      else for (let i = 0; i < n; i++) map.delete(`k${i}`);
      const again = fillWith(map, then, n);
      expect(again / fresh.get(then)!, `${first} B, then ${then} B`).toBeGreaterThanOrEqual(0.9);
      expect(map.__verify()).toBe(0);
      map.close();
    }
  }
}, scale(120_000, 600_000));

/**
 * For each n of `steps`: a map of `limit` bytes emptied of 100-byte values,
 * then given 1,000-byte ones until an insert merges free memory and traps at
 * the n-th step of the merge. The debug walk must pass and the memory must
 * take at least 90% of what the same map takes with no trap (a trap loses
 * at most a block). Returns how many of the steps trapped; stops after `misses` steps
 * in a row that did not (the merge is shorter than that).
 */
async function trapMerges(limit: number, steps: number[], misses = Infinity): Promise<number> {
  // What the same map takes with no trap (its table stays the size the small
  // values grew it to: in 1 MiB that is a tenth of the memory).
  const plain = await createMap({ maxMemoryBytes: limit });
  const plainSmall = emptied(plain);
  const freshFit = fillWith(plain, 1_000, plainSmall);
  plain.close();
  let trapped = 0;
  let missed = 0;
  for (const n of steps) {
    const map = await createMap({ maxMemoryBytes: limit });
    const small = emptied(map);
    map.__injectFault(n, true);
    let before = 0;
    let hit = false;
    try {
      for (;; before++) map.set(`k${small + before}`, 'b'.repeat(1_000));
    } catch (e) {
      if (!(e instanceof WebAssembly.RuntimeError)) expect((e as MapError).code).toBe('ERR_CAPACITY');
      else {
        map.__recover();
        hit = true;
      }
    }
    map.__injectFault(0);
    expect(map.__verify(), `trapped at step ${n}`).toBe(0);
    const after = fillWith(map, 1_000, small + before + 1);
    expect((before + after) / freshFit, `trapped at step ${n}`).toBeGreaterThanOrEqual(0.9);
    map.close();
    if (hit) {
      trapped++;
      missed = 0;
    } else if (++missed >= misses) break;
  }
  return trapped;
}

test('a merge of free memory cut short by a trap at any step leaves the map whole, its memory usable', async () => {
  const steps = [1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377, 610, 987, 1_597, 2_584, 10_946, 28_657, 46_368, 75_025, 100_000];
  expect(await trapMerges(8 << 20, steps)).toBeGreaterThan(15); // the merge did run, and was cut short
});

test('in a small map, a trap at every 53rd step of a merge, giving back its runs included, leaves the map whole', async () => {
  // 1 MiB: a merge of some 15,000 steps, of which the last are the runs
  // being recorded, their bucket words moved past (passRun) and their pieces
  // pushed (giveBack): every such stretch is met by some step.
  const steps = Array.from({ length: 1_000 }, (_, i) => 1 + i * 53);
  expect(await trapMerges(1 << 20, steps, 5)).toBeGreaterThan(100);
}, scale(120_000, 300_000));

shared('a thread killed while it merges free memory: whoever releases it finishes the merge', async () => {
  const limit = 8 << 20;
  const fresh = await createMap({ maxMemoryBytes: limit });
  const freshFit = fillWith(fresh, 1_000, 0);
  fresh.close();
  for (const step of [1, 5, 50, 500, 5_000, 50_000]) {
    const map = await createMap({ maxMemoryBytes: limit });
    const small = emptied(map);
    // A worker's insert finds no block, merges, and is held still at that
    // step (a thread descheduled there), then terminated.
    const done = new Int32Array(new SharedArrayBuffer(4));
    const worker = new Worker(new URL('./workers/held.mjs', import.meta.url), {
      workerData: { handle: map.handle, done: done.buffer },
    });
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    const released = new Promise<void>((resolve) => {
      map.releaseOnExit(worker);
      worker.once('exit', () => setTimeout(resolve, 50)); // releaseOnExit runs on the same event
    });
    const ready = await new Promise<{ holdWord: number }>((resolve) => worker.once('message', resolve));
    worker.postMessage({ op: 'fill', args: [1_000, small], hold: step, atDefrag: true });
    const word = new Int32Array(map.__memory.buffer);
    while (Atomics.load(word, ready.holdWord >> 2) !== 1 && Atomics.load(done, 0) === 0) await new Promise((r) => setTimeout(r, 1));
    expect(Atomics.load(done, 0), `held at step ${step}`).toBe(0); // held inside the merge
    await worker.terminate();
    await exited;
    await released;
    expect(map.__verify(), `killed at step ${step}`).toBe(0);
    // Its inserts, and what the rest of the memory takes now.
    const count = map.size;
    expect(count + fillWith(map, 1_000, small + 1_000_000) / 1, `killed at step ${step}`).toBeGreaterThanOrEqual(0.9 * freshFit);
    map.close();
  }
});

/**
 * Three threads set, delete and expire their own keys while value sizes
 * drift from 16 B to 64 KiB and back, and a fourth is killed at some instant
 * of its run (whoever releases it finishes what it left half done, a merge
 * or an eviction included). Then every entry is whole and is the last value
 * its writer set, every key its writer deleted last is absent, `size` is
 * exact and the debug walk passes; once every key is deleted, the memory is
 * free again. Returns the inserts refused and the evictions.
 */
async function driftThreads(eviction: 'none' | 'lru', keys: number) {
  const map = await createMap({ maxMemoryBytes: 8 << 20, eviction });
  try {
    const params = { keys, ops: scale(3_000, 40_000), ttl: 20 };
    const started = await startWorkers<{ present: [number, [number, boolean]][]; full: number }>(map, 'stress.mjs', 2, { role: 'drift', params });
    const doomed = await startWorkers(map, 'stress.mjs', 1, { role: 'drift', params: { ...params, ops: 1_000_000 }, index: 3 });
    doomed.results.catch(() => {});
    const exited = new Promise((resolve) => doomed.workers[0].once('exit', resolve));
    doomed.go();
    started.go();
    setTimeout(() => doomed.workers[0].terminate(), 50 + Math.random() * 200);
    const results = [roles(map).drift({ ...params, writer: 0 }), ...(await started.results)];
    await exited;
    await new Promise((r) => setTimeout(r, 50)); // releaseOnExit runs on the exit event
    for (let k = 0; k < params.keys; k++) map.delete(`drift:4:${k}`);
    let present = 0;
    let evicted = 0;
    results.forEach((r, w) => {
      const last = new Map(r.present);
      for (let k = 0; k < params.keys; k++) {
        const v = map.get(`drift:${w}:${k}`) as string | undefined;
        const set = last.get(k);
        if (set === undefined) {
          expect(v, `drift:${w}:${k} was deleted last`).toBeUndefined();
          continue;
        }
        const [seq, timed] = set;
        if (v === undefined) {
          if (!timed) evicted++; // expired, or evicted
          continue;
        }
        expect(check(v), `drift:${w}:${k}`).toBe(true);
        expect(v.startsWith(`${w}:${seq}:`), `drift:${w}:${k}`).toBe(true);
        if (timed) map.delete(`drift:${w}:${k}`);
        else present++;
      }
    });
    expect(map.size).toBe(present);
    expect(map.__verify()).toBe(0);
    // Nothing leaked while threads merged (and evicted) beside each other,
    // but the few blocks a killed thread may hold.
    for (let w = 0; w < 3; w++) for (let k = 0; k < params.keys; k++) map.delete(`drift:${w}:${k}`);
    for (let i = 0; i < 200; i++) map.set('p', `${i}`); // the epoch moves on: the last deletes' blocks come back
    map.delete('p');
    expect(map.size).toBe(0);
    const usage = map.memoryUsage();
    const { moves, evictions } = map.stats();
    expect(usage.freeBytes, JSON.stringify({ ...usage, moves, evictions })).toBeGreaterThan(usage.usedBytes * 0.85);
    expect(map.__verify()).toBe(0);
    return { refused: results.reduce((s, r) => s + r.full, 0), evictions: map.stats().evictions, evicted };
  } finally {
    map.close();
  }
}

shared('threads setting, deleting and expiring values whose sizes drift from 16 B to 64 KiB, one of them killed, leave every entry whole and counted', async () => {
  const { refused } = await driftThreads('none', 150);
  expect(refused).toBeGreaterThan(0); // memory ran full along the way: sizes did have to share it
}, scale(120_000, 1_200_000));

shared("with eviction 'lru', threads setting, deleting and expiring values whose sizes drift from 16 B to 64 KiB, one of them killed, evict what they must and leave every entry whole and counted", async () => {
  // Twice the keys: each writer alone would fill the memory with its values.
  const { refused, evictions, evicted } = await driftThreads('lru', 300);
  expect(evictions).toBeGreaterThan(0);
  expect(evicted).toBeGreaterThan(0);
  expect(refused).toBe(0);
}, scale(120_000, 1_200_000));

/** Memory full of counters (even i) and short strings (odd i), then 6 of
 *  every 8 deleted: three quarters lie free, in pieces of a few hundred
 *  bytes between the live entries, which no merge joins. */
async function piecesBetweenLive(map: SharedMap | LocalMap) {
  const pad = 'x'.repeat(60);
  let count = 0;
  for (; ; count++) {
    const code = codeOf(() => (count % 2 === 0 ? map.increment(`c:${count}`) : map.set(`s:${count}`, `1:${pad}`)));
    if (code === 'ERR_CAPACITY') break;
    expect(code).toBeUndefined();
  }
  const kept: number[] = [];
  for (let i = 0; i < count; i++) {
    if (i % 8 < 2) kept.push(i);
    else map.delete(i % 2 === 0 ? `c:${i}` : `s:${i}`);
  }
  return { kept, pad };
}

/** Sets values of 16 KiB until the map is full; returns how many. */
function fillBig(map: SharedMap | LocalMap, big: string, from = 0) {
  let bigs = from;
  for (; bigs < 1_000; bigs++) {
    const code = codeOf(() => map.set(`big:${bigs}`, big));
    if (code === 'ERR_CAPACITY') break;
    expect(code).toBeUndefined();
  }
  return bigs;
}

test('free memory in pieces between live entries serves larger entries: the entries between them move', async () => {
  const map = await createMap({ maxMemoryBytes: 4 << 20 });
  try {
    const { kept, pad } = await piecesBetweenLive(map);
    const big = 'b'.repeat(16 << 10);
    const bigs = fillBig(map, big);
    // A map that moves nothing fits 29 (11%), from the room never used.
    expect(bigs * big.length).toBeGreaterThan((4 << 20) * 0.3);
    expect(map.stats().moves).toBeGreaterThan(0);
    for (const i of kept) expect(map.get(i % 2 === 0 ? `c:${i}` : `s:${i}`), `${i}`).toBe(i % 2 === 0 ? 1 : `1:${pad}`);
    for (let b = 0; b < bigs; b++) expect(map.get(`big:${b}`) === big, `big:${b}`).toBe(true);
    expect(map.size).toBe(kept.length + bigs);
    expect(map.__verify()).toBe(0);
  } finally {
    map.close();
  }
});

shared('entries moved to make room for larger ones lose no write: counters incremented and values compared-and-swapped by other threads meanwhile', async () => {
  // As above, while two workers increment the counters and add to the
  // strings by compareAndSwap: a move (copy, then CAS of the slot) that
  // lost one of their writes shows in the totals.
  const map = await createMap({ maxMemoryBytes: 4 << 20 });
  try {
    const { kept, pad } = await piecesBetweenLive(map);
    const stop = new Int32Array(new SharedArrayBuffer(4));
    const started = await startWorkers<[string, number][]>(map, 'stress.mjs', 2, { role: 'movers', params: { kept, stop } });
    started.go();
    await new Promise((r) => setTimeout(r, 20));
    const big = 'b'.repeat(16 << 10);
    let bigs = fillBig(map, big);
    // A fill gives up (and waits 16 epochs before it tries to move entries
    // again) when the blocks of a window do not come back in time: a writer
    // the OS stopped inside an operation holds the epoch, which happens on a
    // loaded machine (the core before this also failed here 1 run in 4
    // beside two busy processes). Again, for up to 2 s, until something moved.
    for (let k = 0; k < 100 && map.stats().moves === 0; k++) {
      await new Promise((r) => setTimeout(r, 20));
      bigs = fillBig(map, big, bigs);
    }
    Atomics.store(stop, 0, 1);
    const tallies = await started.results;
    // The writers take blocks as they come back, so fewer of these fit
    // than in the test above.
    expect(map.stats().moves).toBeGreaterThan(0);
    const added = new Map<string, number>();
    for (const t of tallies) for (const [k, n] of t) added.set(k, (added.get(k) ?? 0) + n);
    for (const i of kept) {
      if (i % 2 === 0) expect(map.get(`c:${i}`), `c:${i}`).toBe(1 + (added.get(`c:${i}`) ?? 0));
      else expect(map.get(`s:${i}`), `s:${i}`).toBe(`${1 + (added.get(`s:${i}`) ?? 0)}:${pad}`);
    }
    for (let b = 0; b < bigs; b++) expect(map.get(`big:${b}`) === big, `big:${b}`).toBe(true);
    expect(map.size).toBe(kept.length + bigs);
    expect(map.__verify()).toBe(0);
  } finally {
    map.close();
  }
}, scale(60_000, 300_000));

shared('a write that lands while an entry is being moved (copied, not yet swapped in) is kept: the move gives way', async () => {
  // A worker fills the map with 16 KiB values, which moves entries, and is
  // held at the k-th step from its first copy made, right before (k = 1)
  // or after the CAS that swaps the copy in. Meanwhile the main thread
  // increments every counter (in place, unless sealed); then the worker
  // goes on. A move that swapped in a copy older than such an increment (a
  // counter not sealed first) loses it. (A string cannot change in place:
  // a write to it replaces the entry, and the move's CAS then fails.)
  let held = 0;
  for (let k = 1; k <= 12; k++) {
    const map = await createMap({ maxMemoryBytes: 4 << 20 });
    const { kept, pad } = await piecesBetweenLive(map);
    const done = new Int32Array(new SharedArrayBuffer(4));
    const worker = new Worker(new URL('./workers/held.mjs', import.meta.url), {
      workerData: { handle: map.handle, done: done.buffer },
    });
    map.releaseOnExit(worker);
    try {
      const ready = await new Promise<{ holdWord: number }>((resolve) => worker.once('message', resolve));
      const result = new Promise<{ value?: number; error?: string }>((resolve) => {
        worker.on('message', (m) => {
          if (!m.started) resolve(m);
        });
      });
      worker.postMessage({ op: 'fill', args: [16 << 10, 0], hold: k, atDefrag: 'move' });
      const word = new Int32Array(map.__memory.buffer);
      while (Atomics.load(word, ready.holdWord >> 2) !== 1 && Atomics.load(done, 0) === 0) await new Promise((r) => setTimeout(r, 1));
      const wasHeld = Atomics.load(done, 0) === 0;
      if (wasHeld) {
        held++;
        for (const i of kept) if (i % 2 === 0) map.increment(`c:${i}`);
        Atomics.store(word, ready.holdWord >> 2, 0);
      }
      const r = await result;
      expect(r.error, `k = ${k}`).toBeUndefined();
      const n = wasHeld ? 2 : 1; // not held: the fill ended first
      for (const i of kept) expect(map.get(i % 2 === 0 ? `c:${i}` : `s:${i}`), `k = ${k}: ${i}`).toBe(i % 2 === 0 ? n : `1:${pad}`);
      expect(map.__verify()).toBe(0);
    } finally {
      await worker.terminate();
      map.close();
    }
  }
  expect(held).toBeGreaterThan(6);
}, scale(60_000, 120_000));

/** A worker (test/workers/held.mjs) held inside an operation, so that the
 *  epoch cannot move until the main thread stores 0 at word[holdAt]. */
async function heldWorker(map: SharedMap) {
  const done = new Int32Array(new SharedArrayBuffer(4));
  const holder = new Worker(new URL('./workers/held.mjs', import.meta.url), { workerData: { handle: map.handle, done: done.buffer } });
  map.releaseOnExit(holder);
  const ready = await new Promise<{ holdWord: number }>((resolve) => holder.once('message', resolve));
  holder.postMessage({ op: 'get', args: ['x'], hold: 1 });
  const word = new Int32Array(map.__memory.buffer);
  const holdAt = ready.holdWord >> 2;
  while (Atomics.load(word, holdAt) !== 1) await new Promise((r) => setTimeout(r, 1));
  return { holder, done, word, holdAt };
}

shared('a thread that closes while another holds the epoch back frees what it retired once that one lets go', async () => {
  // Worker B is held inside an operation (the epoch cannot move); worker A
  // replaces and deletes 2 MiB of values, then closes, and B is let go as
  // soon as A says it is closing. Before, close() freed only what one
  // reclaim could: A's retired blocks were lost with its slot.
  const map = await SharedMap.create({ maxMemoryBytes: 8 << 20 });
  const { holder, done, word, holdAt } = await heldWorker(map);
  try {
    const closer = new Worker(new URL('./workers/closer.mjs', import.meta.url), { workerData: { handle: map.handle } });
    map.releaseOnExit(closer);
    await new Promise<void>((resolve, reject) => {
      closer.on('message', (m) => {
        if (m.closing) Atomics.store(word, holdAt, 0); // B lets go
        if (m.closed) resolve();
      });
      closer.once('error', reject);
    });
    while (Atomics.load(done, 0) === 0) await new Promise((r) => setTimeout(r, 1));
    for (let i = 0; i < 200; i++) map.set('p', `${i}`); // the epoch moves on
    map.delete('p');
    const usage = map.memoryUsage();
    expect(usage.freeBytes, JSON.stringify(usage)).toBeGreaterThan(2 << 20);
    expect(map.__verify()).toBe(0);
  } finally {
    await holder.terminate();
    map.close();
  }
});

shared('a thread that closes while a dead one holds the epoch back leaves what it retired to be freed once the dead one is released', async () => {
  // Worker B is held inside an operation and never let go; worker A
  // replaces and deletes 2 MiB of values and closes: its close cannot free
  // them and stops waiting. Then B is terminated and released. Before, A's
  // retired blocks were lost with its slot (likely what a drift test below
  // met once under load: 3.8 MB of 8.4 MB free after every key was
  // deleted); now they stay in the slot, and B's release takes them.
  const map = await SharedMap.create({ maxMemoryBytes: 8 << 20 });
  const { holder } = await heldWorker(map);
  const released = new Promise((resolve) => holder.once('exit', () => setTimeout(resolve, 0)));
  try {
    const closer = new Worker(new URL('./workers/closer.mjs', import.meta.url), { workerData: { handle: map.handle } });
    map.releaseOnExit(closer);
    await new Promise<void>((resolve, reject) => {
      closer.on('message', (m) => m.closed && resolve());
      closer.once('error', reject);
    });
    const before = map.memoryUsage().freeBytes;
    await holder.terminate();
    await released;
    for (let i = 0; i < 200; i++) map.set('p', `${i}`); // the epoch moves on
    map.delete('p');
    const usage = map.memoryUsage();
    expect(usage.freeBytes - before, JSON.stringify(usage)).toBeGreaterThan(2 << 20);
    expect(map.__verify()).toBe(0);
    // The slot it left serves the next thread.
    const again = await SharedMap.attach(map.handle);
    again.set('again', 'yes');
    expect(map.get('again')).toBe('yes');
    again.close();
  } finally {
    await holder.terminate();
    map.close();
  }
});

test('under value sizes that drift from 16 B to 64 KiB and back, the map is full only once live entries use 75% of maxMemoryBytes', async () => {
  // bench/sizes.mjs drift(), smaller: the figure the benchmark prints.
  const { drift } = await import('../bench/sizes.mjs');
  for (const seed of scale([12345, 777, 4242], [12345, 777, 4242, 99, 31337, 2024])) {
    const r = await drift({ ops: 200_000, limit: 32 << 20, keys: 2_000, seed, create: createMap });
    expect(r.failures, `seed ${seed}`).toBeGreaterThan(0); // it did run full
    expect(r.lowestFullAt, `seed ${seed}: live share at the lowest ERR_CAPACITY`).toBeGreaterThanOrEqual(0.75);
    expect(r.verified).toBe(0);
  }
  // A faster drift in a smaller map: free memory lies in pieces between
  // live entries, which must move. The core before that was first full at
  // 73.0–73.8% (lowest 71.6%); the lowest point now varies with the table's
  // hash seed (75–80% alone, 71–74% at worst: issue 15's note), so only the
  // first full point is held to 75%.
  for (const seed of scale([12345, 777], [12345, 777, 4242, 99])) {
    const r = await drift({ ops: 60_000, limit: 16 << 20, keys: 1_000, seed, create: createMap });
    expect(r.failures, `seed ${seed}`).toBeGreaterThan(0);
    expect(r.firstFullAt, `seed ${seed}, fast: live share at the first ERR_CAPACITY`).toBeGreaterThanOrEqual(0.75);
    expect(r.lowestFullAt, `seed ${seed}, fast: live share at the lowest ERR_CAPACITY`).toBeGreaterThanOrEqual(0.65);
    expect(r.verified).toBe(0);
  }
}, scale(120_000, 900_000));

test("with eviction 'lru', under value sizes that drift from 16 B to 64 KiB and back, the map holds about what a fresh map of the same entries holds, and refuses nothing", async () => {
  // bench/sizes.mjs lruDrift(), smaller. The old core (memory kept per size
  // class) refused 3,116 of these inserts, held 24% at the lowest point, and
  // fresh maps given the same entries refused 1,526 of them.
  const { lruDrift } = await import('../bench/sizes.mjs');
  for (const seed of scale([12345, 777], [12345, 777, 4242, 99, 31337, 2024])) {
    const r = await lruDrift({ ops: scale(30_000, 200_000), limit: 8 << 20, keys: 5_000, points: 20, seed, create: createMap });
    expect(r.failed, `seed ${seed}: inserts refused`).toBe(0);
    expect(r.freshFailed, `seed ${seed}: inserts fresh maps refused`).toBe(0);
    expect(r.median, `seed ${seed}: held / fresh, median`).toBeGreaterThanOrEqual(0.9);
    // The goal is 85% at every point. At the largest sizes it was 60–70%
    // for some hash seeds while a batch evicted 64 entries of 64 KiB, half
    // of the map (now a batch stops at 64 KiB or four blocks' worth). Then,
    // as values shrank from 2 KB to 1 KB, 0.81–0.83 at the lowest in 20
    // runs of each seed: the table, held at its size, grew only every 256
    // inserts, each of which evicted one entry meanwhile (now it looks every
    // 16); since then 0.85–0.87 at the lowest (the old core: 24%).
    expect(r.lowest, `seed ${seed}: held / fresh, lowest`).toBeGreaterThanOrEqual(0.8);
    expect(r.verified).toBe(0);
  }
}, scale(120_000, 900_000));

/** Entries an 'lru' map of `limit` bytes holds once it has evicted its way
 *  through three times its count of values of `size` bytes. */
async function freshHolds(size: number, limit: number): Promise<number> {
  const m = await createMap({ maxMemoryBytes: limit, eviction: 'lru' });
  const v = 'v'.repeat(size);
  let i = 0;
  for (; m.stats().evictions === 0; i++) m.set(`f${i}`, v);
  for (let j = 0; j < i * 2; j++) m.set(`g${j}`, v);
  const n = m.size;
  m.close();
  return n;
}

test("with eviction 'lru', a map whose values changed size (50 B -> 1 KB, 200 B -> 100 B, 1 KB -> 3 KB) holds about what a fresh map of the new size holds", async () => {
  const limit = 8 << 20;
  // (64 KiB -> 16 B is not held to it: its table grows under full memory
  // by evicting windows, and where it stands after three fresh maps' worth
  // of inserts varies with the hash seed, 68–100%: issue 15's note.)
  // The core before held 55% after 50 B -> 1 KB: its table, made for
  // 54,000 small entries, and the one kept beside it took 1.5 MB. It held
  // 64% after 200 B -> 100 B and 79–83% after 1 KB -> 3 KB: the blocks of
  // the old size, split for the new one, left pieces that no entry wanted
  // between live entries (a third of the memory after 200 B -> 100 B).
  // 200 B -> 100 B held 0.85 before entries carried their revisions (20
  // bytes more each); 0.78–0.79 since: the map of 200 B values starts
  // evicting 450 KB below its limit (issue 17's note).
  for (const [from, to, goal] of [[50, 1_000, 0.85], [200, 100, 0.75], [1_000, 3_000, 0.85]]) {
    const fresh = await freshHolds(to, limit);
    const map = await createMap({ maxMemoryBytes: limit, eviction: 'lru' });
    const a = 'v'.repeat(from);
    let i = 0;
    for (; map.stats().evictions === 0; i++) map.set(`a${i}`, a);
    for (let j = 0; j < i; j++) map.set(`a${i + j}`, a);
    const b = 'v'.repeat(to);
    for (let j = 0; j < fresh * 3; j++) map.set(`b${j}`, b); // no ERR_CAPACITY: it evicts
    let held = 0;
    for (let j = 0; j < fresh * 3; j++) if (map.has(`b${j}`)) held++;
    expect(held / fresh, `${from} B -> ${to} B: held / fresh`).toBeGreaterThanOrEqual(goal);
    expect(map.__verify()).toBe(0);
    map.close();
  }
}, 120_000);

test('after values of drifting sizes come and go, deleting every key gives back all the memory (nothing leaks)', async () => {
  const limit = 16 << 20;
  const map = await createMap({ maxMemoryBytes: limit });
  let x = 12345;
  const random = () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 4294967296;
  const ops = scale(60_000, 400_000);
  for (let i = 0; i < ops; i++) {
    const phase = (Math.sin((i / ops) * Math.PI * 6) + 1) / 2;
    const size = Math.floor(16 * 2 ** (phase * 12) * (0.5 + random()));
    const key = `d${Math.floor(random() * 2_000)}`;
    if (random() < 1 / 3) map.delete(key);
    else {
      try {
        map.set(key, 'v'.repeat(size));
      } catch (e) {
        expect((e as MapError).code).toBe('ERR_CAPACITY');
      }
    }
  }
  for (let k = 0; k < 2_000; k++) map.delete(`d${k}`);
  for (let i = 0; i < 200; i++) map.delete(`p${i}`); // writes move the epoch on: the last deletes' blocks come back
  for (let i = 0; i < 200; i++) map.set('p', `${i}`);
  map.delete('p');
  const usage = map.memoryUsage();
  expect(usage.freeBytes).toBeGreaterThan(usage.usedBytes * 0.9);
  expect(map.__verify()).toBe(0);
  map.close();
}, scale(120_000, 600_000));
