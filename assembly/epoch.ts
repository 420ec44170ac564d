// Threads and epoch-based reclamation.
//
// Each attached thread owns one thread slot (layout.ts), claimed by a CAS of
// its owner word from 0 to the host's id for that thread. The slot index and
// address are kept in this instance's Wasm globals, which are thread-local.
//
// Reclamation: a block unlinked from the map may still be read by threads
// that found it before it was unlinked. The unlinking thread "retires" it
// into one of three bags of its slot (by epoch % 3). Every operation
// announces the global epoch it runs in; the global epoch advances only when
// every thread inside an operation has announced the current one. A block
// retired by a thread announced in epoch e is freed once that thread enters
// epoch e + 3: by then every thread that could have seen it has left its
// operation (see freeOldBags for why not e + 2).
//
// A thread that dies inside an operation pins the global epoch: nothing more
// is freed (memory, never correctness or liveness) until the host, seeing the
// worker exit, calls releaseOwner(id): its bags are taken over by the caller,
// its scratch is freed, and its slot becomes free again. A thread that
// closes meanwhile cannot free what it retired: it leaves its bags in its
// slot (ORPHAN_OWNER), for whoever claims the slot next or releases a dead
// thread.

import { alloc, finishDefrag, free, freeScratch, popSpare } from "./alloc";
import { nsUndoOf } from "./ns";
import { faultPoint } from "./fault";
import {
  ANNOUNCE_ACTIVE, DEFRAG, H_EPOCH, H_STATS, H_THREAD_HIGH, HEADER, MAX_THREADS, NUM_STATS, statAddr,
  ORPHAN_OWNER, T_ANNOUNCE, T_BAG_EPOCH, T_BAG_HEAD, T_NS_PENDING, T_OWNER, T_RETIRED, T_SCRATCH, T_SCRATCH_SIZE,
  KIND_TABLE, SPARE_SCRATCH, blockKind, blockLink, hdrCas, hdrLoad, setBlockLink, threadSlot,
} from "./layout";

/** Try to advance the global epoch after this many retirements. */
const RETIRE_BATCH: u32 = 32;

/** This instance's thread slot index (-1: not attached), and its address. */
export let tid: i32 = -1;
export let me: usize = 0;
/** The epoch this thread announced on entering the current operation. */
export let myEpoch: u32 = 0;
/** Nesting depth of enter(): a pending output keeps the thread inside. */
let depth: i32 = 0;
/**
 * Whether a table this thread retired (at epoch tableEpoch) is still in its
 * bags. Until it is freed, every operation of this thread tries to advance
 * the epoch: a table's memory must not wait for RETIRE_BATCH other blocks,
 * and a map that only grows retires nothing else.
 */
let tablePending: bool = false;
let tableEpoch: u32 = 0;

@inline function tLoad(t: usize, f: usize): u32 {
  return atomic.load<u32>(t + f);
}
@inline function tStore(t: usize, f: usize, v: u32): void {
  atomic.store<u32>(t + f, v);
}

/** Claims a free thread slot for `owner` (non-zero). Returns the index or -1. */
export function claimSlot(owner: u32): i32 {
  for (let pass = 0; pass < 2; pass++) {
    // First a free slot; else one a closed thread left its bags in, which
    // this thread takes with them (it frees them once they are old enough,
    // as its own).
    const from: u32 = pass == 0 ? 0 : ORPHAN_OWNER;
    const i = claimFrom(owner, from);
    if (i >= 0) return i;
  }
  return -1;
}

function claimFrom(owner: u32, from: u32): i32 {
  for (let i = 0; i < MAX_THREADS; i++) {
    const t = threadSlot(i);
    if (tLoad(t, T_OWNER) != from) continue;
    // Order: the CAS makes this thread the only writer of the slot's other
    // words until it lets the slot go (owner back to 0, written last).
    if (atomic.cmpxchg<u32>(t + T_OWNER, from, owner) != from) continue;
    tStore(t, T_ANNOUNCE, 0);
    tStore(t, T_SCRATCH, 0);
    tStore(t, T_SCRATCH_SIZE, 0);
    if (from == 0) {
      for (let b: usize = 0; b < 3; b++) {
        tStore(t, T_BAG_HEAD + (b << 2), 0);
        tStore(t, T_BAG_EPOCH + (b << 2), 0);
      }
    }
    tStore(t, T_RETIRED, 0);
    tStore(t, T_NS_PENDING, 0);
    for (let k = 0; k < NUM_STATS; k++) atomic.store<i64>(statAddr(t, k), 0);
    let high = hdrLoad(H_THREAD_HIGH);
    while (<u32>(i + 1) > high) {
      const seen = hdrCas(H_THREAD_HIGH, high, <u32>(i + 1));
      if (seen == high) break;
      high = seen;
    }
    tid = i;
    me = t;
    return i;
  }
  return -1;
}

/** Enters an operation: announce the epoch, then free what is old enough. */
export function enter(): void {
  if (depth++ > 0) return;
  if (tablePending) tryAdvance();
  let e = hdrLoad(H_EPOCH);
  while (true) {
    // Order: the announcement must be visible before this thread reads any
    // slot; re-reading the epoch after it closes the window in which the
    // epoch could advance twice past a stale announcement.
    tStore(me, T_ANNOUNCE, (e << 1) | ANNOUNCE_ACTIVE);
    const again = hdrLoad(H_EPOCH);
    if (again == e) break;
    e = again;
  }
  if (e != myEpoch) {
    myEpoch = e;
    freeOldBags(e);
    if (tablePending && e - tableEpoch >= 3) tablePending = false; // freed just now
  }
}

/** Leaves an operation (no more reads of map memory until the next enter). */
export function leave(): void {
  if (--depth > 0) return;
  depth = 0;
  tStore(me, T_ANNOUNCE, 0);
}

function freeOldBags(e: u32): void {
  for (let b: usize = 0; b < 3; b++) {
    const head = tLoad(me, T_BAG_HEAD + (b << 2));
    if (head == 0) continue;
    // Safety: a bag's epoch r is the retiring thread's announced epoch; when
    // it unlinked the blocks the global epoch was at most r + 1, so a thread
    // still holding one announced at most r + 1, and the global epoch cannot
    // pass r + 2 until it leaves. At r + 3 every such thread has left. (Two
    // epochs are not enough: a reader announced at r + 1 would let the global
    // epoch reach r + 2 while it still reads. The stress tests found that.)
    if (e - tLoad(me, T_BAG_EPOCH + (b << 2)) < 3) continue;
    tStore(me, T_BAG_HEAD + (b << 2), 0);
    freeList(<usize>head);
  }
}

function freeList(head: usize): void {
  let b = head;
  while (b != 0) {
    const next = <usize>blockLink(b);
    free(b);
    b = next;
  }
}

/** Retires block `b`, just unlinked by this thread (inside an operation). */
export function retire(b: usize): void {
  faultPoint();
  const e = myEpoch;
  const slot = <usize>(e % 3) << 2;
  let head = tLoad(me, T_BAG_HEAD + slot);
  if (head != 0 && tLoad(me, T_BAG_EPOCH + slot) != e) {
    // The bag holds blocks from epoch e - 3 or older (it is reused every
    // third epoch), all safe to free now (see freeOldBags).
    tStore(me, T_BAG_HEAD + slot, 0);
    freeList(<usize>head);
    head = 0;
  }
  if (blockKind(b) == KIND_TABLE) {
    tablePending = true;
    tableEpoch = e;
  }
  setBlockLink(b, head);
  tStore(me, T_BAG_HEAD + slot, <u32>b);
  tStore(me, T_BAG_EPOCH + slot, e);
  const n = tLoad(me, T_RETIRED) + 1;
  if (n >= RETIRE_BATCH) {
    tStore(me, T_RETIRED, 0);
    tryAdvance();
  } else {
    tStore(me, T_RETIRED, n);
  }
}

/** Advances the global epoch if every thread inside an operation is current. */
export function tryAdvance(): bool {
  const e = hdrLoad(H_EPOCH);
  const high = <i32>hdrLoad(H_THREAD_HIGH);
  for (let i = 0; i < high; i++) {
    const a = tLoad(threadSlot(i), T_ANNOUNCE);
    if ((a & ANNOUNCE_ACTIVE) != 0 && (a >> 1) != e) return false;
  }
  return hdrCas(H_EPOCH, e, e + 1) == e;
}

/** Sum of one statistic over every thread slot and the folded totals. */
export function statTotal(stat: i32): i64 {
  let sum = atomic.load<i64>(HEADER + H_STATS + (<usize>stat << 3));
  const high = <i32>hdrLoad(H_THREAD_HIGH);
  for (let i = 0; i < high; i++) sum += atomic.load<i64>(statAddr(threadSlot(i), stat));
  return sum;
}

/**
 * Frees what this thread can: advances the epoch as far as it will go (at
 * most three steps matter) and frees old bags. Called when an allocation fails,
 * inside an operation; this thread's own announcement is refreshed.
 */
export function reclaim(): void {
  for (let k = 0; k < 4; k++) {
    tryAdvance();
    const e = hdrLoad(H_EPOCH);
    tStore(me, T_ANNOUNCE, (e << 1) | ANNOUNCE_ACTIVE);
    // myEpoch follows the announcement at once, even if the epoch moved
    // meanwhile: a block retired later in this operation must be filed
    // under an epoch no older than the one announced (see freeOldBags).
    myEpoch = e;
    if (hdrLoad(H_EPOCH) != e) continue;
    freeOldBags(e);
  }
}

/** This thread's scratch buffer, at least `size` bytes (0 if memory is full). */
export function ensureScratch(size: usize): usize {
  const cur = <usize>tLoad(me, T_SCRATCH);
  const curSize = <usize>tLoad(me, T_SCRATCH_SIZE);
  if (cur != 0 && curSize >= size) return cur;
  let n = (size + 4095) & ~<usize>4095;
  let b = alloc(n);
  if (b == 0 && cur == 0 && n <= SPARE_SCRATCH) {
    // Attaching to a full map: a spare (alloc.ts).
    b = popSpare();
    n = SPARE_SCRATCH;
  }
  if (b == 0) return 0;
  // Record the new buffer before freeing the old one: a thread killed in
  // between must leave the slot pointing at a block it still owns, or its
  // release would free the old one a second time.
  tStore(me, T_SCRATCH, <u32>b);
  tStore(me, T_SCRATCH_SIZE, <u32>n);
  // Private to this thread: no epoch needed. Its size comes from the slot,
  // never from the block: the host writes keys over the whole buffer.
  if (cur != 0) freeScratch(cur, curSize);
  return b;
}

/** Folds slot t's statistics into the header totals and zeroes them. */
function foldStats(t: usize): void {
  for (let k = 0; k < NUM_STATS; k++) {
    const a = statAddr(t, k);
    atomic.add<i64>(HEADER + H_STATS + (<usize>k << 3), atomic.load<i64>(a));
    atomic.store<i64>(a, 0);
  }
}

/** After a trap cut an operation short in this thread: leaves it, so the
 *  thread no longer pins the epoch, and gives back a namespace reservation
 *  it had not published. The map itself needs nothing: see fault.ts. */
export function recoverAfterTrap(): void {
  if (tid < 0) return;
  if (atomic.load<u32>(DEFRAG) == <u32>(tid + 1)) finishDefrag();
  nsUndoOf(me);
  depth = 0;
  tStore(me, T_ANNOUNCE, 0);
}

/** Reclaim passes a closing thread spins at most while its retired blocks
 *  are too young to free (releaseSelf). */
const CLOSE_ROUNDS: i32 = 1 << 20;

function bagsLeft(t: usize): bool {
  for (let b: usize = 0; b < 3; b++) if (tLoad(t, T_BAG_HEAD + (b << 2)) != 0) return true;
  return false;
}

/** Releases this thread's own slot (close()). */
export function releaseSelf(): void {
  if (tid < 0) return;
  const t = me;
  enter();
  const scratch = <usize>tLoad(t, T_SCRATCH);
  tStore(t, T_SCRATCH, 0);
  if (scratch != 0) freeScratch(scratch, <usize>tLoad(t, T_SCRATCH_SIZE));
  // Retired blocks may be freed only once no other thread can read them:
  // advance the epoch as far as the others allow and free what is old
  // enough, spinning (bounded) while another thread holds it back (one
  // descheduled inside an operation, under load): what is left here is
  // three epochs of this thread's retirements, and with entries moved or
  // large values replaced that can be megabytes.
  // Only a thread that stays inside an operation (dead, not yet released)
  // outlasts the spin: then the bags stay in the slot, which is left to
  // the next thread that claims it or releases a dead one (ORPHAN_OWNER).
  for (let round = 0; round < CLOSE_ROUNDS && bagsLeft(t); round++) reclaim();
  leave();
  foldStats(t);
  tStore(t, T_ANNOUNCE, 0);
  // Order: last write; after it the slot may be claimed by another thread.
  atomic.store<u32>(t + T_OWNER, bagsLeft(t) ? ORPHAN_OWNER : 0);
  tid = -1;
  me = 0;
}

/** Moves the blocks of slot t's bags into this thread's (retired now). */
function adoptBags(t: usize): void {
  for (let b: usize = 0; b < 3; b++) {
    const head = <usize>tLoad(t, T_BAG_HEAD + (b << 2));
    tStore(t, T_BAG_HEAD + (b << 2), 0);
    let x = head;
    while (x != 0) {
      const next = <usize>blockLink(x);
      retire(x); // in this thread's current epoch: conservative
      x = next;
    }
  }
}

/**
 * Releases every slot held by `owner` (a dead thread), except the caller's.
 * Must be called inside an operation (the caller takes over their bags).
 * Returns how many slots were released.
 */
export function releaseOwner(owner: u32): i32 {
  let n = 0;
  const high = <i32>hdrLoad(H_THREAD_HIGH);
  for (let i = 0; i < high; i++) {
    if (i == tid) continue;
    const t = threadSlot(i);
    const o = tLoad(t, T_OWNER);
    if (o == ORPHAN_OWNER && o != owner) {
      // Bags a closed thread left (the epoch held back, likely by the
      // thread released here): taken over too, the slot freed.
      // (Claimed for the move by an id no thread has: Node's are small,
      // the others have the top bit set.)
      if (atomic.cmpxchg<u32>(t + T_OWNER, ORPHAN_OWNER, <u32>(i + 1) | 0x40000000) != ORPHAN_OWNER) continue;
      adoptBags(t);
      atomic.store<u32>(t + T_OWNER, 0);
      continue;
    }
    if (o != owner) continue;
    adoptBags(t);
    const scratch = <usize>tLoad(t, T_SCRATCH);
    tStore(t, T_SCRATCH, 0);
    if (scratch != 0) freeScratch(scratch, <usize>tLoad(t, T_SCRATCH_SIZE));
    // A defragmentation it left half done (alloc.ts): finished here.
    if (atomic.load<u32>(DEFRAG) == <u32>(i + 1)) finishDefrag();
    nsUndoOf(t); // a namespace reservation it made but never published
    foldStats(t);
    tStore(t, T_ANNOUNCE, 0);
    atomic.store<u32>(t + T_OWNER, 0);
    n++;
  }
  return n;
}

