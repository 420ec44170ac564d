// The fixed-count form of the benchmark loop (bench/workload.mjs runSync runs
// for a time instead): the same keys, values, 94% get / 6% set mix, PRNG and
// checksum, for exactly `count` operations. Plain JS: runs in a browser's Web
// Worker and in a Node worker thread alike.
import { SET_FRACTION } from '../workload.mjs';

export function runCount(store, data, count, seed, setFraction = SET_FRACTION) {
  const cutoff = Math.floor(setFraction * 2 ** 32);
  const { keys, valuesA, valuesB } = data;
  const n = keys.length;
  let x = seed | 0;
  let gets = 0;
  let sets = 0;
  let misses = 0;
  let checksum = 0;
  const t0 = performance.now();
  for (let i = 0; i < count; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    const k = (x >>> 0) % n;
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    const d = x >>> 0;
    if (d < cutoff) {
      store.set(keys[k], (d & 1) === 0 ? valuesA[k] : valuesB[k]);
      sets++;
    } else {
      const v = store.get(keys[k]);
      if (v === undefined) misses++;
      else checksum += v.length;
      gets++;
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  return { ops: gets + sets, gets, sets, misses, checksum, seconds, seed: x };
}

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
