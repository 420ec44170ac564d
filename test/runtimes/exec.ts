// Running a script under another runtime and reading the one JSON line it prints.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** A binary an npm package of the devDependencies ships (deno, bun, workerd). */
export const bin = (name: string) => fileURLToPath(new URL(`../../node_modules/.bin/${name}`, import.meta.url));

/**
 * Runs `file args` in the repository's root and returns the last line of its
 * stdout parsed as JSON. Rejects, with the runtime's stderr, if it exits
 * non-zero, prints no JSON or runs past `timeoutMs`.
 */
export function runJson<T>(file: string, args: string[], timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd: ROOT, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const what = `${file} ${args.join(' ')}`;
      if (err) {
        reject(new Error(`${what} failed (${err.killed ? `killed after ${timeoutMs} ms` : `exit ${err.code}`}):\n${stderr}${stdout}`));
        return;
      }
      const last = stdout.trim().split('\n').at(-1) ?? '';
      try {
        resolve(JSON.parse(last) as T);
      } catch {
        reject(new Error(`${what} printed no JSON result:\n${stdout}\n${stderr}`));
      }
    });
  });
}

/** What test/runtimes/hammer.mjs prints. */
export interface HammerResult {
  runtime: string;
  workerKind: 'web' | 'worker_threads';
  workers: number;
  n: number;
  threadIds: number[];
  workerOps: number[];
  size: number;
  stats: Record<string, number>;
  counters: Record<string, number>;
  ownWrong: number;
  verify: number;
}

/** Checks a hammer run against the counts its operations imply (see hammer-worker.mjs). */
export function expectExactCounts(r: HammerResult, workers: number, n: number): void {
  const kept = workers * Math.floor(n / 2); // each worker keeps its odd-numbered keys
  expect(r.workers).toBe(workers);
  expect(r.threadIds).toHaveLength(workers + 1);
  expect(new Set(r.threadIds).size, `thread ids ${r.threadIds} must differ`).toBe(workers + 1);
  expect(r.workerOps).toEqual(Array(workers).fill(4 * n + Math.floor(n / 2)));
  expect(r.counters.total).toBe(workers * n);
  for (let k = 0; k < 8; k++) {
    const rounds = Math.floor(n / 8) + (k < n % 8 ? 1 : 0);
    expect(r.counters[`c:${k}`], `c:${k}`).toBe(workers * rounds);
  }
  expect(r.ownWrong, 'own keys with a wrong value or present after delete').toBe(0);
  expect(r.size).toBe(9 + kept);
  expect(r.stats).toMatchObject({
    entries: 9 + kept,
    hits: workers * n, // one get per round, read before the main thread's checks
    misses: 0,
    sets: 3 * workers * n, // two increments and one set per round
    deletes: kept,
    expirations: 0,
    evictions: 0,
    casFailures: 0,
  });
  expect(r.verify, 'the core found a broken invariant').toBe(0);
}
