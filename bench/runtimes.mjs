// The same small workload in every runtime wasmap runs in: `node bench/runtimes.mjs`
// (after `npm run build`; not part of the tests).
//
// Workload (workload.mjs): 100,000 keys of 30 bytes, values of 55 bytes, every
// key set before timing, 94% get / 6% set at uniformly random keys, a fixed
// number of operations (workload.mjs runCount).
//   Node (this one, and 22 and 24 from the npm registry, see
//   scripts/node-binary.mjs), Deno, Bun: 2 workers on one map, released
//   together (runtimes-threads.mjs); ops/s = all operations / wall time from
//   release to the last worker's report.
//   workerd: no Worker there, so one thread: the same number of operations
//   in requests to one isolate whose map is in module scope
//   (runtimes-workerd.mjs); workerd's clock stands still during a request,
//   so this script times the requests and subtracts the cost of an empty one.
// Each case runs BENCH_REPEAT times (default 3); the table shows the median
// and the range. Other processes on the machine lower every figure: the
// "other load" column is the CPU time the rest of the machine used during
// the timed runs (Linux /proc/stat, minus this process, its children and the
// workerd server), in CPUs.
//
// Environment: BENCH_OPS (operations per worker, default 2,000,000),
// BENCH_WARMUP_OPS (default 300,000), BENCH_REPEAT (default 3),
// BENCH_RUNTIMES (a comma-separated subset of: node, node22, node24, deno,
// bun, workerd; default all).
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
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

/** Busy CPU seconds of the whole machine so far (Linux /proc/stat), or NaN. */
function machineBusySeconds() {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal ...; USER_HZ is 100 on Linux.
    return (f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] || 0)) / 100;
  } catch {
    return NaN;
  }
}

/** CPU seconds of process `pid` so far, with its exited and waited-for children; NaN if unknown. */
function processCpuSeconds(pid = 'self') {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
    // Fields 14-17 of proc(5) (utime stime cutime cstime) are 11-14 after the command name.
    return (f[11] + f[12] + f[13] + f[14]) / 100;
  } catch {
    return NaN;
  }
}

/**
 * Runs `fn` and measures how many CPUs the rest of the machine kept busy
 * meanwhile; `pids` are processes of this bench that are not children waited for.
 */
async function withOtherLoad(fn, pids = []) {
  const own = () => processCpuSeconds() + pids.reduce((sum, pid) => sum + processCpuSeconds(pid), 0);
  const m0 = machineBusySeconds();
  const o0 = own();
  const t0 = performance.now();
  const result = await fn();
  const wall = (performance.now() - t0) / 1000;
  const otherLoad = (machineBusySeconds() - m0 - (own() - o0)) / wall;
  return { result, otherLoad: Math.max(0, otherLoad) };
}

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
    siblings: ['workload.mjs'],
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
    const loads = [];
    for (let rep = 0; rep < REPEAT; rep++) {
      const { result, otherLoad } = await withOtherLoad(async () => {
        let seconds = 0;
        let ops = 0;
        // As many operations as the 2 workers of the other cases do together, a worker's share per request.
        for (let w = 0; w < WORKERS; w++) {
          const { body, seconds: s } = await timed(`/run?ops=${OPS}&seed=${0x9e3779b9 ^ (rep * WORKERS + w)}`);
          if (body.problems.length > 0) throw new Error(`workerd: ${body.problems.join('; ')}`);
          seconds += s - overhead;
          ops += body.ops;
        }
        return ops / seconds;
      }, [server.pid]);
      figures.push(result);
      loads.push(otherLoad);
    }
    const { problems } = await get('/verify');
    if (problems.length > 0) throw new Error(`workerd: ${problems.join('; ')}`);
    return { runtime: stdout.trim(), figures, loads };
  } finally {
    await server.stop();
  }
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

const M = (x) => (x / 1e6).toFixed(2);

const CASES = [
  ['node', 'node (this)', async () => [process.execPath, []]],
  ['node22', 'node 22', async () => [await nodeBinary(22), []]],
  ['node24', 'node 24', async () => [await nodeBinary(24), []]],
  ['deno', 'deno', async () => [bin('deno'), ['run', '--no-lock', '--allow-read']]],
  ['bun', 'bun', async () => [bin('bun'), []]],
];
const ALL = [...CASES.map(([id]) => id), 'workerd'];
const chosen = (process.env.BENCH_RUNTIMES || ALL.join(',')).split(',').map((x) => x.trim());
for (const id of chosen) {
  if (!ALL.includes(id)) {
    console.error(`BENCH_RUNTIMES: unknown runtime ${JSON.stringify(id)} (known: ${ALL.join(', ')})`);
    process.exit(2);
  }
}
const cases = CASES.filter(([id]) => chosen.includes(id));

console.log(`wasmap in every runtime: ${WORKERS} workers × ${OPS.toLocaleString('en')} operations ` +
  `(94% get / 6% set, 100,000 keys of 30 B, values of 55 B), ${REPEAT} runs each`);
console.log(`${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);

const rows = [];
for (const [, name, resolve] of cases) {
  let file;
  let args;
  try {
    [file, args] = await resolve();
  } catch (err) {
    rows.push([name, '-', 'skipped', `(${err.message.split('\n')[0]})`, '']);
    continue;
  }
  const figures = [];
  const loads = [];
  let runtime = name;
  for (let rep = 0; rep < REPEAT; rep++) {
    const { result, otherLoad } = await withOtherLoad(() => threadsRun(file, args));
    runtime = result.runtime;
    figures.push(result.opsPerSecond);
    loads.push(otherLoad);
  }
  rows.push(row(runtime, WORKERS, figures, loads));
}
if (chosen.includes('workerd')) {
  const wd = await workerdRuns();
  rows.push(row(wd.runtime, 1, wd.figures, wd.loads));
}

function row(runtime, threads, figures, loads) {
  const range = `${M(Math.min(...figures))}–${M(Math.max(...figures))}`;
  const load = loads.every(Number.isNaN) ? 'n/a' : `${median(loads).toFixed(2)} CPU`;
  return [runtime, String(threads), M(median(figures)), range, load];
}

const header = ['runtime', 'threads', 'M ops/s (median)', 'range', 'other load'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
console.log(line(header));
for (const r of rows) console.log(line(r));
console.log(`\nload average at the end ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} (other processes lower every figure)`);
