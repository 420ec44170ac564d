// The map in a real browser (headless Chromium driven by playwright-core):
// Web Workers hammering one SharedMap in a cross-origin isolated page, and, in
// a page served without COOP/COEP, the ERR_NO_SHARED_MEMORY refusal and the
// LocalMap fallback. The page-side code is in test/browser/.
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import * as wasmap from '../dist/index.js';
import { type BrowserEnv, type WatchedPage, openPage, runInPage, startBrowserEnv } from './browser/harness.js';
import { scale } from './helpers.js';

const WORKERS = 3; // plus the page's main thread: writer 0
const THREADS = WORKERS + 1;
const ROUNDS = scale(20_000, 200_000);

interface Tally {
  writer: number;
  rounds: number;
  increments: number;
  sets: number;
  deletes: number;
  deleteMisses: number;
  gets: number;
  hits: number;
  misses: number;
  wrongReads: number;
  firstWrongRead: unknown;
  raceWins: number[];
  raceLoads: number;
  raceBadValues: number;
}

interface HammerResult {
  crossOriginIsolated: boolean;
  threadIds: number[];
  before: wasmap.MapStats;
  tallies: Tally[];
  stats: wasmap.MapStats;
  size: number;
  counters: { total: unknown; weighted: unknown };
  races: (string | null)[];
  ownWrong: number;
  firstOwnWrong: unknown;
  verify: number;
  elapsedMs: number;
}

interface FallbackResult {
  crossOriginIsolated: boolean;
  sharedArrayBuffer: boolean;
  created: boolean;
  error: { name: string; code: string; message: string; isMapError: boolean } | null;
  /** What each LocalMap call gave (see fallback.mjs). */
  localMap: Record<string, unknown> & { stats: wasmap.MapStats; memoryUsage: wasmap.MemoryUsage };
}

const sum = (xs: Tally[], f: (t: Tally) => number) => xs.reduce((s, t) => s + f(t), 0);

// They drive SharedMap and LocalMap in the page, so they run once: in the
// `shared` project, not again in the `local` one (vitest.config.ts).
describe('in Chromium', () => {
  let env: BrowserEnv;
  let current: WatchedPage | undefined;

  beforeAll(async () => {
    env = await startBrowserEnv();
  });

  afterAll(async () => {
    await env?.close();
  });

  afterEach(async () => {
    // Any uncaught error, console error (page or worker) or failed request fails the test.
    const problems = current?.problems ?? [];
    await current?.page.close();
    current = undefined;
    expect(problems).toEqual([]);
  });

  describe('in a cross-origin isolated page', () => {
    test('Web Workers and the main thread hammering one map lose no update and leave exact counts', async () => {
      current = await openPage(env.context, `${env.isolated}/test/browser/page.html`);
      const r = await runInPage<HammerResult>(current.page, '/test/browser/hammer.mjs', { workers: WORKERS, rounds: ROUNDS });

      expect(r.crossOriginIsolated).toBe(true);
      expect(new Set(r.threadIds).size).toBe(THREADS);
      expect(r.tallies.map((t) => t.writer)).toEqual([...Array(THREADS).keys()]);
      for (const field of ['hits', 'misses', 'sets', 'deletes', 'entries'] as const) expect(r.before[field]).toBe(0);

      // What each thread saw of its own keys, and of the races, while everyone wrote.
      for (const t of r.tallies) {
        expect({ writer: t.writer, wrongReads: t.wrongReads, firstWrongRead: t.firstWrongRead })
          .toEqual({ writer: t.writer, wrongReads: 0, firstWrongRead: null });
        expect(t.deleteMisses).toBe(0);
        expect(t.raceBadValues).toBe(0);
        expect(t.raceWins.length + t.raceLoads).toBe(r.races.length);
      }

      // Counters: no increment lost.
      expect(r.counters.total).toBe(THREADS * ROUNDS);
      expect(r.counters.weighted).toBe((ROUNDS * THREADS * (THREADS + 1)) / 2);

      // getOrSet races: exactly one thread stored each key, and its value stayed.
      const winners = new Map<number, number[]>();
      for (const t of r.tallies) for (const race of t.raceWins) winners.set(race, [...(winners.get(race) ?? []), t.writer]);
      const races = Math.ceil(ROUNDS / 4);
      expect(r.races.length).toBe(races);
      for (let race = 0; race < races; race++) {
        const w = winners.get(race) ?? [];
        if (w.length !== 1 || r.races[race] !== `w${w[0]}`) {
          expect({ race, winners: w, value: r.races[race] }).toEqual({ race, winners: [w[0]], value: `w${w[0]}` });
        }
      }

      // Own keys: every thread's sets and deletes are all there, nothing else.
      expect({ ownWrong: r.ownWrong, firstOwnWrong: r.firstOwnWrong }).toEqual({ ownWrong: 0, firstOwnWrong: null });

      // The map's statistics agree exactly with what the threads did.
      const deleted = Math.ceil(ROUNDS / 3);
      const entries = 2 + THREADS * (ROUNDS - deleted) + races;
      expect(sum(r.tallies, (t) => t.deletes)).toBe(THREADS * deleted);
      expect({
        sets: r.stats.sets, deletes: r.stats.deletes, hits: r.stats.hits, misses: r.stats.misses,
        entries: r.stats.entries, size: r.size, expirations: r.stats.expirations, evictions: r.stats.evictions,
      }).toEqual({
        sets: sum(r.tallies, (t) => t.sets + t.increments) + races,
        deletes: THREADS * deleted,
        hits: sum(r.tallies, (t) => t.hits + t.raceLoads),
        misses: sum(r.tallies, (t) => t.misses) + races,
        entries,
        size: entries,
        expirations: 0,
        evictions: 0,
      });
      expect(r.stats.memoryUsedBytes).toBeGreaterThan(0);
      expect(r.verify).toBe(0);
    });
  });

  describe('in a page without COOP/COEP', () => {
    test('SharedMap.create throws ERR_NO_SHARED_MEMORY naming the headers', async () => {
      current = await openPage(env.context, `${env.plain}/test/browser/page.html`);
      const r = await runInPage<FallbackResult>(current.page, '/test/browser/fallback.mjs');
      expect(r.crossOriginIsolated).toBe(false);
      expect(r.sharedArrayBuffer).toBe(false);
      expect(r.created).toBe(false);
      expect(r.error).toMatchObject({ name: 'MapError', code: 'ERR_NO_SHARED_MEMORY', isMapError: true });
      expect(r.error?.message).toContain('Cross-Origin-Opener-Policy: same-origin');
      expect(r.error?.message).toContain('Cross-Origin-Embedder-Policy: require-corp');
    });

    test('the page falls back to LocalMap.create() and its operations work', async () => {
      current = await openPage(env.context, `${env.plain}/test/browser/page.html`);
      const r = await runInPage<FallbackResult>(current.page, '/test/browser/fallback.mjs');
      expect(r.created).toBe(false);
      const m = r.localMap;
      expect(m).toMatchObject({
        setReturnsMap: true,
        get: 'hello',
        has: true,
        getMissing: null,
        increments: [1, 42],
        getOrSetFirst: { value: 'a', loaded: false },
        getOrSetSecond: { value: 'a', loaded: true },
        casWrong: false,
        casRight: true,
        swap: 'c',
        ttl: 50,
        sizeWithShort: 4,
        afterTtl: null,
        sizeAfterTtl: 3,
        deleteOnce: true,
        deleteTwice: false,
        getAndDelete: 'd',
        namespaceGet: 'namespaced',
        rootGetAfterNamespace: null,
        size: 1,
        evictingSize: 2,
        evictions: 1,
      });
      expect(m.stats).toMatchObject({ entries: 2, expirations: 1, deletes: 2 });
      expect(m.memoryUsage.usedBytes).toBeGreaterThan(0);
    });
  });
});
