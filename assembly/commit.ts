// Atomic commits: several keys checked and written as one change, at one
// revision, or not at all. Read index.ts's Overview first, then rev.ts.
//
// The design is Harris, Fraser and Pratt's multi-word CAS (2002) cut to
// this map: a commit record holds one status word; the commit's owner
// installs an INTENT in the slot of each of its keys (one CAS each, from the
// slot word it read), then decides the status with one CAS; the intents are
// then replaced by what the commit made of each key (SETTLED, one CAS per
// slot). An intent is an entry of the key (so probing, migration and key
// equality work on it unchanged) whose value area names the slot word it
// replaced (`prev`), the entry the commit writes (`next`, 0 for a delete)
// and the commit record.
//
// What HFP's helpers do by finishing each other's installs, this does by
// aborting: a thread that meets a PENDING commit's intent on its way to
// write (a writer, another commit, a migration helper finishing the table's
// move) aborts it (status 0 -> ABORTED), settles the slot back to `prev`,
// and goes on; the aborted commit's owner fails its decision and starts
// again (a bounded number of times, with a random pause, then ERR_CONFLICT).
// So no thread ever waits for another: a commit whose owner died is undone
// by the first thread that needs one of its keys, or, if it was decided,
// finished by it. The price is obstruction-freedom instead of lock-freedom
// for commits (two commits on the same keys can abort each other; the pause
// makes that die out); single-key operations stay lock-free, and readers
// never write but to number a decided commit.
//
// Readers (get, has, scans) meeting an intent decide nothing: PENDING or
// ABORTED reads as `prev`, decided as `next`. The status moves 0 ->
// DECIDED -> revision; whoever meets DECIDED numbers it (rev.ts: an add to
// the map's revision, then a CAS of the status), so every key of the commit
// takes effect at the same instant, that add, and carries the same
// modRevision. Before it a reader of any of the keys reads the old values;
// after it, the new ones: no reader sees some of the writes without the
// others. A thread killed at any instant leaves either a PENDING commit
// (undone by whoever meets it), or a decided one (finished by whoever meets
// it); its intents and record are freed by the threads that settle them.
//
// Counts (size, namespace entries and bytes, statistics) change when a slot
// settles, by the thread whose CAS settled it, so a commit's size changes
// are exact once it has settled, and a dead thread's settle-CAS is counted
// or was not made.

import { alloc, freeSized } from "./alloc";
import { retire } from "./epoch";
import { nextRandom, makeRoom, stampNew } from "./evict";
import { chunkLower, expiredAt } from "./expiry";
import { faultPoint } from "./fault";
import { hashKey } from "./keys";
import {
  ANON_TOMB, COMMIT_ABORTED, COMMIT_BYTES, COMMIT_DECIDED, C_REFS, C_STATUS, E_EXPIRES, E_REV, INTENT_BYTES,
  I_COMMIT, I_NEXT, I_OP, I_PREV, KIND_COMMIT, KIND_COUNTER, KIND_INTENT, N_BYTES, N_ENTRIES, N_MAX_BYTES,
  N_MAX_ENTRIES, REV_DELETED, REV_MASK, SLOT_DEL, STAT_EXPIRATIONS, TB_KEYED, align8, blockKind, counterLoad,
  entryBytes, entryExpires, entryInit, entryKey, entryKeyLen, entrySize, entryValue, nsRecord, nsTagOf, sizeAdd, slotCas,
  slotEntry, slotHash, slotLo, slotWord, tableAdd, intentsAdd,
} from "./layout";
import { MAX_RETRIES, MAX_SAFE, locS, locT, locW, locate, makeCounter, makeEntry, tryInsert, unsealed } from "./map";
import { countOp, nsAdd } from "./ns";
import { MODE_DELETE, MODE_SET, account } from "./ops";
import { nextRevision, stamp, succeed } from "./rev";
import { ST_CAPACITY, ST_CONTENTION, ST_NOT_COUNTER, ST_OVERFLOW, ST_QUOTA } from "./status";
import { tombFor } from "./table";

/** What a commit does to a key. */
export const OP_CHECK: u32 = 0;
export const OP_SET: u32 = 1;
export const OP_DELETE: u32 = 2;
export const OP_INCREMENT: u32 = 3;

// The host's records, one per key, back to back in its scratch buffer:
//   +0  u32 op           OP_*
//   +4  u32 keyLen
//   +8  u32 valueLen
//   +12 u32 valueKind
//   +16 f64 expires      of a set's value, or of a counter it creates (0: none)
//   +24 f64 check        the modRevision the key must have (0: absent), or -1
//   +32 f64 delta        an increment's
//   +40 u32 hash, +44 u32 intent, +48 u32 next: the core's
//   +52 u32 size         bytes of this record
//   +64 key bytes, padded to 8, then value bytes
const R_OP: usize = 0;
const R_KEY_LEN: usize = 4;
const R_VALUE_LEN: usize = 8;
const R_VKIND: usize = 12;
const R_EXPIRES: usize = 16;
const R_CHECK: usize = 24;
const R_DELTA: usize = 32;
const R_HASH: usize = 40;
const R_INTENT: usize = 44;
const R_NEXT: usize = 48;
const R_SIZE: usize = 52;
const R_KEY: usize = 64;

/** Tries of a commit that other threads abort, before ST_CONTENTION. */
const COMMIT_TRIES: i32 = 64;
/** The result of a commit whose check failed. */
export const COMMIT_CHECK_FAILED: i32 = -200;
/** The revision of this thread's last commit. */
export let commitRevision: u64 = 0;

// Intents and commit records

@inline function field(b: usize, f: usize): usize {
  return entryValue(b) + f;
}
@inline function intentPrev(i: usize): u64 {
  return load<u64>(field(i, I_PREV)); // written before the intent is published
}
@inline function intentNext(i: usize): usize {
  return <usize>load<u32>(field(i, I_NEXT));
}
@inline function intentCommit(i: usize): usize {
  return <usize>load<u32>(field(i, I_COMMIT));
}
@inline function intentOp(i: usize): u32 {
  return load<u32>(field(i, I_OP));
}
@inline function status(c: usize): u64 {
  return atomic.load<u64>(field(c, C_STATUS));
}
@inline function statusCas(c: usize, old: u64, v: u64): u64 {
  return atomic.cmpxchg<u64>(field(c, C_STATUS), old, v);
}
@inline function committed(st: u64): bool {
  return st != 0 && st != COMMIT_ABORTED;
}

/** The status of a commit, numbered if it was decided (rev.ts). */
function numbered(c: usize): u64 {
  const st = status(c);
  if (st != COMMIT_DECIDED) return st;
  const r = nextRevision();
  const seen = statusCas(c, COMMIT_DECIDED, r);
  return seen == COMMIT_DECIDED ? r : seen;
}

/** Gives the commit's revision to its new entry n, if no one has yet. */
@inline function numberEntry(n: usize, r: u64): void {
  if ((atomic.load<u64>(n + E_REV) & REV_MASK) == 0) atomic.cmpxchg<u64>(n + E_REV, 0, r);
}

/** Drops one reference to commit record c; the last one retires it. */
function release(c: usize): void {
  if (atomic.sub<u32>(field(c, C_REFS), 1) == 1) retire(c);
}

/**
 * For a reader: the entry the key of intent i holds now (0: absent). A
 * pending commit reads as before it; nothing is decided.
 */
export function resolveRead(i: usize): usize {
  const st = numbered(intentCommit(i));
  if (committed(st) && intentOp(i) != OP_CHECK) {
    const n = intentNext(i);
    if (n == 0) return 0; // deleted by the commit
    numberEntry(n, st);
    return expiredAt(n) ? 0 : n;
  }
  const pw = intentPrev(i);
  const lo = slotLo(pw);
  if (lo < 8 || (lo & SLOT_DEL) != 0) return 0;
  const e = slotEntry(pw);
  return expiredAt(e) ? 0 : e;
}

/**
 * For a writer that met intent word w in slot s of table t (not frozen):
 * decides its commit (a pending one is aborted), then replaces the intent
 * with what the commit made of the key, counts it and frees what it
 * replaced. If the slot changed meanwhile, another thread did it.
 */
export function settleIntent(t: usize, s: usize, w: u64): void {
  const i = slotEntry(w);
  const c = intentCommit(i);
  let st = status(c);
  if (st == 0) {
    const seen = statusCas(c, 0, COMMIT_ABORTED);
    st = seen == 0 ? COMMIT_ABORTED : seen;
  }
  if (st == COMMIT_DECIDED) st = numbered(c);
  const op = intentOp(i);
  const h = slotHash(w);
  const pw = intentPrev(i);
  const plo = slotLo(pw);
  const linked = plo >= 8 && (plo & SLOT_DEL) == 0;
  const p = plo >= 8 ? slotEntry(pw) : 0;
  const n = intentNext(i);
  // A delete of an absent key changes nothing.
  const change = committed(st) && op != OP_CHECK && (n != 0 || linked);
  let fw: u64;
  let keep = false;
  if (change && n != 0) {
    numberEntry(n, st);
    // The slot may be in another table than the one the intent went into
    // (a migration copied it): its expiry chunk learns of n here too.
    chunkLower(t, s, entryExpires(n));
    fw = slotWord(h, <u32>n);
  } else if (change) {
    // Deleted: numbered by the commit, so flagged before the slot says so.
    atomic.or<u64>(p + E_REV, REV_DELETED);
    keep = tombFor(t, p) == p;
    fw = slotWord(h, <u32>(keep ? p : ANON_TOMB) | SLOT_DEL);
  } else {
    // As it was; a slot that was EMPTY stays occupied (chains may pass it).
    fw = plo < 8 ? slotWord(h, <u32>ANON_TOMB | SLOT_DEL) : pw;
  }
  faultPoint();
  if (slotCas(s, w, fw) != w) return;
  // No call or loop before the counts (see map.ts tryInsert).
  if (pw == 0) intentsAdd(-1);
  if (change) {
    const kl = <usize>entryKeyLen(i);
    const tag = nsTagOf(entryKey(i));
    if (n != 0) {
      if (!linked) sizeAdd(1);
      nsAdd(tag, linked ? 0 : 1, <i64>entryBytes(n) - (linked ? <i64>entryBytes(p) : 0));
      if (linked && expiredAt(p)) countOp(tag, STAT_EXPIRATIONS);
      account(MODE_SET, linked, p, n, kl);
    } else {
      sizeAdd(-1);
      nsAdd(tag, -1, -<i64>entryBytes(p));
      account(MODE_DELETE, true, p, 0, kl);
    }
    if (keep) tableAdd(t, TB_KEYED, 1);
    else if (p != 0 && p != ANON_TOMB) retire(p);
  } else if (n != 0) {
    retire(n); // never visible: its commit did not take effect
  }
  retire(i);
  release(c);
}

// The owner's side

function makeCommit(): usize {
  const c = alloc(entrySize(0, COMMIT_BYTES, false));
  if (c == 0) return 0;
  entryInit(c, KIND_COMMIT, 0, <u32>COMMIT_BYTES, false);
  atomic.store<u64>(field(c, C_STATUS), 0);
  atomic.store<u32>(field(c, C_REFS), 1); // the owner's
  return c;
}

/** Makes each record's intent and new entry (before any install: this may
 *  evict or reclaim). ST_CAPACITY if memory ran out. */
function prepare(p: usize, count: u32, c: usize): i32 {
  let rec = p;
  for (let k: u32 = 0; k < count; k++) {
    store<u32>(rec + R_INTENT, 0);
    store<u32>(rec + R_NEXT, 0);
    rec += <usize>load<u32>(rec + R_SIZE);
  }
  rec = p;
  for (let k: u32 = 0; k < count; k++) {
    const op = load<u32>(rec + R_OP);
    const kp = rec + R_KEY;
    const kl = <usize>load<u32>(rec + R_KEY_LEN);
    store<u32>(rec + R_HASH, hashKey(kp, kl));
    let n: usize = 0;
    if (op == OP_SET) {
      const vl = <usize>load<u32>(rec + R_VALUE_LEN);
      n = makeEntry(load<u32>(rec + R_VKIND), kp, kl, kp + align8(kl), vl, true, load<f64>(rec + R_EXPIRES));
      if (n == 0) return ST_CAPACITY;
    } else if (op == OP_INCREMENT) {
      n = makeCounter(kp, kl, 0, true);
      if (n == 0) return ST_CAPACITY;
    }
    store<u32>(rec + R_NEXT, <u32>n);
    const i = makeEntry(KIND_INTENT, kp, kl, 0, INTENT_BYTES, true, 0);
    if (i == 0) return ST_CAPACITY;
    store<u32>(rec + R_INTENT, <u32>i);
    store<u32>(field(i, I_NEXT), <u32>n);
    store<u32>(field(i, I_COMMIT), <u32>c);
    store<u32>(field(i, I_OP), op);
    rec += <usize>load<u32>(rec + R_SIZE);
  }
  return 0;
}

/** Frees the intents and new entries of records `from`.. (never published). */
function freeFrom(p: usize, count: u32, from: u32): void {
  let rec = p;
  for (let k: u32 = 0; k < count; k++) {
    if (k >= from) {
      const i = <usize>load<u32>(rec + R_INTENT);
      const n = <usize>load<u32>(rec + R_NEXT);
      if (i != 0) freeSized(i, entryBytes(i));
      if (n != 0) freeSized(n, entryBytes(n));
    }
    rec += <usize>load<u32>(rec + R_SIZE);
  }
}

/** Whether a namespace with quotas has room for one more entry of `bytes`
 *  (read, not reserved: see the file comment's quota note in docs). */
function quotaRoom(tag: u32, bytes: usize): bool {
  const rec = nsRecord(tag);
  const me = atomic.load<u32>(rec + N_MAX_ENTRIES);
  const mb = atomic.load<u32>(rec + N_MAX_BYTES);
  if (me != 0 && atomic.load<i64>(rec + N_ENTRIES) + 1 > <i64>me) return false;
  if (mb != 0 && atomic.load<i64>(rec + N_BYTES) + <i64>bytes > <i64>mb) return false;
  return true;
}

/**
 * Installs record rec's intent in its key's slot, after its check. 0, or
 * COMMIT_CHECK_FAILED, or a status.
 */
function install(rec: usize, c: usize): i32 {
  const op = load<u32>(rec + R_OP);
  const kp = rec + R_KEY;
  const kl = <usize>load<u32>(rec + R_KEY_LEN);
  const h = load<u32>(rec + R_HASH);
  const i = <usize>load<u32>(rec + R_INTENT);
  const n = <usize>load<u32>(rec + R_NEXT);
  const check = load<f64>(rec + R_CHECK);
  let roomMade = false;
  for (let attempt = 0; attempt < MAX_RETRIES; attempt++) {
    faultPoint();
    const st = locate(kp, kl, h); // settles any other commit's intent there
    if (st < 0) return st;
    const w = locW;
    const linked = w != 0 && (slotLo(w) & SLOT_DEL) == 0;
    const e = linked ? slotEntry(w) : 0;
    const present = linked && !expiredAt(e);
    if (check >= 0 && (present ? <f64>stamp(e) : 0) != check) return COMMIT_CHECK_FAILED;
    if (op == OP_INCREMENT) {
      if (present && blockKind(e) != KIND_COUNTER) return ST_NOT_COUNTER;
      const nv = (present ? unsealed(counterLoad(e)) : 0) + <i64>load<f64>(rec + R_DELTA);
      if (nv > MAX_SAFE || nv < -MAX_SAFE) return ST_OVERFLOW;
      store<i64>(entryValue(n), nv); // still private
      store<f64>(n + E_EXPIRES, present ? entryExpires(e) : load<f64>(rec + R_EXPIRES));
    }
    if (n != 0) {
      stampNew(n, linked ? e : 0);
      succeed(n, present ? e : 0);
      if (!linked) {
        if (!roomMade) {
          const room = makeRoom(n);
          if (room < 0) return room;
          if (room == 1) {
            roomMade = true;
            continue;
          }
        }
        if (!quotaRoom(nsTagOf(kp), entryBytes(n))) return ST_QUOTA;
      }
      chunkLower(locT, locS, entryExpires(n));
    }
    store<u64>(field(i, I_PREV), w); // still private
    // The intent's reference, taken before it is published: a thread may
    // settle it at once.
    atomic.add<u32>(field(c, C_REFS), 1);
    if (w == 0) {
      const r = tryInsert(h, i, false);
      if (r == 1) return 0;
      atomic.sub<u32>(field(c, C_REFS), 1);
      if (r < 0) return r;
      continue;
    }
    faultPoint();
    if (slotCas(locS, w, slotWord(h, <u32>i)) == w) return 0;
    atomic.sub<u32>(field(c, C_REFS), 1);
  }
  return ST_CONTENTION;
}

/** Settles the intents of the first `count` records: each key is located,
 *  which settles the intent if it is still there (map.ts locate). */
function settleAll(p: usize, count: u32): void {
  let rec = p;
  for (let k: u32 = 0; k < count; k++) {
    locate(rec + R_KEY, <usize>load<u32>(rec + R_KEY_LEN), load<u32>(rec + R_HASH));
    rec += <usize>load<u32>(rec + R_SIZE);
  }
}

/**
 * Commits the `count` records at p (the host checked their number, sizes
 * and that no key comes twice). Returns 0 (the revision in commitRevision),
 * COMMIT_CHECK_FAILED (nothing changed), or a status (nothing changed):
 * ST_CONTENTION if other threads aborted it COMMIT_TRIES times.
 */
export function commitRecords(p: usize, count: u32): i32 {
  for (let attempt = 0; attempt < COMMIT_TRIES; attempt++) {
    if (attempt > 0) {
      // A random pause, growing: two commits that abort each other fall out
      // of step.
      const spins = (nextRandom() & 63) << (attempt < 10 ? attempt : 10);
      for (let k: u32 = 0; k < spins; k++) atomic.load<u64>(p);
    }
    const c = makeCommit();
    if (c == 0) return ST_CAPACITY;
    let r = prepare(p, count, c);
    if (r < 0) {
      freeFrom(p, count, 0);
      freeSized(c, entryBytes(c));
      return r;
    }
    let installed: u32 = 0;
    let rec = p;
    for (; installed < count; installed++) {
      r = install(rec, c);
      if (r != 0) break;
      rec += <usize>load<u32>(rec + R_SIZE);
    }
    let retry = false;
    if (r == 0) {
      faultPoint();
      const seen = statusCas(c, 0, COMMIT_DECIDED);
      if (seen == 0) {
        commitRevision = numbered(c);
        settleAll(p, count);
        release(c);
        return 0;
      }
      retry = true; // aborted by a thread that met one of its intents
    } else {
      statusCas(c, 0, COMMIT_ABORTED);
    }
    settleAll(p, installed);
    freeFrom(p, count, installed);
    release(c);
    if (!retry) return r;
  }
  return ST_CONTENTION;
}
