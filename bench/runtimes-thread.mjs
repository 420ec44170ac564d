// One worker of runtimes-threads.mjs (a Web Worker in Deno and Bun, a
// worker_threads worker in Node): attaches, builds its copy of the keys and
// values, warms up, waits at the start barrier, runs the fixed number of
// operations, checks what it read and reports.
import { SharedMap } from 'wasmap';
import { listen } from '../scripts/any-worker.mjs';
import { runCount } from './workload.mjs';
import { checkRun, makeDataset, seedFor } from './workload.mjs';

async function onMessage({ handle, index, ops, warmup, barrier }) {
  try {
    const map = await SharedMap.attach(handle);
    const data = makeDataset();
    const seed = seedFor(index);
    runCount(map, data, warmup, seed ^ 0x5bd1e995);
    post({ type: 'ready' });
    Atomics.wait(barrier, 0, 0);
    const t0 = performance.now();
    const run = runCount(map, data, ops, seed);
    const seconds = (performance.now() - t0) / 1000;
    map.close();
    post({ type: 'done', ...run, seconds, problems: checkRun(run) });
  } catch (err) {
    post({ type: 'error', error: err?.stack ?? String(err) });
  }
}

// Before any other await, so that no message is missed.
const post = await listen(onMessage);
