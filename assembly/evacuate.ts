// Evacuation: when free memory is plentiful but lies in pieces that no
// merge joins (live entries sit between them), an allocation moves the live
// entries of a window out of the way, and the window, free, is merged into
// a block of its size. Without eviction only ('lru' evicts a window
// instead: evict.ts evictWindow).
//
// A move is a copy and one CAS, as any write: entries are immutable once
// published, so the copy is the entry; the CAS of the key's slot from the
// old entry to the copy fails if a writer, a sweep or a migration changed
// the slot meanwhile (the copy is then freed, unpublished), and the old
// entry is retired like any replaced one, so readers never wait. A counter
// is sealed first, as by any writer that replaces one (its increments then
// take the slow path, which reads the slot again).
//
// The window (alloc.ts bestRun, during the merge the allocation forces) is
// the stretch of `want` bytes starting at a free block that holds the most
// free bytes. Its entries are found by a walk of the root table's slots.
// Each copy goes to a block outside the window: blocks allocation hands out
// inside it are held and freed afterwards (a thread killed meanwhile leaks
// them: at most MOVE_TRIES blocks of one entry's size, plus the copy).

import { stamp } from "./rev";
import {
  alloc, allocSplit, classOf, classSize, defragBlock, freeBytes, freeSized, windowAt, windowAt2, windowFree,
  windowFree2,
} from "./alloc";
import { me, reclaim, retire } from "./epoch";
import { entryInWindow, evictable, mergeFree } from "./evict";
import { expiredAt, removeAt } from "./expiry";
import { SITE_MOVE, faultPoint, faultSite } from "./fault";
import { root } from "./table";
import {
  COUNTER_SEAL, H_EPOCH, KIND_COUNTER, KIND_INTENT, STAT_EXPIRATIONS, STAT_MOVES, statAdd, blockKind, counterCas, counterLoad,
  counterSealed, blockLink, entryBytes, entryValue, hdrLoad, setBlockLink, slotAddr, slotCas, slotHash, slotLoad, slotWord, tableCap, tableNext, tableSlots,
} from "./layout";

/** Allocations tried for one copy before the window is given up. */
const MOVE_TRIES: i32 = 8;
/** Windows one allocation empties before it gives up. */
const ATTEMPTS: i32 = 4;
/** Epoch rounds an evacuation waits for the moved entries' blocks. */
const WAIT_ROUNDS: i32 = 1 << 14;
/** This thread's last fruitless evacuation: its free bytes and epoch. None
 *  again until 64 KiB more lie free or 16 epochs passed (every failing
 *  insert of a full map would walk the table and wait). */
let fruitlessAt: i64 = -1;
let fruitlessEpoch: u32 = 0;

function fruitless(): void {
  fruitlessAt = freeBytes();
  fruitlessEpoch = hdrLoad(H_EPOCH);
}

/**
 * A block of `size` bytes made by moving the live entries of a window of
 * free memory out of it, or 0. Inside an operation, at a point where this
 * thread holds no reference into the map (map.ts allocFresh): it waits for
 * the moved entries' blocks to come back (three epochs).
 */
export function evacuate(size: usize): usize {
  const cls = classOf(size);
  const want = classSize(cls);
  const free = freeBytes();
  if (free < <i64>(want << 1)) return 0;
  if (fruitlessAt >= 0 && free < fruitlessAt + 65536 && hdrLoad(H_EPOCH) - fruitlessEpoch < 16) return 0;
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const t = root();
    if (tableNext(t) != 0) break;
    // A merge, forced, to learn where the windows lie now (and in case what
    // came back since makes the block at once).
    if (mergeFree(want, true) && defragBlock != 0) return defragBlock;
    const at1 = windowAt;
    const at2 = windowAt2;
    // The best window first, then the second if it has half as much free:
    // the best may hold an entry that cannot move (as large as the block
    // wanted: no room outside for its copy).
    let tried = false;
    moved = 0;
    if (at1 != 0 && evictable(at1, at1 + want)) {
      tried = true;
      // Even if a copy found no room, what moved comes back.
      if (!moveOut(t, at1, at1 + want, cls) && moved == 0) tried = false;
    }
    if (!tried && at2 != 0 && windowFree2 * 2 >= windowFree && evictable(at2, at2 + want)) {
      tried = true;
      if (!moveOut(t, at2, at2 + want, cls) && moved == 0) tried = false;
    }
    if (!tried) break;
    // The old blocks come back three epochs on; then merged, the window is
    // one run, unless a block no walk of the slots finds lies in it (an
    // entry another thread has not published yet, a keyed tombstone): then
    // another window.
    const since = hdrLoad(H_EPOCH);
    for (let round = 0; round < WAIT_ROUNDS && hdrLoad(H_EPOCH) - since < 3; round++) reclaim();
    const b = alloc(size);
    if (b != 0) return b;
  }
  fruitless();
  return 0;
}

/** Entries the last moveOut of this thread moved. */
let moved: i32 = 0;

/** Moves every live entry with a byte in [lo, hi) out of it (expired ones
 *  are removed instead). Returns false if a copy found no room. */
function moveOut(t: usize, lo: usize, hi: usize, below: i32): bool {
  const cap = tableCap(t);
  const slots = tableSlots(t);
  for (let i: u32 = 0; i < cap; i++) {
    const s = slotAddr(slots, i);
    const w = slotLoad(s);
    const e = entryInWindow(w, lo, hi);
    if (e == 0) continue;
    if (blockKind(e) == KIND_INTENT) return false; // an atomic commit's, in flight: not moved
    if (expiredAt(e)) {
      removeAt(t, s, w, STAT_EXPIRATIONS);
      continue;
    }
    if (!moveEntry(s, w, e, lo, hi, below)) return false;
  }
  return true;
}

/** Moves live entry e of slot s (word w) to a block outside [lo, hi).
 *  False only if no such block was found. */
function moveEntry(s: usize, w: u64, e: usize, lo: usize, hi: usize, below: i32): bool {
  const bytes = entryBytes(e);
  const n = allocOutside(bytes, lo, hi, below);
  if (n == 0) return false;
  let cw: u64 = 0;
  const counter = blockKind(e) == KIND_COUNTER;
  if (counter) {
    cw = counterLoad(e);
    // Sealed: a writer is replacing it (the slot changes anyway).
    if (counterSealed(cw) || counterCas(e, cw, cw ^ COUNTER_SEAL) != cw) {
      freeSized(n, bytes);
      return true;
    }
  }
  // Numbered first: the copy takes the entry's revisions with it.
  stamp(e);
  memory.copy(n, e, bytes);
  setBlockLink(n, 0);
  if (counter) store<u64>(entryValue(n), cw);
  faultSite(SITE_MOVE);
  faultPoint();
  if (slotCas(s, w, slotWord(slotHash(w), <u32>n)) != w) {
    // Changed meanwhile (a write, a sweep, a migration): the copy was never
    // published. A counter sealed above is replaced by its next writer.
    freeSized(n, bytes);
    return true;
  }
  retire(e);
  statAdd(me, STAT_MOVES, 1);
  moved++;
  return true;
}

/** A block of `bytes` that lies outside [lo, hi), or 0: of its class, or
 *  split from a free block of a class below `below` (the block wanted). */
function allocOutside(bytes: usize, lo: usize, hi: usize, below: i32): usize {
  const cls = classOf(bytes);
  let held: usize = 0;
  let b: usize = 0;
  for (let k = 0; k < MOVE_TRIES; k++) {
    b = alloc(bytes);
    if (b == 0) b = allocSplit(cls, below);
    if (b == 0 || b >= hi || b + classSize(cls) <= lo) break;
    setBlockLink(b, <u32>held);
    held = b;
    b = 0;
  }
  while (held != 0) {
    const next = <usize>blockLink(held);
    freeSized(held, bytes);
    held = next;
  }
  return b;
}
