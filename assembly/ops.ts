// The operations the host calls, each between enter() and leave() (see
// index.ts): every write but increment (update, one protocol for set, swap,
// getOrSet, compare-and-swap, compare-and-delete and delete), increment,
// and what a namespace's drop and the size need. Lookup and the publish
// step they share are in map.ts.

import { freeSized } from "./alloc";
import { me, reclaim, retire } from "./epoch";
import { faultPoint } from "./fault";
import { NS_REGISTRY_TAG, boundedSize, evictUntil, gaveBack, makeRoom, stampNew, touch } from "./evict";
import { chunkLower, counterExpires, expiredAt } from "./expiry";
import { holds, root, startMigration, tombFor } from "./table";
import { countOp, nsAdd, nsCommit, nsReserve, nsUndo } from "./ns";
import { stamp, stampDeleted, succeed } from "./rev";
import {
  TB_KEYED, COUNTER_SEAL, KIND_COUNTER, SLOT_DEL, blockKind, counterCas, counterLoad, counterSealed, entryKey,
  entryKeyLen, entryBytes, counterSize, entryValue, entryValueLen, sizeAdd, slotAddr, slotCas, slotEntry, slotHash,
  slotLo, slotLoad, slotWord, tableAdd, tableCap, tableNext, tableSlots, entryExpires, E_EXPIRES, STAT_EXPIRATIONS,
  STAT_CAS_FAILURES, STAT_CONTENTION, STAT_DELETES, STAT_HITS, STAT_KEY_BYTES, STAT_MISSES, STAT_SETS,
  STAT_VALUE_BYTES, statAdd, nsTagOf, MAX_NAMESPACES, NS_TAG_BYTES,
} from "./layout";
import { ST_CAPACITY, ST_CONTENTION, ST_NOT_COUNTER, ST_NOT_FOUND, ST_OVERFLOW } from "./status";
import {
  MAX_RETRIES, MAX_SAFE, copyOut, find, locS, locT, locW, locate, makeCounter, makeEntry, tryInsert, unsealed,
  valueEquals, clearPending,
} from "./map";

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
      if (mode == MODE_CAS && expectRev != 0) {
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
      if (present && (mode == MODE_CAS || mode == MODE_CAD) && !expected(e, cw, ep, el, ekind)) {
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
          clearPending();
          return room;
        }
        if (room == 1) {
          roomMade = true;
          roomRetry = true;
          clearPending();
          continue;
        }
      }
      stampNew(n, linked ? e : 0);
      succeed(n, present ? e : 0);
      const grow = <i64>entryBytes(n) - (linked ? <i64>entryBytes(e) : 0);
      const q = nsReserve(tag, linked ? 0 : 1, grow > 0 ? grow : 0);
      if (q < 0) {
        clearPending();
        return q;
      }
      if (grow < 0) shrink = grow;
      chunkLower(locT, locS, entryExpires(n)); // before publishing: see chunkLower
    }
    if (w == 0) {
      const r = tryInsert(h, n);
      if (r == 1) {
        account(mode, false, 0, n, kl);
        lastRevision = stamp(n);
        return result;
      }
      nsUndo();
      clearPending();
      if (r < 0) return r;
      continue;
    }
    faultPoint();
    // A deletion keeps the entry in the slot until it is numbered (rev.ts).
    const nw = deleting ? slotWord(h, <u32>e | SLOT_DEL) : slotWord(h, <u32>n);
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
      if (deleting) {
        settleDeleted(locT, locS, h, e);
        // A delete gives a block back: one eviction fewer ahead (evictUntil).
        gaveBack();
        return result;
      }
      lastRevision = stamp(n);
      // The entry w held (live, or a keyed tombstone being replaced).
      retire(slotEntry(w));
      return result;
    }
    if (!deleting) nsUndo();
    clearPending();
  }
  return ST_CONTENTION;
}

/** The revision a compare-and-swap or compare-and-delete expects of the
 *  key's entry instead of a value (`update`'s, host.ts): its modRevision,
 *  or 0 for "absent"; -1 (the default, restored by every write) compares
 *  values. */
export let expectRev: i64 = -1;
export function setExpectRev(r: i64): void {
  expectRev = r;
}
/** The modRevision of the entry the last successful set-like write
 *  published. */
export let lastRevision: u64 = 0;

/** Whether live entry e (located: numbered) is what a compare expects. */
@inline function expected(e: usize, cw: u64, ep: usize, el: usize, ekind: u32): bool {
  if (expectRev >= 0) return <i64>stamp(e) == expectRev;
  return valueEquals(e, cw, ep, el, ekind);
}

/**
 * After the CAS that turned slot s of table t (hash h) into a keyed
 * tombstone of entry e: numbers the deletion, then lets the slot drop e for
 * ANON_TOMB and frees it, unless the table must keep it (tombFor). If the
 * slot changed meanwhile, whoever changed it frees e: a write that replaced
 * the tombstone, or the migration that froze it.
 */
export function settleDeleted(t: usize, s: usize, h: u32, e: usize): void {
  stampDeleted(e);
  faultPoint();
  const tomb = tombFor(t, e);
  if (tomb == e) {
    tableAdd(t, TB_KEYED, 1);
    return;
  }
  const w = slotWord(h, <u32>e | SLOT_DEL);
  if (slotCas(s, w, slotWord(h, <u32>tomb | SLOT_DEL)) == w) retire(e);
}

/** Statistics of a write that took effect (this thread's stripe, and its
 *  namespace's counters). */
@inline export function account(mode: i32, present: bool, old: usize, n: usize, kl: usize): void {
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
  // Every increment publishes a new entry (never an add in place), so that
  // its value and its revision change in one step (rev.ts).
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
      base = unsealed(counterLoad(e));
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
    succeed(n, present ? slotEntry(w) : 0);
    chunkLower(locT, locS, entryExpires(n));
    if (w == 0) {
      const r = tryInsert(h, n);
      if (r == 1) {
        account(MODE_SET, false, 0, n, kl);
        lastRevision = stamp(n);
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
      lastRevision = stamp(n);
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
