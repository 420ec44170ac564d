// Memory across value sizes: a map of 32 MiB is filled with values of one
// size, emptied (clear(), or every key deleted), then filled with values of
// another size; the second fill is reported as a share of what a fresh map
// of the same limit takes of that size. 100% means memory freed by one size
// serves any other. Run alone: node bench/sizes.mjs (after npm run build).
import { SharedMap } from '../dist/index.js';
import { fillWith as fill } from '../test/workers/common.mjs'; // entries of a size that fit, from key number `from` on

const LIMIT = 32 << 20;
export const PAIRS = [
  [100, 200], [200, 100], [1_000, 50], [50, 1_000], [1_000, 3_000],
];

export async function sizeReuse(pairs = PAIRS) {
  const rows = [];
  const fresh = new Map();
  const freshFit = async (size) => {
    if (!fresh.has(size)) {
      const map = await SharedMap.create({ maxMemoryBytes: LIMIT });
      fresh.set(size, fill(map, size, 0));
      map.close();
    }
    return fresh.get(size);
  };
  for (const [first, second] of pairs) {
    for (const how of ['clear()', 'delete all']) {
      const map = await SharedMap.create({ maxMemoryBytes: LIMIT });
      const n = fill(map, first, 0);
      if (how === 'clear()') map.clear();
      else for (let i = 0; i < n; i++) map.delete(`k${i}`);
      const again = fill(map, second, n);
      map.close();
      rows.push({ first, then: second, how, fit: again / (await freshFit(second)) });
    }
  }
  return rows;
}


/**
 * A drifting workload on a map without eviction: `keys` keys set and
 * replaced with values whose size moves across 16 B .. 64 KiB and back
 * (log scale, three times, with a spread of 0.5..1.5), a third of the
 * operations deletes. Reports the live bytes (keys and values) as a share
 * of maxMemoryBytes at the first ERR_CAPACITY, and the lowest share at any
 * ERR_CAPACITY (goal: none below 75%). The test suite runs it small
 * (test/memory.test.ts).
 */
export async function drift({ ops = 200_000, limit = LIMIT, keys = 2_000, seed = 12345, create = (o) => SharedMap.create(o) } = {}) {
  const map = await create({ maxMemoryBytes: limit });
  const sizes = new Map();
  let live = 0;
  let x = seed;
  const random = () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 4294967296);
  let failures = 0;
  let first = null;
  let lowest = 1;
  for (let i = 0; i < ops; i++) {
    const phase = (Math.sin((i / ops) * Math.PI * 6) + 1) / 2;
    const size = Math.floor(16 * 2 ** (phase * 12) * (0.5 + random()));
    const k = Math.floor(random() * keys);
    const key = `d${k}`;
    if (random() < 1 / 3) {
      if (map.delete(key)) live -= sizes.get(k);
      sizes.delete(k);
      continue;
    }
    try {
      map.set(key, 'v'.repeat(size));
      live += size + key.length - (sizes.get(k) ?? 0);
      sizes.set(k, size + key.length);
    } catch (e) {
      if (e.code !== 'ERR_CAPACITY') throw e;
      failures++;
      const share = live / limit;
      if (first === null) first = share;
      if (share < lowest) lowest = share;
    }
  }
  const verified = map.__verify();
  map.close();
  return { ops, failures, firstFullAt: first, lowestFullAt: failures ? lowest : null, verified };
}

/**
 * The drifting workload of drift(), on an 'lru' map with more keys than
 * fit when values are large: at 40 points along the way, the entries the
 * map holds as a share of what a fresh 'lru' map of the same limit holds
 * when given the entries the workload keeps at that point (every key's last
 * value, in the order they were written). Reports the lowest and the median
 * share (goal: 85%), the inserts that failed, and those the fresh maps
 * refused (a fresh map refusing shows as a share over 100%).
 */
export async function lruDrift({ ops = 200_000, limit = LIMIT, keys = 20_000, seed = 12345, points = 40, create = (o) => SharedMap.create(o) } = {}) {
  const map = await create({ maxMemoryBytes: limit, eviction: 'lru' });
  const sizes = new Map(); // key -> value size, in the order last written
  let x = seed;
  const random = () => ((x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 4294967296);
  let failed = 0;
  let freshFailed = 0;
  const shares = [];
  for (let i = 0; i < ops; i++) {
    const phase = (Math.sin((i / ops) * Math.PI * 6) + 1) / 2;
    const size = Math.floor(16 * 2 ** (phase * 12) * (0.5 + random()));
    const key = `d${Math.floor(random() * keys)}`;
    if (random() < 1 / 3) {
      map.delete(key);
      sizes.delete(key);
    } else {
      try {
        map.set(key, 'v'.repeat(size));
      } catch (e) {
        if (e.code !== 'ERR_CAPACITY') throw e;
        failed++;
      }
      sizes.delete(key);
      sizes.set(key, size);
    }
    if ((i + 1) % Math.floor(ops / points) === 0) {
      const fresh = await create({ maxMemoryBytes: limit, eviction: 'lru' });
      for (const [k, s] of sizes) {
        try {
          fresh.set(k, 'v'.repeat(s));
        } catch (e) {
          if (e.code !== 'ERR_CAPACITY') throw e;
          freshFailed++;
        }
      }
      shares.push(map.size / fresh.size);
      fresh.close();
    }
  }
  const verified = map.__verify();
  map.close();
  const lowest = Math.min(...shares);
  const median = [...shares].sort((a, b) => a - b)[shares.length >> 1];
  return { ops, keys, failed, freshFailed, lowest, median, shares, verified };
}

export const LRU_PAIRS = [
  [100, 200], [200, 100], [1_000, 50], [50, 1_000], [1_000, 3_000], [3_000, 1_000], [16, 65_536], [65_536, 16],
];

/**
 * Eviction across sizes: an 'lru' map filled with values of size A until
 * it evicts, plus as many keys again, then given three times a fresh map's
 * count of new keys with values of size B. Reports how many of them it
 * holds, as a share of what a fresh map of B holds (goal: 85%); of the
 * newest third, how many it holds, as a share of the same (eviction samples
 * recency, so some older keys outlive newer ones in a fresh map too); and
 * the inserts that failed. A map that keeps memory per size class holds few: the old
 * size's entries stay, unread, while the new size evicts its own.
 */
export async function lruAcrossSizes(pairs = LRU_PAIRS, limit = 8 << 20) {
  const freshOf = new Map();
  const fresh = async (size) => {
    if (!freshOf.has(size)) {
      const m = await SharedMap.create({ maxMemoryBytes: limit, eviction: 'lru' });
      const v = 'v'.repeat(size);
      let i = 0;
      for (; m.stats().evictions === 0; i++) m.set(`f${i}`, v);
      for (let j = 0; j < i * 2; j++) m.set(`g${j}`, v);
      freshOf.set(size, m.size);
      m.close();
    }
    return freshOf.get(size);
  };
  const rows = [];
  for (const [a, b] of pairs) {
    const m = await SharedMap.create({ maxMemoryBytes: limit, eviction: 'lru' });
    const va = 'v'.repeat(a);
    const vb = 'v'.repeat(b);
    let i = 0;
    for (; m.stats().evictions === 0; i++) m.set(`a${i}`, va);
    for (let j = 0; j < i; j++) m.set(`a${i + j}`, va);
    const fb = await fresh(b);
    let failed = 0;
    for (let j = 0; j < fb * 3; j++) {
      try {
        m.set(`b${j}`, vb);
      } catch (e) {
        if (e.code !== 'ERR_CAPACITY') throw e;
        failed++;
      }
    }
    let held = 0;
    let newest = 0;
    for (let j = 0; j < fb * 3; j++) {
      if (!m.has(`b${j}`)) continue;
      held++;
      if (j >= fb * 2) newest++;
    }
    m.close();
    rows.push({ from: a, to: b, held: held / fb, newest: newest / fb, failed });
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const r of await sizeReuse()) {
    console.log(`${String(r.first).padStart(5)} B, ${r.how.padEnd(10)}, then ${String(r.then).padStart(5)} B: ${(r.fit * 100).toFixed(0)}%`);
  }
  console.log('drift', await drift());
  const ld = await lruDrift();
  console.log('lru drift', { ...ld, shares: ld.shares.map((v) => v.toFixed(2)).join(' ') });
  for (const r of await lruAcrossSizes()) console.log(`lru ${r.from} B -> ${r.to} B: ${(r.held * 100).toFixed(0)}% of a fresh map (newest third ${(r.newest * 100).toFixed(0)}%), ${r.failed} failed`);
}
