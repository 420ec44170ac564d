// The workload of workload.mjs (same keys, values, 94% get / 6% set mix and
// xorshift32 draws) for a fixed number of operations instead of a time: in
// workerd the clock stands still during a request, so a loop that runs
// "until t seconds have passed" would never end there. Used by
// runtimes-thread.mjs (Node, Deno, Bun) and runtimes-workerd.mjs.
import { SET_FRACTION } from './workload.mjs';

export function runOps(store, data, ops, seed, setFraction = SET_FRACTION) {
  const cutoff = Math.floor(setFraction * 2 ** 32);
  const { keys, valuesA, valuesB } = data;
  const n = keys.length;
  let x = seed | 0;
  let gets = 0;
  let sets = 0;
  let misses = 0;
  let checksum = 0;
  for (let i = 0; i < ops; i++) {
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
  return { ops: gets + sets, gets, sets, misses, checksum, seed: x };
}
