// A thread's cache of values it read, for `get` on the map itself: a copy of
// a value is returned again only when it is provably the key's current one.
//
// When the core's get finds a key's entry in a plain slot (not frozen by a
// migration, not an atomic commit's intent) and the entry has no expiry, it
// reports the slot's address, the entry's address and the low word of the
// entry's modRevision, all read inside the operation (assembly/map.ts
// foundSlot). The cache keeps them with the decoded value. A later get of
// the key loads the slot's low word and the entry's revision word: if the
// slot still holds that entry and the entry still has that revision, the
// entry was the key's current one at the instant the slot was loaded (that
// load is the read's linearization point), and entries never change, so the
// copy is its value.
//
// Why two loads suffice: every write to the key replaces the slot's word
// (a new entry, a tombstone, an intent, or a frozen or moved word during a
// migration, which sets flag bits), so the word equals the bare entry
// address only while the entry is live there. A block freed and used again
// at the same address holds a new entry, which takes a new revision (unique
// in the map; rev.ts): a slot that names the address again fails the
// revision check. Both loads are of this thread's SharedArrayBuffer; a stale
// address is read safely (it is memory of the map either way).
//
// Not cached: keys that are bytes, values that are bytes, entries with an
// expiry, namespace views, maps with eviction 'lru' (a read must mark the
// entry used), and a LocalMap whose memory may grow. Hits are counted
// locally and added to the thread's statistics every FLUSH_HITS hits and
// whenever stats() or metrics() is read in this thread.
import type { CoreExports } from './core.js';
import type { Session } from './session.js';

export interface CachedValue {
  key: string;
  value: string | number;
  /** Int32Array index of the slot's low word, and of the entry's revision's low word. */
  slot: number;
  rev: number;
  entry: number;
  revLo: number;
  /** Its place in the ring (its bit of `refs`). */
  at: number;
  /** False once dropped. */
  live: boolean;
}

/** Hits counted before they are added to the thread's statistics. */
const FLUSH_HITS = 1024;
/** Offset of the revision word in an entry (assembly/layout.ts E_REV). */
const E_REV = 16;

/** Returned by lookup when the key is not cached, or its copy is stale. */
export const MISS = Symbol('miss');

/**
 * Keys in, keys out: CLOCK (a copy read since the hand last passed it is
 * spared once), and, once every place holds a copy, a key gets in only on
 * its second miss within a while (a bit per slot address, cleared every two
 * capacities' worth of misses): reads spread over many more keys than it
 * holds pay a lookup and no churn, and a hot key is not pushed out by a
 * stream of cold ones.
 */
export class ReadCache {
  private readonly map = new Map<string, CachedValue>();
  private readonly ring: (CachedValue | undefined)[];
  private hand = 0;
  /** 1: the copy at that place of the ring was read since the hand last passed it. */
  private readonly refs: Uint8Array;
  private readonly seen: Uint8Array;
  /** Places holding no copy (a stack of freeCount): taken before the hand evicts. */
  private readonly free: Int32Array;
  private freeCount: number;
  private misses = 0;
  private hits = 0;

  constructor(
    private readonly s: Session,
    private readonly core: CoreExports,
    readonly capacity: number,
  ) {
    this.ring = new Array<CachedValue | undefined>(capacity).fill(undefined);
    this.refs = new Uint8Array(capacity);
    this.free = new Int32Array(capacity);
    for (let i = 0; i < capacity; i++) this.free[i] = capacity - 1 - i;
    this.freeCount = capacity;
    this.seen = new Uint8Array(capacity * 8);
  }

  /** The current value of `key` if a copy of it is provably current, else MISS. */
  lookup(key: string): string | number | typeof MISS {
    const c = this.map.get(key);
    if (c === undefined) return MISS;
    const i32 = this.s.i32;
    if (Atomics.load(i32, c.slot) !== c.entry || Atomics.load(i32, c.rev) !== c.revLo) {
      this.map.delete(key);
      this.release(c);
      return MISS;
    }
    this.refs[c.at] = 1;
    if (++this.hits === FLUSH_HITS) this.flush();
    return c.value;
  }

  /** After the core's get of `key` returned `value`: keeps it if the core said it may. */
  fill(key: string, value: string | number): void {
    const slot = this.core.cacheSlot();
    if (slot === 0) return;
    const map = this.map;
    // A free place (never used, or left by a stale copy) takes the copy
    // with no eviction; only a full ring makes a first miss wait.
    let at = this.freeCount > 0 ? this.free[--this.freeCount] : -1;
    if (at < 0) {
      // Bits of the slot's address: its second miss lets it in.
      const bit = (slot >>> 3) % (this.capacity * 64);
      const byte = bit >>> 3;
      const mask = 1 << (bit & 7);
      if (++this.misses === this.capacity * 2) {
        this.misses = 0;
        this.seen.fill(0);
      }
      if ((this.seen[byte] & mask) === 0) {
        this.seen[byte] |= mask;
        return;
      }
    }
    // No free place: the clock hand, past copies read lately, to one that
    // was not. Whether each was read lately is a
    // byte of a dense array, not a field of the copy: between two misses a
    // cache serving most reads marks about as many copies read as there
    // were hits, so the hand passes as many places each time, and a field
    // would make each of them a cache miss (8 µs a fill at a 98% hit rate).
    const ring = this.ring;
    if (at < 0) {
      const refs = this.refs;
      let hand = this.hand;
      while (refs[hand] !== 0) {
        refs[hand] = 0;
        if (++hand === this.capacity) hand = 0;
      }
      // Every place off the free stack holds a live copy.
      const old = ring[hand]!;
      map.delete(old.key);
      old.live = false;
      at = hand;
      this.hand = hand + 1 === this.capacity ? 0 : hand + 1;
    }
    const entry = this.core.cacheEntry();
    const c: CachedValue = {
      key, value, slot: slot >>> 2, rev: (entry + E_REV) >>> 2, entry: entry | 0, revLo: this.core.cacheRev() | 0,
      at, live: true,
    };
    map.set(key, c);
    ring[at] = c;
  }

  /** Gives a dropped copy's place back to the free stack. */
  private release(c: CachedValue): void {
    c.live = false;
    this.refs[c.at] = 0;
    this.ring[c.at] = undefined;
    this.free[this.freeCount++] = c.at;
  }

  /** Copies held now. */
  get size(): number {
    return this.map.size;
  }

  /** Adds the hits counted here to the thread's statistics. */
  flush(): void {
    if (this.hits > 0) this.core.addHits(this.hits);
    this.hits = 0;
  }
}
