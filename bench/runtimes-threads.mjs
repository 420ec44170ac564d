// The runtimes bench's case for Node, Deno and Bun (see runtimes.mjs): the
// main thread creates a map holding every key of the workload, starts
// WORKERS workers (runtimes-thread.mjs), releases them together and prints
// one JSON line: every worker's operations and seconds, and the wall time
// from release to the last report.
//
// Usage: <runtime> bench/runtimes-threads.mjs WORKERS OPS_PER_WORKER WARMUP_OPS
import { SharedMap } from 'wasmap';
import { startWorker } from '../scripts/any-worker.mjs';
import { makeDataset, populate, verify } from './workload.mjs';

const args = globalThis.Deno?.args ?? process.argv.slice(2);
const [WORKERS, OPS, WARMUP] = args.map(Number);
const runtime = globalThis.Deno ? `deno ${Deno.version.deno}`
  : globalThis.Bun ? `bun ${Bun.version}` : `node ${process.versions.node}`;

const map = await SharedMap.create({ maxMemoryBytes: 256 << 20 });
const data = makeDataset();
populate(map, data);

const barrier = new Int32Array(new SharedArrayBuffer(4));
let fail;
const failed = new Promise((_, reject) => (fail = reject));
const ready = [];
const done = [];
const workers = [];
for (let i = 0; i < WORKERS; i++) {
  let onReady, onDone;
  ready.push(new Promise((r) => (onReady = r)));
  done.push(new Promise((r) => (onDone = r)));
  const w = await startWorker(new URL('./runtimes-thread.mjs', import.meta.url), (m) => {
    if (m.type === 'ready') onReady();
    else if (m.type === 'done') onDone({ ...m, at: performance.now() });
    else fail(new Error(`worker ${i}: ${m.error}`));
  }, (msg) => fail(new Error(`worker ${i} failed: ${msg}`)));
  workers.push(w);
  w.post({ handle: map.handle, index: i, ops: OPS, warmup: WARMUP, barrier });
}

try {
  await Promise.race([Promise.all(ready), failed]);
  const t0 = performance.now();
  Atomics.store(barrier, 0, 1);
  Atomics.notify(barrier, 0);
  const reports = await Promise.race([Promise.all(done), failed]);
  const wall = (Math.max(...reports.map((r) => r.at)) - t0) / 1000;
  const problems = [...reports.flatMap((r) => r.problems), ...verify(map, data)];
  console.log(JSON.stringify({
    runtime,
    workers: WORKERS,
    ops: reports.reduce((s, r) => s + r.ops, 0),
    wall,
    perWorker: reports.map((r) => ({ ops: r.ops, seconds: r.seconds })),
    problems,
  }));
} finally {
  for (const w of workers) w.stop();
  map.close();
}
