// Per-call speed as a user's own loop measures it: each store alone in a
// fresh process (every call site monomorphic), keys as user code builds them
// (a template literal per call) and flat (decoded from bytes), uniform and
// Zipf(0.99) choice over 100,000 keys of ~30 bytes with 55-byte values
// (uniform: 6% sets; Zipf: 1% sets), best of ROUNDS rounds of OPS
// operations. "plain loop" runs the same loop with no store: the harness's
// own cost (drawing the key, building it), which every other figure pays.
// Two workers share one wasmap map (Zipf), against one thread's lru-cache.
// "Side by side" runs every store in one process, round after round, as a
// shared harness does: the loop's call sites then see every store, which
// costs each of them (V8 inlines less) and pulls every ratio toward 1.
// Part of `npm run bench`; alone: `node bench/keys.mjs`. WASMAP_READ_CACHE=n
// runs wasmap with a read cache of n values in every thread (default off).
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Worker, isMainThread, workerData, parentPort } from 'node:worker_threads';
import { xorshift, zipf } from './workload.mjs';

const N = 100_000;
const OPS = 2_000_000;
const ROUNDS = 5;
const SELF = fileURLToPath(import.meta.url);

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();
const keyOf = (i) => `/pkg.Service/Method${i & 7}/conn-${i}`;
const valueOf = (i) => `{"uid":"u${String(i).padStart(8, '0')}","role":"member","ttl":360,"v":"A"}`;

/** A draw of a key index: uniform, or Zipf(0.99) by the inverse of its CDF. */
function chooser(dist, seed) {
  const rand = xorshift(seed);
  if (dist === 'uniform') return { next: () => Math.floor(rand() * N), rand };
  const rank = zipf(N, rand);
  // Ranks scattered over the keys, so that hot keys are not neighbours.
  const perm = new Int32Array(N);
  for (let i = 0; i < N; i++) perm[i] = Math.floor(((i * 2654435761) >>> 0) % N);
  return { next: () => perm[rank()], rand };
}

async function makeStore(store) {
  if (store === 'map') return new Map();
  if (store === 'lru') {
    const { LRUCache } = await import('lru-cache');
    return new LRUCache({ max: 2 * N });
  }
  if (store === 'wasmap') {
    const { SharedMap } = await import('../dist/index.js');
    return SharedMap.create({ maxMemoryBytes: 256 << 20, readCache: Number(process.env.WASMAP_READ_CACHE ?? 0) });
  }
  return null;
}

/** One run's loop: a fresh copy per store (see get-cost.mjs on why). */
function run(store, keys, dist, flatKeys, values, ops, seed, batch = 1) {
  const { next, rand } = chooser(dist, seed);
  const setShare = dist === 'uniform' ? 0.06 : 0.01;
  let found = 0;
  const t0 = process.hrtime.bigint();
  if (store === null) {
    // The plain loop: the same draws and keys, no store.
    for (let k = 0; k < ops; k++) {
      const i = next();
      const key = keys === 'template' ? keyOf(i) : flatKeys[i];
      if (rand() < setShare) found += key.length & 1;
      else found += key.length;
    }
  } else if (batch > 1) {
    // getMany: the gets of each run of `batch` draws in one call.
    const pending = [];
    for (let k = 0; k < ops; k++) {
      const i = next();
      const key = keys === 'template' ? keyOf(i) : flatKeys[i];
      if (rand() < setShare) store.set(key, values[i]);
      else pending.push(key);
      if (pending.length === batch || k === ops - 1) {
        for (const v of store.getMany(pending)) if (v !== undefined) found++;
        pending.length = 0;
      }
    }
  } else {
    for (let k = 0; k < ops; k++) {
      const i = next();
      const key = keys === 'template' ? keyOf(i) : flatKeys[i];
      if (rand() < setShare) store.set(key, values[i]);
      else if (store.get(key) !== undefined) found++;
    }
  }
  const ns = Number(process.hrtime.bigint() - t0);
  if (found === -1) console.log(found);
  return ns;
}

function dataset() {
  const flatKeys = new Array(N);
  const values = new Array(N);
  for (let i = 0; i < N; i++) {
    flatKeys[i] = fromUtf8.decode(utf8.encode(keyOf(i)));
    values[i] = fromUtf8.decode(utf8.encode(valueOf(i)));
  }
  return { flatKeys, values };
}

/** Every store (and the plain loop) in this one process, their rounds interleaved. */
async function measureTogether({ keys, dist }) {
  const { flatKeys, values } = dataset();
  const names = ['none', 'map', 'lru', 'wasmap'];
  const stores = {};
  for (const name of names) {
    stores[name] = await makeStore(name);
    if (stores[name] !== null) for (let i = 0; i < N; i++) stores[name].set(flatKeys[i], values[i]);
  }
  const best = Object.fromEntries(names.map((n) => [n, Infinity]));
  for (let r = 0; r < ROUNDS; r++) {
    for (const name of names) best[name] = Math.min(best[name], run(stores[name], keys, dist, flatKeys, values, OPS, 17 + r));
  }
  return Object.fromEntries(names.map((n) => [n, OPS / (best[n] / 1e9)]));
}

async function measure({ store, keys, dist, threads, batch = 1, together = false }) {
  if (together) return JSON.stringify(await measureTogether({ keys, dist }));
  const { flatKeys, values } = dataset();
  const s = await makeStore(store);
  if (s !== null) for (let i = 0; i < N; i++) s.set(flatKeys[i], values[i]);
  if (threads > 1) {
    // Workers attached to the map, each running the loop; ops/s over all.
    let best = 0;
    for (let r = 0; r < ROUNDS; r++) {
      // Released together once every worker has built its keys.
      const barrier = new Int32Array(new SharedArrayBuffer(8));
      const done = Promise.all(Array.from({ length: threads }, (_, t) => new Promise((resolve, reject) => {
        const w = new Worker(SELF, { workerData: { handle: s.handle, keys, dist, ops: OPS, seed: 17 + 1000 * r + t, barrier } });
        w.once('message', resolve);
        w.once('error', reject);
      })));
      while (Atomics.load(barrier, 1) < threads) await new Promise((res) => setTimeout(res, 5));
      Atomics.store(barrier, 0, 1);
      Atomics.notify(barrier, 0);
      const times = await done;
      best = Math.max(best, (threads * OPS) / (Math.max(...times) / 1e9));
    }
    return best;
  }
  // Every round's ops/s: the best is the figure, the spread shows the noise.
  const rounds = [];
  for (let r = 0; r < ROUNDS; r++) rounds.push(OPS / (run(s, keys, dist, flatKeys, values, OPS, 17 + r, batch) / 1e9));
  return JSON.stringify({ best: Math.max(...rounds), worst: Math.min(...rounds) });
}

const CASES = [];
for (const dist of ['uniform', 'zipf']) {
  for (const keys of ['template', 'flat']) {
    for (const store of ['none', 'map', 'lru', 'wasmap']) CASES.push({ store, keys, dist, threads: 1 });
  }
  for (const keys of ['template', 'flat']) CASES.push({ store: 'wasmap', keys, dist, threads: 1, batch: 16 });
  if (dist === 'zipf') for (const keys of ['template', 'flat']) CASES.push({ store: 'wasmap', keys, dist, threads: 2 });
}

/** A case's output: the best round's ops/s, and the worst's (a bare number from the 2-worker cases). */
function fromRounds(out) {
  const r = JSON.parse(out);
  return typeof r === 'number' ? { opsPerSec: r, worst: undefined } : { opsPerSec: r.best, worst: r.worst };
}

/** Ops/s of every case, each in a process of its own; then every store side by side in one process per key form and choice. */
export function keyRows() {
  const alone = CASES.map((c) => ({
    ...c,
    ...fromRounds(execFileSync(process.execPath, [SELF, JSON.stringify(c)], { encoding: 'utf8' }).trim()),
  }));
  const together = [];
  for (const dist of ['uniform', 'zipf']) {
    for (const keys of ['template', 'flat']) {
      const c = { keys, dist, threads: 1, together: true };
      const ops = JSON.parse(execFileSync(process.execPath, [SELF, JSON.stringify(c)], { encoding: 'utf8' }).trim());
      for (const [store, opsPerSec] of Object.entries(ops)) together.push({ store, keys, dist, threads: 1, together: true, opsPerSec });
    }
  }
  return [...alone, ...together];
}

/** The table `npm run bench` prints. */
export function keyTable(rows) {
  const row = (store, keys, dist, threads = 1, batch = 1, together = false) => rows.find((r) => r.store === store && r.keys === keys && r.dist === dist && r.threads === threads && (r.batch ?? 1) === batch && (r.together ?? false) === together);
  const get = (...args) => row(...args).opsPerSec;
  const spread = (store, keys, dist) => {
    const r = row(store, keys, dist);
    return r.worst === undefined ? '' : `${(r.worst / 1e6).toFixed(2)}-${(r.opsPerSec / 1e6).toFixed(2)}`;
  };
  const m = (v) => `${(v / 1e6).toFixed(2)}M`;
  const lines = [];
  lines.push(`${'keys, choice (each store alone, own process)'.padEnd(44)}${'loop'.padStart(8)}${'JS Map'.padStart(9)}${'lru-cache'.padStart(11)}${'wasmap'.padStart(9)}${'wasmap/lru'.padStart(12)}${'goal'.padStart(14)}${'rounds: lru, wasmap'.padStart(24)}`);
  lines.push('-'.repeat(131));
  for (const dist of ['uniform', 'zipf']) {
    for (const keys of ['template', 'flat']) {
      const lru = get('lru', keys, dist);
      const w = get('wasmap', keys, dist);
      const goal = dist === 'zipf' ? 1 : 0.5;
      const label = `${keys === 'template' ? 'template literals' : 'flat'}, ${dist === 'zipf' ? 'Zipf(0.99), 1% sets' : 'uniform, 6% sets'}`;
      lines.push(`${label.padEnd(44)}${m(get('none', keys, dist)).padStart(8)}${m(get('map', keys, dist)).padStart(9)}${m(lru).padStart(11)}${m(w).padStart(9)}${`${(w / lru).toFixed(2)}x`.padStart(12)}${`>= ${goal}x ${w / lru >= goal ? 'yes' : 'NO'}`.padStart(14)}${`${spread('lru', keys, dist)}, ${spread('wasmap', keys, dist)}`.padStart(24)}`);
    }
  }
  lines.push('');
  lines.push(`${'side by side (every store in one process)'.padEnd(44)}${'loop'.padStart(8)}${'JS Map'.padStart(9)}${'lru-cache'.padStart(11)}${'wasmap'.padStart(9)}${'wasmap/lru'.padStart(12)}`);
  lines.push('-'.repeat(93));
  for (const dist of ['uniform', 'zipf']) {
    for (const keys of ['template', 'flat']) {
      const at = (store) => get(store, keys, dist, 1, 1, true);
      const label = `${keys === 'template' ? 'template literals' : 'flat'}, ${dist === 'zipf' ? 'Zipf(0.99), 1% sets' : 'uniform, 6% sets'}`;
      lines.push(`${label.padEnd(44)}${m(at('none')).padStart(8)}${m(at('map')).padStart(9)}${m(at('lru')).padStart(11)}${m(at('wasmap')).padStart(9)}${`${(at('wasmap') / at('lru')).toFixed(2)}x`.padStart(12)}`);
    }
  }
  lines.push('');
  for (const dist of ['uniform', 'zipf']) {
    for (const keys of ['template', 'flat']) {
      const many = get('wasmap', keys, dist, 1, 16);
      lines.push(`getMany of 16, ${keys}, ${dist}: ${m(many)} = ${(many / get('lru', keys, dist)).toFixed(2)}x lru-cache's gets, ${(many / get('wasmap', keys, dist)).toFixed(2)}x wasmap's gets`);
    }
  }
  for (const keys of ['template', 'flat']) {
    const two = get('wasmap', keys, 'zipf', 2);
    const one = get('wasmap', keys, 'zipf');
    const lru = get('lru', keys, 'zipf');
    lines.push(`2 workers, one map, ${keys}, Zipf: ${m(two)} = ${(two / lru).toFixed(2)}x one thread's lru-cache (goal >= 1: ${two / lru >= 1 ? 'yes' : 'NO'}), ${(two / one).toFixed(2)}x one wasmap thread (goal >= 1.8: ${two / one >= 1.8 ? 'yes' : 'NO'})`);
  }
  return lines.join('\n');
}

if (!isMainThread) {
  const { SharedMap } = await import('../dist/index.js');
  const map = await SharedMap.attach(workerData.handle, { readCache: Number(process.env.WASMAP_READ_CACHE ?? 0) });
  const { flatKeys, values } = dataset();
  Atomics.add(workerData.barrier, 1, 1);
  Atomics.wait(workerData.barrier, 0, 0);
  const ns = run(map, workerData.keys, workerData.dist, flatKeys, values, workerData.ops, workerData.seed);
  map.close();
  parentPort.postMessage(ns);
} else if (process.argv[2]?.startsWith('{')) {
  console.log(await measure(JSON.parse(process.argv[2])));
} else if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(keyTable(keyRows()));
}
