// Two workers and the main thread hammer one map at once; every result is
// checked exactly against what the threads themselves did.
import { afterEach, describe, expect, test } from 'vitest';
import { SharedMap } from '../dist/index.js';
import { createMap, describeShared, PRESETS, scale, startWorkers } from './helpers.js';
// @ts-expect-error: plain JS module shared with the workers
import { roles } from './workers/roles.mjs';

const WORKERS = 2;
const MAIN = 0; // the main thread's writer number (workers are 1..WORKERS)

let map: SharedMap;
afterEach(() => {
  // After every hammering, the structure is whole (debug walk of the core).
  expect(map.__verify()).toBe(0);
  map.close();
});

/** Runs `role` in WORKERS workers and in the main thread, all at once. */
async function hammer<T>(role: string, params: Record<string, unknown>): Promise<T[]> {
  const started = await startWorkers<T>(map, 'stress.mjs', WORKERS, { role, params });
  started.go();
  const mine = roles(map)[role]({ ...params, writer: MAIN }) as T;
  const theirs = await started.results;
  return [mine, ...theirs];
}

describeShared.each(PRESETS)('on %s', (_name, options) => {
  test('increments from three threads lose no update', async () => {
    map = await createMap(options);
    const keys = 16;
    const rounds = scale(5_000, 100_000);
    const tallies = await hammer<number[]>('counters', { keys, rounds });
    for (let k = 0; k < keys; k++) {
      const expected = tallies.reduce((sum, t) => sum + t[k], 0);
      expect(expected).toBe(3 * rounds);
      expect(map.get(`count:${k}`)).toBe(expected);
    }
    expect(map.size).toBe(keys);
  });

  test('concurrent overwrites of shared keys are never read torn', async () => {
    map = await createMap(options);
    const results = await hammer<{ torn: number; reads: number }>('torn', { keys: 64, ops: scale(40_000, 1_000_000) });
    const reads = results.reduce((s, r) => s + r.reads, 0);
    expect(reads).toBeGreaterThan(1000);
    expect(results.map((r) => r.torn)).toEqual([0, 0, 0]);
  });

  test('concurrent inserts and deletes while the table grows keep size exact', async () => {
    map = await createMap(options);
    const count = scale(30_000, 300_000);
    const results = await hammer<{ live: number }>('inserts', { count });
    const live = results.reduce((s, r) => s + r.live, 0);
    expect(map.size).toBe(live);
    for (let w = 0; w <= WORKERS; w++) {
      for (let i = 0; i < count; i++) {
        const v = map.get(`own:${w}:${i}`);
        if (i % 3 === 0) expect(v).toBeUndefined();
        else if (v !== `v${i}`) expect(v, `own:${w}:${i}`).toBe(`v${i}`);
      }
    }
  });

  test('compareAndSwap retry loops from three threads count exactly', async () => {
    map = await createMap(options);
    map.set('cas', '0');
    const rounds = scale(3_000, 50_000);
    const wins = await hammer<number>('cas', { rounds });
    expect(wins).toEqual([rounds, rounds, rounds]);
    expect(map.get('cas')).toBe(String(3 * rounds));
  });

  test('racing getOrSet stores each key once and every thread sees the winner', async () => {
    map = await createMap(options);
    const keys = scale(5_000, 50_000);
    const results = await hammer<{ seen: string[]; stored: number }>('getOrSet', { keys });
    expect(results.reduce((s, r) => s + r.stored, 0)).toBe(keys);
    for (let k = 0; k < keys; k++) {
      const winner = map.get(`gos:${k}`);
      for (const r of results) if (r.seen[k] !== winner) expect(r.seen[k]).toBe(winner);
    }
    expect(map.size).toBe(keys);
  });

  test('racing getAndDelete hands each value to exactly one thread', async () => {
    map = await createMap(options);
    const keys = scale(5_000, 50_000);
    for (let k = 0; k < keys; k++) map.set(`gad:${k}`, `value ${k}`);
    const results = await hammer<string[]>('getAndDelete', { keys });
    const all = results.flat().sort();
    expect(all.length).toBe(keys);
    expect(new Set(all).size).toBe(keys);
    expect(map.size).toBe(0);
  });

  test('increments racing swaps and deletes never mix kinds', async () => {
    map = await createMap(options);
    const results = await hammer<{ bad: number }>('mixed', { ops: scale(30_000, 500_000) });
    expect(results.map((r) => r.bad)).toEqual([0, 0, 0]);
    let live = 0;
    for (let k = 0; k < 4; k++) if (map.has(`mix:${k}`)) live++;
    expect(map.size).toBe(live);
  });
});
