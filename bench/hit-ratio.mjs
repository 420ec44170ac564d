// Hit ratio of wasmap's eviction against lru-cache at equal capacity, on two
// key traces: a skewed (Zipf-like) one, and the same polluted by scans of
// keys that are used once. Each request is a get; a miss is followed by a set
// (the way a cache is used). Deterministic: the same traces every run.
import { LRUCache } from 'lru-cache';
import { SharedMap } from '../dist/index.js';

const UNIVERSE = 100_000; // distinct hot keys
const CAPACITY = 10_000; // entries each cache may hold
const REQUESTS = 1_000_000;
const ZIPF_S = 0.99;

function xorshift(seed) {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

/** Key indices drawn from Zipf(s) over [0, n): rank r has weight 1 / (r + 1)^s. */
function zipfTrace(n, s, count, random) {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let r = 0; r < n; r++) cdf[r] = sum += 1 / Math.pow(r + 1, s);
  // A fixed random permutation, so hot keys are not the lowest numbers.
  const perm = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [perm[i], perm[j]] = [perm[j], perm[i]];
  }
  const out = new Array(count);
  for (let i = 0; i < count; i++) {
    const u = random() * sum;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    out[i] = `key:${perm[lo]}`;
  }
  return out;
}

/** The Zipf trace with, every 50,000 requests, a scan of 10,000 keys used once. */
function scanPolluted(zipf) {
  const out = [];
  let scanned = 0;
  for (let i = 0; i < zipf.length; i++) {
    out.push(zipf[i]);
    if (i % 50_000 === 49_999) for (let k = 0; k < 10_000; k++) out.push(`scan:${scanned++}`);
  }
  return out;
}

function run(cache, trace) {
  let hits = 0;
  for (const key of trace) {
    if (cache.get(key) !== undefined) hits++;
    else cache.set(key, 'v');
  }
  return hits / trace.length;
}

/** A small hot set (100 keys) read in turn between long bursts of new keys,
 *  each used once: 2,000 after every read of the set, so the cache turns
 *  over every five rounds, while the hot keys are read every round. */
function hotBetweenBursts(count) {
  const out = [];
  let fresh = 0;
  while (out.length < count) {
    for (let h = 0; h < 100; h++) out.push(`hot:${h}`);
    for (let k = 0; k < 2_000; k++) out.push(`burst:${fresh++}`);
  }
  return out;
}

export async function hitRatios() {
  const zipf = zipfTrace(UNIVERSE, ZIPF_S, REQUESTS, xorshift(7));
  const traces = [
    ['Zipf(0.99), 100k keys', zipf],
    ['Zipf + scans of one-use keys', scanPolluted(zipf)],
    ['100 hot keys between bursts of 2,000 new keys', hotBetweenBursts(REQUESTS)],
  ];
  const rows = [];
  for (const [name, trace] of traces) {
    const lru = run(new LRUCache({ max: CAPACITY }), trace);
    const map = await SharedMap.create({ maxEntries: CAPACITY, eviction: 'lru' });
    const wasmap = run(map, trace);
    const evictions = map.stats().evictions;
    map.close();
    rows.push({ trace: name, requests: trace.length, capacity: CAPACITY, lruCache: lru, wasmap, ratio: wasmap / lru, evictions });
  }
  return rows;
}
