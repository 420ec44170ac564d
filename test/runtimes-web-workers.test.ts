// Deno and Bun: the main thread creates a map, Web Workers attach to it and
// hammer it, and every count comes out exact. Each runtime is the real binary
// its npm package ships (devDependencies), running test/runtimes/hammer.mjs.
import { describe, expect, test } from 'vitest';
import { scale } from './helpers.js';
import { type HammerResult, bin, expectExactCounts, runJson } from './runtimes/exec.js';

const WORKERS = 3;
const N = scale(50_000, 1_000_000);
const SCRIPT = 'test/runtimes/hammer.mjs';

const RUNTIMES: [string, string, string[]][] = [
  // --no-lock: Deno would otherwise write a deno.lock next to package.json.
  ['deno', bin('deno'), ['run', '--no-lock', '--allow-read', SCRIPT]],
  ['bun', bin('bun'), [SCRIPT]],
];

describe.each(RUNTIMES)('%s', (name, file, args) => {
  test(`${WORKERS} Web Workers hammering one map leave exact counts`, async () => {
    const r = await runJson<HammerResult>(file, [...args, String(WORKERS), String(N)], 60_000);
    expect(r.runtime.startsWith(`${name} `), r.runtime).toBe(true);
    expect(r.workerKind).toBe('web');
    expectExactCounts(r, WORKERS, N);
  });
});
