// The load every worker (or, without shared memory, the page's main thread)
// puts on the map, and the layout of the shared buffers through which the
// page steers the workers and reads their progress without any messages.
//
// Keys are ~30-byte strings ("session:00012345:web-eu-west-1"), values
// 55-byte JSON strings; every operation picks a key uniformly at random and
// is a get (the read share) or a set with the chosen TTL.

/** Int32 slots of the control buffer, written by the page, read by workers. */
export const CTL = {
  /** 1 = run, 0 = pause (workers park with Atomics.wait). */
  RUN: 0,
  /** Reads per 1000 operations (0..1000). */
  READ_PERMILLE: 1,
  /** TTL of every set, in ms; 0 = no TTL. */
  TTL_MS: 2,
  /** How many distinct keys the load draws from. */
  KEYS: 3,
  /** From here on: one stop flag per worker slot. */
  STOP: 4,
};

/** Most workers the page may run at once (slots in the buffers below). */
export const MAX_WORKERS = 16;
export const CONTROL_BYTES = (CTL.STOP + MAX_WORKERS) * 4;

/**
 * BigInt64 fields of each worker's slot in the counts buffer. Only the
 * worker writes its slot (Atomics.store after every batch); the page reads
 * with Atomics.load. Once a worker is parked (PARKED = 1) its slot holds
 * everything it did, so at a pause the slots add up to the map's stats.
 */
export const SLOT = { OPS: 0, GETS: 1, SETS: 2, HITS: 3, MISSES: 4, PARKED: 5, SIZE: 8 };
export const COUNTS_BYTES = MAX_WORKERS * SLOT.SIZE * 8;

export const KEY_CHOICES = [1_000, 10_000, 100_000];
export const MAX_KEYS = KEY_CHOICES[KEY_CHOICES.length - 1];

export const keyOf = (i) => `session:${String(i).padStart(8, '0')}:web-eu-west-1`;
/** 55 bytes: which user, and which writer (0..99) stored it last. */
export const valueOf = (i, writer) =>
  `{"uid":"u${String(i).padStart(8, '0')}","role":"member","ttl":60,"by":"w${String(writer % 100).padStart(2, '0')}"}`;

/** The operation loop of one thread, with its running totals. */
export class Load {
  /**
   * @param {{ get(k: string): unknown, set(k: string, v: string, o?: { ttl?: number }): unknown }} map
   * @param {number} writer  a small number naming this thread in the values it writes
   */
  constructor(map, writer) {
    this.map = map;
    this.keys = Array.from({ length: MAX_KEYS }, (_, i) => keyOf(i));
    this.values = Array.from({ length: MAX_KEYS }, (_, i) => valueOf(i, writer));
    this.x = (Math.imul(writer + 1, 0x9e3779b9) ^ 0x5bd1e995) | 0 || 1; // xorshift32 state, never 0
    this.ops = 0;
    this.gets = 0;
    this.sets = 0;
    this.hits = 0;
    this.misses = 0;
    this.ttlOption = undefined;
    this.ttlMs = -1;
  }

  /** Runs `count` operations with the given mix. */
  run(count, readPermille, ttlMs, keyCount) {
    if (ttlMs !== this.ttlMs) {
      this.ttlMs = ttlMs;
      this.ttlOption = ttlMs > 0 ? { ttl: ttlMs } : undefined; // one object, not one per set
    }
    const { map, keys, values, ttlOption } = this;
    const n = Math.min(Math.max(keyCount, 1), MAX_KEYS);
    const readCutoff = Math.floor((readPermille / 1000) * 4294967296);
    let x = this.x;
    let gets = 0;
    let hits = 0;
    for (let i = 0; i < count; i++) {
      x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
      const k = (x >>> 0) % n;
      x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
      if (x >>> 0 < readCutoff) {
        gets++;
        if (map.get(keys[k]) !== undefined) hits++;
      } else {
        map.set(keys[k], values[k], ttlOption);
      }
    }
    this.x = x;
    this.ops += count;
    this.gets += gets;
    this.sets += count - gets;
    this.hits += hits;
    this.misses += gets - hits;
  }

  totals() {
    return { ops: this.ops, gets: this.gets, sets: this.sets, hits: this.hits, misses: this.misses };
  }
}
