// Page side of the browser hammer test (test/browser.test.ts imports this into
// a cross-origin isolated page): the main thread creates a map, `workers` Web
// Workers attach to it, and all of them run hammer-role.mjs at once. Returns
// the threads' tallies and what the map holds afterwards; the test checks them.
import { SharedMap } from '/dist/index.js';
import { RACE_EVERY, hammer, isDeleted, ownKey, ownValue } from './hammer-role.mjs';

function startWorker(writer, map, control, rounds) {
  const worker = new Worker(new URL('./hammer-worker.mjs', import.meta.url), { type: 'module', name: `hammer-${writer}` });
  let onReady;
  const ready = new Promise((resolve) => (onReady = resolve));
  const done = new Promise((resolve, reject) => {
    worker.onmessage = ({ data }) => {
      if (data.type === 'ready') onReady(data.threadId);
      else if (data.type === 'done') resolve(data.tally);
      else if (data.type === 'error') {
        const e = data.error;
        reject(new Error(`worker ${writer}: ${e.name}${e.code ? ` [${e.code}]` : ''}: ${e.message}\n${e.stack ?? ''}`));
      }
    };
    worker.onerror = (e) => reject(new Error(`worker ${writer} failed to run: ${e.message || 'error event (script failed to load?)'}`));
    worker.onmessageerror = () => reject(new Error(`worker ${writer}: a message could not be deserialized`));
  });
  // A worker that fails before 'ready' must not leave the page waiting forever.
  done.catch(() => onReady(null));
  worker.postMessage({ handle: map.handle, control, writer, rounds });
  return { worker, ready, done };
}

export async function run({ workers, rounds }) {
  // A tiny first table: the table migrates again and again while everyone writes.
  // Room for STRESS=1 (200,000 rounds: about 600,000 live entries).
  const map = await SharedMap.create({ maxMemoryBytes: 256 << 20, initialCapacity: 8 });
  const before = map.stats();
  const control = new SharedArrayBuffer(4);
  const started = [];
  for (let w = 1; w <= workers; w++) started.push(startWorker(w, map, control, rounds));
  const threadIds = [map.threadId, ...(await Promise.all(started.map((s) => s.ready)))];

  const t0 = performance.now();
  const go = new Int32Array(control);
  Atomics.store(go, 0, 1);
  Atomics.notify(go, 0);
  const mine = hammer(map, { writer: 0, rounds });
  const theirs = await Promise.all(started.map((s) => s.done));
  const elapsedMs = performance.now() - t0;
  for (const s of started) s.worker.terminate();

  // Snapshot first: the checks below read the map, which counts as lookups.
  const stats = map.stats();
  const size = map.size;
  const counters = { total: map.get('ctr:total'), weighted: map.get('ctr:weighted') };
  const races = [];
  for (let r = 0; r * RACE_EVERY < rounds; r++) races.push(map.get(`race:${r}`) ?? null);
  let ownWrong = 0;
  let firstOwnWrong = null;
  for (let w = 0; w <= workers; w++) {
    for (let i = 0; i < rounds; i++) {
      const v = map.get(ownKey(w, i));
      const expected = isDeleted(i) ? undefined : ownValue(w, i);
      if (v !== expected) {
        ownWrong++;
        firstOwnWrong ??= { key: ownKey(w, i), got: v ?? null, expected: expected ?? null };
      }
    }
  }
  const verify = map.__verify();
  map.close();
  return {
    crossOriginIsolated: self.crossOriginIsolated,
    threadIds, before, tallies: [mine, ...theirs], stats, size, counters, races, ownWrong, firstOwnWrong, verify, elapsedMs,
  };
}
