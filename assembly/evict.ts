// Eviction: what a full map gives up, and how an insert waits for memory.
//
// Under eviction 'lru' an insert that finds no block evicts a batch of the
// least used entries, whatever their size, and spins (reclaiming) until
// their memory comes back, taking its block from free memory of any size:
// split or merged (evictUntil, fromFree); if the evicted blocks lie apart,
// it evicts the entries beside a cold one so that they merge into a run
// (evictWindow). A table that must be replaced and finds no block evicts
// down to one it can have, or evicts a window for it (evictForTable,
// tableByEvicting). With maxEntries, an insert into a full map evicts one
// entry first, or fails (makeRoom). The choice of entry: a sample of
// random slots, least used first, least recently used among equals
// (evictOne). The per-thread state of these (pressure, the pinned epoch,
// the cause of a failure) lives here, beside the code that writes it.

import { dropKeptTables, keptTable, alloc, allocSplit, blockSize, classOf, classSize, defragBlock, defragment, freeBytes, heapTop, searchAllRegions } from "./alloc";
import { me, reclaim, tid } from "./epoch";
import { expiredAt, removeAt } from "./expiry";
import { CHUNK, compact, growAt, splitBelow } from "./map";
import { MAX_CAP, finishAll, tombFor, freeTable, migrationReserve, newTable, publishTable, root, startMigration, wantedCap } from "./table";
import {
  ANON_TOMB, B_INFO, TABLE_OUTGROWN, TB_KEYED, tableField, EVICT_LRU, NUM_CLASSES, DEFRAG_BUCKETS, DEFRAG_BUCKET_COUNT, MAX_THREADS, T_SCRATCH, T_SCRATCH_SIZE,
  SPARES, SPARE_SCRATCH, TABLE_HEADER, blockLink, chunkCount, tableChunks, threadSlot, FREQ_MASK, FREQ_SHIFT, H_EPOCH, H_LIMIT, H_MIN_CAP, H_THREAD_HIGH, MAX_NAMESPACES, N_ENTRIES,
  N_EVICTION, N_MAP_MAX_ENTRIES, N_TICK, SLOT_DEL, SLOT_FROZEN, STAMP_MASK, STAMP_SHIFT, STAMP_TICK_SHIFT,
  STAT_EVICTIONS, STAT_EXPIRATIONS, TABLE_FULL_SIZE, blockInfo, entryKey, hdrLoad, nsRecord, nsTagOf,
  setBlockInfo, sizeLoad, slotAddr, slotEntry, slotLo, slotLoad, tableCap, tableNext, tableSize, tableSlots,
} from "./layout";
import { ST_CAPACITY } from "./status";

/** Clears the cause of a failure this thread may report (an operation
 *  starts: expiry setNow). */
export function clearCapacityCause(): void {
  noLargerBlock = false;
  entryLimitHit = false;
}

/** An allocation starts: no cause of failure yet (map.ts allocFresh). */
export function clearNoLargerBlock(): void {
  noLargerBlock = false;
}

/** A delete gave a block back: one eviction fewer ahead (evictUntil). */
export function gaveBack(): void {
  if (pressure > 0) pressure--;
}

/** Whether this thread's last allocFresh failed for want of a block size:
 *  a full LRU map where evicting made no block of the size it needed
 *  (evictUntil: every window it tried held a block that eviction does not
 *  free, or nothing was left to evict). The host tells it apart in its
 *  error. */
export let noLargerBlock: bool = false;
/** Whether this thread's last ST_CAPACITY came from the map's maxEntries
 *  (the map holds that many entries and none could be evicted), not from
 *  its memory. */
export let entryLimitHit: bool = false;

/** Rounds of reclaim-and-retry a thread spins for a block or a table it
 *  waits for (evictUntil, waitForTable). A round took 80–120 ns, so this is
 *  0.1 s or so: only a thread that stays inside one operation that long
 *  (a dead one, until the host releases it) makes the insert fail. With two
 *  cores shared by four writers and other work, 2^17 rounds were sometimes
 *  not enough (an epoch held back by a descheduled thread). */
export const SPIN_ROUNDS: i32 = 1 << 20;
/** The global epoch when this thread's last spin ran out (if `pinned`):
 *  while the epoch still stands there, whatever pins it (a dead thread not
 *  yet released) has not let go, so nothing can come back and a wait gives
 *  up at once. Each thread thus spins out once per pinned epoch, instead of
 *  on every insert into a full map (thread-local). */
let pinnedAt: u32 = 0;
let pinned: bool = false;

/** Whether the epoch still stands where this thread's last spin ran out
 *  (after one reclaim: it may move now). */
export function stillPinned(): bool {
  if (!pinned) return false;
  if (hdrLoad(H_EPOCH) != pinnedAt) {
    pinned = false;
    return false;
  }
  reclaim();
  if (hdrLoad(H_EPOCH) != pinnedAt) {
    pinned = false;
    return false;
  }
  return true;
}

/** Records that a spin ran out at the present epoch (see pinnedAt). */
@inline export function spinRanOut(): void {
  pinnedAt = hdrLoad(H_EPOCH);
  pinned = true;
}
/** New keys this thread inserts after memory ran out, each evicting one
 *  entry first (makeRoom). */
const PRESSURE_INSERTS: u32 = 4096;
/** Free blocks, as many of the new entry's size, below which such an
 *  insert evicts one: a 32nd of the live entries, at least EVICT_BATCH, at most STOCK_MAX. Blocks
 *  at hand are memory holding no entry: measured with three and four writers
 *  on two cores shared with other work (bench/lru-threads.mjs), a 16th held
 *  a 4 MiB map at 10% fewer entries than a 64th, which spun twice as long; a
 *  fixed 32 blocks spun five times as long as 1024. */
const STOCK_MAX: i64 = 1024;
@inline function stock(): i32 {
  const s = sizeLoad() >> 5;
  return <i32>(s < <i64>EVICT_BATCH ? <i64>EVICT_BATCH : s > STOCK_MAX ? STOCK_MAX : s);
}
/** Inserts of new keys left that evict one entry each (thread-local). */
let pressure: u32 = 0;

/**
 * Under eviction 'lru': a block for `size` when none lies free of its class.
 * First from free memory of other classes (fromFree); else it evicts a
 * batch (evictForMemory: the least used entries, whatever their size) and
 * spins (reclaiming, and trying free memory again) until their memory
 * comes back. Evicted entries come back once no thread can still read them,
 * three global epochs later, and the epoch moves only as fast as the
 * slowest thread inside an operation: with more threads than cores, one may
 * be descheduled in the middle of one for a time slice. So it spins rather
 * than evicting more, which gives nothing back sooner and, batch after
 * batch, emptied the map; it evicts again only once three epochs have
 * passed and what came back made no block of its size (went to other
 * threads, or lies apart from other free memory): then a window around a
 * cold entry (evictWindow), and after WINDOWS of those, batches again. It
 * gives up once it evicted a quarter of the entries, when nothing is left
 * to evict, or after SPIN_ROUNDS (a thread that stays inside
 * an operation, a dead one, pins the epoch). Then the next PRESSURE_INSERTS
 * inserts of new keys each evict one entry as they go (makeRoom), so that
 * memory keeps coming back one grace period behind the inserts instead of
 * running out again at the next one.
 */
export function evictUntil(b: usize, size: usize): usize {
  if (b != 0 || policy() != EVICT_LRU) return b;
  // Evicting now would empty the map for nothing: no evicted block can come
  // back while the epoch is pinned.
  if (stillPinned()) return alloc(size);
  const cls = classOf(size);
  b = fromFree(cls, false);
  if (b != 0) return b;
  if (shrinkTable()) {
    reclaim();
    b = alloc(size);
    if (b != 0) return b;
  }
  const csize = classSize(cls);
  if (freeBytes() >= <i64>(hdrLoad(H_LIMIT) >> 3)) {
    b = repack(size, csize);
    if (b != 0) return b;
  }
  const floor = sizeLoad() - (sizeLoad() >> 2);
  // Whether a batch was evicted yet (none while the root keeps what is
  // deleted from it: evictForMemory waits then).
  let batched = evictForMemory(csize) > 0;
  let since = hdrLoad(H_EPOCH);
  let forcedAt = since;
  let windows = 0;
  for (let round = 0; round < SPIN_ROUNDS; round++) {
    reclaim();
    b = alloc(size);
    const e = hdrLoad(H_EPOCH);
    // Once the evicted memory came back, merged whatever the throttle (once
    // per epoch: the epoch may stand still while another thread holds it).
    const force = e - since >= 3 && e != forcedAt;
    if (force) forcedAt = e;
    if (b == 0) b = fromFree(cls, force);
    if (b != 0) {
      // Not at once: another thread held the epoch back. Evict ahead for a while.
      if (round > 0) pressure = PRESSURE_INSERTS;
      return b;
    }
    if (e - since > 3) {
      // Deleted entries kept as keyed tombstones (evicted in the first
      // epochs of the root, table.ts tombFor) hold their memory until a
      // migration drops them, and break the runs windows make.
      if (windows > 0 && tableField(root(), TB_KEYED) != 0 && compact()) {
        since = hdrLoad(H_EPOCH);
        continue;
      }
      // What the batch freed came back and made no block of this size: the
      // entries beside a cold one go, so that their blocks make one
      // (evictWindow). Past WINDOWS windows (other threads took what came
      // back, or every window held a block eviction does not free), batches
      // again, up to a quarter of the entries the map held. Nothing left to
      // evict: nothing more will come back.
      let more = true;
      if (!batched) {
        const n = evictForMemory(csize);
        batched = n > 0;
        more = n != 0;
      } else if (windows < WINDOWS) {
        more = evictWindow(csize, ++windows) || evictForMemory(csize) != 0;
      } else {
        more = sizeLoad() > floor && evictForMemory(csize) != 0;
      }
      if (!more) {
        noLargerBlock = true;
        return 0;
      }
      since = e;
    }
  }
  spinRanOut();
  return 0;
}

/** Spins (reclaiming) until what this thread evicted came back: three
 *  epochs on. False if the spin ran out (spinRanOut: the epoch is pinned). */
function evictedCameBack(): bool {
  const since = hdrLoad(H_EPOCH);
  for (let round = 0; round < SPIN_ROUNDS; round++) {
    if (hdrLoad(H_EPOCH) - since >= 3) return true;
    reclaim();
  }
  spinRanOut();
  return false;
}

/** Bytes of the window repack evicts, at least. */
const REPACK_BYTES: usize = 64 << 10;

/**
 * Under 'lru', when an eighth of memory lies free and none of it makes a
 * block of `csize` (the pieces lie between live entries: a map of 200-byte
 * values that went to 100-byte ones split each 256-byte block into a
 * 160-byte entry and a 96-byte piece that no entry wants, a third of its
 * memory): evicts the entries of a window of REPACK_BYTES around a cold one
 * but the hot ones (evictWindow), waits until their memory came back, and
 * merges free memory, so that the window's pieces and blocks become runs
 * that are cut to the sizes the map holds now. Evicting alone would not:
 * an evicted entry's block serves the next insert as it is, beside the
 * pieces. Returns a block of `size`, or 0.
 */
function repack(size: usize, csize: usize): usize {
  const want = csize << 2 > REPACK_BYTES ? csize << 2 : REPACK_BYTES;
  if (!evictWindow(want, 0, true) || !evictedCameBack()) return 0;
  if (mergeFree(csize, true) && defragBlock != 0) return defragBlock;
  return alloc(size);
}

/**
 * A block of class `cls` from free memory of other classes: a free block of
 * a larger class, split (alloc.ts allocSplit), or free blocks that touch,
 * merged (alloc.ts defragment, which keeps one for this thread; throttled
 * while merging gives nothing new). So memory follows the sizes the map
 * holds now: the blocks of entries evicted one size at a time serve the
 * next. Blocks of a table's size (map.ts splitBelow) are not split, as
 * without eviction: a migration's next table takes such a block.
 */
function fromFree(cls: i32, force: bool): usize {
  const b = allocSplit(cls, splitBelow());
  if (b != 0) return b;
  return mergeFree(classSize(cls), force) ? defragBlock : 0;
}

/** Free memory merged (alloc.ts defragment), keeping a block of `want`
 *  bytes for this thread (defragBlock) if a run has room. */
export function mergeFree(want: usize, force: bool = false): bool {
  return defragment(<u32>(tid + 1), want, force);
}

// ---------------------------------------------------------------------------
// Bounded size and eviction
//
// With a map-wide maxEntries, an insert that finds the map full either fails
// (EVICT_NONE: ST_CAPACITY) or evicts first (EVICT_LRU): it samples a few
// random slots of the root table and removes the entry read or written least
// recently (expired entries first), by the same single CAS as any delete.
// There is no global lock and no list to maintain: recency is a 20-bit stamp
// in each entry, written by a read only when it changed. Concurrent inserters
// may each see room at once, so the bound can be passed by at most one entry
// per thread inserting at that instant.

const SAMPLES: i32 = 8;
/** The registry of namespace names (ns.ts NS_REGISTRY). */
export const NS_REGISTRY_TAG: u32 = 1;
let rng: u32 = 0;

@inline export function policy(): u32 {
  return atomic.load<u32>(nsRecord(0) + N_EVICTION);
}

/** The access stamp now. */
@inline function stampNow(): u32 {
  return (atomic.load<u32>(nsRecord(0) + N_TICK) >> STAMP_TICK_SHIFT) & STAMP_MASK;
}

/** Marks e as used now (eviction only); writes only when the stamp changed,
 *  then also counts one more use. */
export function touch(e: usize): void {
  if (policy() != EVICT_LRU) return;
  const info = blockInfo(e);
  const stamp = stampNow();
  if (info >> STAMP_SHIFT == stamp) return;
  let freq = (info >> FREQ_SHIFT) & FREQ_MASK;
  if (freq < FREQ_MASK) freq++;
  setBlockInfo(e, (info & 0xff) | (freq << FREQ_SHIFT) | (stamp << STAMP_SHIFT));
}

/** A new entry starts as used now (with the use count of the entry it
 *  replaces, if any, plus one), and advances the stamp clock. */
export function stampNew(n: usize, old: usize): void {
  if (policy() != EVICT_LRU) return;
  const tick = atomic.add<u32>(nsRecord(0) + N_TICK, 1);
  let freq: u32 = 0;
  if (old != 0) {
    freq = (blockInfo(old) >> FREQ_SHIFT) & FREQ_MASK;
    if (freq < FREQ_MASK) freq++;
  }
  const stamp = (tick >> STAMP_TICK_SHIFT) & STAMP_MASK;
  setBlockInfo(n, (blockInfo(n) & 0xff) | (freq << FREQ_SHIFT) | (stamp << STAMP_SHIFT));
}

@inline export function nextRandom(): u32 {
  if (rng == 0) rng = <u32>me | 1;
  rng ^= rng << 13;
  rng ^= rng >> 17;
  rng ^= rng << 5;
  return rng;
}

/** Windows an allocation evicts before it fails (evictUntil): a window
 *  that holds a block no eviction frees (a table, a thread's buffer) gives
 *  no run. */
const WINDOWS: i32 = 8;

/** Cold entries a window is placed at before one is taken (evictWindow). */
const WINDOW_PICKS: i32 = 8;

/** How much an entry deserves eviction: the least used first, the least
 *  recently used among equals. */
@inline function coldness(info: u32, nowStamp: u32): u32 {
  const freq = (info >> FREQ_SHIFT) & FREQ_MASK;
  const age = (nowStamp - (info >> STAMP_SHIFT)) & STAMP_MASK;
  return ((FREQ_MASK - freq) << 20) | age;
}

/**
 * Under eviction 'lru', when memory holds no block of `want` bytes and
 * evicting the least used entries one by one made none (their blocks lie
 * apart): evicts every entry with a byte in [e, e + want), where e
 * is the coldest entry of a sample of the root table, so that with the
 * free blocks among them they merge into a run that holds `want` bytes (the
 * caller merges once they came back). Memory allocated at about the same
 * time lies side by side and ages together, so a window around a cold entry
 * holds mostly cold ones. A walk of the root's slots; nothing while a
 * migration is under way (entries are moving). Returns whether it evicted
 * any.
 */
function evictWindow(want: usize, attempt: i32 = 0, spareHot: bool = false): bool {
  const t = root();
  if (tableNext(t) != 0) return false;
  // A table migrated to lately keeps what is deleted from it as keyed
  // tombstones for three epochs (table.ts tombFor): their memory would not
  // come back.
  if (tombFor(t, 1) != ANON_TOMB) return true;
  const cap = tableCap(t);
  const slots = tableSlots(t);
  const nowStamp = stampNow();
  let lo: usize = 0;
  let hi: usize = 0;
  // A window that holds a block eviction does not free (known ones:
  // evictable) is passed over for another. Later attempts look at fewer
  // slots and reach below e too: the window that failed held a block not
  // known here, and the coldest of many lie together.
  for (let pick = 0; pick < WINDOW_PICKS && hi == 0; pick++) {
    const samples = attempt == 0 && pick == 0 ? SAMPLES * 4 : SAMPLES >> 1;
    let e0: usize = 0;
    let worst: u32 = 0;
    for (let k = 0; k < samples; k++) {
      const w = slotLoad(slotAddr(slots, nextRandom() & (cap - 1)));
      const l = slotLo(w);
      if (l < 8 || (l & (SLOT_DEL | SLOT_FROZEN)) != 0) continue;
      const e = slotEntry(w);
      if ((nsTagOf(entryKey(e)) & (MAX_NAMESPACES - 1)) == NS_REGISTRY_TAG) continue;
      const c = coldness(blockInfo(e), nowStamp);
      if (e0 == 0 || c > worst) {
        e0 = e;
        worst = c;
      }
    }
    if (e0 == 0) continue;
    let a = e0;
    if (((attempt + pick) & 1) != 0) a = e0 + blockSize(e0) > want ? e0 + blockSize(e0) - want : 0;
    if (evictable(a, a + want)) {
      lo = a;
      hi = a + want;
    }
  }
  if (hi == 0) return false;
  let n = 0;
  for (let i: u32 = 0; i < cap; i++) {
    const s = slotAddr(slots, i);
    const w = slotLoad(s);
    const e = entryInWindow(w, lo, hi);
    if (e == 0 || (nsTagOf(entryKey(e)) & (MAX_NAMESPACES - 1)) == NS_REGISTRY_TAG) continue;
    // Spared: an entry read since it was written (its block splits the
    // window's run in two, no more).
    if (spareHot && ((blockInfo(e) >> FREQ_SHIFT) & FREQ_MASK) != 0) continue;
    if (removeAt(t, s, w, STAT_EVICTIONS)) n++;
  }
  return n > 0;
}

/** The live entry of slot word `w` if its block has a byte in [lo, hi),
 *  else 0: the entries a window holds (evictWindow, evacuate.ts moveOut).
 *  A block spans its whole class: measured by the entry's own bytes, an
 *  entry whose block's padding reached into the window was left in it,
 *  and the window never came free. */
export function entryInWindow(w: u64, lo: usize, hi: usize): usize {
  const l = slotLo(w);
  if (l < 8 || (l & (SLOT_DEL | SLOT_FROZEN)) != 0) return 0;
  const e = slotEntry(w);
  return e < hi && e + classSize(classOf(blockSize(e))) > lo ? e : 0;
}

/** Whether no block that eviction does not free lies in [lo, hi), of those
 *  known: the tables in use and kept, the threads' scratch buffers, the
 *  spares, the merge's bucket words (reads only; a hint while they change). */
export function evictable(lo: usize, hi: usize): bool {
  const r = root();
  if (!tableApart(r, lo, hi)) return false;
  const next = <usize>tableNext(r);
  if (next != 0 && !tableApart(next, lo, hi)) return false;
  for (let k: usize = 0; k < 2; k++) {
    const kept = keptTable(k);
    if (kept != 0 && !tableApart(kept, lo, hi)) return false;
  }
  const buckets = <usize>atomic.load<u32>(DEFRAG_BUCKETS);
  if (overlaps(buckets, <usize>atomic.load<u32>(DEFRAG_BUCKET_COUNT) << 2, lo, hi)) return false;
  const high = <i32>hdrLoad(H_THREAD_HIGH);
  for (let i = 0; i < high && i < MAX_THREADS; i++) {
    const slot = threadSlot(i);
    if (overlaps(<usize>atomic.load<u32>(slot + T_SCRATCH), <usize>atomic.load<u32>(slot + T_SCRATCH_SIZE), lo, hi)) return false;
  }
  let b = <usize>(<u32>atomic.load<u64>(SPARES));
  for (let k = 0; b != 0 && k < 8; k++) {
    if (overlaps(b, SPARE_SCRATCH, lo, hi)) return false;
    b = <usize>blockLink(b);
  }
  return true;
}

@inline function overlaps(b: usize, size: usize, lo: usize, hi: usize): bool {
  return b != 0 && b < hi && b + size > lo;
}

function tableApart(t: usize, lo: usize, hi: usize): bool {
  const cap = tableCap(t);
  return !overlaps(t, TABLE_HEADER, lo, hi) && !overlaps(tableSlots(t), <usize>cap << 3, lo, hi) &&
    !overlaps(tableChunks(t), <usize>chunkCount(cap) << 3, lo, hi);
}

/** Candidates an eviction compares before it picks one (Redis's eviction
 *  pool, in spirit): a round of SAMPLES slots may meet few entries (empty,
 *  deleted or moved slots, other classes), and one that met only a hot key
 *  evicted it (issue 15). */
const MIN_CANDIDATES: i32 = 5;

/** Bytes of the entry the last evictOne of this thread removed. */
let evictedBytes: usize = 0;

/** Evicts one entry chosen by sampling; `cls` >= 0: only among entries whose
 *  block is of that size class (see evictForMemory), or with `hi` >= 0, of
 *  a class from `cls` up to `hi` (excluded). An expired entry met on the way
 *  goes at once; else the least used (the least recently used among equals)
 *  of at least MIN_CANDIDATES entries, sampled over up to 8 rounds (fewer
 *  only if the rounds meet fewer). Returns whether one was removed. */
function evictOne(cls: i32 = -1, hi: i32 = -1): bool {
  const nowStamp = stampNow();
  let best: usize = 0;
  let bestTable: usize = 0;
  let bestSlot: usize = 0;
  let bestWord: u64 = 0;
  let bestAge: u32 = 0;
  let candidates = 0;
  for (let round = 0; round < 8; round++) {
    // While the root migrates, its entries are moving to `next`: sample
    // there in the last rounds. Evicting in the root frees the entry at once;
    // in `next`, until its safe epoch, the entry stays as a tombstone.
    let t = root();
    const next = <usize>tableNext(t);
    if (next != 0 && round >= 5) t = next;
    const cap = tableCap(t);
    const slots = tableSlots(t);
    for (let k = 0; k < SAMPLES; k++) {
      const s = slotAddr(slots, nextRandom() & (cap - 1));
      const w = slotLoad(s);
      const lo = slotLo(w);
      if (lo < 8 || (lo & (SLOT_DEL | SLOT_FROZEN)) != 0) continue;
      const e = slotEntry(w);
      if ((nsTagOf(entryKey(e)) & (MAX_NAMESPACES - 1)) == NS_REGISTRY_TAG) continue; // names stay
      if (cls >= 0) {
        const c = classOf(blockSize(e));
        if (hi < 0 ? c != cls : c < cls || c >= hi) continue;
      }
      if (expiredAt(e)) {
        const bytes = blockSize(e);
        if (removeAt(t, s, w, STAT_EXPIRATIONS)) {
          evictedBytes = bytes;
          return true;
        }
        continue;
      }
      candidates++;
      // The least used goes first, the least recently used among equals:
      // a key used in many ticks outlives a burst of keys used once (scans).
      const info = blockInfo(e);
      const freq = (info >> FREQ_SHIFT) & FREQ_MASK;
      const score = coldness(info, nowStamp);
      if (best == 0 || score > bestAge) {
        best = e;
        bestTable = t;
        bestSlot = s;
        bestWord = w;
        bestAge = score;
      }
      // Wear: an entry looked at for eviction loses a use one time in eight,
      // so keys that were hot once and no longer are become evictable. (One
      // in four or in sixteen measured about the same on bench/hit-ratio.mjs;
      // every time wore hot keys down too fast.)
      if (freq > 0 && (nextRandom() & 7) == 0) setBlockInfo(e, info - (1 << FREQ_SHIFT));
    }
    if (best != 0 && (candidates >= MIN_CANDIDATES || round == 7)) {
      const bytes = blockSize(best);
      if (removeAt(bestTable, bestSlot, bestWord, STAT_EVICTIONS)) {
        evictedBytes = bytes;
        return true;
      }
      // Changed meanwhile (written, deleted, moved): compare afresh.
      best = 0;
      candidates = 0;
    }
  }
  return false;
}

/** Entries that count against the map's maxEntries: all but the registry
 *  of namespace names (which is never evicted either). */
@inline export function boundedSize(): i64 {
  return sizeLoad() - atomic.load<i64>(nsRecord(NS_REGISTRY_TAG) + N_ENTRIES);
}

/**
 * Before the insert of the new entry `n` (private, not yet published):
 * room under the map's maxEntries, and under eviction 'lru' the evictions
 * that go with each insert while the table is held at its size (fullSize)
 * or memory ran out lately (evictUntil). Returns 0 if there is room, 1 if
 * it evicted (the caller must locate its key again: evicting moved
 * locate()'s results), or ST_CAPACITY.
 */
export function makeRoom(n: usize): i32 {
  const max = atomic.load<u32>(nsRecord(0) + N_MAP_MAX_ENTRIES);
  if (pressure > 0 && policy() == EVICT_LRU) {
    // Memory ran out lately (evictUntil): while little memory lies free,
    // the new entry evicts one, whose block comes back one grace period
    // later, for a later insert.
    pressure--;
    if (freeBytes() < <i64>stock() * <i64>blockSize(n) && evictOne()) return 1;
  }
  // A table held at its size (fullSize): one entry goes per insert, of the
  // new entry's class if it has any, so that its memory serves the next.
  if (max == 0 || boundedSize() < <i64>max) {
    if (!fullSize()) return 0;
    return growHeld() ? 0 : evictOne() ? 1 : 0;
  }
  entryLimitHit = true;
  if (policy() != EVICT_LRU) return ST_CAPACITY;
  // One eviction pays for one insert, even if other threads' inserts took
  // the room meanwhile (so the bound may be passed by one per such thread).
  for (let k = 0; k < 64; k++) if (evictOne()) {
    entryLimitHit = false;
    return 1;
  }
  return ST_CAPACITY;
}

/** Entries one full-memory eviction removes at most (about 100 µs of work). */
const EVICT_BATCH: i32 = 64;
/** Bytes after which it stops, or four times the block wanted if more. */
const BATCH_BYTES: usize = 64 << 10;

/** Live entries below which a table of `cap` slots takes a migration's
 *  reserve below its growth mark, with a 64th of its slots to spare. */
@inline function fitOf(cap: u32): i64 {
  return <i64>growAt(cap) - <i64>(cap >> 6) - <i64>CHUNK - <i64>hdrLoad(H_THREAD_HIGH) - 1;
}

/**
 * When the root table t (cap slots) is full and no table that holds its live
 * entries is at hand (startMigration found none): under eviction 'lru',
 * takes a table of the root's size, evicts just enough entries that it
 * takes them below its growth mark (by a 64th), and starts the migration to
 * it. The table is marked TABLE_FULL_SIZE, and inserts then evict as they
 * go (makeRoom), so such a batch is met when the map first fills up, not in
 * its steady state. The table is taken BEFORE evicting: evicting entries
 * gives no table block back (they share no size class), so when none is at
 * hand (the spare is another thread's migration target not yet published,
 * or the replaced table waits out its epochs) it evicts nothing, and the
 * insert goes on into the root, which has room up to fullAt for that wait.
 * A table of half the root's size it takes only if that costs few
 * evictions; `last` (the root is at fullAt, the insert fails otherwise)
 * takes a larger table whose block lies free, or else a smaller table if
 * that is all there is, and evicts down to it.
 * Returns whether a migration is under way.
 */
export function evictForTable(t: usize, cap: u32, last: bool): bool {
  if (policy() != EVICT_LRU) return false;
  if (root() != t || tableNext(t) != 0) return true;
  let c = cap;
  let t2 = newTable(c);
  if (t2 == 0 && c > hdrLoad(H_MIN_CAP) && sizeLoad() - fitOf(c >> 1) <= <i64>(cap >> 6)) {
    // Half its size, if that costs few evictions (a 64th of the root's
    // slots): a map whose table grew into its last room, with no block for
    // a second one, lives in that one and, each time its deleted slots
    // fill it, in a table of half the size for a while.
    c >>= 1;
    t2 = newTable(c);
    if (t2 == 0) c = cap;
  }
  if (t2 == 0 && last) {
    // The table the live entries want, from memory that evicting frees:
    // a map whose entries shrank holds more of them than its table took.
    // (Only to grow: a table of the root's size is the one it replaced,
    // on its way back, or kept: alloc.ts TABLE_SPARE.)
    const reserve = migrationReserve();
    const wanted = wantedCap(reserve);
    if (wanted > cap) {
      const want = cap << 1;
      t2 = tableByEvicting(want, t);
      if (t2 != 0) {
        publishTable(t, t2, want, wanted, reserve, true);
        return true;
      }
      if (root() != t || tableNext(t) != 0) return true;
    }
  }
  if (t2 == 0 && last) {
    // A larger table whose block lies free needs no eviction at all.
    for (let big = cap << 1; big <= MAX_CAP && tableSize(big) <= <usize>hdrLoad(H_LIMIT); big <<= 1) {
      t2 = newTable(big, true);
      if (t2 != 0) {
        const reserve = migrationReserve();
        publishTable(t, t2, big, wantedCap(reserve), reserve, true);
        return true;
      }
    }
    // No table kept, none in free memory: one of the root's size from
    // memory that evicting frees (an eighth of the entries at most; a table
    // that shrank, shrinkTable, has none kept of its new size), before a
    // smaller one, which evicts half of them: the map went from 98,000
    // entries to 39,000 and back, over and over.
    t2 = tableByEvicting(cap, t);
    if (t2 == 0 && (root() != t || tableNext(t) != 0)) return true;
    while (t2 == 0 && c > hdrLoad(H_MIN_CAP)) {
      c >>= 1;
      t2 = newTable(c);
    }
  }
  if (t2 == 0) return false;
  const fit = fitOf(c);
  for (let n: u32 = 0; sizeLoad() >= fit && n < cap && root() == t && tableNext(t) == 0 && evictOne(); n++) {}
  if (sizeLoad() >= fit || root() != t || tableNext(t) != 0) {
    freeTable(t2);
    return root() != t || tableNext(t) != 0;
  }
  const reserve = migrationReserve();
  publishTable(t, t2, c, wantedCap(reserve), reserve, true);
  return true;
}

/**
 * Under 'lru', when memory is full: if the root table has four times the
 * slots its live entries need (they became fewer, and larger), migrates
 * them to a table of the size they want, whose old table goes to the
 * regions (TABLE_OUTGROWN), and so do kept tables larger than that. A map
 * that went from 16-byte to 64 KiB values kept the 3 MB of tables its
 * 96,000 small entries had needed, out of 8 MiB, and held 40–65% of the
 * large entries a fresh map holds. Returns whether it migrated (the old
 * table comes back three epochs later).
 */
function shrinkTable(): bool {
  const t = root();
  const cap = tableCap(t);
  if (tableNext(t) != 0 || cap <= hdrLoad(H_MIN_CAP)) return false;
  const wanted = wantedCap(migrationReserve());
  if (wanted > cap >> 2) return false;
  dropKeptTables(wanted);
  startMigration(t);
  const next = tableNext(t);
  if (next == 0 || tableCap(<usize>next) >= cap) return false;
  // Its blocks go to the regions when it is freed (alloc.ts free): no
  // migration wants a table this large while the entries are this few.
  atomic.or<u32>(t + B_INFO, TABLE_OUTGROWN); // info word: see layout.ts blockInfo
  finishAll(t);
  return true;
}

/** Rounds of tableByEvicting: each evicts a batch and waits for its memory. */
const TABLE_ROUNDS: i32 = 64;

/**
 * Under eviction 'lru', for root t: a table of `cap` slots from memory that
 * evicting frees. Evicts a batch (evictForMemory), waits three epochs for
 * its memory, merges free memory keeping a block for the slots (mergeFree),
 * and tries again, for up to TABLE_ROUNDS batches, and no more than an
 * eighth of the live entries. 0 if it found none (nothing left to evict,
 * the epoch pinned, or t no longer the root without a migration).
 */
function tableByEvicting(cap: u32, t: usize, budget: i64 = -1): usize {
  if (budget < 0) budget = tableBudget(cap);
  const slotsBytes = <usize>cap << 3;
  for (let k = 0; k < TABLE_ROUNDS && budget > 0; k++) {
    if (mergeFree(slotsBytes, k > 0) && defragBlock != 0) {
      searchAllRegions(true);
      const t2 = newTable(cap, false, defragBlock);
      searchAllRegions(false);
      if (t2 != 0) return t2;
    }
    if (root() != t || tableNext(t) != 0) return 0;
    const before = sizeLoad();
    if (!evictWindow(slotsBytes) && evictForMemory(slotsBytes) == 0) return 0;
    budget -= before - sizeLoad();
    if (!evictedCameBack()) return 0;
  }
  return 0;
}

/** Inserts into a held table between two looks at free memory for a
 *  larger table (growHeld), and between two tries to evict for one. Each
 *  insert between evicts an entry: with a look every 256, a map whose
 *  values went from 2 KB to 1 KB evicted 87 entries in 300 inserts that a
 *  larger table, for which memory lay free, would have kept. */
const GROW_LOOK: u32 = 16;
const GROW_EVERY: u32 = 256;
let growTries: u32 = 0;
/** The insert count (growTries) from which growHeld may evict for a table
 *  again, and the multiple of GROW_EVERY it waits after a failure. */
let growNext: u32 = 0;
let growBackoff: u32 = 0;

/**
 * Entries growHeld may evict for a table of `big` slots in place of the
 * root's `cap`: 0 if the larger table would not let the map hold a tenth
 * more entries than it holds now (the bytes per entry being those of the
 * entries it holds), else what tableBudget allows. A map of 50-byte values, held at
 * a table of 65,536 slots when it filled up, needed 1 MB for the next one:
 * an eighth of its entries was 600 KB, so it never grew, and held 85% of
 * what a fresh map holds (111% when its table had grown before memory
 * filled).
 */
function growBudget(cap: u32, big: u32): i64 {
  const each = bytesPerEntry();
  if (each == 0) return sizeLoad() >> 3;
  let could = (<i64>hdrLoad(H_LIMIT) - <i64>tableSize(big)) / each;
  if (could > fitOf(big)) could = fitOf(big);
  if (could * 10 < fitOf(cap) * 11) return 0;
  return tableBudget(big);
}

/** The bytes the map's memory in use takes per entry, but the root
 *  table's (0: no entries). */
function bytesPerEntry(): i64 {
  const n = sizeLoad();
  if (n <= 0) return 0;
  const inUse = <i64>heapTop() - freeBytes() - <i64>tableSize(tableCap(root()));
  return inUse <= 0 ? 0 : inUse / n + 1;
}

/**
 * Entries tableByEvicting may evict for a table of `cap` slots: the table's
 * bytes' worth of entries and half as many more (windows do not fall
 * exactly), or an eighth of the entries if that is more. An eighth alone
 * was too few for a table that entries of 50 bytes needed: its bytes were
 * an eighth of the map's. The table was then not had, and the map took
 * one of half the size instead, evicting half its entries (38,000 ->
 * 25,000, again and again).
 */
function tableBudget(cap: u32): i64 {
  const eighth = sizeLoad() >> 3;
  const each = bytesPerEntry();
  if (each == 0) return eighth;
  const cost = <i64>tableSize(cap) / each;
  const budget = cost + (cost >> 1);
  return budget > eighth ? budget : eighth;
}

/**
 * The root held at its size (fullSize), every GROW_LOOK inserts into it:
 * if free memory holds twice a table of twice its size, takes one (every
 * GROW_EVERY, merging free memory for its slots, or evicting windows for
 * them, if need be) and starts the migration to it.
 * Entries that shrank free memory as they replace larger ones (each insert
 * into a held table evicts one): without this, the map would hold no more
 * entries than its table took when memory first filled up. Returns whether
 * a migration started.
 */
function growHeld(): bool {
  const tries = ++growTries;
  if (tries % GROW_LOOK != 0) return false;
  const t = root();
  const cap = tableCap(t);
  if (tableNext(t) != 0 || cap >= MAX_CAP) return false;
  const big = cap << 1;
  if (freeBytes() < <i64>(tableSize(big) << 1)) return false;
  let t2 = newTable(big);
  // Else from free memory merged, and if it lies apart, from windows of
  // entries evicted for it (tableByEvicting, within growBudget). (The
  // counters wrap: compared by their difference.)
  if (t2 == 0 && <i32>(tries - growNext) >= 0 && tries % GROW_EVERY == 0) {
    const budget = growBudget(cap, big);
    if (budget > 0) t2 = tableByEvicting(big, t, budget);
    // Tried and failed: not again for twice as long (up to 64 times), so a
    // table that memory cannot give does not cost a window every time.
    if (t2 == 0) growBackoff = growBackoff == 0 ? 2 : growBackoff < 64 ? growBackoff << 1 : 64;
    else growBackoff = 0;
    growNext = tries + GROW_EVERY * (growBackoff == 0 ? 1 : growBackoff);
  }
  if (t2 == 0) return false;
  if (root() != t || tableNext(t) != 0) {
    freeTable(t2);
    return false;
  }
  const reserve = migrationReserve();
  publishTable(t, t2, big, wantedCap(reserve), reserve, true);
  return true;
}

/** Whether the map is held at its size: under eviction 'lru', a table in
 *  use (the root, or the one it migrates to) is TABLE_FULL_SIZE and the map
 *  holds as many entries as that table was made for (fitOf). Below that
 *  (after batches evicted for memory, whose blocks come back later),
 *  inserts fill it up again without evicting: else each such batch would
 *  lower the size for good, one insert evicting one entry ever after. */
function fullSize(): bool {
  if (policy() != EVICT_LRU) return false;
  const r = root();
  const next = <usize>tableNext(r);
  let cap: u32 = 0;
  if ((blockInfo(r) & TABLE_FULL_SIZE) != 0) cap = tableCap(r);
  if (next != 0 && (blockInfo(next) & TABLE_FULL_SIZE) != 0 && (cap == 0 || tableCap(next) < cap)) {
    cap = tableCap(next);
  }
  return cap != 0 && sizeLoad() >= fitOf(cap);
}

/**
 * When memory is full: evicts a batch, whose memory the caller reclaims:
 * the least used entries, whatever their size (evictOne). Their blocks
 * serve entries of any size: split if larger, merged with the free memory
 * beside them if smaller (fromFree). Entries written at about the same time
 * lie side by side (spans are carved whole, alloc.ts), and they age
 * together, so the entries of a size the map no longer writes go first and
 * give back whole runs. Returns how many it evicted, or -1 if it waits
 * (see below).
 */
function evictForMemory(want: usize): i32 {
  // A table migrated to lately keeps what is deleted from it as keyed
  // tombstones for three epochs (table.ts tombFor), until the next
  // migration: evicting then frees nothing. So a migration under way is
  // finished first, and the caller spins until the new root is safe.
  const r = root();
  if (tableNext(r) != 0) finishAll(r);
  if (tombFor(root(), 1) != ANON_TOMB) return -1;
  // An evicted entry's memory goes back to the allocator by itself (its
  // slot turns DELETED, see layout.ts), so a small batch is enough, and no
  // insert pays for much more than its own room.
  // Counted in bytes too: EVICT_BATCH entries of 64 KiB were half of an
  // 8 MiB map, which then held a third fewer entries than a fresh one.
  let n = 0;
  let bytes: usize = 0;
  const enough = want << 2 > BATCH_BYTES ? want << 2 : BATCH_BYTES;
  for (let k: i32 = 0; k < EVICT_BATCH && bytes < enough; k++) {
    if (!evictOne()) continue;
    n++;
    bytes += evictedBytes;
  }
  return n;
}

export function setBounds(maxEntries: u32, eviction: u32): void {
  atomic.store<u32>(nsRecord(0) + N_MAP_MAX_ENTRIES, maxEntries);
  atomic.store<u32>(nsRecord(0) + N_EVICTION, eviction);
}
