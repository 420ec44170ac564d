// One Web Worker of the browser example: attaches to the page's map and runs
// the load (load.mjs) flat out, in batches. Between batches it publishes its
// totals in its slot of the shared counts buffer and reads the controls the
// page set (mix, TTL, keys, pause, stop). Nothing is posted per operation.
//
// Module workers do not see the page's import map, so this imports the
// package's entry by its path; with a bundler it would be `from 'wasmap'`.
import { SharedMap } from '../../dist/index.js';
import { CTL, Load, SLOT } from './load.mjs';

/** Operations between two looks at the controls (~1 ms of work). */
const BATCH = 1024;

self.onmessage = async ({ data }) => {
  const { handle, control, counts, slot } = data;
  const ctl = new Int32Array(control);
  const mine = new BigInt64Array(counts, slot * SLOT.SIZE * 8, SLOT.SIZE);
  let map;
  try {
    map = await SharedMap.attach(handle);
    const load = new Load(map, slot);
    const publish = () => {
      Atomics.store(mine, SLOT.OPS, BigInt(load.ops));
      Atomics.store(mine, SLOT.GETS, BigInt(load.gets));
      Atomics.store(mine, SLOT.SETS, BigInt(load.sets));
      Atomics.store(mine, SLOT.HITS, BigInt(load.hits));
      Atomics.store(mine, SLOT.MISSES, BigInt(load.misses));
    };
    self.postMessage({ type: 'ready', threadId: map.threadId });
    while (Atomics.load(ctl, CTL.STOP + slot) === 0) {
      if (Atomics.load(ctl, CTL.RUN) === 0) {
        // Paused: everything done so far is published before PARKED says so.
        publish();
        Atomics.store(mine, SLOT.PARKED, 1n);
        Atomics.wait(ctl, CTL.RUN, 0, 250); // wakes on resume (notify), or to look at STOP
        Atomics.store(mine, SLOT.PARKED, 0n);
        continue;
      }
      load.run(BATCH, Atomics.load(ctl, CTL.READ_PERMILLE), Atomics.load(ctl, CTL.TTL_MS), Atomics.load(ctl, CTL.KEYS));
      publish();
    }
    publish();
    Atomics.store(mine, SLOT.PARKED, 1n); // nothing more to come from this slot
    map.close();
    self.postMessage({ type: 'stopped', totals: load.totals() });
  } catch (err) {
    self.postMessage({ type: 'error', message: `${err?.name ?? 'Error'}${err?.code ? ` [${err.code}]` : ''}: ${err?.message ?? err}` });
  }
};
