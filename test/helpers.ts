import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { LocalMap, MapError, SharedMap, type SharedMapOptions } from '../dist/index.js';

/**
 * The suite runs twice (vitest.config.ts): on SharedMap, and with
 * WASMAP_MAP=local on LocalMap, the single-instance build.
 */
export const LOCAL = process.env.WASMAP_MAP === 'local';

/**
 * A new map of the kind this run tests. A LocalMap has every operation a
 * SharedMap has but handle/attach/releaseThread/releaseOnExit, and only
 * tests marked `shared` use those.
 */
export const createMap = (options?: SharedMapOptions): Promise<SharedMap> =>
  (LOCAL ? LocalMap.create(options) : SharedMap.create(options)) as Promise<SharedMap>;

/**
 * Tests of sharing one map between threads (workers, attach, handles): a
 * LocalMap has no other thread to share with, so its run skips them.
 */
export const shared = LOCAL ? it.skip : it;
export const describeShared = LOCAL ? describe.skip : describe;

/** Map presets every behaviour test runs on. `tiny` makes the table migrate constantly. */
export const PRESETS: [string, SharedMapOptions][] = [
  ['tiny table', { initialCapacity: 1, maxMemoryBytes: 256 << 20 }],
  ['defaults', {}],
];

/** Sizes scale with STRESS=1 (long runs); CI runs the small ones. */
export const STRESS = process.env.STRESS === '1';
export const scale = (ci: number, stress: number) => (STRESS ? stress : ci);

const workerUrl = (name: string) => new URL(`./workers/${name}`, import.meta.url);

export interface Started<T> {
  workers: Worker[];
  /** Resolves with each worker's final message. */
  results: Promise<T[]>;
  /** Each worker's first message (`{ ready: true, ... }`). */
  ready: Record<string, unknown>[];
  /** Releases every worker at once (they wait on it after attaching). */
  go(): void;
}

/**
 * Starts `n` workers running `script` on `map`, each attached and waiting at
 * a barrier until go(). Each gets workerData { handle, index, barrier, ...data }.
 */
export async function startWorkers<T>(
  map: SharedMap, script: string, n: number, data: Record<string, unknown> = {},
): Promise<Started<T>> {
  const barrier = new Int32Array(new SharedArrayBuffer(8));
  const workers: Worker[] = [];
  const ready: Promise<void>[] = [];
  const readyMessages: Record<string, unknown>[] = [];
  const results: Promise<T>[] = [];
  for (let index = 0; index < n; index++) {
    const w = new Worker(workerUrl(script), { workerData: { handle: map.handle, index, barrier, ...data } });
    map.releaseOnExit(w);
    workers.push(w);
    let onReady!: () => void;
    ready.push(new Promise<void>((r) => (onReady = r)));
    const at = index;
    results.push(
      new Promise<T>((resolve, reject) => {
        w.on('message', (m: { ready?: true; result?: T }) => {
          if (m.ready) {
            readyMessages[at] = m;
            onReady();
          }
          else resolve(m.result as T);
        });
        w.on('error', reject);
        w.on('exit', (code) => reject(new Error(`worker ${index} exited with code ${code} before reporting`)));
      }),
    );
  }
  await Promise.all(ready);
  return {
    workers,
    results: Promise.all(results),
    ready: readyMessages,
    go() {
      Atomics.store(barrier, 0, 1);
      Atomics.notify(barrier, 0);
    },
  };
}

/** A small deterministic PRNG (xorshift32), the same one the workers use. */
// @ts-expect-error: plain JS module shared with the workers
import { rng } from './workers/common.mjs';
export { rng };

/** Integers below n, from a seeded rng: the same script for the same seed. */
export function randomInt(seed: number): (n: number) => number {
  const next = rng(seed);
  return (n) => Math.floor(next() * n);
}

/** The MapError code `fn` throws (failing the test on any other error), or undefined. */
export function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(MapError);
    return (e as MapError).code;
  }
  return undefined;
}

/**
 * Memory is still reclaimed: churn over a fixed key set must not grow it.
 * Fails if some thread (dead, trapped, never released) pins reclamation.
 */
export function expectReclaims(map: SharedMap) {
  const before = map.memoryUsage().usedBytes;
  for (let r = 0; r < 5; r++) for (let i = 0; i < 20_000; i++) map.set(`churn:${i % 1000}`, `x${r}:${i}`);
  expect(map.memoryUsage().usedBytes - before).toBeLessThan(4 << 20);
}
