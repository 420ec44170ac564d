// Expiry (TTL).
//
// An entry may carry an absolute expiry (ms on the hosts' shared clock). From
// that instant every operation reads it as absent, and a write replaces it.
// Expired entries are also removed without being read, by sweeping: each
// table keeps, per chunk of CHUNK slots (map.ts), the earliest expiry of any
// entry published there (lowered before publishing, so never later than the
// truth). `size` and purgeExpired() sweep every chunk that is due, and each
// write takes one bounded step through the chunks in turn (at most
// SWEEP_STEP_MAX removals): the work is proportional to what has expired
// (plus one word per chunk), never a stop of the whole map, and no write
// pays for more than a step.
//
// Removing an entry at its slot (removeAt) lives here too: a sweep, an
// eviction (evict.ts) and a retime share it.

import { freeSized } from "./alloc";
import { me, retire } from "./epoch";
import { faultPoint } from "./fault";
import { clearCapacityCause } from "./evict";
import { countOp, nsAdd, nsCommit, nsReserve, nsUndo } from "./ns";
import {
  KIND_INTENT, TB_KEYED, COUNTER_SEAL, KIND_COUNTER, SLOT_DEL, SLOT_FROZEN, TB_USED, blockKind, counterCas, counterLoad,
  counterSealed, entryKey, entryKeyLen, entryBytes, entryValue, entryValueLen, sizeAdd, sizeLoad, slotAddr, slotCas,
  slotEntry, slotHash, slotLo, slotLoad, slotWord, tableAdd, tableCap, tableField, tableNext, tableSlots, NO_EXPIRY,
  SWEEP_SHIFT, chunkAddr, chunkCount, tableChunks, entryExpires, E_EXPIRES, H_TIME_BASE, HEADER, STAT_EXPIRATIONS,
  nsRecord, N_TTL_USED, STAT_KEY_BYTES, STAT_VALUE_BYTES, statAdd, nsTagOf, NS_TAG_BYTES,
} from "./layout";
import { ST_CAPACITY, ST_CONTENTION } from "./status";
import { locate, makeEntry, locW, MAX_RETRIES, tryInsert, locS, locT, makeCounter, copy, unsealed, CHUNK } from "./map";
import { R_REFUSED, R_DONE, increment, settleDeleted } from "./ops";
import { root, holds, helpMigrate, startMigration } from "./table";
import { stamp, succeed } from "./rev";

/** The calling thread's clock for this operation, set by index.ts. */
export let now: f64 = 0;
/** Expiry of a counter that increment creates (the host's defaultTtl). */
export let counterExpires: f64 = 0;
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
  clearCapacityCause();
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
export function chunkLower(t: usize, s: usize, x: f64): void {
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
export function removeAt(t: usize, s: usize, w: u64, stat: i32): bool {
  faultPoint();
  const lo = slotLo(w);
  if (lo < 8 || (lo & (SLOT_DEL | SLOT_FROZEN)) != 0) return false;
  const e = slotEntry(w);
  const h = slotHash(w);
  // An atomic commit's intent is settled by a writer of its key, not removed.
  if (blockKind(e) == KIND_INTENT) return false;
  if (blockKind(e) == KIND_COUNTER) {
    // Sealed first, as by any writer that replaces a counter: no increment
    // may land on it once it is gone.
    const cw = counterLoad(e);
    if (!counterSealed(cw) && counterCas(e, cw, cw ^ COUNTER_SEAL) != cw) return false;
  }
  // Keyed until the deletion is numbered (rev.ts, ops.ts settleDeleted).
  if (slotCas(s, w, slotWord(h, <u32>e | SLOT_DEL)) != w) return false;
  // No call or loop before the counts (see tryInsert).
  const kp = entryKey(e);
  const kl = <usize>entryKeyLen(e);
  sizeAdd(-1);
  nsAdd(nsTagOf(kp), -1, -<i64>entryBytes(e));
  countOp(nsTagOf(kp), stat);
  if (stat == STAT_EXPIRATIONS) expiredByMe++;
  statAdd(me, STAT_KEY_BYTES, -<i64>(kl - NS_TAG_BYTES));
  statAdd(me, STAT_VALUE_BYTES, -<i64>entryValueLen(e));
  settleDeleted(t, s, h, e);
  return true;
}

/** Starts a migration of the root table (which drops tombstones and frees
 *  what they hold) once tombstones outnumber live entries and fill a
 *  quarter of it. */
export function maybeCompact(): void {
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
    succeed(n, e);
    chunkLower(locT, locS, expires);
    if (slotCas(locS, w, slotWord(h, <u32>n)) == w) {
      nsCommit();
      if (grow < 0) nsAdd(tag, 0, grow);
      stamp(n);
      retire(e);
      return R_DONE;
    }
    if (grow > 0) nsUndo();
    freeSized(n, entryBytes(n));
  }
  return ST_CONTENTION;
}
