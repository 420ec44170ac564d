// Where a get's time goes: the cost of one get when every key is in cache
// (1,000 keys: the work of the call itself) and when keys are read at random
// over the benchmark's 100,000 (the work plus the memory misses), for a JS
// Map, lru-cache and wasmap on one thread (the main thread, all three), and
// the latency of one dependent load at random over 16 MiB on this machine
// (what each miss costs). Part of `npm run bench`; alone:
// `node bench/get-cost.mjs`.
//
// Each figure is the best of ROUNDS rounds of a get-only loop (the keys of
// the workload; every value read is consumed), so that a noisy moment does
// not count, measured in a process of its own (getCostRows): in the
// benchmark's process, earlier cases have fed the host's functions other
// kinds of strings (keys built with `+` are V8 cons strings), which made
// the same loop up to twice as slow.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { LRUCache } from 'lru-cache';
import { SharedMap } from '../dist/index.js';

const ROUNDS = 5;
const GETS = 400_000;

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();
const flat = (s) => fromUtf8.decode(utf8.encode(s));

function dataset(n) {
  const keys = [];
  const values = [];
  for (let i = 0; i < n; i++) {
    keys.push(flat('session:' + String(i).padStart(8, '0') + ':web-eu-west-1'));
    values.push(flat('{"uid":"u' + String(i).padStart(8, '0') + '","role":"member","ttl":360,"ver":"A"}'));
  }
  return { keys, values };
}

/** Nanoseconds per get, best of ROUNDS (a fresh copy of the loop per store: see makeLoop). */
function timeGets(loop, store, keys) {
  let best = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now();
    const sink = loop(store, keys, GETS, 0x9e3779b9 + r);
    const ns = ((performance.now() - t0) * 1e6) / GETS;
    if (sink !== GETS * 55) throw new Error(`get-cost: a get returned the wrong value (checksum ${sink})`);
    if (ns < best) best = ns;
  }
  return best;
}

let loops = 0;
/** A new loop function per store, so V8's type feedback stays monomorphic
 *  for each. Its source must differ each time: V8 caches functions made
 *  from the same source, and they then share one call site for every store. */
function makeLoop() {
  // eslint-disable-next-line no-new-func
  return new Function('store', 'keys', 'count', 'seed', `// loop ${loops++}
    const n = keys.length;
    let x = seed | 0;
    let sink = 0;
    for (let i = 0; i < count; i++) {
      x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
      sink += store.get(keys[(x >>> 0) % n]).length;
    }
    return sink;
  `);
}

/** Latency of one load that depends on the previous one, at random over `bytes`. */
function dependentLoadNs(bytes = 16 << 20, steps = 2_000_000) {
  const lines = bytes >> 6;
  const next = new Uint32Array(bytes >> 2);
  // A random cyclic order of the cache lines (Sattolo), one hop per line.
  const order = new Uint32Array(lines);
  for (let i = 0; i < lines; i++) order[i] = i;
  let s = 0x2545f491;
  for (let i = lines - 1; i > 0; i--) {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    const j = (s >>> 0) % i;
    const t = order[i]; order[i] = order[j]; order[j] = t;
  }
  for (let i = 0; i < lines; i++) next[order[i] * 16] = order[(i + 1) % lines] * 16;
  let best = Infinity;
  for (let r = 0; r < 3; r++) {
    let p = 0;
    const t0 = performance.now();
    for (let i = 0; i < steps; i++) p = next[p];
    const ns = ((performance.now() - t0) * 1e6) / steps;
    if (p === 0xffffffff) throw new Error('unreachable');
    if (ns < best) best = ns;
  }
  return best;
}

/** Rows: { keys, jsMap, lruCache, wasmap } in ns per get, for 1,000 and
 *  100,000 keys, and the dependent-load latency, from a fresh process. */
export function getCostRows() {
  const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--json'], { encoding: 'utf8' });
  return JSON.parse(out);
}

async function measure() {
  const rows = [];
  for (const n of [1_000, 100_000]) {
    const { keys, values } = dataset(n);
    const jsMap = new Map();
    const lru = new LRUCache({ max: n });
    const map = await SharedMap.create({ maxMemoryBytes: 64 << 20 });
    try {
      for (let i = 0; i < n; i++) {
        jsMap.set(keys[i], values[i]);
        lru.set(keys[i], values[i]);
        map.set(keys[i], values[i]);
      }
      rows.push({
        keys: n,
        jsMap: timeGets(makeLoop(), jsMap, keys),
        lruCache: timeGets(makeLoop(), lru, keys),
        wasmap: timeGets(makeLoop(), map, keys),
      });
    } finally {
      map.close();
    }
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const result = { rows: await measure(), dependentLoadNs16MiB: dependentLoadNs() };
  console.log(process.argv.includes('--json') ? JSON.stringify(result) : result);
}
