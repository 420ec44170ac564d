// The browser example (examples/browser/) in headless Chromium: its workers
// run, its figures move and add up exactly to the map's stats, its controls
// take effect, and without COOP/COEP it says why and falls back.
//
// The page exposes what it shows on `window.__wasmapExample` (see app.mjs).
// A screenshot goes to test/artifacts/browser-example.png; with
// UPDATE_SCREENSHOT=1 also to examples/browser/screenshot.png (committed).
import { mkdirSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import type * as wasmap from '../dist/index.js';
import { type BrowserEnv, type WatchedPage, openPage, startBrowserEnv } from './browser/harness.js';

interface Totals { ops: number; gets: number; sets: number; hits: number; misses: number }
interface ThreadView extends Totals { id: number; name: string; ready: boolean; stopping: boolean; opsPerSec: number }
interface ExampleView {
  mode: string;
  crossOriginIsolated: boolean;
  reason: { code: string; message: string } | null;
  samples: number;
  errors: string[];
  stats: wasmap.MapStats | null;
  intervalHitRatio: number | null;
  threads: ThreadView[];
  retired: Totals;
}
interface Snapshot { threads: (Totals & { id: number })[]; retired: Totals; sum: Totals; stats: wasmap.MapStats; size: number }

// They drive SharedMap and LocalMap in the page, so they run once: in the
// `shared` project, not again in the `local` one (vitest.config.ts).
describe('in Chromium', () => {
  let env: BrowserEnv;
  let current: WatchedPage | undefined;

  beforeAll(async () => {
    env = await startBrowserEnv({ viewport: { width: 1280, height: 900 } });
  });

  afterAll(async () => {
    await env?.close();
  });

  afterEach(async () => {
    const problems = current?.problems ?? [];
    const pageErrors = current ? await view(current.page).then((v) => v.errors, () => []) : [];
    await current?.page.close();
    current = undefined;
    expect({ problems, pageErrors }).toEqual({ problems: [], pageErrors: [] });
  });

  const view = (page: Page) =>
    page.evaluate(`(() => { const x = window.__wasmapExample; return {
      mode: x.mode, crossOriginIsolated: x.crossOriginIsolated, reason: x.reason, samples: x.samples, errors: x.errors,
      stats: x.stats, intervalHitRatio: x.intervalHitRatio, threads: x.threads, retired: x.retired } })()`) as Promise<ExampleView>;

  /** Waits until `ok(view)` holds (the page samples twice a second). */
  async function until(page: Page, what: string, ok: (v: ExampleView) => boolean, timeoutMs = 15_000): Promise<ExampleView> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const v = await view(page);
      if (v.errors.length > 0) throw new Error(`the page reported errors while waiting for ${what}: ${v.errors.join('\n')}`);
      if (ok(v)) return v;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}; the page shows ${JSON.stringify(v, null, 1)}`);
      await page.waitForTimeout(100);
    }
  }

  /** Pauses every thread, reads the totals and map.stats() together, resumes. */
  async function pausedSnapshot(page: Page): Promise<Snapshot> {
    return (await page.evaluate(
      'window.__wasmapExample.pause().then((s) => { window.__wasmapExample.resume(); return s; })',
    )) as Snapshot;
  }

  /** The threads' own counts must add up exactly to the map's. */
  function expectConsistent(s: Snapshot) {
    const sum = s.threads.reduce((a, t) => a + t.ops, s.retired.ops);
    expect(s.sum.ops).toBe(sum);
    expect(s.sum.ops).toBe(s.sum.gets + s.sum.sets);
    expect(s.sum.gets).toBe(s.sum.hits + s.sum.misses);
    expect({ lookups: s.stats.hits + s.stats.misses, hits: s.stats.hits, sets: s.stats.sets, deletes: s.stats.deletes })
      .toEqual({ lookups: s.sum.gets, hits: s.sum.hits, sets: s.sum.sets, deletes: 0 });
  }

  const running = (v: ExampleView, n: number) =>
    v.threads.length === n && v.threads.every((t) => t.ready && !t.stopping && t.opsPerSec > 0);

  test('the example page runs its workers, its figures move and add up, and the worker count control takes effect', async () => {
    current = await openPage(env.context, `${env.isolated}/examples/browser/?window=10`);
    const { page } = current;

    // Two workers by default, both busy; figures from map.stats().
    let v = await until(page, 'two busy workers and a few samples', (x) => running(x, 2) && x.samples >= 4);
    expect(v.mode).toBe('shared');
    expect(v.crossOriginIsolated).toBe(true);
    await page.waitForTimeout(2000);
    v = await view(page);
    for (const t of v.threads) {
      expect(t.opsPerSec, t.name).toBeGreaterThan(0);
      expect(t.ops).toBe(t.gets + t.sets);
    }
    expect(v.stats!.entries).toBeGreaterThan(0);
    expect(v.stats!.memoryUsedBytes).toBeGreaterThan(0);
    expect(v.stats!.expirations).toBeGreaterThan(0); // sets carry a 1 s TTL by default
    expect(v.intervalHitRatio).toBeGreaterThanOrEqual(0);
    expect(v.intervalHitRatio).toBeLessThanOrEqual(1);
    expectConsistent(await pausedSnapshot(page));
    await expect(page.locator('#status-text').textContent()).resolves.toContain('2 Web Workers');

    // Worker count 2 -> 3: a third worker starts and works.
    await page.click('#workers button[data-value="3"]');
    v = await until(page, 'three busy workers', (x) => running(x, 3));
    await expect(page.locator('#workers button[data-value="3"]').getAttribute('aria-pressed')).resolves.toBe('true');
    await expect(page.locator('#worker-rows tr').count()).resolves.toBe(3);
    await page.waitForTimeout(2500);
    expectConsistent(await pausedSnapshot(page));
    // The "Check counts" button does the same comparison on the page.
    await page.click('#check');
    await page.waitForSelector('#check-result.ok, #check-result.bad');
    expect(await page.locator('#check-result').getAttribute('class')).toBe('check ok');

    mkdirSync('test/artifacts', { recursive: true });
    await page.screenshot({ path: 'test/artifacts/browser-example.png', fullPage: true });
    if (process.env.UPDATE_SCREENSHOT === '1') {
      await page.screenshot({ path: 'examples/browser/screenshot.png', fullPage: true });
    }

    // 3 -> 1: two workers stop; what they did stays in the totals.
    await page.click('#workers button[data-value="1"]');
    v = await until(page, 'one busy worker', (x) => running(x, 1) && x.retired.ops > 0);
    expectConsistent(await pausedSnapshot(page));

    // Mix at 100% gets: no set any more, while gets go on.
    await page.locator('#reads').evaluate((el: HTMLInputElement) => {
      el.value = '100';
      el.dispatchEvent(new Event('input', { bubbles: true }));
    });
    await expect(page.locator('#mix-text').textContent()).resolves.toBe('100% get · 0% set');
    const a = await pausedSnapshot(page);
    await page.waitForTimeout(500);
    const b = await pausedSnapshot(page);
    expect(b.sum.sets).toBe(a.sum.sets);
    expect(b.sum.gets).toBeGreaterThan(a.sum.gets);
    expectConsistent(b);
  });

  test('the example page without COOP/COEP says why and falls back to LocalMap on the main thread', async () => {
    current = await openPage(env.context, `${env.plain}/examples/browser/`);
    const { page } = current;
    const v = await until(page, 'the page to choose a mode', (x) => x.mode !== 'starting');
    expect(v.crossOriginIsolated).toBe(false);
    expect(v.reason?.code).toBe('ERR_NO_SHARED_MEMORY');
    const notice = await page.locator('#notice').textContent();
    expect(notice).toContain('not cross-origin isolated');
    expect(notice).toContain('ERR_NO_SHARED_MEMORY');
    expect(notice).toContain('Cross-Origin-Embedder-Policy: require-corp');
    expect(v.mode).toBe('local');
    const w = await until(page, 'the main-thread load to run', (x) => x.threads.length === 1 && x.threads[0].opsPerSec > 0 && x.samples >= 3);
    expect(w.threads[0].name).toBe('main thread');
    expect(w.stats!.entries).toBeGreaterThan(0);
    expectConsistent(await pausedSnapshot(page));
    for (const button of await page.locator('#workers button').all()) await expect(button.isDisabled()).resolves.toBe(true);
  });
});
