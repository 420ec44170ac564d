// One measuring thread of the browser benchmark: the fixed-count loop of
// bench/workload.mjs (runCount). Plain JS: runs in a browser's Web Worker and
// in a Node worker thread alike.
import { runCount } from '../workload.mjs';

/**
 * One measuring thread: attach, build the dataset, warm up, report ready, wait
 * at the barrier, run `ops` operations, check, report. `post` sends a message
 * to the coordinating thread; `SharedMap` is the package's class.
 */
export async function measure(SharedMap, workload, { handle, barrier, ops, warmupOps, seed }, post) {
  const map = await SharedMap.attach(handle);
  try {
    const data = workload.makeDataset();
    runCount(map, data, warmupOps, seed ^ 0x5bd1e995);
    post({ type: 'ready' });
    Atomics.wait(barrier, 0, 0);
    const startedAt = performance.timeOrigin + performance.now();
    const run = runCount(map, data, ops, seed);
    const endedAt = performance.timeOrigin + performance.now();
    const problems = [...workload.checkRun(run), ...workload.verify(map, data)];
    post({ type: 'result', ...run, startedAt, endedAt, problems });
  } finally {
    map.close();
  }
}
