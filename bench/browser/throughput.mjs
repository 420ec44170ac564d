// Page side of the browser benchmark (bench/browser.mjs loads it into a
// cross-origin isolated page): one SharedMap populated with every key, then
// `workers` Web Workers released together run `ops` operations each.
import { SharedMap } from '../../dist/index.js';
import { NUM_KEYS, makeDataset, populate, seedFor } from '../workload.mjs';
import { summarize } from './summary.mjs';

export async function run({ workers, ops, warmupOps }) {
  const map = await SharedMap.create({ maxMemoryBytes: 256 << 20 });
  populate(map, makeDataset());
  if (map.size !== NUM_KEYS) throw new Error(`populate left ${map.size} keys`);
  const barrier = new Int32Array(new SharedArrayBuffer(4));
  const started = [];
  for (let t = 0; t < workers; t++) {
    const worker = new Worker(new URL('./worker.mjs', import.meta.url), { type: 'module' });
    let onReady;
    const ready = new Promise((resolve) => (onReady = resolve));
    const result = new Promise((resolve, reject) => {
      worker.onmessage = ({ data }) => {
        if (data.type === 'ready') onReady();
        else if (data.type === 'result') resolve(data);
        else reject(new Error(`worker ${t}: ${data.message}`));
      };
      worker.onerror = (e) => reject(new Error(`worker ${t}: ${e.message}`));
    });
    result.catch(() => onReady());
    worker.postMessage({ handle: map.handle, barrier, ops, warmupOps, seed: seedFor(t) });
    started.push({ worker, ready, result });
  }
  await Promise.all(started.map((s) => s.ready));
  Atomics.store(barrier, 0, 1);
  Atomics.notify(barrier, 0);
  const results = await Promise.all(started.map((s) => s.result));
  for (const s of started) s.worker.terminate();
  const stats = map.stats();
  map.close();
  return { ...summarize(results), stats, userAgent: navigator.userAgent, crossOriginIsolated: self.crossOriginIsolated };
}
