// The same small workload in every runtime wasmap runs in: `node bench/runtimes.mjs`
// (after `npm run build`; not part of the tests).
//
// Workload (workload.mjs): 100,000 keys of 30 bytes, values of 55 bytes, every
// key set before timing, 94% get / 6% set at uniformly random keys, a fixed
// number of operations (runtimes-loop.mjs).
//   Node (this one, and 22 and 24 from the npm registry, see
//   scripts/node-binary.mjs), Deno, Bun: 2 workers on one map, released
//   together (runtimes-threads.mjs); ops/s = all operations / wall time from
//   release to the last worker's report.
//   workerd: no Worker there, so one thread: the same number of operations
//   in requests to one isolate whose map is in module scope
//   (runtimes-workerd.mjs); workerd's clock stands still during a request,
//   so this script times the requests and subtracts the cost of an empty one.
// Each case runs BENCH_REPEAT times (default 3); the table shows the median
// and the range. Other processes on the machine lower every figure.
//
// Environment: BENCH_OPS (operations per worker, default 2,000,000),
// BENCH_WARMUP_OPS (default 300,000), BENCH_REPEAT (default 3).
import { execFile } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { nodeBinary } from '../scripts/node-binary.mjs';
import { serveWorkerd } from '../scripts/workerd-serve.mjs';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../', import.meta.url));
const bin = (name) => fileURLToPath(new URL(`../node_modules/.bin/${name}`, import.meta.url));

function envCount(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n <= 0) {
    console.error(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return n;
}

const WORKERS = 2;
const OPS = envCount('BENCH_OPS', 2_000_000);
const WARMUP = envCount('BENCH_WARMUP_OPS', 300_000);
const REPEAT = envCount('BENCH_REPEAT', 3);
const THREADS_SCRIPT = 'bench/runtimes-threads.mjs';

/** One run of runtimes-threads.mjs under `file`; returns ops/s. */
async function threadsRun(file, args) {
  const { stdout } = await run(file, [...args, THREADS_SCRIPT, String(WORKERS), String(OPS), String(WARMUP)], {
    cwd: ROOT, timeout: 300_000, maxBuffer: 16 << 20,
  });
  const r = JSON.parse(stdout.trim().split('\n').at(-1));
  if (r.problems.length > 0) throw new Error(`${r.runtime}: ${r.problems.join('; ')}`);
  return { runtime: r.runtime, opsPerSecond: r.ops / r.wall };
}

/** workerd: the same operations in one thread; returns one ops/s figure per repeat. */
async function workerdRuns() {
  const server = await serveWorkerd({
    main: fileURLToPath(new URL('./runtimes-workerd.mjs', import.meta.url)),
    siblings: ['workload.mjs', 'runtimes-loop.mjs'],
    compatibilityDate: '2025-01-01',
  });
  const get = async (path) => {
    const res = await fetch(server.url + path);
    if (!res.ok) throw new Error(`workerd ${path}: HTTP ${res.status} ${await res.text()}\n${server.stderr()}`);
    return res.json();
  };
  const timed = async (path) => {
    const t0 = performance.now();
    const body = await get(path);
    return { body, seconds: (performance.now() - t0) / 1000 };
  };
  try {
    const { stdout } = await run(bin('workerd'), ['--version']);
    await get('/load');
    await get(`/run?ops=${WARMUP}&seed=1`);
    const noops = [];
    for (let i = 0; i < 20; i++) noops.push((await timed('/noop')).seconds);
    const overhead = median(noops);
    const figures = [];
    for (let rep = 0; rep < REPEAT; rep++) {
      let seconds = 0;
      let ops = 0;
      // As many operations as the 2 workers of the other cases do together, a worker's share per request.
      for (let w = 0; w < WORKERS; w++) {
        const { body, seconds: s } = await timed(`/run?ops=${OPS}&seed=${0x9e3779b9 ^ (rep * WORKERS + w)}`);
        if (body.problems.length > 0) throw new Error(`workerd: ${body.problems.join('; ')}`);
        seconds += s - overhead;
        ops += body.ops;
      }
      figures.push(ops / seconds);
    }
    const { problems } = await get('/verify');
    if (problems.length > 0) throw new Error(`workerd: ${problems.join('; ')}`);
    return { runtime: stdout.trim(), figures };
  } finally {
    await server.stop();
  }
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

const M = (x) => (x / 1e6).toFixed(2);

const cases = [
  ['node (this)', async () => [process.execPath, []]],
  ['node 22', async () => [await nodeBinary(22), []]],
  ['node 24', async () => [await nodeBinary(24), []]],
  ['deno', async () => [bin('deno'), ['run', '--no-lock', '--allow-read']]],
  ['bun', async () => [bin('bun'), []]],
];

console.log(`wasmap in every runtime: ${WORKERS} workers × ${OPS.toLocaleString('en')} operations ` +
  `(94% get / 6% set, 100,000 keys of 30 B, values of 55 B), ${REPEAT} runs each`);
console.log(`${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);

const rows = [];
for (const [name, resolve] of cases) {
  let file;
  let args;
  try {
    [file, args] = await resolve();
  } catch (err) {
    rows.push([name, '-', 'skipped', `(${err.message.split('\n')[0]})`]);
    continue;
  }
  const figures = [];
  let runtime = name;
  for (let rep = 0; rep < REPEAT; rep++) {
    const r = await threadsRun(file, args);
    runtime = r.runtime;
    figures.push(r.opsPerSecond);
  }
  rows.push([runtime, String(WORKERS), M(median(figures)), `${M(Math.min(...figures))}–${M(Math.max(...figures))}`]);
}
const wd = await workerdRuns();
rows.push([wd.runtime, '1', M(median(wd.figures)), `${M(Math.min(...wd.figures))}–${M(Math.max(...wd.figures))}`]);

const header = ['runtime', 'threads', 'M ops/s (median)', 'range'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
console.log(line(header));
for (const r of rows) console.log(line(r));
console.log(`\nload average at the end ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} (other processes lower every figure)`);
