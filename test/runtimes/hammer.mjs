// Many threads on one map, in any runtime: the main thread creates the map,
// starts WORKERS workers (Web Workers where the runtime has them, else Node's
// worker_threads: scripts/any-worker.mjs), each attaches and runs
// hammer-worker.mjs's loop, and the main thread then reads what the map
// holds. It prints one JSON line of what it saw; the test compares that with
// the counts every operation implies.
//
// Usage: <runtime> test/runtimes/hammer.mjs [WORKERS] [N]
// The package is imported by its name, as a user would.
import { SharedMap } from 'wasmap';
import { startWorker } from '../../scripts/any-worker.mjs';
import { COUNTERS, ownKey, ownValue } from './hammer-shared.mjs';

const WORKERS = Number(globalThis.process?.argv?.[2] ?? globalThis.Deno?.args?.[0] ?? 3);
const N = Number(globalThis.process?.argv?.[3] ?? globalThis.Deno?.args?.[1] ?? 20_000);

const runtime = globalThis.Deno ? `deno ${Deno.version.deno}`
  : globalThis.Bun ? `bun ${Bun.version}` : `node ${process.versions.node}`;

// A small first table, so that the run also grows it while workers write.
// Room for every worker's own keys at STRESS=1 (1M rounds: 1.5M live keys).
const map = await SharedMap.create({ initialCapacity: 16, maxMemoryBytes: 1024 * 1024 * 1024 });

let fail;
const failed = new Promise((_, reject) => (fail = reject));
const ready = [];
const done = [];
const workers = [];
for (let i = 0; i < WORKERS; i++) {
  let onReady, onDone;
  ready.push(new Promise((r) => (onReady = r)));
  done.push(new Promise((r) => (onDone = r)));
  const w = await startWorker(new URL('./hammer-worker.mjs', import.meta.url), (m) => {
    if (m.type === 'ready') onReady(m);
    else if (m.type === 'done') onDone(m);
    else if (m.type === 'error') fail(new Error(`worker ${i}: ${m.error}`));
  }, (msg) => fail(new Error(`worker ${i} failed: ${msg}`)));
  workers.push(w);
  w.post({ type: 'attach', handle: map.handle, index: i, n: N });
}

try {
  // Start barrier: every worker attached before any begins.
  const attached = await Promise.race([Promise.all(ready), failed]);
  for (const w of workers) w.post({ type: 'go' });
  const finished = await Promise.race([Promise.all(done), failed]);

  // What the map holds, read by the main thread after every worker stopped.
  const stats = map.stats();
  const counters = Object.fromEntries(COUNTERS.map((k) => [k, map.get(k)]));
  // Each worker deleted its even-numbered keys and kept the odd ones.
  let ownWrong = 0;
  for (let i = 0; i < WORKERS; i++) {
    for (let j = 0; j < N; j++) {
      const want = j % 2 === 1 ? ownValue(i, j) : undefined;
      if (map.get(ownKey(i, j)) !== want) ownWrong++;
    }
  }
  console.log(JSON.stringify({
    runtime,
    workerKind: workers[0]?.kind,
    workers: WORKERS,
    n: N,
    threadIds: [map.threadId, ...attached.map((m) => m.threadId)],
    workerOps: finished.map((m) => m.ops),
    size: map.size,
    stats,
    counters,
    ownWrong,
    // The core's own walk of its structure: 0 when every invariant holds.
    verify: map.__verify(),
  }));
} finally {
  for (const w of workers) w.stop();
  map.close();
}
