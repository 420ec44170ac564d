// getOrCompute: a missing value computed once for every caller at once, in
// every thread, and never left waiting on a computation that is gone.
import { Worker } from 'node:worker_threads';
import { afterEach, expect, test } from 'vitest';
import type { SharedMap } from '../dist/index.js';
import { MAX_FLIGHTS } from '../dist/base-map.js';
import { createMap, shared } from './helpers.js';

let map: SharedMap;
afterEach(() => map?.close());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Report = { value?: string; error?: string };

/** Starts `n` workers that ask for `key` once the go word is set. */
async function callers(n: number, data: { key: string; mode: string; ms: number; ttl?: number }, words: Int32Array) {
  const workers: Worker[] = [];
  const reports: Promise<Report>[] = [];
  const computing: Promise<number>[] = [];
  for (let w = 0; w < n; w++) {
    const worker = new Worker(new URL('./workers/compute.mjs', import.meta.url), {
      workerData: { handle: map.handle, shared: words.buffer, name: `worker ${w}`, ...data },
    });
    map.releaseOnExit(worker);
    const ready = new Promise((resolve) => worker.once('message', resolve));
    reports.push(new Promise((resolve, reject) => {
      worker.on('message', (m) => (m.value !== undefined || m.error !== undefined) && resolve(m));
      worker.once('error', reject);
    }));
    computing.push(new Promise((resolve) => worker.on('message', (m) => m.computing && resolve(w))));
    await ready;
    workers.push(worker);
  }
  return { workers, reports, computing };
}

test('callers in one thread at once share one computation', async () => {
  map = await createMap();
  let calls = 0;
  const compute = async () => {
    calls++;
    await sleep(30);
    return 'computed';
  };
  const values = await Promise.all(Array.from({ length: 5 }, () => map.getOrCompute('k', compute)));
  expect(values).toEqual(Array(5).fill('computed'));
  expect(calls).toBe(1);
  expect(map.get('k')).toBe('computed');
  // Present: no computation at all.
  expect(await map.getOrCompute('k', () => 'again')).toBe('computed');
  expect(calls).toBe(1);
});

test('a computation that outlives its lease is taken over by a waiting caller', async () => {
  map = await createMap();
  void map.getOrCompute('k', () => new Promise<string>(() => {}), { lease: 50 });
  const t0 = Date.now();
  expect(await map.getOrCompute('k', () => 'second')).toBe('second');
  expect(Date.now() - t0).toBeGreaterThanOrEqual(40);
});

test('a thread holds at most MAX_FLIGHTS computations open: a view cannot fill the registry with ones that never end', async () => {
  map = await createMap();
  const view = map.namespace('tenant', { maxEntries: 10 });
  const registry = (map as unknown as { registry(): { size: number } }).registry();
  const before = registry.size;
  const never = () => new Promise<string>(() => {});
  for (let i = 0; i < MAX_FLIGHTS + 500; i++) void view.getOrCompute(`k${i}`, never);
  await sleep(20);
  expect(registry.size - before).toBe(MAX_FLIGHTS);
  // Past the bound, a key computes without a flight; it is still stored.
  expect(await view.getOrCompute('last', () => 'v')).toBe('v');
  expect(view.get('last')).toBe('v');
  expect(registry.size - before).toBe(MAX_FLIGHTS);
});

test('bad arguments are refused with a code, and nothing is stored', async () => {
  map = await createMap();
  await expect(map.getOrCompute('k', 'nope' as never)).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION' });
  await expect(map.getOrCompute('k', () => 'v', { lease: -1 })).rejects.toMatchObject({ code: 'ERR_INVALID_TTL' });
  await expect(map.getOrCompute('k', () => 'v', { ttl: 0 })).rejects.toMatchObject({ code: 'ERR_INVALID_TTL' });
  await expect(map.getOrCompute('k', () => 42 as never)).rejects.toMatchObject({ code: 'ERR_INVALID_VALUE' });
  expect(map.has('k')).toBe(false);
  // The failed call's flight is gone: the next caller computes at once.
  expect(await map.getOrCompute('k', () => 'v')).toBe('v');
});

shared('four threads asking for one key at once: one computation, and every caller gets its value', async () => {
  map = await createMap();
  const words = new Int32Array(new SharedArrayBuffer(8));
  const { reports } = await callers(3, { key: 'token', mode: 'ok', ms: 200 }, words);
  Atomics.store(words, 0, 1);
  const mine = map.getOrCompute('token', async () => {
    Atomics.add(words, 1, 1);
    await sleep(200);
    return 'from main';
  });
  const all = [await mine, ...(await Promise.all(reports)).map((r) => r.value)];
  expect(Atomics.load(words, 1)).toBe(1);
  expect(new Set(all).size).toBe(1);
  expect(all[0]).toBe(map.get('token'));
});

shared('a computing worker that is killed does not leave the others waiting: one of them computes', async () => {
  map = await createMap();
  const words = new Int32Array(new SharedArrayBuffer(8));
  const hanging = await callers(1, { key: 'k', mode: 'hang', ms: 0 }, words);
  Atomics.store(words, 0, 1);
  await hanging.computing[0]; // it holds the flight
  const waiting = await callers(2, { key: 'k', mode: 'ok', ms: 20 }, words);
  const mine = map.getOrCompute('k', async () => {
    Atomics.add(words, 1, 1);
    return 'from main';
  });
  await sleep(100);
  expect(Atomics.load(words, 1)).toBe(1); // everyone waits on the hanging one
  await hanging.workers[0].terminate(); // released on exit: its flight is abandoned
  const values = [await mine, ...(await Promise.all(waiting.reports)).map((r) => r.value)];
  expect(Atomics.load(words, 1)).toBe(2);
  expect(new Set(values).size).toBe(1);
  expect(values[0]).toBe(map.get('k'));
  for (const w of waiting.workers) await w.terminate();
});

shared('a computation that throws rejects its own caller, and a waiting caller computes instead', async () => {
  map = await createMap();
  const words = new Int32Array(new SharedArrayBuffer(8));
  const mine = map.getOrCompute('k', async () => {
    await sleep(150);
    throw new Error('backend down');
  });
  mine.catch(() => {}); // awaited below
  const { reports } = await callers(3, { key: 'k', mode: 'ok', ms: 20 }, words);
  Atomics.store(words, 0, 1);
  await expect(mine).rejects.toThrow('backend down');
  const values = (await Promise.all(reports)).map((r) => r.value);
  expect(Atomics.load(words, 1)).toBe(1); // one of the workers, once
  expect(new Set(values).size).toBe(1);
  expect(values[0]).toMatch(/^from worker/);
  expect(map.get('k')).toBe(values[0]);
});

shared('a value whose TTL runs out while others wait is computed again, and every caller gets a value', async () => {
  map = await createMap();
  const words = new Int32Array(new SharedArrayBuffer(8));
  const { reports } = await callers(3, { key: 'k', mode: 'ok', ms: 30, ttl: 1 }, words);
  Atomics.store(words, 0, 1);
  const results = await Promise.all(reports);
  for (const r of results) expect(r.value).toMatch(/^from worker/);
  // Each caller computed at most once: none waited for ever, none looped.
  expect(Atomics.load(words, 1)).toBeGreaterThanOrEqual(1);
  expect(Atomics.load(words, 1)).toBeLessThanOrEqual(3);
});
