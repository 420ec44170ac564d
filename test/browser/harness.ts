// Node side of the browser tests: two servers of the repository root (one
// with the COOP/COEP headers, one without), one headless Chromium, and pages
// that record every error they meet, so a test can fail on any of them.
import type { BrowserContext, Page } from 'playwright-core';
// @ts-expect-error: plain JS module, also run by `npm run example:browser`
import { serve } from '../../examples/browser/serve.mjs';
// @ts-expect-error: plain JS module, also used by bench/browser.mjs
import { launchChromium } from '../../scripts/chromium.mjs';

interface Server {
  url: string;
  close(): Promise<void>;
}

export interface BrowserEnv {
  /** Origin of the server that sends COOP/COEP (pages there are cross-origin isolated). */
  isolated: string;
  /** Origin of the server that does not (pages there have no SharedArrayBuffer). */
  plain: string;
  context: BrowserContext;
  close(): Promise<void>;
}

export async function startBrowserEnv(options?: { viewport?: { width: number; height: number } }): Promise<BrowserEnv> {
  const isolated: Server = await serve({ isolated: true });
  const plain: Server = await serve({ isolated: false });
  let context: BrowserContext;
  try {
    context = await launchChromium(options);
  } catch (err) {
    await Promise.all([isolated.close(), plain.close()]);
    throw err;
  }
  return {
    isolated: isolated.url,
    plain: plain.url,
    context,
    close: async () => {
      await context.close();
      await Promise.all([isolated.close(), plain.close()]);
    },
  };
}

export interface WatchedPage {
  page: Page;
  /** Uncaught errors, console errors (page and workers), failed requests, crashes: empty when all is well. */
  problems: string[];
}

/** Opens `url` in a new page that records every problem in `problems`. */
export async function openPage(context: BrowserContext, url: string): Promise<WatchedPage> {
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.stack ?? err.message}`));
  // Workers' console messages come here too (uncaught errors in a worker come as page errors).
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const worker = msg.worker();
    problems.push(`${worker ? `worker ${worker.url()} ` : ''}console error: ${msg.text()}`);
  });
  page.on('requestfailed', (req) => problems.push(`request failed: ${req.url()} (${req.failure()?.errorText})`));
  page.on('response', (res) => {
    if (res.status() >= 400) problems.push(`HTTP ${res.status()} for ${res.url()}`);
  });
  page.on('crash', () => problems.push('the page crashed'));
  const response = await page.goto(url);
  if (!response?.ok()) problems.push(`navigation to ${url} answered ${response?.status()}`);
  return { page, problems };
}

/**
 * Imports the module at `path` (served from the repository root) into the
 * page and resolves with what its `run(arg)` resolves to. The expression is
 * passed as a string: a function would go through vitest's transform, which
 * rewrites `import()` into a helper the page does not have.
 */
export async function runInPage<T>(page: Page, path: string, arg?: unknown): Promise<T> {
  const call = `import(${JSON.stringify(path)}).then((m) => m.run(${arg === undefined ? '' : JSON.stringify(arg)}))`;
  return (await page.evaluate(call)) as T;
}
