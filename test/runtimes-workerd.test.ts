// workerd (the Workers runtime, devDependency `workerd`): a Worker keeps one
// map in module scope across requests (test/runtimes/workerd/map-worker.mjs,
// served by scripts/workerd-serve.mjs with the core imported as a compiled
// Wasm module). Real HTTP requests check that values and counters persist
// from request to request and that a TTL runs out between requests (workerd's
// clock stands still during a request and moves on between them).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
// @ts-expect-error: plain JS module, shared with bench/runtimes.mjs
import { serveWorkerd } from '../scripts/workerd-serve.mjs';

const MAIN = fileURLToPath(new URL('./runtimes/workerd/map-worker.mjs', import.meta.url));

// The host takes a different path in each: no `process` at all; `process.versions.node`
// without a `node:worker_threads` module; and both (threadId 0, one thread per isolate).
const CONFIGS: [string, string, string[], { node: boolean }][] = [
  ['without Node compatibility', '2025-01-01', [], { node: false }],
  ['with nodejs_compat, no node:worker_threads', '2026-01-01', ['nodejs_compat'], { node: true }],
  ['with nodejs_compat and node:worker_threads', '2026-04-01', ['nodejs_compat'], { node: true }],
];

// Long enough that the requests before the wait never outlast it, even on a loaded machine.
const TTL = 2000;

describe.each(CONFIGS)('workerd %s', (_name, compatibilityDate, compatibilityFlags, expected) => {
  let server: { url: string; stop(): Promise<void>; stderr(): string };

  /** One HTTP request to the Worker; fails the test on any error status. */
  async function call<T = Record<string, unknown>>(path: string): Promise<T> {
    const res = await fetch(server.url + path);
    const body = await res.text();
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${body}\n${server.stderr()}`);
    return JSON.parse(body) as T;
  }

  beforeAll(async () => {
    server = await serveWorkerd({ main: MAIN, compatibilityDate, compatibilityFlags });
  });
  afterAll(async () => {
    await server?.stop();
  });

  test('the map is created from the imported module, in a runtime without Worker', async () => {
    const info = await call('/info');
    expect(info.worker).toBe('undefined');
    expect(info.node !== null).toBe(expected.node);
    expect(info.threadId).toBeGreaterThan(0);
    // The same map (same thread slot) answers the next request.
    expect((await call('/info')).threadId).toBe(info.threadId);
  });

  test('values, counters and size persist across requests', async () => {
    for (let i = 0; i < 10; i++) await call(`/set?key=k${i}&value=v${i}`);
    for (let i = 0; i < 10; i++) expect(await call(`/get?key=k${i}`)).toMatchObject({ value: `v${i}` });
    // Concurrent requests interleave in the one isolate; every increment counts.
    await Promise.all(Array.from({ length: 50 }, () => call('/incr?key=hits&by=2')));
    expect(await call('/get?key=hits')).toMatchObject({ value: 100 });
    expect(await call('/delete?key=k0')).toEqual({ deleted: true });
    expect(await call('/get?key=k0')).toMatchObject({ value: null });
    expect(await call('/size')).toEqual({ size: 10 });
    const stats = await call<Record<string, number>>('/stats');
    expect(stats).toMatchObject({ entries: 10, sets: 60, deletes: 1, misses: 1, evictions: 0 });
  });

  test('an entry set with a ttl is there in later requests, and gone once the ttl has passed', async () => {
    const before = (await call<{ size: number }>('/size')).size;
    const { now: setAt } = await call<{ now: number }>(`/set?key=short&value=lived&ttl=${TTL}`);
    await call('/set?key=long&value=stays');
    expect(await call('/get?key=short')).toMatchObject({ value: 'lived' });
    const { ttl } = await call<{ ttl: number }>('/ttl?key=short');
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(TTL);
    expect(await call('/ttl?key=long')).toEqual({ ttl: 'Infinity' });
    expect(await call('/size')).toEqual({ size: before + 2 });

    // Wait (on this machine's clock, which workerd shares) until the ttl has passed.
    while (Date.now() <= setAt + TTL + 20) await new Promise((r) => setTimeout(r, setAt + TTL + 25 - Date.now()));
    const after = await call<{ value: unknown; now: number }>('/get?key=short');
    expect(after.now).toBeGreaterThan(setAt + TTL);
    expect(after.value).toBeNull();
    expect(await call('/ttl?key=short')).toEqual({ ttl: null });
    expect(await call('/get?key=long')).toMatchObject({ value: 'stays' });
    expect(await call('/size')).toEqual({ size: before + 1 });
    expect((await call<Record<string, number>>('/stats')).expirations).toBe(1);
  });
});

test("docs/runtimes.md's Worker runs under workerd as written: one map across requests", async () => {
  const doc = readFileSync(fileURLToPath(new URL('../docs/runtimes.md', import.meta.url)), 'utf8');
  const block = /<!-- not run: runs under workerd[^>]*-->\n```ts\n([\s\S]*?)^```/m.exec(doc);
  expect(block, 'the workerd block of docs/runtimes.md').not.toBeNull();
  const dir = mkdtempSync(join(tmpdir(), 'wasmap-workerd-doc-'));
  const main = join(dir, 'worker.mjs');
  writeFileSync(main, ts.transpileModule(block![1], {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
  }).outputText);
  const server = await serveWorkerd({ main, compatibilityDate: '2026-04-01', compatibilityFlags: [] });
  try {
    const hits = [];
    for (let i = 0; i < 3; i++) hits.push(await (await fetch(server.url)).text());
    expect(hits).toEqual(['1', '2', '3']);
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
