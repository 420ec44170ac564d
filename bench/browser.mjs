// wasmap in a browser: throughput of Web Workers sharing one map in headless
// Chromium, on the benchmark workload (bench/workload.mjs: 100,000 keys of
// 30 B, values of 55 B, 94% get / 6% set, uniformly random keys, every key
// present), each worker running a fixed number of operations after a warm-up,
// all released together by a barrier. The same threads in Node worker threads
// run next to it as a reference (same machine, same moment).
//
//   npm run build && node bench/browser.mjs
//
// Environment: BENCH_OPS (operations per worker, default 2,000,000),
// BENCH_WORKERS (default 2), BENCH_RUNS (default 3; the median is reported),
// BENCH_NODE=0 skips the Node reference. Needs /usr/bin/chromium
// (node scripts/ensure-chromium.mjs). A benchmark, never a test: nothing here
// asserts a speed; it exits 1 only if a run's results are wrong.
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { SharedMap } from '../dist/index.js';
import { serve } from '../examples/browser/serve.mjs';
import { launchChromium } from '../scripts/chromium.mjs';
import { summarize } from './browser/summary.mjs';
import { KEY_BYTES, NUM_KEYS, SET_FRACTION, VALUE_BYTES, makeDataset, populate, seedFor } from './workload.mjs';

function envInt(name, fallback, min) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) {
    console.error(`${name} must be an integer of at least ${min}, got ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return n;
}

const OPS = envInt('BENCH_OPS', 2_000_000, 1000);
const WORKERS = envInt('BENCH_WORKERS', 2, 1);
const RUNS = envInt('BENCH_RUNS', 3, 1);
const WARMUP_OPS = Math.min(OPS, 300_000);
const NODE = process.env.BENCH_NODE !== '0';

const rate = (n) => `${(n / 1e6).toFixed(2)} M ops/s`;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** One run in Node worker threads, the same threads as the page's workers. */
async function nodeRun() {
  const map = await SharedMap.create({ maxMemoryBytes: 256 << 20 });
  populate(map, makeDataset());
  const barrier = new Int32Array(new SharedArrayBuffer(4));
  const started = [];
  for (let t = 0; t < WORKERS; t++) {
    const worker = new Worker(new URL('./browser/node-worker.mjs', import.meta.url), {
      workerData: { handle: map.handle, barrier, ops: OPS, warmupOps: WARMUP_OPS, seed: seedFor(t) },
    });
    map.releaseOnExit(worker);
    let onReady;
    const ready = new Promise((resolve) => (onReady = resolve));
    const result = new Promise((resolve, reject) => {
      worker.on('message', (m) => {
        if (m.type === 'ready') onReady();
        else if (m.type === 'result') resolve(m);
        else reject(new Error(`node worker ${t}: ${m.message}`));
      });
      worker.on('error', reject);
    });
    result.catch(() => onReady());
    started.push({ worker, ready, result });
  }
  await Promise.all(started.map((s) => s.ready));
  Atomics.store(barrier, 0, 1);
  Atomics.notify(barrier, 0);
  const results = await Promise.all(started.map((s) => s.result));
  await Promise.all(started.map((s) => s.worker.terminate()));
  map.close();
  return summarize(results);
}

function line(label, r) {
  const per = r.perThread.map((p) => rate(p.opsPerSecond)).join(', ');
  return `  ${label.padEnd(10)} ${rate(r.opsPerSecond).padStart(14)}   (${r.ops.toLocaleString('en-US')} ops in ${r.seconds.toFixed(2)} s; per worker: ${per})`;
}

console.log(
  `wasmap browser bench: ${WORKERS} workers × ${OPS.toLocaleString('en-US')} ops (after ${WARMUP_OPS.toLocaleString('en-US')} warm-up), ` +
    `${NUM_KEYS.toLocaleString('en-US')} keys of ${KEY_BYTES} B, values ${VALUE_BYTES} B, ` +
    `${Math.round((1 - SET_FRACTION) * 100)}% get / ${Math.round(SET_FRACTION * 100)}% set; ${RUNS} run(s) each; ` +
    `${os.availableParallelism()} CPUs, load average ${os.loadavg()[0].toFixed(2)}`,
);

const server = await serve({ isolated: true });
const context = await launchChromium();
let failed = false;
try {
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  await page.goto(`${server.url}/bench/browser/`);
  const browser = [];
  const node = [];
  for (let i = 0; i < RUNS; i++) {
    const params = JSON.stringify({ workers: WORKERS, ops: OPS, warmupOps: WARMUP_OPS });
    const r = await page.evaluate(`import('/bench/browser/throughput.mjs').then((m) => m.run(${params}))`);
    if (i === 0) console.log(`  ${r.userAgent.match(/(Headless)?Chrome\/[\d.]+/)?.[0] ?? r.userAgent}, crossOriginIsolated: ${r.crossOriginIsolated}`);
    if (r.problems.length > 0 || errors.length > 0) {
      failed = true;
      console.error(`  browser run ${i + 1} went wrong: ${[...r.problems, ...errors].join('; ')}`);
    }
    browser.push(r);
    console.log(line(`chromium ${i + 1}`, r));
    if (NODE) {
      const n = await nodeRun();
      if (n.problems.length > 0) {
        failed = true;
        console.error(`  node run ${i + 1} went wrong: ${n.problems.join('; ')}`);
      }
      node.push(n);
      console.log(line(`node ${i + 1}`, n));
    }
  }
  console.log(`median: Chromium ${rate(median(browser.map((r) => r.opsPerSecond)))}` +
    (NODE ? `, Node ${process.version} ${rate(median(node.map((r) => r.opsPerSecond)))}` : '') +
    ` (${WORKERS} workers, one shared map)`);
} finally {
  await context.close();
  await server.close();
}
process.exit(failed ? 1 : 0);
