// Tables and their migration: making a table, choosing one for a
// migration from the memory at hand (tableFor), publishing it, and the
// incremental move of the root's slots into it (helpMigrate, moveSlot,
// copyInto), which every writer helps with. map.ts has the lookup and the
// write protocol that freeze slots as they go; read its overview first.

import { stampDeleted } from "./rev";
import { alloc, allocFree, allocReserved, freeSized, heapTop, keepTable, lastFresh, searchAllRegions, takeKeptTable } from "./alloc";
import { retire } from "./epoch";
import { faultPoint } from "./fault";
import { evictForTable, mergeFree, policy } from "./evict";
import { chunkLower, now } from "./expiry";
import { keyEquals } from "./keys";
import {
  ANON_TOMB, H_TABLES_RETIRED, hdrAdd, SAFE_NEVER, TB_SAFE, H_EPOCH, TABLE_OUTGROWN, TABLE_FULL_SIZE, H_LIMIT,
  EVICT_LRU, H_MIN_CAP, H_RESERVE, H_ROOT, H_THREAD_HIGH, KIND_TABLE, SLOT_DEL, SLOT_FROZEN, SLOT_MOVED, SLOT_MOVED_EMPTY,
  TABLE_HEADER, TB_CAP, TB_CLAIM, TB_MOVED, TB_NEXT, TB_USED, TB_RESERVE, TB_COPIED, B_INFO, blockInfo, setBlockInfo,
  setBlockLink, entryKey, entryKeyLen, hdrCas, hdrLoad, hdrStore, sizeLoad, slotAddr, slotCas, slotEntry, slotHash,
  slotLo, slotLoad, slotWord, tableAdd, tableCap, tableCas, tableField, tableNext, tableSize, tableSlots, TB_SLOTS,
  TB_CHUNKS, NO_EXPIRY, chunkAddr, chunkCount, tableChunks, entryExpires,
  intentsLoad,
} from "./layout";
import { CHUNK, copy, find, growAt, tryInsert } from "./map";


/** A zeroed, unpublished table of `cap` slots, or 0. `freeOnly`: its slots
 *  block only from freed memory (allocFree), never from the bump pointer;
 *  `slotsBlock`: that block, given (of cap * 8 bytes' class), or 0. */
export function newTable(cap: u32, freeOnly: bool = false, slotsBlock: usize = 0): usize {
  const kept = takeKeptTable(cap);
  if (kept != 0) {
    // Its blocks hold what its last use left: cleared, as a reused block is.
    const slots = tableSlots(kept);
    atomic.store<u64>(slots, 0);
    memory.fill(slots + 8, 0, (<usize>cap << 3) - 8);
    return initTable(kept, cap, slots, tableChunks(kept));
  }
  const t = allocReserved(TABLE_HEADER);
  if (t == 0) {
    if (slotsBlock != 0) freeSized(slotsBlock, <usize>cap << 3);
    return 0;
  }
  const slots = slotsBlock != 0 ? slotsBlock : freeOnly ? allocFree(<usize>cap << 3) : allocReserved(<usize>cap << 3);
  // A never-used block is already zero: a growing table costs no pause to
  // clear (only a reused block, of a table that was freed, is cleared).
  const slotsFresh = slotsBlock == 0 && lastFresh;
  const nChunks = chunkCount(cap);
  const chunks: usize = slots == 0 ? <usize>0 : allocReserved(<usize>nChunks << 3);
  if (chunks == 0) {
    if (slots != 0) freeSized(slots, <usize>cap << 3);
    freeSized(t, TABLE_HEADER);
    return 0;
  }
  if (!slotsFresh) {
    atomic.store<u64>(slots, 0);
    memory.fill(slots + 8, 0, (<usize>cap << 3) - 8);
  }
  return initTable(t, cap, slots, chunks);
}

/** Writes the header of table t (cap slots, zeroed) and its chunks' bounds. */
function initTable(t: usize, cap: u32, slots: usize, chunks: usize): usize {
  // The first word of each block atomically: a thread popping a free list
  // with a stale head may still read it as a link (alloc.ts popAt).
  setBlockLink(t, 0);
  memory.fill(t + B_INFO, 0, TABLE_HEADER - B_INFO);
  setBlockInfo(t, KIND_TABLE);
  store<u32>(t + TB_CAP, cap);
  store<u32>(t + TB_SLOTS, <u32>slots);
  store<u32>(t + TB_CHUNKS, <u32>chunks);
  const nChunks = chunkCount(cap);
  for (let c: u32 = 0; c < nChunks; c++) atomic.store<u64>(chunkAddr(chunks, c), <u64>NO_EXPIRY);
  return t;
}

/** Frees a table that was never published: under 'lru' it is kept whole
 *  (alloc.ts keepTable) for the migration it was made for, which another
 *  thread's table won or which must wait. */
export function freeTable(t: usize): void {
  if (policy() == EVICT_LRU) {
    keepTable(t);
    return;
  }
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
@inline export function tombFor(t: usize, e: usize): usize {
  const safe = tableField(t, TB_SAFE);
  // Epochs only grow; the signed difference stays right across wraparound.
  return safe != SAFE_NEVER && <i32>(hdrLoad(H_EPOCH) - safe) >= 0 ? ANON_TOMB : e;
}

/** Largest table: its slots block must stay a size class (below 2^31 B). */
export const MAX_CAP: u32 = 0x10000000;

/** Entries a migration target must hold: the live ones, plus one per thread
 *  that may be finishing an insert into the source it began before `next`
 *  was set (the target's TB_RESERVE). */
@inline export function migrationReserve(): i64 {
  // With the new keys of atomic commits in flight: their intents are copied too.
  const live = sizeLoad() + intentsLoad();
  return (live > 0 ? live : 0) + <i64>hdrLoad(H_THREAD_HIGH) + 1;
}

/** Whether a table of `cap` slots takes `reserve` entries below its growth
 *  mark, with a chunk to spare. */
@inline export function holds(cap: u32, reserve: i64): bool {
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
export function tableFor(rootCap: u32, wanted: u32, reserve: i64): usize {
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
  // A table larger than wanted only from a block that lies free, and not
  // under 'lru', where free memory is merged: a merged run taken for a table
  // would evict the entries it could hold.
  const top = policy() == EVICT_LRU ? MAX_CAP : wanted > rootCap ? wanted : rootCap;
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
export function wantedCap(reserve: i64): u32 {
  let cap = hdrLoad(H_MIN_CAP);
  while (<i64>cap < reserve * 2 + <i64>CHUNK && cap < MAX_CAP) cap <<= 1;
  return cap;
}

/** Starts migrating the root table `t` into a new table sized for the live
 *  entries (at most half full afterwards), or the best the memory at hand
 *  allows (tableFor); no-op if one is under way or no table is at hand.
 *  `grow`: started because t is full (not to drop deleted entries). */
export function startMigration(t: usize, grow: bool = false): void {
  if (root() != t || tableNext(t) != 0) return;
  const reserve = migrationReserve();
  const wanted = wantedCap(reserve);
  let t2 = tableFor(tableCap(t), wanted, reserve);
  if ((t2 == 0 || pickedCap < wanted) && policy() == EVICT_LRU && mergeFree(0)) {
    // Under 'lru' free memory is merged only on demand: the table the map
    // wants (its entries shrank, or it fills again after a size gave up its
    // memory) may lie in it.
    if (t2 != 0) freeTable(t2);
    searchAllRegions(true);
    t2 = tableFor(tableCap(t), wanted, reserve);
    searchAllRegions(false);
  }
  if (t2 == 0) return;
  publishTable(t, t2, pickedCap, wanted, reserve, grow);
}

/** Publishes the private table t2 (cap slots) as root t's migration target,
 *  or frees it if another thread's came first. */
export function publishTable(t: usize, t2: usize, cap: u32, wanted: u32, reserve: i64, grow: bool): void {
  if (cap < wanted) setBlockInfo(t2, KIND_TABLE | TABLE_FULL_SIZE); // not yet published
  store<u32>(t2 + TB_RESERVE, <u32>reserve);
  store<u32>(t2 + TB_SAFE, SAFE_NEVER);
  // Order: publishes the zeroed table; from here on writers freeze t's slots.
  if (tableCas(t, TB_NEXT, 0, <u32>t2) != 0) {
    freeTable(t2);
    return;
  }
  if (grow && cap > tableCap(t) && heapTop() <= <usize>hdrLoad(H_LIMIT) >> 1) {
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
export function helpMigrate(t: usize): void {
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
export function finishAll(t: usize): void {
  while (root() == t && tableNext(t) != 0) helpMigrate(t);
}

/** Freezes slot s of t (word w as last seen), copies its live entry into
 *  t's next table, and marks it MOVED. Idempotent; any thread may help. */
export function moveSlot(t: usize, s: usize, w: u64): void {
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
      // A deletion is numbered before its key leaves with this table (rev.ts).
      else stampDeleted(slotEntry(w));
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

