// The hash table: entries, lookup and the steps every write shares (locate,
// tryInsert). The operations are in ops.ts, tables and their migration in
// table.ts, keys (hash, equality) in keys.ts, expiry in expiry.ts, eviction
// in evict.ts, iteration in scan.ts, the debug walk in verify.ts. Read
// index.ts's Overview first; layout.ts has the slot states.

import { alloc, allocSplit, classOf, classSize, defragBlock } from "./alloc";
import { reclaim, tid } from "./epoch";
import { faultPoint } from "./fault";
import { SPIN_ROUNDS, clearNoLargerBlock, mergeFree, evictForTable, evictUntil, policy, spinRanOut, stillPinned } from "./evict";
import { evacuate } from "./evacuate";
import { expiredAt, now } from "./expiry";
import { finishAll, helpMigrate, holds, moveSlot, root, startMigration, tableFor, tombFor } from "./table";
import { bytesEqual, keyEquals } from "./keys";
import { nsCommit } from "./ns";
import { stamp, stampDeleted } from "./rev";
import { resolveRead, settleIntent } from "./commit";
import {
  H_TABLES_RETIRED, TB_KEYED, COUNTER_SEAL, H_MIN_CAP, KIND_COUNTER, SLOT_DEL, SLOT_FROZEN, SLOT_MOVED,
  SLOT_MOVED_EMPTY, TB_USED, TB_RESERVE, TB_COPIED, blockKind, counterLoad, counterSealed, entryInit, entryKey,
  entrySize, counterSize, entryValue, entryValueLen, hdrLoad, sizeAdd, sizeLoad, slotAddr, slotCas, slotEntry,
  slotHash, slotLo, slotLoad, slotWord, tableAdd, tableCap, tableField, tableNext, tableSlots, E_EXPIRES, EVICT_LRU,
  KIND_STRING, NUM_CLASSES, DEFRAG, KIND_INTENT, intentsAdd, entryTimed, E_REV,
} from "./layout";

import { ST_CAPACITY } from "./status";
export { ST_BAD_MEMORY, ST_CAPACITY, ST_NOT_ATTACHED, ST_NOT_FOUND } from "./status";

/** Slots a helper moves per claim: small enough to keep a write's latency low. */
export const CHUNK: u32 = 64;
/** A table starts migrating at 3/4 of its slots used (live + deleted)... */
@inline export function growAt(cap: u32): u32 { return (cap >> 1) + (cap >> 2); }
/** ...and refuses inserts at 7/8 if it could not (probe chains stay short). */
@inline function fullAt(cap: u32): u32 { return cap - (cap >> 3); }
/** Retries of one operation that lost CAS races before reporting contention. */
export const MAX_RETRIES: i32 = 1 << 20;
/** Counters stay within the JS safe-integer range (2^53 - 1). */
export const MAX_SAFE: i64 = 9007199254740991;

/** Set by an output that did not fit: the host fetches it with takePending. */
export let pending: usize = 0;

// ---------------------------------------------------------------------------
// Entries

/** Copies n bytes between 8-padded buffers (entries, scratch): whole words
 *  for short runs, where memory.copy's call costs more than the copy. */
@inline export function copy(dst: usize, src: usize, n: usize): void {
  if (n > 256) {
    memory.copy(dst, src, n);
    return;
  }
  // Safety: both buffers are padded to a multiple of 8 past n (entry key
  // and value areas are align8'ed; the scratch buffer has slack after every
  // field), so the last word stays inside them.
  for (let i: usize = 0; i < n; i += 8) store<u64>(dst + i, load<u64>(src + i));
}

/** Copies a key's kl bytes to an entry's key area exactly: whole words,
 *  then the tail, never past its end (the key area is only 4-aligned and
 *  the value, or the next block, may follow at once). The source is padded. */
@inline export function copyKey(dst: usize, src: usize, kl: usize): void {
  let i: usize = 0;
  for (; i + 8 <= kl; i += 8) store<u64>(dst + i, load<u64>(src + i));
  if (i + 4 <= kl) {
    store<u32>(dst + i, load<u32>(src + i));
    i += 4;
  }
  for (; i < kl; i++) store<u8>(dst + i, load<u8>(src + i));
}

/** A slot word met by a lookup, with its key: numbers the change it shows
 *  (rev.ts) if no one has yet, before the caller uses it. */
@inline export function observe(w: u64): void {
  const e = slotEntry(w);
  if ((slotLo(w) & SLOT_DEL) == 0) stamp(e);
  else stampDeleted(e);
}

/** Allocates inside an operation, reclaiming once if memory is full. Only at
 *  points where this thread holds no reference into the map. */
function allocFresh(size: usize): usize {
  clearNoLargerBlock();
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
  // splits first: evict.ts fromFree.)
  if (b == 0 && policy() != EVICT_LRU) b = splitFree(size);
  // Then the live entries of a window of free memory moved out of it
  // (evacuate.ts): free memory in pieces that no merge joins.
  if (b == 0 && policy() != EVICT_LRU) b = evacuate(size);
  return b;
}

/** Merges free memory across size classes, or waits (a bounded spin) for
 *  the thread doing it. Returns whether memory may have been merged; with
 *  `want`, the block it kept is defragBlock (0 if it only waited). */
function defragOrWait(want: usize): bool {
  if (mergeFree(want)) return true;
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

/**
 * When memory is full: finishes the migration under way, or migrates the
 * root table if it has DELETED slots that keep their entry, or is far too
 * large for its live entries, so that their memory can be reclaimed.
 * Returns whether it did either. Rare: deleted entries are otherwise freed
 * at once (tombFor).
 */
export function compact(): bool {
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

export function makeEntry(kind: u32, kp: usize, kl: usize, vp: usize, vl: usize, fresh: bool, expires: f64): usize {
  const timed = expires != 0;
  const size = entrySize(kl, vl, timed);
  const e = fresh ? allocFresh(size) : alloc(size);
  if (e == 0) return 0;
  entryInit(e, kind, <u32>kl, <u32>vl, timed);
  if (timed) store<f64>(e + E_EXPIRES, expires);
  copyKey(entryKey(e), kp, kl);
  if (vl != 0 && vp != 0) copy(entryValue(e), vp, vl); // vp 0: the host writes it (makeEntryToFill)
  return e;
}

export function makeCounter(kp: usize, kl: usize, v: i64, fresh: bool = false): usize {
  const e = fresh ? allocFresh(counterSize(kl)) : alloc(counterSize(kl));
  if (e == 0) return 0;
  entryInit(e, KIND_COUNTER, <u32>kl, 8, true);
  copyKey(entryKey(e), kp, kl);
  store<i64>(entryValue(e), v);
  return e;
}

@inline export function unsealed(w: u64): i64 {
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
export function valueEquals(e: usize, cw: u64, ep: usize, el: usize, ekind: u32): bool {
  const kind = blockKind(e);
  if (kind != ekind) return false;
  if (kind == KIND_COUNTER) return unsealed(cw) == load<i64>(ep);
  return <usize>entryValueLen(e) == el && bytesEqual(entryValue(e), ep, el);
}

// ---------------------------------------------------------------------------
// Lookup

/** Set by find(): the address of the slot it found the entry in, if a
 *  thread may validate a copy of its value by that slot alone (the host's
 *  read cache, host/read-cache.ts): a plain slot (not frozen, not an atomic
 *  commit's intent) of an entry without an expiry. Else 0. */
export let foundSlot: usize = 0;
/** With foundSlot: the entry, and the low word of its (numbered) revision. */
export let foundEntry: usize = 0;
export let foundRev: u32 = 0;

/** The live entry for the key, or 0. Writes shared memory only to number
 *  a change not yet numbered (rev.ts). */
export function find(kp: usize, kl: usize, h: u32): usize {
  foundSlot = 0;
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
          let v: usize;
          if (blockKind(e) == KIND_INTENT) {
            v = resolveRead(e); // an atomic commit's, read as what it says now
          } else {
            observe(w);
            v = (lo & SLOT_DEL) != 0 || expiredAt(e) ? 0 : e;
          }
          if ((lo & SLOT_FROZEN) == 0) {
            if (v == e && !entryTimed(e)) {
              foundSlot = slotAddr(slots, i);
              foundEntry = e;
              foundRev = <u32>atomic.load<u64>(e + E_REV); // numbered by observe()
            }
            return v;
          }
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
export let locT: usize = 0;
export let locS: usize = 0;
export let locW: u64 = 0;

/**
 * Finds the key's slot for writing, in the newest table it may be written
 * in, helping migration on the way. Returns 0 with:
 *   locW == 0               locS is the EMPTY slot ending the key's chain
 *   locW live or DEL (key)  locS is the key's own slot (not frozen)
 * or ST_CAPACITY when the table is full and cannot grow.
 */
export function locate(kp: usize, kl: usize, h: u32): i32 {
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
        // An atomic commit's intent: decided (a pending commit is aborted)
        // and settled, then the slot is read again.
        if (blockKind(slotEntry(w)) == KIND_INTENT) {
          settleIntent(t, s, w);
          continue;
        }
        observe(w);
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
export function tryInsert(h: u32, e: usize, counted: bool = true): i32 {
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
  // An atomic commit's intent is counted when it settles (commit.ts).
  if (counted) {
    sizeAdd(1);
    nsCommit();
  } else {
    intentsAdd(1);
  }
  return 1;
}
