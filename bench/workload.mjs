// The benchmark workload, shared by every case so that every case does exactly
// the same work: the same keys and values (same sizes), the same 94% get /
// 6% set mix, the same PRNG and the same loop.
//
// Keys:   100,000 strings of 30 bytes, e.g. "session:00012345:web-eu-west-1".
// Values: strings of 55 bytes; two versions per key (A is what the map is
//         populated with, B is the alternative a set may write), so a read
//         can be checked against the key it was read from.
//
// run.mjs imports this module under a different URL query for each
// main-thread case ("workload.mjs?case=map", "?case=lru"), which makes each
// case a separate module instance with its own copy of the loop functions:
// V8's type feedback is then monomorphic for each store, as it is in a
// worker, instead of the later cases running a loop already specialized for
// an earlier one.

export const NUM_KEYS = 100_000;
export const KEY_BYTES = 30;
export const VALUE_BYTES = 55;
export const SET_FRACTION = 0.06;
/** A draw (unsigned 32-bit) below this is a set: 6% of 2^32, exactly to 1e-10. */
const SET_CUTOFF = Math.floor(SET_FRACTION * 2 ** 32);
/** Operations between two reads of the clock. */
const BATCH = 256;

export function makeKey(i) {
  return 'session:' + String(i).padStart(8, '0') + ':web-eu-west-1';
}

export function makeValue(i, version) {
  // {"uid":"u00012345","role":"member","ttl":360,"ver":"A"}  -> 55 bytes
  return '{"uid":"u' + String(i).padStart(8, '0') + '","role":"member","ttl":360,"ver":"' + version + '"}';
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();
/**
 * A string as a server has it after decoding a request: one flat string.
 * (A string built by `+` is a V8 "cons string", a tree of pieces, which a
 * store that reads the key's characters on every call must walk each time,
 * while a JS Map reads only the hash cached in it; keys decoded from bytes
 * are what every store meets in practice.)
 */
const flat = (s) => fromUtf8.decode(utf8.encode(s));

/** The per-thread data: built once per thread, outside every timed loop. */
export function makeDataset() {
  const keys = new Array(NUM_KEYS);
  const valuesA = new Array(NUM_KEYS);
  const valuesB = new Array(NUM_KEYS);
  for (let i = 0; i < NUM_KEYS; i++) {
    keys[i] = flat(makeKey(i));
    valuesA[i] = flat(makeValue(i, 'A'));
    valuesB[i] = flat(makeValue(i, 'B'));
    if (keys[i].length !== KEY_BYTES || valuesA[i].length !== VALUE_BYTES || valuesB[i].length !== VALUE_BYTES) {
      throw new Error(`workload: key ${i} or its values have the wrong size`);
    }
  }
  return { keys, valuesA, valuesB };
}

/** A distinct, well-mixed, non-zero 32-bit seed per thread (splitmix-style finalizer). */
export function seedFor(thread) {
  let z = Math.imul(thread + 1, 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  z ^= z >>> 16;
  return z === 0 ? 0x6d2b79f5 : z;
}

/** Sets every key to its version-A value. */
export function populate(store, data) {
  const { keys, valuesA } = data;
  for (let i = 0; i < NUM_KEYS; i++) store.set(keys[i], valuesA[i]);
}

/**
 * The timed loop (synchronous stores). Runs batches of BATCH operations until
 * `seconds` have passed. Each operation draws two xorshift32 numbers: one
 * picks the key uniformly (r mod 100,000; the bias of 2^32 mod 100,000 is
 * < 0.003%), the other picks get (94%) or set (6%) and, for a set, which
 * of the key's two values to write. Every value read is consumed: its length
 * goes into a checksum, which must equal gets × 55 when nothing is missing.
 */
export function runSync(store, data, seconds, seed, setFraction = SET_FRACTION) {
  const total = { ops: 0, gets: 0, sets: 0, misses: 0, checksum: 0, seconds: 0, seed };
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  let now = t0;
  do {
    const run = runCount(store, data, BATCH, total.seed, setFraction);
    total.ops += run.ops;
    total.gets += run.gets;
    total.sets += run.sets;
    total.misses += run.misses;
    total.checksum += run.checksum;
    total.seed = run.seed;
    now = performance.now();
  } while (now < end);
  total.seconds = (now - t0) / 1000;
  return total;
}

/**
 * The loop for exactly `count` operations (runSync runs it in batches for a
 * time; alone, it serves where the clock stands still during the loop, as in
 * workerd within a request, or a fixed amount of work is wanted: browsers,
 * other runtimes). `seconds` is what the clock says it took.
 */
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

/** The same loop for a store whose get and set return promises (the postMessage baseline). */
export async function runAsync(store, data, seconds, seed) {
  const { keys, valuesA, valuesB } = data;
  const n = keys.length;
  let x = seed | 0;
  let gets = 0;
  let sets = 0;
  let misses = 0;
  let checksum = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  let now = t0;
  do {
    for (let b = 0; b < BATCH; b++) {
      x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
      const k = (x >>> 0) % n;
      x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
      const d = x >>> 0;
      if (d < SET_CUTOFF) {
        await store.set(keys[k], (d & 1) === 0 ? valuesA[k] : valuesB[k]);
        sets++;
      } else {
        const v = await store.get(keys[k]);
        if (v === undefined) misses++;
        else checksum += v.length;
        gets++;
      }
    }
    now = performance.now();
  } while (now < end);
  return { ops: gets + sets, gets, sets, misses, checksum, seconds: (now - t0) / 1000, seed: x };
}

/**
 * Latency of single operations (the same mix and keys): times `count`
 * operations one by one and returns percentiles in microseconds. Timing each
 * call costs a clock read, so this is a separate pass from the throughput one.
 */
export function latencySync(store, data, count, seed, setFraction = SET_FRACTION) {
  const cutoff = Math.floor(setFraction * 2 ** 32);
  const { keys, valuesA, valuesB } = data;
  const n = keys.length;
  const times = new Float64Array(count);
  let x = seed | 0;
  let sink = 0;
  for (let i = 0; i < count; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    const k = (x >>> 0) % n;
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    const d = x >>> 0;
    const t0 = performance.now();
    if (d < cutoff) store.set(keys[k], (d & 1) === 0 ? valuesA[k] : valuesB[k]);
    else sink += store.get(keys[k])?.length ?? 0;
    times[i] = performance.now() - t0;
  }
  times.sort();
  const at = (q) => times[Math.min(count - 1, Math.floor(q * count))] * 1000;
  return { p50: at(0.5), p99: at(0.99), p999: at(0.999), max: times[count - 1] * 1000, sink };
}

/** Checks a loop's own result: nothing missing, every value read had 55 bytes. */
export function checkRun(r) {
  const problems = [];
  if (r.misses !== 0) problems.push(`${r.misses} gets found nothing`);
  if (r.checksum !== (r.gets - r.misses) * VALUE_BYTES) {
    problems.push(`checksum ${r.checksum} != ${(r.gets - r.misses) * VALUE_BYTES} (values of the wrong length)`);
  }
  return problems;
}

/** Untimed: every key must hold its own value A or B. Returns a list of problems (empty when all is well). */
export function verify(store, data) {
  const { keys, valuesA, valuesB } = data;
  const problems = [];
  let bad = 0;
  for (let i = 0; i < NUM_KEYS; i++) {
    const v = store.get(keys[i]);
    if (v !== valuesA[i] && v !== valuesB[i]) {
      if (bad < 3) problems.push(`get(${JSON.stringify(keys[i])}) returned ${JSON.stringify(v)}`);
      bad++;
    }
  }
  if (bad > 3) problems.push(`... ${bad} wrong values in all`);
  return problems;
}

/** Uniform draws in [0, 1) from `seed` (xorshift32): the same sequence in every run. */
export function xorshift(seed) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

/** Draws of an index in [0, n) by Zipf(s) (rank 0 the most frequent), by the inverse of its CDF. */
export function zipf(n, rand, s = 0.99) {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) cdf[i] = sum += 1 / Math.pow(i + 1, s);
  for (let i = 0; i < n; i++) cdf[i] /= sum;
  return () => {
    const u = rand();
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const m = (lo + hi) >> 1;
      if (cdf[m] < u) lo = m + 1;
      else hi = m;
    }
    return lo;
  };
}
