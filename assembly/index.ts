// wasmap core: a concurrent hash map in one shared WebAssembly memory.
//
// Overview
// ========
//
// Goals. Any number of threads, each with its own instance of this module
// over the same shared memory, read and write one map. Reads never wait and
// never write shared memory (except their own thread slot). Writers to
// different keys never wait for each other. Nothing a thread does is ever
// half-visible, so a thread killed at any instant (worker.terminate()) blocks
// no one and corrupts nothing. The core never blocks (no atomic.wait): it runs
// where waiting is forbidden (a browser's main thread, edge runtimes). Every
// failure is a status code returned to the host, never a trap.
//
// No AssemblyScript runtime is used: no `new`, no managed objects, no static
// data (the build checks that the module has no data segment and no start
// function). Wasm globals are per instance, which makes them thread-local:
// they hold only this thread's slot, scratch results and the hash seed.
//
// Layout (layout.ts): a header, free-list heads, thread slots, then the heap
// of blocks: entries and tables.
//
// Entries are immutable once published: a write allocates a new entry, fills
// it privately, then publishes it with ONE CAS of a 64-bit slot word holding
// (hash, entry address); a value too large for the host's scratch buffer is
// written into the private entry by the host itself (prepareWrite), inside
// the operation, before the core publishes it. The only in-place writes are
// a counter's 64-bit word (atomic CAS; see sealing below) and, with
// eviction, the use record in the info word's upper bits (a plain atomic
// store; the kind byte never changes).
// Expiry is part of the entry: expire()/persist() publish a copy.
//
// Slot states (layout.ts) and who moves them:
//   EMPTY -> LIVE            insert: any writer, CAS
//   LIVE -> LIVE             set/swap/compareAndSwap: any writer, CAS
//   LIVE -> DELETED          delete, expiry, eviction: CAS to the entry
//                            as its key's tombstone, numbered (rev.ts), then
//                            CAS to ANON_TOMB, the entry with an empty key,
//                            and the old entry is retired (so removing needs
//                            no memory and frees it without a migration);
//                            but in a table a migration may still copy
//                            into, the old entry stays as the key's own
//                            tombstone (see below)
//   LIVE/DELETED/EMPTY -> INTENT -> any: an atomic commit (commit.ts)
//   DELETED (keyed) -> LIVE  set of the same key: CAS
//   any -> FROZEN            migration: any helper, CAS (sets bit 0)
//   FROZEN -> MOVED          after copying the live entry to the next table
// A key has at most one slot per table that names it (live, or its keyed
// tombstone): new keys take only EMPTY slots (or their own keyed tombstone),
// and concurrent inserts of one key race for the same first EMPTY slot,
// whose CAS only one wins (a slot never becomes EMPTY again). An anonymous
// tombstone names no key: a key deleted into one and set again lies further
// along its chain, after it. So a slot read as the key's may have stopped
// being the key's by the time the reader acts on it, with the key live
// again further along. A writer in a migrating table therefore moves the
// key's slot and walks on to the chain's end before it writes in `next`
// (stopping at the moved slot once left the key live in both tables, and
// its later copy was dropped: lost writes, issue 14). A reader that meets
// the key's FROZEN slot takes its value unless `next` names the key (a copy,
// or a sweep or eviction of it there). A migration helper may copy a key into the next table late,
// after the key was copied and deleted there: it must then meet the key's
// tombstone, not an empty slot, or it would bring the key back. So while a
// table is a migration's target, and for three epochs after (when no helper
// of the old table can still be running), a delete keeps the old entry as
// the key's tombstone (the table's `safe` epoch, layout.ts).

// Counters: every `increment` publishes a new counter entry (so that the
// value and its revision change in one step). A writer that replaces or
// deletes a counter entry still SEALS its word (flips bit 62) first, as
// before increments stopped adding in place; the seal is harmless.
//
// Revisions (rev.ts): every change takes the map's next revision, and every
// entry carries its modRevision, createRevision and version. No instruction
// both publishes a change and counts it, so a change is published first
// (its entry's rev word 0, or, for a deletion, a DELETED slot that keeps
// the entry) and numbered right after by an add to the header's counter and
// a CAS into the entry; whoever meets a change not yet numbered (a reader,
// a writer about to replace it, a migration moving it) numbers it before it
// uses it. So the add that numbered a change is the instant it takes effect
// for every thread, and a read of the map's revision R comes after every
// change numbered up to R and before every later one.
//
// Atomic commits (commit.ts): Harris, Fraser and Pratt's multi-word CAS (an
// intent in each key's slot, one CAS of a status word to decide, one CAS
// per slot to settle). Guerraoui et al.'s "Efficient Multi-word Compare and
// Swap" needs k + 1 CASes instead of 3k + 1 by leaving the descriptors in
// the words until they are reclaimed, so every later read goes through
// them; here reads are the hot path, so the intents are settled back to
// plain entries at once, and a get meets an intent only while its commit is
// in flight. An intent is an entry of its key (probing, key equality and
// migration work on it unchanged), naming the commit record.
// Readers read an undecided commit's keys as they were (they never wait);
// a thread that needs a key of an undecided commit aborts it rather than
// finishing its installs (so commits are obstruction-free, single-key
// operations stay lock-free), and finishes a decided one. A commit that a
// dead thread left is thus undone or finished by the next thread to meet it.
//
// Growth (table.ts): when a table is 3/4 used, a writer allocates a new table
// sized for the live entries (half full at most) and publishes it in the old
// table's `next`. Every write then moves one chunk of 64 slots (freeze, copy
// the entry pointer into `next`, mark MOVED); the entry itself is shared, not
// copied. Writers that meet a frozen slot finish moving it and go on in
// `next`; new keys are inserted in `next` after the old chain's EMPTY end is
// frozen, so a reader of the old table never stops short of them. When every
// slot is moved, the root switches to `next` and the old table is retired.
// No thread ever waits for a migration; claims wrap around, so chunks left by
// a dead helper are redone. Deleted keys are not copied: migration is also
// how DELETED slots are dropped (a table full of them migrates to a table
// of the same size). A table's usual target is the block of the table it
// replaced (under 'lru', where free memory is merged, such tables are kept
// whole for it: alloc.ts keepTable); a migration takes any block at hand
// (table.ts tableFor), larger than wanted if that is all there is (not
// under 'lru').
//
// Evacuation (evacuate.ts, without eviction): an allocation that finds no
// block even after a merge, while free memory would hold it several times
// over, moves the live entries of the window that holds the most free bytes
// (found during the merge: alloc.ts bestRun) out of it, each by a copy and
// one CAS of its slot (a counter sealed first), then waits three epochs for
// their blocks and merges again. Readers of the old entry are unaffected (it
// is retired as any replaced entry); a write that lands first makes the
// move's CAS fail and the copy is freed unpublished.
//
// Eviction (evict.ts, 'lru'): an insert that finds no memory evicts the least
// used entries, whatever their size, then spins, reclaiming, until their
// blocks are past their grace period and takes its block from them, split
// or merged with the free memory beside them (or, if they lie apart,
// evicts the entries beside a cold one, so that they merge into a run:
// evictWindow); a batch stops at 64 entries or 64 KiB (four blocks if
// those are larger). A full table that finds no table to migrate to spins
// likewise while a retired one is on its way back, or makes one from
// memory that evicting frees (tableByEvicting); a table held at its size
// grows once the memory its entries free holds a larger one (growHeld),
// and one eight times what its entries need migrates to a table of their
// size, its own memory going to the regions (shrinkTable). Both give up
// after a bounded number of rounds (a thread dead inside an operation pins
// the epoch): ERR_CAPACITY.
// The spin waits for the threads inside an operation to leave it (the
// epoch), never for a lock: a thread that stops inside one (killed, not yet
// released) makes the spin give up, not hang.
//
// Iteration (scan.ts scanKeys): a cursor over home slots in reversed bit
// order (Redis's SCAN), one page per call, nothing held between calls: a key
// present throughout is listed at least once, whatever tables grow, shrink or
// migrate between pages. A slot is never emptied again, so a key always lies
// between its home and the first empty slot.
//
// What a reader may observe: the value of the slot word it loaded, which was
// the key's current value at that instant (the linearization point of a
// read). A FROZEN slot still holds the current value unless `next` names the
// key (then `next` does); a MOVED one sends the reader to `next`. Entries are immutable, so no value is ever torn.
//
// Reclamation (epoch.ts): blocks unlinked by a CAS are retired and freed three
// global epochs later, when no thread can still be reading them. A thread
// dying inside an operation pins the epoch: memory is no longer freed until
// the host releases the dead thread (its worker's exit event); correctness
// and progress are unaffected. A retired table makes its thread try to
// advance the epoch on every operation until the table is freed. Freed
// blocks go back to their size class (alloc.ts); the tables a growing map
// outgrows become regions, carved into blocks of any class.
//
// Thread death at any instant: every state change is one CAS, and every
// intermediate state (frozen slot, sealed counter, claimed chunk) is finished
// by whichever thread meets it next. Counts (size, used, moved) are added in
// straight-line code right after the CAS they account for: engines deliver
// worker termination only at function entries and loop headers, so a count
// is never lost to a kill. What a dead thread can leak: the block it was
// filling, its scratch buffer and its retired blocks, until released; a
// thread killed while it evacuates, the copy it made and the few blocks it
// held aside (evacuate.ts).
//
// Read the files in this order: layout.ts, status.ts, alloc.ts, epoch.ts,
// keys.ts, rev.ts (revisions), map.ts (entries, lookup, the write protocol),
// ops.ts (the operations), commit.ts (atomic commits), table.ts (tables and their migration), expiry.ts (TTL and
// sweeps), evacuate.ts (moving entries), evict.ts ('lru' and maxEntries), ns.ts (namespaces), then
// scan.ts (iteration) and verify.ts (the debug walk). fault.ts holds the
// fault points the tests use.

import { alloc, allocInit, freeBytes, freeBytesFor, freeSized, heapTop, sparesFor } from "./alloc";
import { NS_REGISTRY, countOp, nsCounter, nsCreate, nsDefaultTtl, nsField, nsFree, nsInit, nsIsLive, nsRetireTag } from "./ns";
import {
  claimSlot, enter, ensureScratch, leave, me, recoverAfterTrap, releaseOwner, releaseSelf, statTotal, tid,
} from "./epoch";
import { arm, armHold, deferTo } from "./fault";
import {
  ANON_TOMB, ENTRY_KEY, N_FLIGHTS, T_OWNER, threadSlot, H_EPOCH, KIND_TOMB, entryInit, H_LIMIT, H_MAGIC, H_MAX_KEY, H_MAX_VALUE, H_MIN_CAP, H_SEED, H_THREAD_HIGH,
  H_VERSION, HEADER, HEAP_START, KIND_BYTES, KIND_COUNTER, KIND_STRING, LAYOUT_VERSION, MAGIC,
  MAX_THREADS, NUM_CLASSES, NUM_STATS, STAT_HITS, STAT_MISSES, TABLE_HEADER, THREAD_SIZE, entryBytes,
  entryValue, entryExpires, hdrLoad, hdrStore, statAdd, nsRecord, N_TOKEN, N_TTL_USED, NS_COUNTERS, MAX_NAMESPACES, NS_SIZE, N_BYTES, N_ENTRIES, N_MAX_BYTES,
  N_MAX_ENTRIES, N_MAX_KEY, N_MAX_VALUE, T_HOLD, N_MAP_MAX_ENTRIES, NS_TAG_BYTES, entrySize, H_RESERVE, EVICT_LRU,
} from "./layout";
import {
  ST_BAD_MEMORY, ST_CAPACITY, ST_NOT_ATTACHED, ST_NOT_FOUND, copyOut, find, splitBelow, pending, clearPending, foundSlot, foundEntry, foundRev,
} from "./map";
import {
  MODE_DELETE, MODE_GET_AND_DELETE, MODE_GET_OR_SET, MODE_SET, MODE_SWAP, R_DONE, clearNamespace, counterResult,
  increment as incrementCounter, liveCount, makeValueEntry, makeEntryToFill, update, setExpectRev, lastRevision,
} from "./ops";
import { COMMIT_CHECK_FAILED, commitRecords, commitRevision } from "./commit";
import {
  E_REV, align8, blockKind, entryValueLen, slotAddr, slotEntry, slotLo, slotLoad, tableCap, tableSlots,
} from "./layout";

import { createRevision, markDeleted, revision as mapRevision, stamp, version } from "./rev";
import { createRoot, root } from "./table";
import { entryLimitHit, noLargerBlock, policy, setBounds, touch } from "./evict";
import { expiredByMe, retimeEntry, setNow, setTimeBase, sweepAll, sweepStep } from "./expiry";
import { hashKey, loadSeed } from "./keys";
import { scanKeys } from "./scan";
import { verifyMap } from "./verify";

let status: i32 = 0;

/** Formats a zeroed memory as an empty map. Returns 0 or a status. */
export function init(
  limit: u32, seed: u32, maxKey: u32, maxValue: u32, minCap: u32, now: f64, defaultTtl: f64,
  maxEntries: u32, eviction: u32, shared: u32,
): i32 {
  if (hdrLoad(H_MAGIC) != 0) return ST_BAD_MEMORY;
  setTimeBase(now);
  hdrStore(H_VERSION, LAYOUT_VERSION);
  hdrStore(H_SEED, seed);
  hdrStore(H_EPOCH, 0);
  hdrStore(H_THREAD_HIGH, 0);
  hdrStore(H_MAX_KEY, maxKey);
  hdrStore(H_MAX_VALUE, maxValue);
  hdrStore(H_MIN_CAP, minCap);
  allocInit(limit, shared != 0 ? sparesFor(limit) : 0);
  entryInit(ANON_TOMB, KIND_TOMB, 0, 0, false);
  markDeleted(ANON_TOMB);
  const records = alloc(<usize>MAX_NAMESPACES * NS_SIZE);
  if (records == 0) return ST_CAPACITY;
  nsInit(records, defaultTtl);
  setBounds(maxEntries, eviction);
  if (!createRoot(minCap)) return ST_CAPACITY;
  // Order: last; attach() refuses a memory without it.
  hdrStore(H_MAGIC, MAGIC);
  return 0;
}

/** Checks the memory and claims a thread slot for `owner` (non-zero host id).
 *  Returns the slot index, or a status. */
export function attach(owner: u32, scratchBytes: u32): i32 {
  if (tid >= 0) return tid;
  if (hdrLoad(H_MAGIC) != MAGIC) return ST_BAD_MEMORY;
  if (hdrLoad(H_VERSION) != LAYOUT_VERSION) return ST_BAD_MEMORY;
  loadSeed();
  const i = claimSlot(owner);
  if (i < 0) return ST_CAPACITY;
  if (ensureScratch(<usize>scratchBytes) == 0) {
    releaseSelf();
    return ST_CAPACITY;
  }
  return i;
}

export function detach(): void {
  releaseSelf();
}

/** This thread's scratch buffer, grown to at least `size` bytes (0: full). */
export function scratch(size: u32): u32 {
  if (tid < 0) return 0;
  return <u32>ensureScratch(<usize>size);
}

/** Releases the slots of a dead thread; returns how many. */
export function release(owner: u32): i32 {
  if (tid < 0) return ST_NOT_ATTACHED;
  enter();
  const n = releaseOwner(owner);
  leave();
  return n;
}

@inline function finish(r: i32): i32 {
  // A value that did not fit stays pending: stay inside the operation so its
  // entry cannot be freed before takePending copies it.
  if (pending == 0) leave();
  return r;
}

/** The live entry at the key, or 0, counted as a hit or a miss; inside an
 *  operation if found (the caller ends it), outside if not. */
@inline function findCounted(kp: u32, kl: u32, now: f64): usize {
  setNow(now, 0);
  enter();
  const e = find(kp, kl, hashKey(kp, kl));
  if (e == 0) {
    countOp(load<u32>(kp), STAT_MISSES);
    leave();
    return 0;
  }
  countOp(load<u32>(kp), STAT_HITS);
  touch(e);
  return e;
}

/** get: (len << 3) | kind of the value (OUT_ASCII for an all-ASCII string that
 *  was copied; copied to out if len <= ocap), or
 *  ST_NOT_FOUND. */
export function get(kp: u32, kl: u32, out: u32, ocap: u32, now: f64): i32 {
  if (tid < 0) return ST_NOT_ATTACHED;
  const e = findCounted(kp, kl, now);
  if (e == 0) return ST_NOT_FOUND;
  // The entry, and the low word of its revision, in the 8 bytes before the
  // output (the end of the key area, which no key reaches: host/session.ts
  // keyArea): the host keeps the strings it decoded by entry (host/
  // base-map.ts decoded), and an entry with the same revision is the same
  // immutable entry.
  store<u32>(out - 8, <u32>e);
  store<u32>(out - 4, <u32>atomic.load<u64>(e + E_REV));
  return finish(copyOut(e, out, ocap));
}

/** After a get that found its entry: the slot a read cache may validate a
 *  copy of the value by (map.ts foundSlot), or 0, and the entry. */
export function cacheSlot(): u32 {
  // Under 'lru' a read must mark its entry used: nothing is cached.
  return policy() == EVICT_LRU ? 0 : <u32>foundSlot;
}
export function cacheEntry(): u32 {
  return <u32>foundEntry;
}
export function cacheRev(): u32 {
  return foundRev;
}

/** Adds hits counted by this thread's read cache to its statistics. */
export function addHits(n: u32): void {
  if (tid >= 0) statAdd(me, STAT_HITS, <i64>n);
}

/**
 * Gets of `count` keys at once: records at p, each a u32 key length, a u32
 * the core fills (the key's hash), then the key's bytes padded to 8. Their
 * outputs go to out, each an i32 (ST_NOT_FOUND, or get's code) in an
 * 8-byte head, then the value's bytes padded to 8. Returns how many keys
 * were answered (it stops before a value that does not fit), or a status.
 * First every key's home slot is loaded, then every entry those slots name,
 * each load independent of the others, so that the processor waits for
 * their cache misses together; then the lookups find them in cache.
 */
export function getMany(p: u32, count: u32, out: u32, ocap: u32, now: f64): i32 {
  if (tid < 0) return ST_NOT_ATTACHED;
  setNow(now, 0);
  enter();
  const t = root();
  const mask = tableCap(t) - 1;
  const slots = tableSlots(t);
  let rec = <usize>p;
  for (let k: u32 = 0; k < count; k++) {
    const kl = <usize>load<u32>(rec);
    const h = hashKey(rec + 8, kl);
    store<u32>(rec + 4, h);
    slotLoad(slotAddr(slots, h & mask)); // atomic: a load no compiler drops
    rec += 8 + align8(kl);
  }
  rec = <usize>p;
  for (let k: u32 = 0; k < count; k++) {
    const w = slotLoad(slotAddr(slots, load<u32>(rec + 4) & mask));
    if (slotLo(w) >= 8) atomic.load<u32>(slotEntry(w) + 8);
    rec += 8 + align8(<usize>load<u32>(rec));
  }
  let at = <usize>out;
  const end = <usize>out + <usize>ocap;
  let done: i32 = 0;
  rec = <usize>p;
  for (let k: u32 = 0; k < count; k++) {
    const kl = <usize>load<u32>(rec);
    const kp = rec + 8;
    const e = find(kp, kl, load<u32>(rec + 4));
    if (e == 0) {
      if (at + 8 > end) break;
      countOp(load<u32>(kp), STAT_MISSES);
      store<i32>(at, ST_NOT_FOUND);
      at += 8;
    } else {
      const len = blockKind(e) == KIND_COUNTER ? 8 : <usize>entryValueLen(e);
      if (at + 8 + align8(len) > end) break;
      countOp(load<u32>(kp), STAT_HITS);
      touch(e);
      store<i32>(at, copyOut(e, at + 8, len));
      at += 8 + align8(len);
    }
    done++;
    rec += 8 + align8(kl);
  }
  leave();
  return done;
}

/** The entry's revisions, set by getEntry. */
export let entryModRevision: f64 = 0;
export let entryCreateRevision: f64 = 0;
export let entryVersion: f64 = 0;
export let entryExpiresAt: f64 = 0;

/** As get, and the entry's revisions and expiry in the globals above. */
export function getEntry(kp: u32, kl: u32, out: u32, ocap: u32, now: f64): i32 {
  if (tid < 0) return ST_NOT_ATTACHED;
  const e = findCounted(kp, kl, now);
  if (e == 0) return ST_NOT_FOUND;
  entryModRevision = <f64>stamp(e);
  entryCreateRevision = <f64>createRevision(e);
  entryVersion = <f64>version(e);
  entryExpiresAt = entryExpires(e);
  return finish(copyOut(e, out, ocap));
}

/** The map's revision: the number of the last change that took effect. */
export function revision(): f64 {
  return <f64>mapRevision();
}

/** The modRevision of the entry the last set-like write of this thread
 *  published. */
export function writtenRevision(): f64 {
  return <f64>lastRevision;
}

/**
 * Commits the `count` records at p (commit.ts) as one change. Returns the
 * commit's revision (> 0), 0 if a check failed (nothing changed), or a
 * status (< 0; nothing changed).
 */
export function commit(p: u32, count: u32, now: f64): f64 {
  if (tid < 0) return ST_NOT_ATTACHED;
  setNow(now, 0);
  enter();
  const r = commitRecords(p, count);
  if (r == 0) sweepStep();
  leave();
  if (r == COMMIT_CHECK_FAILED) return 0;
  return r < 0 ? <f64>r : <f64>commitRevision;
}

/** Makes the next compare-and-swap or compare-and-delete of this thread
 *  compare the key's modRevision with `rev` (0: absent) instead of a value. */
export function expectRevision(rev: f64): void {
  setExpectRev(<i64>rev);
}

export function has(kp: u32, kl: u32, now: f64): i32 {
  if (tid < 0) return ST_NOT_ATTACHED;
  setNow(now, 0);
  enter();
  const e = find(kp, kl, hashKey(kp, kl));
  countOp(load<u32>(kp), e != 0 ? STAT_HITS : STAT_MISSES);
  leave();
  return e != 0 ? 1 : 0;
}

/** Address of the pending output's bytes (a value that did not fit in the
 *  output buffer). The thread stays inside the operation, so the entry stays
 *  readable until endPending(). 0 if nothing is pending. */
export function pendingValue(): u32 {
  return pending == 0 ? 0 : <u32>entryValue(pending);
}

/** Ends the operation that left an output pending. */
export function endPending(): void {
  if (pending == 0) return;
  clearPending();
  leave();
}

/**
 * Every write but increment. `mode` is one of map.ts's MODE_*; (vp, vl,
 * vkind) is the new value, (ep, el, ekind) the expected one, `out` receives
 * a previous or present value. Returns map.ts's update() result.
 */
export function write(
  mode: i32, kp: u32, kl: u32, vp: u32, vl: u32, vkind: u32,
  ep: u32, el: u32, ekind: u32, out: u32, ocap: u32, now: f64, expires: f64,
): i32 {
  if (tid < 0) return ST_NOT_ATTACHED;
  setNow(now, 0);
  enter();
  let n: usize = 0;
  if (mode < MODE_DELETE) {
    n = makeValueEntry(vkind, kp, kl, vp, vl, expires);
    if (n == 0) {
      setExpectRev(-1);
      leave();
      return ST_CAPACITY;
    }
  }
  return writeEntry(mode, kp, kl, n, ep, el, ekind, out, ocap);
}

/** The rest of a write, inside its operation, with its new entry `n` (0 for
 *  a delete), private until update() publishes it. */
function writeEntry(mode: i32, kp: u32, kl: u32, n: usize, ep: u32, el: u32, ekind: u32, out: u32, ocap: u32): i32 {
  const nsize = n != 0 ? entryBytes(n) : 0;
  const r = update(mode, hashKey(kp, kl), kp, kl, n, ep, el, ekind, out, ocap);
  setExpectRev(-1);
  let consumed: bool;
  if (mode == MODE_SWAP) consumed = r >= 0 || r == ST_NOT_FOUND;
  else if (mode == MODE_GET_AND_DELETE) consumed = r >= 0;
  else consumed = r == R_DONE;
  if (!consumed && n != 0) freeSized(n, nsize); // never published
  // Writes carry the expiry sweep along, one chunk each.
  if (pending == 0) sweepStep();
  return finish(r);
}

/** The entry prepareWrite made, which the host is filling. */
let prepared: usize = 0;

/**
 * First half of a write whose new value is larger than the host's scratch
 * buffer: makes the entry (the key at kp, room for vl value bytes), as
 * write() would, and returns the address of its value, where the host
 * writes the bytes, and nothing else, before writePrepared (or
 * dropPrepared); 0 if there is no room (ST_CAPACITY, see capacityCause).
 * The thread stays inside its operation in between. So a value need never
 * pass through the scratch buffer, which would have to grow for it: a full
 * map may have no free block for that, while the entry's own block can
 * come from an eviction.
 */
export function prepareWrite(kp: u32, kl: u32, vl: u32, vkind: u32, now: f64, expires: f64): u32 {
  if (tid < 0) return 0;
  dropPrepared(); // one the host left unfinished (it never does), so its operation ends
  setNow(now, 0);
  enter();
  const n = makeEntryToFill(vkind, kp, kl, vl, expires);
  if (n == 0) {
    leave();
    return 0;
  }
  prepared = n;
  return <u32>entryValue(n);
}

/** Second half: the write (mode, the expected value at ep) with the entry
 *  prepareWrite made, now filled. As write(). */
export function writePrepared(mode: i32, kp: u32, kl: u32, ep: u32, el: u32, ekind: u32, out: u32, ocap: u32): i32 {
  const n = prepared;
  if (tid < 0 || n == 0 || mode >= MODE_DELETE) return ST_NOT_ATTACHED;
  prepared = 0;
  return writeEntry(mode, kp, kl, n, ep, el, ekind, out, ocap);
}

/** Ends a prepared write without it: the entry was never published. */
export function dropPrepared(): void {
  setExpectRev(-1);
  if (prepared == 0) return;
  freeSized(prepared, entryBytes(prepared));
  prepared = 0;
  leave();
}

export function set(kp: u32, kl: u32, vp: u32, vl: u32, vkind: u32, now: f64, expires: f64): i32 {
  return write(MODE_SET, kp, kl, vp, vl, vkind, 0, 0, 0, 0, 0, now, expires);
}

/** Gives the entry at the key a new expiry (0: none), keeping its value.
 *  Returns R_DONE, or R_REFUSED if the key is absent. */
export function retime(kp: u32, kl: u32, now: f64, expires: f64): i32 {
  if (tid < 0) return ST_NOT_ATTACHED;
  setNow(now, 0);
  enter();
  const r = retimeEntry(kp, kl, hashKey(kp, kl), expires);
  leave();
  return r;
}

/** The expiry of the entry at the key (0: none), or -1 if absent. */
export function expiresAt(kp: u32, kl: u32, now: f64): f64 {
  if (tid < 0) return -1;
  setNow(now, 0);
  enter();
  const e = find(kp, kl, hashKey(kp, kl));
  const x = e == 0 ? -1 : entryExpires(e);
  leave();
  return x;
}

/** Removes every entry whose expiry has come (sweeps every due chunk);
 *  returns how many this call removed. */
export function purge(now: f64): f64 {
  if (tid < 0) return 0;
  setNow(now, 0);
  enter();
  const before = expiredByMe;
  sweepAll();
  leave();
  return <f64>(expiredByMe - before);
}

/** Adds `delta` to the counter at the key; returns the new value, or NaN
 *  with the status in lastStatus(). */
export function increment(kp: u32, kl: u32, delta: f64, now: f64, expires: f64): f64 {
  if (tid < 0) {
    status = ST_NOT_ATTACHED;
    return NaN;
  }
  setNow(now, expires);
  enter();
  const r = incrementCounter(kp, kl, hashKey(kp, kl), <i64>delta);
  leave();
  if (r < 0) {
    status = r;
    return NaN;
  }
  return <f64>counterResult;
}

/** Debug walk of the map's invariants (tests): 0, or which one is broken. */
export function verify(): i32 {
  if (tid < 0) return ST_NOT_ATTACHED;
  enter();
  const r = verifyMap();
  leave();
  return r;
}

/** Tests: trap at the n-th fault point this thread passes (fault.ts), or
 *  counted from a fault site (`site`: fault.ts SITE_*, 0: none). */
export function injectFault(n: i32, site: i32): void {
  arm(n);
  deferTo(site);
}

/** Tests: hold at the n-th fault point this thread passes (fault.ts), for
 *  at most `spins` rounds, or (0) until holdWord() is set to 0; mode bit 1:
 *  at every fault point from there on, until called again; bit 2: also
 *  until a migration of the root table starts or ends; bits 4 and up: the
 *  fault site it is counted from (fault.ts SITE_*: mode >> 2). */
export function injectHold(n: i32, spins: i32, mode: i32): void {
  if (tid < 0) return;
  atomic.store<u32>(me + T_HOLD, 0);
  armHold(n, me + T_HOLD, spins, (mode & 1) != 0, (mode & 2) != 0);
  deferTo(mode >> 2);
}

/** Tests: the address of this thread's hold word (1 while held). */
export function holdWord(): u32 {
  return tid < 0 ? 0 : <u32>(me + T_HOLD);
}

/** After a trap in this thread: see epoch.ts recoverAfterTrap. */
export function recover(): void {
  arm(0);
  clearPending();
  prepared = 0; // its entry, never published, is lost (memory, not structure)
  setExpectRev(-1);
  recoverAfterTrap();
}

/** Why this thread's last ST_CAPACITY happened: 1, a full LRU map had no
 *  block or entry of the size it needed or larger (evict.ts noLargerBlock);
 *  2, the map holds maxEntries entries (evict.ts entryLimitHit); 0, memory. */
export function capacityCause(): i32 {
  return noLargerBlock ? 1 : entryLimitHit ? 2 : 0;
}

/** The map's maxEntries (0: none). */
export function entryLimit(): f64 {
  return <f64>atomic.load<u32>(nsRecord(0) + N_MAP_MAX_ENTRIES);
}

export function lastStatus(): i32 {
  return status;
}

/** Live entries of the whole map (every namespace), without sweeping. */
export function size(): f64 {
  return <f64>liveCount();
}

/** Deletes every entry of the namespace of `tag` (see clearNamespace). */
export function clear(tag: u32, now: f64): void {
  if (tid < 0) return;
  setNow(now, 0);
  enter();
  clearNamespace(tag & (MAX_NAMESPACES - 1));
  leave();
}

/**
 * Lists keys of the namespace of `tag`: see scanKeys in scan.ts (the output
 * at `out`, the cursor across calls). Returns 0 or ST_SCAN_TOO_SMALL.
 */
export function scan(tag: u32, cursor: u32, out: u32, ocap: u32, maxSteps: i32, now: f64): i32 {
  if (tid < 0) return ST_NOT_ATTACHED;
  setNow(now, 0);
  enter();
  const r = scanKeys(tag, cursor, out, ocap, maxSteps);
  leave();
  return r;
}

/** Creates a namespace with these quotas (0 = none); returns its tag or a status. */
export function nsNew(maxEntries: u32, maxBytes: u32, maxKey: u32, maxValue: u32, defaultTtl: f64): i32 {
  return nsCreate(maxEntries, maxBytes, maxKey, maxValue, defaultTtl);
}

/** Drops a namespace: views of it fail from now on; its entries are removed. */
export function nsDrop(tag: u32): bool {
  if (tid < 0 || !nsIsLive(tag) || !nsRetireTag(tag)) return false;
  enter();
  clearNamespace(tag & (MAX_NAMESPACES - 1));
  nsFree(tag);
  leave();
  return true;
}

/** Address of the word getOrCompute's waiters wait on (layout.ts N_FLIGHTS). */
export function flightWordAddress(): u32 {
  return <u32>(nsRecord(NS_REGISTRY) + N_FLIGHTS);
}

/** Whether a thread of the host's id `owner` is attached (not closed, not
 *  released): a getOrCompute computation of a thread that is not is
 *  abandoned. */
export function ownerAttached(owner: u32): bool {
  const high = <i32>hdrLoad(H_THREAD_HIGH);
  for (let i = 0; i < high && i < MAX_THREADS; i++) {
    if (atomic.load<u32>(threadSlot(i) + T_OWNER) == owner) return true;
  }
  return false;
}

/** Whether the namespace of `tag` lives (the map's own always does). */
export function nsLive(tag: u32): bool {
  return nsIsLive(tag);
}

/** Address of the token of the namespace record of `tag` (its index; see
 *  layout.ts N_TOKEN): 16 bytes the host writes and compares. */
export function nsTokenAddress(tag: u32): u32 {
  return <u32>(nsRecord(tag) + N_TOKEN);
}

/** Writes a namespace's entries, bytes, maxEntries, maxBytes, maxKey,
 *  maxValue and liveness (1/0) to `out` as f64. */
export function nsInfo(tag: u32, out: u32): void {
  const o = <usize>out;
  store<f64>(o, <f64>nsField(tag, N_ENTRIES));
  store<f64>(o + 8, <f64>nsField(tag, N_BYTES));
  store<f64>(o + 16, <f64>nsField(tag, N_MAX_ENTRIES));
  store<f64>(o + 24, <f64>nsField(tag, N_MAX_BYTES));
  store<f64>(o + 32, <f64>nsField(tag, N_MAX_KEY));
  store<f64>(o + 40, <f64>nsField(tag, N_MAX_VALUE));
  store<f64>(o + 48, nsIsLive(tag) ? 1 : 0);
  store<f64>(o + 56, nsDefaultTtl(tag));
  for (let k = 0; k < NS_COUNTERS; k++) store<f64>(o + 64 + (<usize>k << 3), <f64>nsCounter(tag, k));
}

/** Live entries of the namespace of `tag`, after sweeping what has expired. */
export function nsSize(tag: u32, now: f64): f64 {
  // now == 0: the host has not read its clock, as no entry has an expiry.
  if (tid >= 0 && now != 0) {
    setNow(now, 0);
    enter();
    sweepAll();
    leave();
  }
  return <f64>nsField(tag, N_ENTRIES);
}

/** Writes every statistic (STAT_* order, as f64) to `out` (8-aligned). */
export function statsInto(out: u32): void {
  for (let k = 0; k < NUM_STATS; k++) store<f64>(<usize>out + (<usize>k << 3), <f64>statTotal(k));
}

/** Bytes the allocator has taken from memory so far (its high-water mark). */
export function memoryUsed(): f64 {
  return <f64>heapTop();
}

/** Bytes freed and not used again yet (free blocks, regions). */
export function memoryFree(): f64 {
  return <f64>freeBytes();
}

/** Bytes a new entry of `keyBytes` (the user's key) and `valueBytes` could
 *  take: the freed memory it fits in (its size class, larger ones it may be
 *  cut from, regions), and the room never used below the limit. */
export function memoryUsableFor(keyBytes: u32, valueBytes: u32, timed: u32): f64 {
  const size = entrySize(<usize>keyBytes + NS_TAG_BYTES, <usize>valueBytes, timed != 0);
  const room = <i64>hdrLoad(H_LIMIT) - <i64>hdrLoad(H_RESERVE) - <i64>heapTop();
  return <f64>(freeBytesFor(size, splitBelow()) + (room > 0 ? room : 0));
}

/** Address of the flag that says some entry has an expiry (hosts read
 *  their clock only once it is set). */
export function ttlFlagAddress(): u32 {
  return <u32>(nsRecord(0) + N_TTL_USED);
}

/** The map's byte limit (maxMemoryBytes). */
export function memoryLimit(): f64 {
  return <f64>hdrLoad(H_LIMIT);
}

export function maxKeyBytes(): u32 {
  return hdrLoad(H_MAX_KEY);
}
export function maxValueBytes(): u32 {
  return hdrLoad(H_MAX_VALUE);
}
export function threadIndex(): i32 {
  return tid;
}
export function threadSlotAddress(): u32 {
  return <u32>me;
}

/** Layout facts for the host's layout test (index -> value). */
export function layout(i: i32): u32 {
  switch (i) {
    case 0: return MAGIC;
    case 1: return LAYOUT_VERSION;
    case 2: return <u32>HEADER;
    case 3: return <u32>HEAP_START;
    case 4: return <u32>ENTRY_KEY;
    case 5: return <u32>TABLE_HEADER;
    case 6: return <u32>THREAD_SIZE;
    case 7: return <u32>MAX_THREADS;
    case 8: return <u32>NUM_CLASSES;
    case 9: return KIND_STRING;
    case 10: return KIND_BYTES;
    case 11: return KIND_COUNTER;
    case 12: return MODE_SET;
    case 13: return MODE_SWAP;
    case 14: return MODE_GET_OR_SET;
  }
  return 0;
}

