// The hash table: lookup, the write protocol, incremental migration, expiry
// and eviction. Keys (hash, equality) are in keys.ts, iteration in scan.ts,
// the debug walk in verify.ts. Read index.ts's Overview first; layout.ts has
// the slot states.

import { alloc, allocFree, allocReserved, allocSplit, blockSize, classOf, classSize, defragBlock, defragment, freeCount, freeSized, heapTop, lastFresh } from "./alloc";
import { me, reclaim, retire, tid } from "./epoch";
import { faultPoint } from "./fault";
import { bytesEqual, keyEquals } from "./keys";
import { countOp, nsAdd, nsCommit, nsReserve, nsUndo } from "./ns";
import {
  ANON_TOMB, H_TABLES_RETIRED, hdrAdd, SAFE_NEVER, TB_SAFE, TB_KEYED, H_EPOCH, COUNTER_SEAL, TABLE_OUTGROWN, TABLE_FULL_SIZE, H_LIMIT, H_MIN_CAP, H_RESERVE, H_ROOT, H_SEED, H_THREAD_HIGH, KIND_COUNTER, KIND_TABLE, KIND_TOMB,
  SLOT_DEL, SLOT_FROZEN, SLOT_MOVED, SLOT_MOVED_EMPTY, TABLE_HEADER, TB_CAP, TB_CLAIM, TB_MOVED,
  TB_NEXT, TB_USED, TB_RESERVE, TB_COPIED, B_INFO, B_LINK, blockInfo, setBlockInfo, setBlockLink, blockKind, counterCas, counterLoad, counterSealed,
  entryInit, entryKey, entryKeyLen, entrySize, entryBytes, counterSize, entryValue, entryValueLen, hdrCas, hdrLoad, hdrStore,
  sizeAdd, sizeLoad, slotAddr, slotCas, slotEntry, slotHash, slotLo, slotLoad, slotWord,
  tableAdd, tableCap, tableCas, tableField, tableNext, tableSize, tableSlots, TB_SLOTS, TB_CHUNKS,
  NO_EXPIRY, SWEEP_SHIFT, chunkAddr, chunkCount, tableChunks, entryExpires, E_EXPIRES, H_TIME_BASE,
  H_SWEEP, HEADER, STAT_EXPIRATIONS, nsRecord, N_TTL_USED, N_MAP_MAX_ENTRIES, N_EVICTION, N_TICK,
  EVICT_LRU, N_ENTRIES, STAMP_SHIFT, H_TOP, HEAP_START, ENTRY_KEY, KIND_STRING, H_MAX_KEY, NUM_CLASSES, freeHead, blockLink, REGIONS, R_SIZE, STAMP_TICK_SHIFT, STAMP_MASK, STAT_EVICTIONS, FREQ_SHIFT, FREQ_MASK,
  STAT_CAS_FAILURES, STAT_CONTENTION, STAT_DELETES, STAT_HITS, STAT_KEY_BYTES, STAT_MISSES,
  STAT_SETS, STAT_VALUE_BYTES, statAdd, nsTagOf, MAX_NAMESPACES, NS_TAG_BYTES, DEFRAG,
} from "./layout";

import { ST_CAPACITY, ST_CONTENTION, ST_NOT_COUNTER, ST_NOT_FOUND, ST_OVERFLOW } from "./status";
export { ST_BAD_MEMORY, ST_CAPACITY, ST_NOT_ATTACHED, ST_NOT_FOUND } from "./status";

/** Slots a helper moves per claim: small enough to keep a write's latency low. */
const CHUNK: u32 = 64;
/** A table starts migrating at 3/4 of its slots used (live + deleted)... */
@inline function growAt(cap: u32): u32 { return (cap >> 1) + (cap >> 2); }
/** ...and refuses inserts at 7/8 if it could not (probe chains stay short). */
@inline function fullAt(cap: u32): u32 { return cap - (cap >> 3); }
/** Retries of one operation that lost CAS races before reporting contention. */
const MAX_RETRIES: i32 = 1 << 20;
/** Counters stay within the JS safe-integer range (2^53 - 1). */
const MAX_SAFE: i64 = 9007199254740991;

/** Set by an output that did not fit: the host fetches it with takePending. */
export let pending: usize = 0;


// ---------------------------------------------------------------------------
// Entries

/** Copies n bytes between 8-padded buffers (entries, scratch): whole words
 *  for short runs, where memory.copy's call costs more than the copy. */
@inline function copy(dst: usize, src: usize, n: usize): void {
  if (n > 256) {
    memory.copy(dst, src, n);
    return;
  }
  // Safety: both buffers are padded to a multiple of 8 past n (entry key
  // and value areas are align8'ed; the scratch buffer has slack after every
  // field), so the last word stays inside them.
  for (let i: usize = 0; i < n; i += 8) store<u64>(dst + i, load<u64>(src + i));
}

/** Whether this thread's last allocFresh failed for want of a block size:
 *  a full LRU map with no block or entry of the size it needed, or of any
 *  larger one (fromLarger), where evicting smaller entries makes no room,
 *  since under 'lru' free memory is not merged (alloc.ts defragment). The
 *  host tells it apart in its error. */
export let noLargerBlock: bool = false;
/** Whether this thread's last ST_CAPACITY came from the map's maxEntries
 *  (the map holds that many entries and none could be evicted), not from
 *  its memory. */
export let entryLimitHit: bool = false;

/** Allocates inside an operation, reclaiming once if memory is full. Only at
 *  points where this thread holds no reference into the map. */
function allocFresh(size: usize): usize {
  noLargerBlock = false;
  let b = alloc(size);
  if (b == 0) {
    reclaim();
    b = alloc(size);
  }
  b = evictUntil(b, size);
  // Last, a migration (finished now): it gives back what DELETED slots that
  // keep their entry hold, and makes evicting free memory again.
  if (b == 0 && compact()) {
    reclaim();
    b = evictUntil(alloc(size), size);
  }
  // Free memory of other sizes, merged (alloc.ts defragment), which keeps
  // a block for this thread if a merged run has room.
  const cls = classOf(size);
  if (b == 0 && cls < NUM_CLASSES && defragOrWait(classSize(cls))) b = defragBlock != 0 ? defragBlock : alloc(size);
  // Without eviction, last, a larger block that lies free, split: memory
  // freed by larger entries serves smaller ones. (Under 'lru', evictUntil
  // splits when no entry of this class is left to evict: fromLarger.)
  if (b == 0 && policy() != EVICT_LRU) b = splitFree(size);
  return b;
}

/** Merges free memory across size classes, or waits (a bounded spin) for
 *  the thread doing it. Returns whether memory may have been merged; with
 *  `want`, the block it kept is defragBlock (0 if it only waited). */
function defragOrWait(want: usize): bool {
  // Not under 'lru' yet: there, merged regions went to larger tables
  // (tableFor takes a free block of any larger table), and the entries
  // they displaced were evicted. Its classes keep their memory (evictUntil).
  if (policy() == EVICT_LRU) return false;
  if (defragment(<u32>(tid + 1), want)) return true;
  let waited = false;
  for (let k = 0; k < SPIN_ROUNDS && atomic.load<u32>(DEFRAG) != 0; k++) waited = true;
  return waited;
}

/** A block for `size` cut from a free block of a larger class (alloc.ts
 *  allocSplit), or 0. Classes from the smallest table's slots block up are
 *  left alone: a migration's next table takes such a block (usually the one
 *  of the table the root replaced). */
function splitFree(size: usize): usize {
  const cls = classOf(size);
  const below = splitBelow();
  return cls + 1 < below ? allocSplit(cls, below) : 0;
}

/** The first size class splitFree leaves alone. */
export function splitBelow(): i32 {
  return classOf(<usize>hdrLoad(H_MIN_CAP) << 3);
}

/** Rounds of reclaim-and-retry a thread spins for a block or a table it
 *  waits for (evictUntil, waitForTable). A round took 80–120 ns, so this is
 *  0.1 s or so: only a thread that stays inside one operation that long
 *  (a dead one, until the host releases it) makes the insert fail. With two
 *  cores shared by four writers and other work, 2^17 rounds were sometimes
 *  not enough (an epoch held back by a descheduled thread). */
const SPIN_ROUNDS: i32 = 1 << 20;
/** The global epoch when this thread's last spin ran out (if `pinned`):
 *  while the epoch still stands there, whatever pins it (a dead thread not
 *  yet released) has not let go, so nothing can come back and a wait gives
 *  up at once. Each thread thus spins out once per pinned epoch, instead of
 *  on every insert into a full map (thread-local). */
let pinnedAt: u32 = 0;
let pinned: bool = false;

/** Whether the epoch still stands where this thread's last spin ran out
 *  (after one reclaim: it may move now). */
function stillPinned(): bool {
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
@inline function spinRanOut(): void {
  pinnedAt = hdrLoad(H_EPOCH);
  pinned = true;
}
/** New keys this thread inserts after memory ran out, each evicting one
 *  entry of its own size class first (makeRoom). */
const PRESSURE_INSERTS: u32 = 4096;
/** Freed blocks of its class below which such an insert evicts one: a
 *  32nd of the live entries, at least EVICT_BATCH, at most STOCK_MAX. Blocks
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
 * Under eviction 'lru': evicts a batch of entries of `size`'s class and
 * waits, reclaiming, until a block of it comes back. Evicted entries come
 * back once no thread can still read them, three global epochs later, and
 * the epoch moves only as fast as the slowest thread inside an operation:
 * with more threads than cores, one may be descheduled in the middle of
 * one for a time slice. So it spins (reclaim, allocate) rather than
 * evicting more, which gives nothing back sooner and, batch after batch,
 * emptied the map; it evicts again only once three epochs have passed and
 * its batch went to other threads of the same class. It gives up when a
 * batch finds nothing to evict (nothing is on its way), or after
 * SPIN_ROUNDS (a thread that stays inside an operation, a dead one, pins
 * the epoch). Then the next PRESSURE_INSERTS inserts of new keys each evict
 * one entry of their class as they go (makeRoom), so that memory keeps
 * coming back one grace period behind the inserts instead of running out
 * again at the next one.
 */
function evictUntil(b: usize, size: usize): usize {
  if (b != 0 || policy() != EVICT_LRU) return b;
  // Evicting now would empty the map for nothing: no evicted block can come
  // back while the epoch is pinned.
  if (stillPinned()) return alloc(size);
  const cls = classOf(size);
  if (!evictForMemory(cls)) return fromLarger(cls, size);
  let since = hdrLoad(H_EPOCH);
  for (let round = 0; round < SPIN_ROUNDS; round++) {
    reclaim();
    b = alloc(size);
    if (b != 0) {
      // Not at once: another thread held the epoch back. Evict ahead for a while.
      if (round > 0) pressure = PRESSURE_INSERTS;
      return b;
    }
    const e = hdrLoad(H_EPOCH);
    if (e - since >= 3) {
      if (!evictForMemory(cls)) return 0;
      since = e;
    }
  }
  spinRanOut();
  return 0;
}

/** Entries of larger classes that fromLarger evicts at once: each block
 *  that comes back serves at least one insert of the new class. */
const SPLIT_BATCH: i32 = 8;

/**
 * Under eviction 'lru', when the full map has no entry of `size`'s class to
 * evict: a size smaller than any it holds. A free block of a larger class,
 * split (alloc.ts allocSplit); else evicts a few entries of larger classes
 * and waits, as evictUntil does, for one of their blocks to come back.
 * Classes from the root table's slots block up are left alone: a table
 * waiting for its replacement's block (waitForTable) must find it. A size
 * larger than any the map holds still fails: under 'lru' free memory is
 * not merged (alloc.ts defragment runs only without eviction).
 */
function fromLarger(cls: i32, size: usize): usize {
  const below = classOf(<usize>tableCap(root()) << 3);
  if (cls + 1 >= below) {
    noLargerBlock = true;
    return 0;
  }
  let b = allocSplit(cls, below);
  if (b != 0) return b;
  let n = 0;
  for (let k = 0; k < SPLIT_BATCH; k++) if (evictOne(cls + 1, below)) n++;
  if (n == 0) {
    noLargerBlock = true;
    return 0;
  }
  for (let round = 0; round < SPIN_ROUNDS; round++) {
    reclaim();
    b = alloc(size);
    if (b == 0) b = allocSplit(cls, below);
    if (b != 0) return b;
  }
  spinRanOut();
  return 0;
}

/**
 * When memory is full: finishes the migration under way, or migrates the
 * root table if it has DELETED slots that keep their entry, or is far too
 * large for its live entries, so that their memory can be reclaimed.
 * Returns whether it did either. Rare: deleted entries are otherwise freed
 * at once (tombFor).
 */
function compact(): bool {
  const t = root();
  if (tableNext(t) == 0) {
    // Worth it if deleted slots keep entries, or if the table is four times
    // what the live entries need and mostly deleted slots (its block, freed,
    // is merged with others: alloc.ts defragment).
    const cap = tableCap(t);
    const live = sizeLoad();
    const oversized = live * 4 < <i64>cap && <i64>tableField(t, TB_USED) - live > <i64>(cap >> 2);
    if (tableField(t, TB_KEYED) == 0 && (!oversized || policy() == EVICT_LRU)) return false;
    startMigration(t);
    if (tableNext(t) == 0) return false;
  }
  finishAll(t);
  return true;
}

function makeEntry(kind: u32, kp: usize, kl: usize, vp: usize, vl: usize, fresh: bool, expires: f64): usize {
  const timed = expires != 0;
  const size = entrySize(kl, vl, timed);
  const e = fresh ? allocFresh(size) : alloc(size);
  if (e == 0) return 0;
  entryInit(e, kind, <u32>kl, <u32>vl, timed);
  if (timed) store<f64>(e + E_EXPIRES, expires);
  copy(entryKey(e), kp, kl);
  if (vl != 0 && vp != 0) copy(entryValue(e), vp, vl); // vp 0: the host writes it (makeEntryToFill)
  return e;
}

function makeCounter(kp: usize, kl: usize, v: i64, fresh: bool = false): usize {
  const e = fresh ? allocFresh(counterSize(kl)) : alloc(counterSize(kl));
  if (e == 0) return 0;
  entryInit(e, KIND_COUNTER, <u32>kl, 8, true);
  copy(entryKey(e), kp, kl);
  store<i64>(entryValue(e), v);
  return e;
}

@inline function unsealed(w: u64): i64 {
  return counterSealed(w) ? <i64>(w ^ COUNTER_SEAL) : <i64>w;
}

/** Size of the output of entry e, as the host decodes it: (len << 3) | kind. */
@inline function outCode(e: usize): i32 {
  const kind = blockKind(e);
  return <i32>((entryValueLen(e) << 3) | kind);
}

/** The output kind of a string value whose bytes are all ASCII: the host may
 *  then decode it as Latin-1 (one byte, one character), which skips UTF-8
 *  decoding. Never an entry's kind (layout.ts KIND_*), only an output's. */
export const OUT_ASCII: u32 = 7;
const HIGH_BITS: u64 = 0x8080808080808080;

/** As copy(), and whether the n bytes are all ASCII (found on the way: the
 *  words are loaded anyway). */
@inline function copyAscii(dst: usize, src: usize, n: usize): bool {
  let bits: u64 = 0;
  let i: usize = 0;
  if (n > 256) {
    memory.copy(dst, src, n);
    for (; i + 8 <= n; i += 8) bits |= load<u64>(src + i);
  } else {
    // Safety: as copy(): both buffers are padded to 8 past n.
    for (; i + 8 <= n; i += 8) {
      const w = load<u64>(src + i);
      store<u64>(dst + i, w);
      bits |= w;
    }
    if (i < n) store<u64>(dst + i, load<u64>(src + i));
  }
  // The padding past n is not the value's: only its own bytes count.
  if (i < n) bits |= load<u64>(src + i) & ((<u64>1 << (<u64>(n - i) << 3)) - 1);
  return (bits & HIGH_BITS) == 0;
}

/** Copies e's value to out; if it does not fit, leaves it pending (the
 *  caller then stays inside the operation until takePending). */
export function copyOut(e: usize, out: usize, cap: usize): i32 {
  const code = outCode(e);
  const len = <usize>entryValueLen(e);
  const kind = blockKind(e);
  if (kind == KIND_COUNTER) {
    store<i64>(out, unsealed(counterLoad(e)));
    return code;
  }
  if (len > cap) {
    pending = e;
    return code;
  }
  if (kind != KIND_STRING) {
    copy(out, entryValue(e), len);
    return code;
  }
  return copyAscii(out, entryValue(e), len) ? <i32>((<u32>len << 3) | OUT_ASCII) : code;
}

export function clearPending(): void {
  pending = 0;
}

/** Compares e's value with an expected (kind, bytes); counters compare the
 *  given 8-byte word `cw` (their value as last loaded). */
function valueEquals(e: usize, cw: u64, ep: usize, el: usize, ekind: u32): bool {
  const kind = blockKind(e);
  if (kind != ekind) return false;
  if (kind == KIND_COUNTER) return unsealed(cw) == load<i64>(ep);
  return <usize>entryValueLen(e) == el && bytesEqual(entryValue(e), ep, el);
}

// ---------------------------------------------------------------------------
// Tables and migration

/** A zeroed, unpublished table of `cap` slots, or 0. `freeOnly`: its slots
 *  block only from freed memory (allocFree), never from the bump pointer. */
function newTable(cap: u32, freeOnly: bool = false): usize {
  const t = allocReserved(TABLE_HEADER);
  if (t == 0) return 0;
  const slots = freeOnly ? allocFree(<usize>cap << 3) : allocReserved(<usize>cap << 3);
  // A never-used block is already zero: a growing table costs no pause to
  // clear (only a reused block, of a table that was freed, is cleared).
  const slotsFresh = lastFresh;
  const nChunks = chunkCount(cap);
  const chunks: usize = slots == 0 ? <usize>0 : allocReserved(<usize>nChunks << 3);
  if (chunks == 0) {
    if (slots != 0) freeSized(slots, <usize>cap << 3);
    freeSized(t, TABLE_HEADER);
    return 0;
  }
  // The first word of each block atomically: a thread popping a free list
  // with a stale head may still read it as a link (alloc.ts popAt).
  setBlockLink(t, 0);
  memory.fill(t + B_INFO, 0, TABLE_HEADER - B_INFO);
  setBlockInfo(t, KIND_TABLE);
  store<u32>(t + TB_CAP, cap);
  store<u32>(t + TB_SLOTS, <u32>slots);
  store<u32>(t + TB_CHUNKS, <u32>chunks);
  if (!slotsFresh) {
    atomic.store<u64>(slots, 0);
    memory.fill(slots + 8, 0, (<usize>cap << 3) - 8);
  }
  for (let c: u32 = 0; c < nChunks; c++) atomic.store<u64>(chunkAddr(chunks, c), <u64>NO_EXPIRY);
  return t;
}

/** Frees a table that was never published. */
function freeTable(t: usize): void {
  freeSized(tableSlots(t), <usize>tableCap(t) << 3);
  freeSized(tableChunks(t), <usize>chunkCount(tableCap(t)) << 3);
  freeSized(t, TABLE_HEADER);
}

export function createRoot(cap: u32): bool {
  const t = newTable(cap);
  if (t == 0) return false;
  hdrStore(H_ROOT, <u32>t);
  hdrStore(H_RESERVE, <u32>tableSize(cap));
  return true;
}

@inline export function root(): usize {
  return <usize>hdrLoad(H_ROOT);
}

/** The entry a slot of table t holding entry e points at once e's key is
 *  deleted: ANON_TOMB (and e is retired), or e itself while a straggling
 *  migration helper may still copy into t (see layout.ts, DELETED). */
@inline function tombFor(t: usize, e: usize): usize {
  const safe = tableField(t, TB_SAFE);
  // Epochs only grow; the signed difference stays right across wraparound.
  return safe != SAFE_NEVER && <i32>(hdrLoad(H_EPOCH) - safe) >= 0 ? ANON_TOMB : e;
}

/** Largest table: its slots block must stay a size class (below 2^31 B). */
const MAX_CAP: u32 = 0x10000000;

/** Entries a migration target must hold: the live ones, plus one per thread
 *  that may be finishing an insert into the source it began before `next`
 *  was set (the target's TB_RESERVE). */
@inline function migrationReserve(): i64 {
  const live = sizeLoad();
  return (live > 0 ? live : 0) + <i64>hdrLoad(H_THREAD_HIGH) + 1;
}

/** Whether a table of `cap` slots takes `reserve` entries below its growth
 *  mark, with a chunk to spare. */
@inline function holds(cap: u32, reserve: i64): bool {
  return reserve + <i64>CHUNK < <i64>growAt(cap);
}

/** Capacity of the table tableFor() returned. */
let pickedCap: u32 = 0;

/**
 * A new table for a migration of the root table (rootCap slots) whose
 * target must take `reserve` entries and would best have `wanted` slots,
 * from the memory at hand, or 0. In order of preference:
 *   1. larger than the root, from `wanted` down;
 *   2. from `wanted` (if smaller) up to the root's size, if it holds the
 *      entries: the usual block is the one of the table the root replaced;
 *   3. any larger table whose block lies free (allocFree): better than none,
 *      and nothing else would use that block. Without this, a map whose
 *      table shrank while all its memory went to entries and to blocks of
 *      larger tables would find no table of its size ever again;
 *   4. smaller than both, as long as it holds the entries.
 * Taking blocks never evicts: entries and tables share no size class, so
 * evicting entries gives no table block back (see evictForTable).
 */
function tableFor(rootCap: u32, wanted: u32, reserve: i64): usize {
  const minCap = hdrLoad(H_MIN_CAP);
  let t2: usize = 0;
  for (let c = wanted; c > rootCap; c >>= 1) {
    t2 = newTable(c);
    if (t2 != 0) {
      pickedCap = c;
      return t2;
    }
  }
  for (let c = wanted < rootCap ? wanted : rootCap; c <= rootCap; c <<= 1) {
    if (!holds(c, reserve)) continue;
    t2 = newTable(c);
    if (t2 != 0) {
      pickedCap = c;
      return t2;
    }
  }
  const top = wanted > rootCap ? wanted : rootCap;
  for (let c = top << 1; c <= MAX_CAP && tableSize(c) <= <usize>hdrLoad(H_LIMIT); c <<= 1) {
    t2 = newTable(c, true);
    if (t2 != 0) {
      pickedCap = c;
      return t2;
    }
  }
  for (let c = (wanted < rootCap ? wanted : rootCap) >> 1; c >= minCap && holds(c, reserve); c >>= 1) {
    t2 = newTable(c);
    if (t2 != 0) {
      pickedCap = c;
      return t2;
    }
  }
  return 0;
}

/** The table size a migration wants for `reserve` entries: at most half
 *  full once they are in. */
function wantedCap(reserve: i64): u32 {
  let cap = hdrLoad(H_MIN_CAP);
  while (<i64>cap < reserve * 2 + <i64>CHUNK && cap < MAX_CAP) cap <<= 1;
  return cap;
}

/** Starts migrating the root table `t` into a new table sized for the live
 *  entries (at most half full afterwards), or the best the memory at hand
 *  allows (tableFor); no-op if one is under way or no table is at hand.
 *  `grow`: started because t is full (not to drop deleted entries). */
function startMigration(t: usize, grow: bool = false): void {
  if (root() != t || tableNext(t) != 0) return;
  const reserve = migrationReserve();
  const wanted = wantedCap(reserve);
  const t2 = tableFor(tableCap(t), wanted, reserve);
  if (t2 == 0) return;
  publishTable(t, t2, pickedCap, wanted, reserve, grow);
}

/** Publishes the private table t2 (cap slots) as root t's migration target,
 *  or frees it if another thread's came first. */
function publishTable(t: usize, t2: usize, cap: u32, wanted: u32, reserve: i64, grow: bool): void {
  if (cap < wanted) setBlockInfo(t2, KIND_TABLE | TABLE_FULL_SIZE); // not yet published
  store<u32>(t2 + TB_RESERVE, <u32>reserve);
  store<u32>(t2 + TB_SAFE, SAFE_NEVER);
  // Order: publishes the zeroed table; from here on writers freeze t's slots.
  if (tableCas(t, TB_NEXT, 0, <u32>t2) != 0) {
    freeTable(t2);
  } else if (grow && cap > tableCap(t) && heapTop() <= <usize>hdrLoad(H_LIMIT) >> 1) {
    // A table the map outgrew is not wanted at its size again soon: its
    // memory goes to the regions, for entries. Not so once the map has used
    // half its memory, nor for a table dropped to shed deleted entries: it
    // stays in its class, for a migration that memory, full by then, can
    // only hold in exactly such a block.
    atomic.or<u32>(t + B_INFO, TABLE_OUTGROWN); // info word: see layout.ts blockInfo
  }
}

function finishMigration(t: usize): void {
  const next = tableNext(t);
  // Order: every slot of t is MOVED (moved == cap) before the root changes.
  if (hdrCas(H_ROOT, <u32>t, next) == <u32>t) {
    hdrAdd(H_TABLES_RETIRED, 1); // no call before: a kill cannot skip it
    // A helper that still holds a word of t entered at an epoch <= now,
    // so it has left once the global epoch is 3 past now (epoch.ts).
    atomic.store<u32>(<usize>next + TB_SAFE, hdrLoad(H_EPOCH) + 3);
    // Keep room for the next migration: a table as large as the new root.
    hdrStore(H_RESERVE, <u32>tableSize(tableCap(next)));
    retire(t);
  }
}

/** Moves one chunk of t's slots into t's next table. */
function helpMigrate(t: usize): void {
  faultPoint();
  const cap = tableCap(t);
  if (tableField(t, TB_MOVED) >= cap) {
    finishMigration(t);
    return;
  }
  const chunks = (cap + CHUNK - 1) / CHUNK;
  // Claims wrap around: a second round re-visits chunks whose helper died
  // (moveSlot is idempotent), so migration always completes.
  const claim = tableAdd(t, TB_CLAIM, 1);
  const c = claim % chunks;
  const start = c * CHUNK;
  const end = min(start + CHUNK, cap);
  const slots = tableSlots(t);
  for (let i = start; i < end; i++) {
    faultPoint();
    const s = slotAddr(slots, i);
    moveSlot(t, s, slotLoad(s));
  }
  // Once per round after the first: if every slot is moved, finish, even if
  // the `moved` count fell short (it cannot, see moveSlot; this is the
  // belt to those braces, at one scan per round).
  if (c == chunks - 1 && claim >= chunks && allMoved(t)) finishMigration(t);
}

function allMoved(t: usize): bool {
  const cap = tableCap(t);
  const slots = tableSlots(t);
  for (let i: u32 = 0; i < cap; i++) {
    const lo = slotLo(slotLoad(slotAddr(slots, i)));
    if (lo != SLOT_MOVED && lo != SLOT_MOVED_EMPTY) return false;
  }
  return true;
}

/** Helps until the root table is no longer `t`. */
function finishAll(t: usize): void {
  while (root() == t && tableNext(t) != 0) helpMigrate(t);
}

/** Freezes slot s of t (word w as last seen), copies its live entry into
 *  t's next table, and marks it MOVED. Idempotent; any thread may help. */
function moveSlot(t: usize, s: usize, w: u64): void {
  faultPoint();
  while (true) {
    const lo = slotLo(w);
    if (lo == SLOT_MOVED || lo == SLOT_MOVED_EMPTY) return;
    if ((lo & SLOT_FROZEN) == 0) {
      const seen = slotCas(s, w, w | SLOT_FROZEN);
      if (seen != w) {
        w = seen;
        continue;
      }
      w |= SLOT_FROZEN;
    }
    const base = slotLo(w) & ~SLOT_FROZEN;
    let moved: u64;
    if (base == 0) {
      moved = slotWord(0, SLOT_MOVED_EMPTY);
    } else {
      if ((base & SLOT_DEL) == 0) copyInto(tableNext(t), slotHash(w), slotEntry(w));
      moved = slotWord(slotHash(w), SLOT_MOVED);
    }
    // Order: the copy above is visible in `next` before the slot says MOVED,
    // so a reader sent to `next` by this word finds it there.
    faultPoint();
    const seen = slotCas(s, w, moved);
    if (seen == w) {
      // No call or loop between the CAS and the count (see tryInsert).
      const done = tableAdd(t, TB_MOVED, 1) + 1 == tableCap(t);
      // Deleted keys are not copied: their slot dies with this table, and
      // a keyed tombstone's entry with it (ANON_TOMB is nobody's to free).
      if (base != 0 && (base & SLOT_DEL) != 0 && slotEntry(w) != ANON_TOMB) retire(slotEntry(w));
      if (done) finishMigration(t);
      return;
    }
    w = seen;
  }
}

/** Inserts entry e (hash h) into t2 unless t2 already has its key. */
function copyInto(t2: usize, h: u32, e: usize): void {
  faultPoint();
  const cap = tableCap(t2);
  const mask = cap - 1;
  const kp = entryKey(e);
  const kl = <usize>entryKeyLen(e);
  const slots = tableSlots(t2);
  let i = h & mask;
  for (let n: u32 = 0; n < cap; ) {
    faultPoint();
    const s = slotAddr(slots, i);
    const w = slotLoad(s);
    if (w == 0) {
      chunkLower(t2, s, entryExpires(e));
      faultPoint();
      if (slotCas(s, 0, slotWord(h, <u32>e)) == 0) {
        tableAdd(t2, TB_USED, 1);
        tableAdd(t2, TB_COPIED, 1);
        return;
      }
      continue; // re-examine the slot someone just took
    }
    // t2 migrating means t's migration finished: this copy is stale.
    if (slotLo(w) < 8 || (slotLo(w) & SLOT_FROZEN) != 0) return;
    // Present: copied before, or written since (newer): either way, done.
    if (slotHash(w) == h && keyEquals(slotEntry(w), kp, kl)) return;
    i = (i + 1) & mask;
    n++;
  }
}

// ---------------------------------------------------------------------------
// Lookup

/** The live entry for the key, or 0. Never writes shared memory. */
export function find(kp: usize, kl: usize, h: u32): usize {
  let t = root();
  // The key's FROZEN slot in a migrating table, read as its value: final
  // unless `next` names the key (found there: a copy, or what a sweep or
  // an eviction in `next` made of it since, which is as new or newer).
  let frozen: usize = 0;
  while (true) {
    const cap = tableCap(t);
    const mask = cap - 1;
    let i = h & mask;
    let sawMoved = false;
    const slots = tableSlots(t);
    for (let n: u32 = 0; n < cap; n++) {
      faultPoint();
      const w = slotLoad(slotAddr(slots, i));
      const lo = slotLo(w);
      if (lo < 8) {
        if (w == 0 || lo == SLOT_FROZEN) {
          // End of chain. If our slot may have moved, look in `next`.
          if (!sawMoved) return frozen;
          break;
        }
        if (lo == SLOT_MOVED_EMPTY) break;
        if (slotHash(w) == h) sawMoved = true; // SLOT_MOVED: maybe ours
      } else if (slotHash(w) == h) {
        const e = slotEntry(w);
        if (keyEquals(e, kp, kl)) {
          const v: usize = (lo & SLOT_DEL) != 0 || expiredAt(e) ? 0 : e;
          if ((lo & SLOT_FROZEN) == 0) return v;
          // No writer changes the key in `next` before this slot is MOVED,
          // but a sweep or an eviction there may remove the copy.
          frozen = v;
          break;
        }
      }
      i = (i + 1) & mask;
    }
    const next = <usize>tableNext(t);
    if (next == 0) return frozen;
    t = next;
  }
}

// Result of locate(): the table, slot address and word a writer acts on.
let locT: usize = 0;
let locS: usize = 0;
let locW: u64 = 0;

/**
 * Finds the key's slot for writing, in the newest table it may be written
 * in, helping migration on the way. Returns 0 with:
 *   locW == 0               locS is the EMPTY slot ending the key's chain
 *   locW live or DEL (key)  locS is the key's own slot (not frozen)
 * or ST_CAPACITY when the table is full and cannot grow.
 */
function locate(kp: usize, kl: usize, h: u32): i32 {
  faultPoint();
  let t = root();
  while (true) {
    if (tableNext(t) != 0) helpMigrate(t);
    const cap = tableCap(t);
    const mask = cap - 1;
    let i = h & mask;
    let n: u32 = 0;
    // Set when the key must be written in t's next table instead.
    let toNext = false;
    const slots = tableSlots(t);
    while (n < cap) {
      faultPoint();
      const s = slotAddr(slots, i);
      const w = slotLoad(s);
      const lo = slotLo(w);
      if (lo < 8) {
        if (w == 0) {
          if (tableNext(t) == 0) {
            locT = t;
            locS = s;
            locW = 0;
            return 0;
          }
          // Migrating: close this chain for good before writing in `next`,
          // so no reader of t stops here and misses the new entry.
          if (slotCas(s, 0, slotWord(0, SLOT_FROZEN)) != 0) continue;
          moveSlot(t, s, slotWord(0, SLOT_FROZEN));
          toNext = true;
          break;
        }
        if (lo == SLOT_FROZEN) {
          moveSlot(t, s, w);
          toNext = true;
          break;
        }
        if (lo == SLOT_MOVED_EMPTY) {
          toNext = true;
          break;
        }
        // SLOT_MOVED: some key's slot, maybe this one's: the chain goes on.
      } else if (slotHash(w) == h && keyEquals(slotEntry(w), kp, kl)) {
        // While t migrates, every write goes to `next`: the key's slot is
        // moved first. So t's live entries only decrease, and `next` never
        // receives more copies than its reserve.
        faultPoint();
        if ((lo & SLOT_FROZEN) != 0 || tableNext(t) != 0) {
          // The walk goes on to the chain's end, which sends it to `next`:
          // w may be stale. If the key was deleted since into an anonymous
          // tombstone, the slot moved is no longer the key's, and the key
          // may have been set again further along this chain (by a writer
          // that found that EMPTY slot before `next` was published): that
          // slot must be moved too, or the key would be live in both
          // tables. (Stopping here lost writes: issue 14.)
          moveSlot(t, s, w);
          i = (i + 1) & mask;
          n++;
          continue;
        }
        locT = t;
        locS = s;
        locW = w;
        return 0;
      }
      i = (i + 1) & mask;
      n++;
    }
    const next = <usize>tableNext(t);
    if (next == 0) return ST_CAPACITY; // a full chain: cannot happen below fullAt
    t = next;
  }
  return ST_CAPACITY; // unreachable
}

/**
 * The root table t (cap slots) is full (fullAt) and no table to migrate it
 * to was at hand: under eviction 'lru', while a retired table is on its way
 * back to the allocator, spins (reclaiming) until a table can be had. The
 * table that t replaced is the usual one: it is freed three epochs after t
 * took over, and with more threads than cores that can take longer than
 * the inserts t had room for. Gives up after SPIN_ROUNDS (a dead thread
 * pins the epoch); then, last, takes a larger free block or evicts down to
 * a smaller table (evictForTable). Returns 0 (retry: this thread's
 * references into the map were let go, locate again) or ST_CAPACITY. Must
 * be called where the caller locates again on 0.
 */
function waitForTable(t: usize, cap: u32): i32 {
  if (policy() != EVICT_LRU) {
    // Blocks freed lately (reclaim), merged with the rest of free memory
    // (alloc.ts defragment), may hold a table.
    reclaim();
    if (defragOrWait(0)) startMigration(t, true);
    return root() != t || tableNext(t) != 0 ? 0 : ST_CAPACITY;
  }
  // Only while a retired table is on its way back (else nothing will come),
  // and not again while the epoch stands where a spin of this thread ran out.
  let round = stillPinned() ? SPIN_ROUNDS : 0;
  for (; round < SPIN_ROUNDS && hdrLoad(H_TABLES_RETIRED) != 0; round++) {
    // Safety: t is only read while it is still the root (not retired), so
    // refreshing this thread's epoch announcement cannot let it be freed.
    reclaim();
    if (root() != t || tableNext(t) != 0) return 0;
    if ((round & 15) == 15) {
      startMigration(t, true);
      if (tableNext(t) == 0) evictForTable(t, cap, false);
      if (root() != t || tableNext(t) != 0) return 0;
    }
  }
  if (round == SPIN_ROUNDS && hdrLoad(H_TABLES_RETIRED) != 0) spinRanOut();
  evictForTable(t, cap, true);
  return root() != t || tableNext(t) != 0 ? 0 : ST_CAPACITY;
}

/**
 * Publishes entry `e` (hash h) in the EMPTY slot locate() found. Returns 1
 * on success, 0 to retry (slot taken, or migration started), or a status.
 */
function tryInsert(h: u32, e: usize): i32 {
  faultPoint();
  const t = locT;
  const cap = tableCap(t);
  const used = tableField(t, TB_USED);
  const r = root();
  if (r != t) {
    // t is the target of a migration still under way. Its own inserts plus
    // every copy still to come must stay below growAt, or copies would not
    // fit: past that, finish the migration first (t becomes the root).
    const inserted = used - tableField(t, TB_COPIED);
    if (inserted + tableField(t, TB_RESERVE) >= growAt(cap)) {
      finishAll(r);
      return 0;
    }
  } else if (used >= growAt(cap)) {
    startMigration(t, true);
    // No memory for a larger table, and too many live entries for one of
    // this size: under eviction, make them fit one.
    if (tableNext(t) == 0) evictForTable(t, cap, false);
    if (root() != t || tableNext(t) != 0) return 0;
    if (used >= fullAt(cap)) return waitForTable(t, cap);
  }
  if (slotCas(locS, 0, slotWord(h, <u32>e)) != 0) return 0;
  // No call and no loop between the CAS above and the counts below: engines
  // stop a terminated worker only at function entries and loop headers, so
  // the counts cannot be lost to worker.terminate().
  tableAdd(t, TB_USED, 1);
  sizeAdd(1);
  nsCommit();
  return 1;
}

// ---------------------------------------------------------------------------
// Operations (each runs between enter() and leave(), see index.ts)

export const MODE_SET: i32 = 0;
export const MODE_SWAP: i32 = 1;
export const MODE_GET_OR_SET: i32 = 2;
export const MODE_CAS: i32 = 3;
export const MODE_DELETE: i32 = 4;
export const MODE_GET_AND_DELETE: i32 = 5;
export const MODE_CAD: i32 = 6;

/** Results of `update` besides value codes (>= 0) and statuses (< 0). */
export const R_DONE: i32 = -100;
export const R_REFUSED: i32 = -101;

/**
 * The one write protocol. `n` is the new entry (set modes; 0 for deletes,
 * whose slot turns DELETED: see tombFor).
 * Returns:
 *   SET, CAS, CAD, DELETE:   R_DONE, or R_REFUSED (absent / not equal)
 *   SWAP, GET_AND_DELETE:    the previous value's code, or ST_NOT_FOUND
 *   GET_OR_SET:              the present value's code, or R_DONE if stored
 * `n` is consumed (published) only when the result says so; the caller
 * frees it otherwise.
 */
export function update(
  mode: i32, h: u32, kp: usize, kl: usize, n: usize,
  ep: usize, el: usize, ekind: u32, out: usize, ocap: usize,
): i32 {
  const deleting = mode >= MODE_DELETE;
  const t = me;
  let roomMade = false;
  let roomRetry = false;
  for (let attempt = 0; attempt < MAX_RETRIES; attempt++) {
    faultPoint();
    // A retry after making room is no lost race: not contention.
    if (attempt > 0 && !roomRetry) statAdd(t, STAT_CONTENTION, 1);
    roomRetry = false;
    const st = locate(kp, kl, h);
    if (st < 0) return st;
    const w = locW;
    // Linked: the slot holds an entry (counted in size). Present: linked and
    // not expired. An expired entry reads as absent; a write replaces it.
    const linked = w != 0 && (slotLo(w) & SLOT_DEL) == 0;
    const e = linked ? slotEntry(w) : 0;
    const present = linked && !expiredAt(e);
    if (!present) {
      if (mode == MODE_GET_AND_DELETE) {
        countOp(nsTagOf(kp), STAT_MISSES);
        return ST_NOT_FOUND;
      }
      if (deleting) {
        if (mode == MODE_CAD) statAdd(t, STAT_CAS_FAILURES, 1);
        return R_REFUSED;
      }
      if (mode == MODE_CAS) {
        statAdd(t, STAT_CAS_FAILURES, 1);
        return R_REFUSED;
      }
    } else if (mode == MODE_GET_OR_SET) {
      countOp(nsTagOf(kp), STAT_HITS);
      touch(e);
      return copyOut(e, out, ocap);
    }
    let result = R_DONE;
    if (linked) {
      let cw: u64 = 0;
      const counter = blockKind(e) == KIND_COUNTER;
      if (counter) cw = counterLoad(e);
      if (present && (mode == MODE_CAS || mode == MODE_CAD) && !valueEquals(e, cw, ep, el, ekind)) {
        statAdd(t, STAT_CAS_FAILURES, 1);
        return R_REFUSED;
      }
      // A counter is sealed before it is replaced, so that no increment can
      // land on it afterwards and the value read below is final.
      if (counter && !counterSealed(cw)) {
        if (counterCas(e, cw, cw ^ COUNTER_SEAL) != cw) continue;
      }
      if (present && (mode == MODE_SWAP || mode == MODE_GET_AND_DELETE)) result = copyOut(e, out, ocap);
    }
    if (!present && mode == MODE_SWAP) result = ST_NOT_FOUND;
    // The namespace's share: an added entry and its bytes are reserved
    // (within its quotas) before they are published.
    const tag = nsTagOf(kp);
    let shrink: i64 = 0;
    if (!deleting) {
      if (!linked && !roomMade) {
        const room = makeRoom(n);
        if (room < 0) {
          pending = 0;
          return room;
        }
        if (room == 1) {
          roomMade = true;
          roomRetry = true;
          pending = 0;
          continue;
        }
      }
      stampNew(n, linked ? e : 0);
      const grow = <i64>entryBytes(n) - (linked ? <i64>entryBytes(e) : 0);
      const q = nsReserve(tag, linked ? 0 : 1, grow > 0 ? grow : 0);
      if (q < 0) {
        pending = 0;
        return q;
      }
      if (grow < 0) shrink = grow;
      chunkLower(locT, locS, entryExpires(n)); // before publishing: see chunkLower
    }
    if (w == 0) {
      const r = tryInsert(h, n);
      if (r == 1) {
        account(mode, false, 0, n, kl);
        return result;
      }
      nsUndo();
      pending = 0;
      if (r < 0) return r;
      continue;
    }
    faultPoint();
    const tomb = deleting ? tombFor(locT, e) : 0;
    const nw = deleting ? slotWord(h, <u32>tomb | SLOT_DEL) : slotWord(h, <u32>n);
    if (slotCas(locS, w, nw) == w) {
      // No call or loop before the counts (see tryInsert).
      nsCommit();
      if (!linked) sizeAdd(1);
      else if (deleting) {
        sizeAdd(-1);
        nsAdd(tag, -1, -<i64>entryBytes(e));
      }
      if (shrink != 0) nsAdd(tag, 0, shrink);
      if (linked && !present) countOp(tag, STAT_EXPIRATIONS); // replaced an expired entry
      account(mode, linked, e, n, kl);
      // The entry w held (live, or a keyed tombstone being replaced), unless
      // it stays on as the key's tombstone.
      if (tomb != slotEntry(w)) retire(slotEntry(w));
      else tableAdd(locT, TB_KEYED, 1);
      // A delete gives a block back: one eviction fewer ahead (evictUntil).
      if (deleting && pressure > 0) pressure--;
      return result;
    }
    if (!deleting) nsUndo();
    pending = 0;
  }
  return ST_CONTENTION;
}

/** Statistics of a write that took effect (this thread's stripe, and its
 *  namespace's counters). */
@inline function account(mode: i32, present: bool, old: usize, n: usize, kl: usize): void {
  const t = me;
  // The registry of namespace names is the host's bookkeeping: not counted.
  if ((nsTagOf(entryKey(mode >= MODE_DELETE ? old : n)) & (MAX_NAMESPACES - 1)) == NS_REGISTRY_TAG) return;
  if (mode >= MODE_DELETE) {
    const tag = nsTagOf(entryKey(old));
    countOp(tag, STAT_DELETES);
    if (mode == MODE_GET_AND_DELETE) countOp(tag, STAT_HITS);
    statAdd(t, STAT_KEY_BYTES, -<i64>(kl - NS_TAG_BYTES));
    statAdd(t, STAT_VALUE_BYTES, -<i64>entryValueLen(old));
    return;
  }
  const tag = nsTagOf(entryKey(n));
  if (mode == MODE_GET_OR_SET) countOp(tag, STAT_MISSES);
  countOp(tag, STAT_SETS);
  let dv = <i64>entryValueLen(n);
  if (present) dv -= <i64>entryValueLen(old);
  else statAdd(t, STAT_KEY_BYTES, <i64>(kl - NS_TAG_BYTES)); // the user's key, without its tag
  statAdd(t, STAT_VALUE_BYTES, dv);
}

/** Adds delta to the counter at the key (created at 0). Returns a status
 *  (< 0) or 0 with the new value in `counterResult`. */
export let counterResult: i64 = 0;

export function increment(kp: usize, kl: usize, h: u32, d: i64): i32 {
  // Fast path: the entry is a live, unsealed counter: add in place.
  const e0 = find(kp, kl, h);
  if (e0 != 0) {
    if (blockKind(e0) != KIND_COUNTER) return ST_NOT_COUNTER;
    let cw = counterLoad(e0);
    while (!counterSealed(cw)) {
      const nv = <i64>cw + d;
      if (nv > MAX_SAFE || nv < -MAX_SAFE) return ST_OVERFLOW;
      // Order: an unsealed word means e0 is still the key's entry (a
      // replacing writer seals it first), so the add lands on the live value.
      const seen = counterCas(e0, cw, <u64>nv);
      if (seen == cw) {
        touch(e0);
        countOp(nsTagOf(kp), STAT_SETS);
        counterResult = nv;
        return 0;
      }
      statAdd(me, STAT_CONTENTION, 1);
      cw = seen;
    }
  }
  // Slow path: absent, deleted, or sealed by a writer replacing it: publish
  // a fresh counter entry in its slot.
  let n: usize = 0;
  let roomMade = false;
  for (let attempt = 0; attempt < MAX_RETRIES; attempt++) {
    faultPoint();
    if (n == 0) {
      // Before locate: a full map's allocation may evict or reclaim, which
      // would stale what locate found (a full 'lru' map must evict for it).
      n = makeCounter(kp, kl, 0, true);
      if (n == 0) return ST_CAPACITY;
    }
    const st = locate(kp, kl, h);
    if (st < 0) {
      if (n != 0) freeSized(n, counterSize(kl));
      return st;
    }
    const w = locW;
    const linked = w != 0 && (slotLo(w) & SLOT_DEL) == 0;
    const present = linked && !expiredAt(slotEntry(w));
    let base: i64 = 0;
    if (linked && !present) {
      // Expired: it starts again from 0; a counter is sealed first.
      const e = slotEntry(w);
      if (blockKind(e) == KIND_COUNTER) {
        const cw = counterLoad(e);
        if (!counterSealed(cw) && counterCas(e, cw, cw ^ COUNTER_SEAL) != cw) continue;
      }
    }
    if (present) {
      const e = slotEntry(w);
      if (blockKind(e) != KIND_COUNTER) {
        if (n != 0) freeSized(n, counterSize(kl));
        return ST_NOT_COUNTER;
      }
      const cw = counterLoad(e);
      if (!counterSealed(cw)) {
        const nv = <i64>cw + d;
        if (nv > MAX_SAFE || nv < -MAX_SAFE) {
          if (n != 0) freeSized(n, counterSize(kl));
          return ST_OVERFLOW;
        }
        if (counterCas(e, cw, <u64>nv) == cw) {
          if (n != 0) freeSized(n, counterSize(kl));
          countOp(nsTagOf(kp), STAT_SETS);
          counterResult = nv;
          return 0;
        }
        statAdd(me, STAT_CONTENTION, 1);
        continue;
      }
      base = unsealed(cw);
    }
    const nv = base + d;
    if (nv > MAX_SAFE || nv < -MAX_SAFE) {
      if (n != 0) freeSized(n, counterSize(kl));
      return ST_OVERFLOW;
    }
    store<i64>(entryValue(n), nv); // still private
    if (!linked) {
      const room = roomMade ? 0 : makeRoom(n);
      if (room < 0) {
        freeSized(n, counterSize(kl));
        return room;
      }
      if (room == 1) {
        roomMade = true;
        continue;
      }
      const q = nsReserve(nsTagOf(kp), 1, <i64>counterSize(kl));
      if (q < 0) {
        freeSized(n, counterSize(kl));
        return q;
      }
    }
    store<f64>(n + E_EXPIRES, present ? entryExpires(slotEntry(w)) : counterExpires);
    stampNew(n, linked ? slotEntry(w) : 0);
    chunkLower(locT, locS, entryExpires(n));
    if (w == 0) {
      const r = tryInsert(h, n);
      if (r == 1) {
        account(MODE_SET, false, 0, n, kl);
        counterResult = nv;
        return 0;
      }
      nsUndo();
      if (r < 0) {
        freeSized(n, counterSize(kl));
        return r;
      }
      continue;
    }
    faultPoint();
    if (slotCas(locS, w, slotWord(h, <u32>n)) == w) {
      nsCommit();
      if (!linked) sizeAdd(1);
      if (linked && !present) countOp(nsTagOf(kp), STAT_EXPIRATIONS);
      account(MODE_SET, linked, slotEntry(w), n, kl);
      retire(slotEntry(w));
      counterResult = nv;
      return 0;
    }
    if (!linked) nsUndo();
    statAdd(me, STAT_CONTENTION, 1);
  }
  if (n != 0) freeSized(n, counterSize(kl));
  return ST_CONTENTION;
}

/** Deletes every entry of namespace `id` (index bits of a tag) present when
 *  it starts, one atomic delete each, then compacts the table. Entries set
 *  concurrently may survive, as with any concurrent map. */
export function clearNamespace(id: u32): void {
  let t = root();
  while (t != 0) {
    const cap = tableCap(t);
    const slots = tableSlots(t);
    for (let i: u32 = 0; i < cap; i++) {
      const w = slotLoad(slotAddr(slots, i));
      const lo = slotLo(w);
      if (lo < 8 || (lo & SLOT_DEL) != 0) continue;
      const e = slotEntry(w);
      if ((nsTagOf(entryKey(e)) & (MAX_NAMESPACES - 1)) != id) continue;
      // Safety: e stays readable for this whole operation (epoch): the
      // delete only retires it, so its key stays put while update reads it.
      update(MODE_DELETE, slotHash(w), entryKey(e), <usize>entryKeyLen(e), 0, 0, 0, 0, 0, 0);
    }
    t = <usize>tableNext(t);
  }
  const r = root();
  if (tableNext(r) == 0) startMigration(r);
}

/** Live entries of every namespace but the registry of names. */
export function liveCount(): i64 {
  return boundedSize();
}

export function makeValueEntry(kind: u32, kp: usize, kl: usize, vp: usize, vl: usize, expires: f64): usize {
  return makeEntry(kind, kp, kl, vp, vl, true, expires);
}

/** As makeValueEntry, but the vl value bytes are left for the host to write
 *  in place (index.ts prepareWrite): the entry is private until published. */
export function makeEntryToFill(kind: u32, kp: usize, kl: usize, vl: usize, expires: f64): usize {
  return makeEntry(kind, kp, kl, 0, vl, true, expires);
}

// ---------------------------------------------------------------------------
// Expiry (TTL)
//
// An entry may carry an absolute expiry (ms on the hosts' shared clock). From
// that instant every operation reads it as absent, and a write replaces it.
// Expired entries are also removed without being read, by sweeping: each
// table keeps, per chunk of SWEEP_CHUNK slots, the earliest expiry of any
// entry published there (lowered before publishing, so never later than the
// truth). `size` and purgeExpired() sweep every chunk that is due, and each
// write takes one bounded step through the chunks in turn (at most
// SWEEP_STEP_MAX removals): the work is proportional to what has expired
// (plus one word per chunk), never a stop of the whole map, and no write
// pays for more than a step.

/** The calling thread's clock for this operation, set by index.ts. */
let now: f64 = 0;
/** Expiry of a counter that increment creates (the host's defaultTtl). */
let counterExpires: f64 = 0;
/** This thread's next chunk to sweep on a write. */
let sweepNext: u32 = 0;
/**
 * Bounds of one write's sweep step. Removing an entry costs a CAS on the
 * slot (under a microsecond), moving a chunk of 64 slots about 10 µs: so a
 * step costs at most about 0.3 ms. A chunk with more expired entries is
 * finished by the thread's next writes. The help keeps a migration that a
 * mass expiry started (to drop the DELETED slots) from taking one write per
 * chunk, during which the entries it copies are not swept. (Removing each
 * entry by a lookup, which helps a migration by a chunk, made a write that
 * expired 1,000 entries move 1,000 chunks: 5 ms.)
 */
const SWEEP_STEP_MAX: i32 = 128;
const SWEEP_STEP_HELPS: i32 = 16;
/** Entries this thread has expired (purge() reports its share). */
export let expiredByMe: i64 = 0;

/** Starts an operation's per-thread state: its clock, and no cause yet for
 *  a failure (noLargerBlock). */
export function setNow(t: f64, newCounterExpires: f64): void {
  noLargerBlock = false;
  entryLimitHit = false;
  now = t;
  counterExpires = newCounterExpires;
}

@inline export function expiredAt(e: usize): bool {
  const x = entryExpires(e);
  return x != 0 && x <= now;
}

/** Milliseconds from the map's time base (floor: never later than x). */
@inline function relMs(x: f64): u32 {
  const r = Math.floor(x - load<f64>(HEADER + H_TIME_BASE));
  if (r <= 0) return 0;
  if (r >= <f64>(NO_EXPIRY - 1)) return NO_EXPIRY - 1;
  return <u32>r;
}

export function setTimeBase(t: f64): void {
  store<f64>(HEADER + H_TIME_BASE, t);
}

/**
 * Makes the chunk of slot s (table t) cover an entry expiring at x (0: no
 * expiry, nothing to do). Called before the entry is published: the chunk
 * may then claim an earlier expiry than it holds (a wasted sweep), never a
 * later one, even if this thread dies in between. The version bump makes a
 * concurrent sweep of the chunk keep the lower bound.
 */
function chunkLower(t: usize, s: usize, x: f64): void {
  if (x == 0) return;
  const flag = nsRecord(0) + N_TTL_USED;
  if (atomic.load<u32>(flag) == 0) atomic.store<u32>(flag, 1);
  const i = <u32>((s - tableSlots(t)) >> 3);
  const a = chunkAddr(tableChunks(t), i >> SWEEP_SHIFT);
  const ms = relMs(x);
  let w = atomic.load<u64>(a);
  while (true) {
    const cur = <u32>w;
    const nw = (((w >> 32) + 1) << 32) | <u64>(ms < cur ? ms : cur);
    const seen = atomic.cmpxchg<u64>(a, w, nw);
    if (seen == w) return;
    w = seen;
  }
}

/**
 * Removes the entry of slot s of table t, which held word w when the caller
 * read it (a sweep or an eviction sample), counting it under `stat`
 * (expirations or evictions). One CAS on that very slot, no lookup: if the
 * slot still holds w, its entry is the key's (one slot per key), and a slot
 * a migration has not frozen may be deleted in place even in a table being
 * migrated: a helper's freeze then fails on the changed word, finds it
 * DELETED and copies nothing. Returns false if the slot changed meanwhile
 * (replaced, deleted, or frozen: the entry is then met again in `next`).
 */
function removeAt(t: usize, s: usize, w: u64, stat: i32): bool {
  faultPoint();
  const lo = slotLo(w);
  if (lo < 8 || (lo & (SLOT_DEL | SLOT_FROZEN)) != 0) return false;
  const e = slotEntry(w);
  const h = slotHash(w);
  if (blockKind(e) == KIND_COUNTER) {
    // Sealed first, as by any writer that replaces a counter: no increment
    // may land on it once it is gone.
    const cw = counterLoad(e);
    if (!counterSealed(cw) && counterCas(e, cw, cw ^ COUNTER_SEAL) != cw) return false;
  }
  const tomb = tombFor(t, e);
  if (slotCas(s, w, slotWord(h, <u32>tomb | SLOT_DEL)) != w) return false;
  // No call or loop before the counts (see tryInsert).
  const kp = entryKey(e);
  const kl = <usize>entryKeyLen(e);
  sizeAdd(-1);
  nsAdd(nsTagOf(kp), -1, -<i64>entryBytes(e));
  countOp(nsTagOf(kp), stat);
  if (stat == STAT_EXPIRATIONS) expiredByMe++;
  statAdd(me, STAT_KEY_BYTES, -<i64>(kl - NS_TAG_BYTES));
  statAdd(me, STAT_VALUE_BYTES, -<i64>entryValueLen(e));
  if (tomb != e) retire(e);
  else tableAdd(t, TB_KEYED, 1);
  return true;
}

/** Starts a migration of the root table (which drops tombstones and frees
 *  what they hold) once tombstones outnumber live entries and fill a
 *  quarter of it. */
function maybeCompact(): void {
  const r = root();
  if (tableNext(r) != 0) return;
  const dead = <i64>tableField(r, TB_USED) - sizeLoad();
  if (dead > <i64>(tableCap(r) >> 2) && dead > sizeLoad()) startMigration(r);
}

/** Sweeps chunk c of table t if its earliest expiry has come, removing at
 *  most `max` entries (0: no bound). Returns false if it stopped at `max`
 *  with the chunk unfinished (its earliest expiry then stays as it was). */
function sweepChunk(t: usize, c: u32, max: i32): bool {
  const a = chunkAddr(tableChunks(t), c);
  const w0 = atomic.load<u64>(a);
  const due = <u32>w0;
  if (due == NO_EXPIRY || due > relMs(now)) return true;
  const cap = tableCap(t);
  const slots = tableSlots(t);
  const start = c << SWEEP_SHIFT;
  const end = min(start + (<u32>1 << SWEEP_SHIFT), cap);
  let earliest = NO_EXPIRY;
  let removed = 0;
  for (let i = start; i < end; i++) {
    faultPoint();
    const w = slotLoad(slotAddr(slots, i));
    const lo = slotLo(w);
    if (lo < 8 || (lo & SLOT_DEL) != 0) continue;
    const e = slotEntry(w);
    const x = entryExpires(e);
    if (x == 0) continue;
    if (x <= now) {
      if (max > 0 && removed == max) return false;
      removed++;
      if (removeAt(t, slotAddr(slots, i), w, STAT_EXPIRATIONS)) continue;
    }
    const ms = relMs(x);
    if (ms < earliest) earliest = ms;
  }
  // Order: only if nothing was published in the chunk meanwhile (the same
  // version); otherwise its lower bound stays, and a later sweep redoes it.
  atomic.cmpxchg<u64>(a, w0, (w0 & 0xffffffff00000000) | <u64>earliest);
  maybeCompact();
  return true;
}

/** Sweeps every chunk that is due, in the root table and any it migrates to. */
export function sweepAll(): void {
  let t = root();
  while (t != 0) {
    const n = chunkCount(tableCap(t));
    for (let c: u32 = 0; c < n; c++) sweepChunk(t, c, 0);
    t = <usize>tableNext(t);
  }
}

/** One step of the sweep that rides on writes: this thread's next chunk,
 *  or what is left of the last one. */
export function sweepStep(): void {
  const t = root();
  const before = expiredByMe;
  if (sweepChunk(t, sweepNext % chunkCount(tableCap(t)), SWEEP_STEP_MAX)) sweepNext++;
  if (expiredByMe == before) return;
  for (let k = 0; k < SWEEP_STEP_HELPS && root() == t && tableNext(t) != 0; k++) helpMigrate(t);
}

/** Replaces the key's entry with a copy that expires at `expires` (0: never).
 *  R_DONE, or R_REFUSED if the key is absent. */
export function retimeEntry(kp: usize, kl: usize, h: u32, expires: f64): i32 {
  for (let attempt = 0; attempt < MAX_RETRIES; attempt++) {
    const st = locate(kp, kl, h);
    if (st < 0) return st;
    const w = locW;
    if (w == 0 || (slotLo(w) & SLOT_DEL) != 0) return R_REFUSED;
    const e = slotEntry(w);
    if (expiredAt(e)) return R_REFUSED;
    const kind = blockKind(e);
    let n: usize;
    if (kind == KIND_COUNTER) {
      const cw = counterLoad(e);
      if (!counterSealed(cw) && counterCas(e, cw, cw ^ COUNTER_SEAL) != cw) continue;
      n = makeCounter(kp, kl, unsealed(cw));
    } else {
      n = makeEntry(kind, kp, kl, entryValue(e), <usize>entryValueLen(e), false, expires);
    }
    if (n == 0) return ST_CAPACITY;
    if (kind == KIND_COUNTER) store<f64>(n + E_EXPIRES, expires); // still private
    // Gaining or losing the expiry word changes the entry's bytes (a
    // counter always has it): the namespace's share follows, within quota.
    const tag = nsTagOf(kp);
    const grow = <i64>entryBytes(n) - <i64>entryBytes(e);
    if (grow > 0) {
      const q = nsReserve(tag, 0, grow);
      if (q < 0) {
        freeSized(n, entryBytes(n));
        return q;
      }
    }
    chunkLower(locT, locS, expires);
    if (slotCas(locS, w, slotWord(h, <u32>n)) == w) {
      nsCommit();
      if (grow < 0) nsAdd(tag, 0, grow);
      retire(e);
      return R_DONE;
    }
    if (grow > 0) nsUndo();
    freeSized(n, entryBytes(n));
  }
  return ST_CONTENTION;
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
const NS_REGISTRY_TAG: u32 = 1;
let rng: u32 = 0;

@inline function policy(): u32 {
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
function stampNew(n: usize, old: usize): void {
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

@inline function nextRandom(): u32 {
  if (rng == 0) rng = <u32>me | 1;
  rng ^= rng << 13;
  rng ^= rng >> 17;
  rng ^= rng << 5;
  return rng;
}

/** Candidates an eviction compares before it picks one (Redis's eviction
 *  pool, in spirit): a round of SAMPLES slots may meet few entries (empty,
 *  deleted or moved slots, other classes), and one that met only a hot key
 *  evicted it (issue 15). */
const MIN_CANDIDATES: i32 = 5;

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
        if (removeAt(t, s, w, STAT_EXPIRATIONS)) return true;
        continue;
      }
      candidates++;
      // The least used goes first, the least recently used among equals:
      // a key used in many ticks outlives a burst of keys used once (scans).
      const info = blockInfo(e);
      const freq = (info >> FREQ_SHIFT) & FREQ_MASK;
      const age = (nowStamp - (info >> STAMP_SHIFT)) & STAMP_MASK;
      const score = ((FREQ_MASK - freq) << 20) | age;
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
      if (removeAt(bestTable, bestSlot, bestWord, STAT_EVICTIONS)) return true;
      // Changed meanwhile (written, deleted, moved): compare afresh.
      best = 0;
      candidates = 0;
    }
  }
  return false;
}

/** Entries that count against the map's maxEntries: all but the registry
 *  of namespace names (which is never evicted either). */
@inline function boundedSize(): i64 {
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
function makeRoom(n: usize): i32 {
  const max = atomic.load<u32>(nsRecord(0) + N_MAP_MAX_ENTRIES);
  if (pressure > 0 && policy() == EVICT_LRU) {
    // Memory ran out lately (evictUntil): while its class has few blocks at
    // hand, the new entry evicts one of its class, whose block comes back
    // one grace period later, for a later insert.
    pressure--;
    const size = blockSize(n);
    if (freeCount(size) < stock() && evictOne(classOf(size))) return 1;
  }
  // A table held at its size (fullSize): one entry goes per insert, of the
  // new entry's class if it has any, so that its memory serves the next.
  if (max == 0 || boundedSize() < <i64>max) return fullSize() && (evictOne(classOf(blockSize(n))) || evictOne()) ? 1 : 0;
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

/** Entries one full-memory eviction removes (about 100 µs of work). */
const EVICT_BATCH: i32 = 64;

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
function evictForTable(t: usize, cap: u32, last: bool): bool {
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
    // A larger table whose block lies free needs no eviction at all.
    for (let big = cap << 1; big <= MAX_CAP && tableSize(big) <= <usize>hdrLoad(H_LIMIT); big <<= 1) {
      t2 = newTable(big, true);
      if (t2 != 0) {
        const reserve = migrationReserve();
        publishTable(t, t2, big, wantedCap(reserve), reserve, true);
        return true;
      }
    }
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
 * When memory is full: evicts a batch, whose memory the caller reclaims,
 * among the entries whose block is of class `cls`, the class the caller
 * needs a block of. Under 'lru' free memory is not merged (alloc.ts), so an
 * evicted entry's memory serves only entries of its own class: evicting
 * others would not make room, and when threads insert entries of several
 * sizes, it would empty the map (each thread evicting the others' entries,
 * whose memory it cannot use). Within a class, the choice is the usual one
 * (evictOne). So the map is a cache per size class once memory is full, as
 * memcached's slab classes are: each class keeps the memory it was given.
 * Returns whether it evicted any.
 */
function evictForMemory(cls: i32): bool {
  if (policy() != EVICT_LRU) return false;
  // An evicted entry's memory goes back to the allocator by itself (its
  // slot turns DELETED, see layout.ts), so a small batch is enough, and no
  // insert pays for much more than its own room.
  let n: i64 = 0;
  for (let k: i32 = 0; k < EVICT_BATCH; k++) if (evictOne(cls)) n++;
  return n > 0;
}

export function setBounds(maxEntries: u32, eviction: u32): void {
  atomic.store<u32>(nsRecord(0) + N_MAP_MAX_ENTRIES, maxEntries);
  atomic.store<u32>(nsRecord(0) + N_EVICTION, eviction);
}
