// The block allocator: lock-free, size-classed, over the shared memory.
//
// Blocks come from a bump pointer (header `top`), growing the memory as
// needed up to the map's byte limit, and go back to one Treiber stack per
// size class. A block in use keeps its class, so freeing needs only the
// size, which every block can tell from its own fields (blockSize). Free
// blocks move between classes two ways: a larger one is split for a smaller
// class (allocSplit), and free blocks that touch are merged, whatever their
// classes, into regions or larger blocks (defragment, below).
//
// Classes: 16..64 bytes by steps of 8 (classes 0..6), then four per doubling
// up to 8 KiB (p * 5/4, 6/4, 7/4, 8/4), so a block wastes at most 25% of its
// size, and eight per doubling above (p * 9/8 .. 16/8): at most 12.5%, for
// the values where a quarter is many bytes.
//
// Regions: free memory of SPAN_BYTES or more that no class owns: the blocks
// of a table the map outgrew, and the runs a merge makes. Spans of small
// blocks are taken from a region before fresh memory, and a big block that
// has no free block of its class is cut from the smallest of the first few
// regions it fits. So the memory of the tables a growing map leaves behind
// holds entries later, instead of waiting for a table of the very same size
// (a growing map never wants one). Carving pops the region and pushes back
// what is left (at least a span), so regions too are only ever owned by one
// thread.
//
// Counts: each class's stack keeps how many blocks it holds, next to its
// head (layout.ts), added to right after the CAS of each push and pop. It
// is exact whenever no thread is between the two, and tells eviction how
// many blocks of a class are at hand (evict.ts, makeRoom).
//
// ABA: a head word is `offset | tag << 32`; every successful push or pop
// bumps the tag, so a pop that read a stale `next` fails its CAS. Reading
// `next` of a block another thread just popped is a benign race: the value is
// only used if the head (and its tag) did not change.
//
// A thread that dies between two steps leaks at most the block or the span it
// was carving: memory, never the structure (every step is one CAS).

import { evictable } from "./evict";
import {
  B_INFO, DEFRAG, DEFRAG_FRUITLESS, DEFRAG_BUCKETS, DEFRAG_BUCKET_COUNT, DEFRAG_DONE, DEFRAG_LARGEST, DEFRAG_RUN_HI, DEFRAG_RUN_LO, REGION_BYTES, SPARES, SPARES_COUNT, SPARES_WANTED, SPARE_SCRATCH, H_LIMIT, H_RESERVE, H_ROOT, H_TABLES_RETIRED, H_TOP, HEAP_START, KIND_TABLE, KIND_TOMB, NUM_CLASSES, REGIONS, R_SIZE, TABLE_OUTGROWN,
  blockInfo, blockKind, blockLink, entrySize, entryBytes, entryTimed, entryKeyLen, entryValueLen, freeCountAdd, freeCountLoad, freeCountStore, freeHead, hdrCas, hdrLoad, hdrSub,
  hdrStore, setBlockLink, TABLE_SPARE, EVICT_LRU, N_EVICTION, nsRecord, TABLE_HEADER, tableCap, tableSlots, tableChunks, chunkCount,
} from "./layout";
import { SITE_DEFRAG, faultPoint, faultSite } from "./fault";

/** Classes up to this size are carved SPAN_BYTES at a time (fewer top CASes). */
const SMALL_MAX: usize = 1024;
const SPAN_BYTES: usize = 16384;
const PAGE: usize = 65536;

/** The first class of the finer steps (sizes over 8 KiB). */
const FINE_CLASS: i32 = 35;

@inline export function classOf(size: usize): i32 {
  if (size <= 64) return size <= 16 ? 0 : <i32>((size + 7) >> 3) - 2;
  const p = 31 - <i32>clz<u32>(<u32>size - 1); // 2^p < size <= 2^(p+1)
  if (p < 13) return 7 + ((p - 6) << 2) + <i32>(((<u32>size - 1) >> <u32>(p - 2)) & 3);
  return FINE_CLASS + ((p - 13) << 3) + <i32>(((<u32>size - 1) >> <u32>(p - 3)) & 7);
}

@inline export function classSize(cls: i32): usize {
  if (cls <= 6) return 16 + (<usize>cls << 3);
  if (cls < FINE_CLASS) {
    const q = cls - 7;
    const p = 6 + (q >> 2);
    return (<usize>1 << <usize>p) + (<usize>((q & 3) + 1) << <usize>(p - 2));
  }
  const q = cls - FINE_CLASS;
  const p = 13 + (q >> 3);
  return (<usize>1 << <usize>p) + (<usize>((q & 7) + 1) << <usize>(p - 3));
}

/** Bytes of block `b`, computed from its own header (see layout.ts). */
export function blockSize(b: usize): usize {
  const kind = blockKind(b);
  if (kind == KIND_TABLE) return TABLE_HEADER;
  if (kind == KIND_TOMB) return entrySize(<usize>entryKeyLen(b), 0, entryTimed(b));
  return entryBytes(b);
}

@inline function headOffset(w: u64): usize {
  return <usize>(<u32>w);
}
@inline function headNext(w: u64, off: usize): u64 {
  return ((w + (<u64>1 << 32)) & 0xffffffff00000000) | <u64>off;
}

/** Pushes the chain first..last of `n` blocks of class `cls`. */
function pushChain(cls: i32, first: usize, last: usize, n: i32): void {
  faultPoint();
  // A size no allocation could have had means a bug: losing the block is
  // better than writing past the free-list heads.
  if (cls < 0 || cls >= NUM_CLASSES) return;
  pushAt(freeHead(cls), first, last);
  // No call or loop between the CAS and the count: a kill cannot split them.
  freeCountAdd(cls, n);
}

/** Pushes the chain first..last on the Treiber stack whose head word is at `h`. */
function pushAt(h: usize, first: usize, last: usize): void {
  let w = atomic.load<u64>(h);
  while (true) {
    setBlockLink(last, <u32>headOffset(w));
    // Order: publishes the links written above (and the block's last use by
    // its previous owner) to the thread that pops it.
    const seen = atomic.cmpxchg<u64>(h, w, headNext(w, first));
    if (seen == w) return;
    w = seen;
  }
}

function pop(cls: i32): usize {
  const b = popAt(freeHead(cls));
  if (b != 0) freeCountAdd(cls, -1);
  return b;
}

/** Pops the Treiber stack whose head word is at `h`. */
function popAt(h: usize): usize {
  let w = atomic.load<u64>(h);
  while (true) {
    const off = headOffset(w);
    if (off == 0) return 0;
    // Safety: off came from a head word, so it is a block inside memory; if
    // it was popped meanwhile, `next` may be garbage but the CAS then fails.
    const next = <usize>blockLink(off);
    const seen = atomic.cmpxchg<u64>(h, w, headNext(w, next));
    if (seen == w) return off;
    w = seen;
  }
}

function pushRegion(r: usize, size: usize): void {
  store<u32>(r + R_SIZE, <u32>size);
  pushAt(REGIONS, r, r);
  // No call or loop between the CAS and the count (see pushChain).
  atomic.add<i64>(REGION_BYTES, <i64>size);
}

/** Pops a region and takes its bytes off the count. */
function popRegion(): usize {
  const b = popAt(REGIONS);
  if (b != 0) atomic.sub<i64>(REGION_BYTES, <i64>load<u32>(b + R_SIZE));
  return b;
}

/** Bytes of memory freed and not yet used again: free blocks of every
 *  class and regions (a hint while other threads allocate and free). */
export function freeBytes(): i64 {
  let sum = atomic.load<i64>(REGION_BYTES);
  for (let c = 0; c < NUM_CLASSES; c++) sum += <i64>freeCount(classSize(c)) * <i64>classSize(c);
  return sum;
}

/** Of those, bytes allocations of `size` could take: as many blocks of its
 *  class as fit in the free blocks of its class and of larger classes below
 *  `splitBelow` (split, map.ts splitFree), and in the regions (carved; a
 *  region smaller than a big block's class holds none). Reads the regions'
 *  stack without popping (a hint while other threads allocate and free:
 *  exact at rest). */
export function freeBytesFor(size: usize, splitBelow: i32): i64 {
  const cls = classOf(size);
  if (cls >= NUM_CLASSES) return 0;
  const csize = classSize(cls);
  let sum: i64 = 0;
  const top = splitBelow > cls + 1 ? splitBelow : cls + 1;
  for (let c = cls; c < top && c < NUM_CLASSES; c++) {
    const each = classSize(c);
    sum += <i64>freeCount(each) * <i64>(each - each % csize);
  }
  const regions = atomic.load<i64>(REGION_BYTES);
  if (csize <= SMALL_MAX) return sum + regions; // carved into spans of any region
  // Big blocks: only regions of their size or more. A walk cut short (a
  // link changed under it) counts the rest as it was counted before.
  let seen: i64 = 0;
  const heapEnd = <usize>hdrLoad(H_TOP);
  let r = headOffset(atomic.load<u64>(REGIONS));
  for (let k = 0; k < REGION_WALK && r != 0; k++) {
    if (r < HEAP_START || r >= heapEnd || (r & 7) != 0) break;
    const len = <usize>load<u32>(r + R_SIZE);
    seen += <i64>len;
    sum += <i64>(len - len % csize);
    r = <usize>blockLink(r);
  }
  if (r != 0 && regions > seen) sum += regions - seen;
  return sum;
}

/** Regions freeBytesFor reads at most. */
const REGION_WALK: i32 = 4096;

/** Bytes the last takeRegion handed out. */
let carved: usize = 0;

/** Regions a big block looks at before it takes fresh memory: a few, so
 *  that other threads rarely find the stack empty while one holds them
 *  (thread-local: searchAllRegions widens it). */
const REGION_SEARCH: i32 = 8;
let regionSearch: i32 = 0; // 0: REGION_SEARCH

/** Makes this thread's allocations look at every region (`all`), or at the
 *  usual few: for a table's blocks right after a merge, whose runs may lie
 *  anywhere on the stack. */
export function searchAllRegions(all: bool): void {
  regionSearch = all ? 0x7fffffff : 0;
}

/**
 * Cuts `want` bytes off the smallest of the top REGION_SEARCH regions that
 * has them (all of it if less than SPAN_BYTES would be left, which goes back
 * otherwise); 0 if none has. Regions it looked at go back in one push.
 */
function takeRegion(want: usize): usize {
  let r: usize = 0;
  let size: usize = 0;
  let first: usize = 0; // the regions too small, chained privately
  let last: usize = 0;
  const search = regionSearch != 0 ? regionSearch : REGION_SEARCH;
  for (let k = 0; k < search; k++) {
    let b = popRegion();
    if (b == 0) break;
    const s = <usize>load<u32>(b + R_SIZE);
    // The smallest that fits (best fit): larger ones stay whole for larger
    // blocks. The one it replaces goes back with those too small.
    if (s >= want && (r == 0 || s < size)) {
      const worse = r;
      r = b;
      size = s;
      b = worse;
    }
    if (b != 0) {
      if (first == 0) first = b;
      else setBlockLink(last, <u32>b);
      last = b;
    }
    if (r != 0 && size == want) break;
  }
  if (first != 0) {
    let back: i64 = 0;
    for (let g = first; ; g = <usize>blockLink(g)) {
      back += <i64>load<u32>(g + R_SIZE);
      if (g == last) break;
    }
    pushAt(REGIONS, first, last);
    atomic.add<i64>(REGION_BYTES, back);
  }
  if (r == 0) return 0;
  if (size - want < SPAN_BYTES) {
    carved = size;
  } else {
    pushRegion(r + want, size - want);
    carved = want;
  }
  return r;
}

// ---------------------------------------------------------------------------
// Defragmentation: free blocks that touch, merged whatever their classes.
//
// A block keeps its class while it lies on a free list, so memory freed by
// entries of one size would serve no other (a map emptied of 100-byte
// values could not take 200-byte ones). When an allocation finds no block,
// one thread at a time (DEFRAG) takes every free block and region off the
// lists and files each in the list of its bucket: 4 KiB of addresses, one
// word each (DEFRAG_BUCKETS), its blocks highest first. Then it walks the
// buckets down, merging blocks that touch into runs, and gives each run
// back (giveBack): as one region if it is SPAN_BYTES or more (carved by any
// class: takeRegion), else as the fewest blocks that fill it (pushPieces).
// Every byte ever carved out lies in some block (spans end on whole cache
// lines, tails become smaller blocks), so the memory between two live
// entries, freed in any sizes, comes back as one piece. The thread that
// merges may keep a block of the size it wants (defragBlock), from the
// smallest run that has room for it (best fit, as takeRegion).
//
// Kill-safety: a thread killed at any instant leaks at most one block (the
// one between its pop and its filing, or the one it keeps), and whoever
// releases it (epoch.ts releaseOwner), or the thread itself after a trap,
// finishes the merge (finishDefrag) from the shared words alone:
// - a bucket's list holds only blocks not given back yet, each linked to a
//   lower block of the same bucket;
// - before a run is given back it is recorded (DEFRAG_RUN_LO, _HI, the
//   progress in DEFRAG_DONE), then the bucket words are moved past it
//   (passRun: no list reaches its blocks, whose links the pushes
//   overwrite), then its pieces are pushed, each CAS followed by the
//   progress with no call or loop between.
// Other threads never wait for it; an allocation that fails meanwhile fails
// as it would have without it.

const BUCKET_SHIFT: usize = 12;

@inline function bucketWord(k: usize): usize {
  return <usize>atomic.load<u32>(DEFRAG_BUCKETS) + (k << 2);
}

/** The bucket words, from the heap (init): 4 bytes per 4 KiB of limit. */
export function defragInit(limit: usize): bool {
  const buckets = (limit + (<usize>1 << BUCKET_SHIFT) - 1) >> BUCKET_SHIFT;
  const b = alloc(buckets << 2);
  if (b == 0) return false;
  memory.fill(b, 0, buckets << 2);
  atomic.store<u32>(DEFRAG_BUCKETS, <u32>b);
  atomic.store<u32>(DEFRAG_BUCKET_COUNT, <u32>buckets);
  atomic.store<u32>(DEFRAG, 0);
  atomic.store<u32>(DEFRAG_FRUITLESS, 0);
  atomic.store<u32>(DEFRAG_RUN_HI, 0);
  atomic.store<u32>(DEFRAG_LARGEST, 0);
  return true;
}

/** Files free block b (its size at R_SIZE) in its bucket's list, which it
 *  keeps highest first. A kill before the last store loses b alone. */
function fileBlock(b: usize): void {
  const h = bucketWord(b >> BUCKET_SHIFT);
  let prev: usize = 0;
  let at = <usize>atomic.load<u32>(h);
  while (at > b) {
    prev = at;
    at = <usize>blockLink(at);
  }
  setBlockLink(b, <u32>at);
  if (prev == 0) atomic.store<u32>(h, <u32>b);
  else setBlockLink(prev, <u32>b);
}

/** Moves the bucket words past a run whose lowest block is `lo`: the
 *  buckets above lo's, from it up to `top` (exclusive), hold no block
 *  left to give back (they are walked first); lo's keeps its blocks
 *  below lo. Idempotent. */
function passRun(lo: usize, top: usize): void {
  faultPoint(); // the run is recorded: a trap from here on is finished by finishDefrag
  const k = lo >> BUCKET_SHIFT;
  for (let j = k + 1; j < top; j++) {
    faultPoint();
    atomic.store<u32>(bucketWord(j), 0);
  }
  let at = <usize>atomic.load<u32>(bucketWord(k));
  while (at >= lo) at = <usize>blockLink(at);
  atomic.store<u32>(bucketWord(k), <u32>at);
}

/** Gives back [from, hi), the rest of the recorded run: as one region if
 *  it is SPAN_BYTES or more, else as blocks (pushPieces' choice), the
 *  progress (DEFRAG_DONE) stored right after each CAS. */
function giveBack(from: usize, hi: usize): void {
  let a = from;
  if (hi - a >= SPAN_BYTES) {
    store<u32>(a + R_SIZE, <u32>(hi - a));
    pushAt(REGIONS, a, a);
    // No call or loop between the CAS (pushAt returns right after it) and
    // these two, as in pushChain.
    atomic.store<u32>(DEFRAG_DONE, <u32>hi);
    atomic.add<i64>(REGION_BYTES, <i64>(hi - a));
    return;
  }
  while (hi - a >= 16) {
    faultPoint();
    const len = hi - a;
    let k = classOf(len);
    if (classSize(k) > len) k--;
    if (len - classSize(k) == 8 && k > 0) k--;
    const sz = classSize(k);
    pushAt(freeHead(k), a, a);
    // No call or loop between the CAS and these two (see above).
    atomic.store<u32>(DEFRAG_DONE, <u32>(a + sz));
    freeCountAdd(k, 1);
    a += sz;
  }
  atomic.store<u32>(DEFRAG_DONE, <u32>hi);
}

/** The block the last defragment of this thread kept for it (of the size
 *  it asked for), or 0. */
export let defragBlock: usize = 0;
/** Runs that merged two blocks or more in the last mergeBuckets, and the
 *  length of the largest run. */
let mergedRuns: i32 = 0;
let largestRun: usize = 0;

/** Records the run [lo, hi) and gives it back, keeping its first `want`
 *  bytes for this thread (defragBlock) if it is the run chosen (`keepAt`). */
function emitRun(lo: usize, hi: usize, top: usize, want: usize, keepAt: usize): void {
  const from = want != 0 && lo == keepAt ? lo + want : lo;
  atomic.store<u32>(DEFRAG_RUN_LO, <u32>lo);
  atomic.store<u32>(DEFRAG_DONE, <u32>from);
  atomic.store<u32>(DEFRAG_RUN_HI, <u32>hi);
  if (from != lo) defragBlock = lo;
  passRun(lo, top);
  giveBack(from, hi);
  atomic.store<u32>(DEFRAG_RUN_HI, 0);
}

/** The start of the smallest run the filed blocks make that has room for
 *  `want` bytes (best fit: the larger runs stay whole for larger entries),
 *  or 0. Reads only. On the way, when no run has room, the two windows of
 *  `want` bytes that start at a free block and hold the most free bytes
 *  (windowAt, windowFree: evacuate.ts moves the entries in them out),
 *  below the heap's top. */
function bestRun(want: usize): usize {
  const count = <usize>atomic.load<u32>(DEFRAG_BUCKET_COUNT);
  let best: usize = 0;
  let bestLen: usize = <usize>-1;
  let lo: usize = 0;
  let hi: usize = 0;
  // The window [b, b + want) of each block b, as the walk goes down: `sum`
  // is the bytes of the blocks from b up to the trailing block `tb` (in
  // bucket `tk`), which drops those that start past the window.
  let sum: usize = 0;
  // Past the heap's top lies no block: a window reaching it never frees.
  const top = <usize>hdrLoad(H_TOP);
  let tk = count;
  let tb: usize = 0;
  windowAt = 0;
  windowFree = 0;
  windowAt2 = 0;
  windowFree2 = 0;
  let k = count;
  while (k > 0) {
    k--;
    for (let b = <usize>atomic.load<u32>(bucketWord(k)); b != 0; b = <usize>blockLink(b)) {
      const size = <usize>load<u32>(b + R_SIZE);
      sum += size;
      if (tb == 0) {
        tk = k;
        tb = b;
      }
      while (tb >= b + want) {
        sum -= <usize>load<u32>(tb + R_SIZE);
        tb = <usize>blockLink(tb);
        while (tb == 0 && tk > k) tb = <usize>atomic.load<u32>(bucketWord(--tk));
      }
      if (b + want > top || sum <= windowFree2 || !evictable(b, b + want)) {
        // Past the top, no better than the two found, or holding a block
        // that no move frees (a table, a thread's buffer).
      } else if (sum > windowFree) {
        // Windows found later lie lower: one that reaches the best one
        // replaces it, one apart from it pushes it second.
        if (b + want <= windowAt) {
          windowAt2 = windowAt;
          windowFree2 = windowFree;
        }
        windowAt = b;
        windowFree = sum;
      } else if (b + want <= windowAt) {
        windowAt2 = b;
        windowFree2 = sum;
      }
      const end = b + size;
      if (hi != 0 && end == lo) {
        lo = b;
        continue;
      }
      if (hi != 0 && fits(hi - lo, want) && hi - lo < bestLen) {
        best = lo;
        bestLen = hi - lo;
      }
      lo = b;
      hi = end;
    }
  }
  if (hi != 0 && fits(hi - lo, want) && hi - lo < bestLen) best = lo;
  return best;
}

/** The windows the last bestRun of this thread found (see there): the
 *  start of the one that holds the most free bytes and those bytes, and a
 *  second one apart from it (0: none). */
export let windowAt: usize = 0;
export let windowFree: usize = 0;
export let windowAt2: usize = 0;
export let windowFree2: usize = 0;

/** Whether a run of `len` bytes holds a block of `want` and leaves no rest
 *  of 8 bytes (no block: lost for good, between blocks that then never
 *  merge). */
@inline function fits(len: usize, want: usize): bool {
  return len >= want && len - want != 8;
}

/** Walks the buckets down, merging the blocks that touch into runs, and
 *  gives each run back (emitRun), keeping `want` bytes of the best fit. */
function mergeBuckets(want: usize): void {
  const count = <usize>atomic.load<u32>(DEFRAG_BUCKET_COUNT);
  const keepAt = want != 0 ? bestRun(want) : 0;
  mergedRuns = 0;
  largestRun = 0;
  let lo: usize = 0; // the run gathered so far: [lo, hi), of `blocks` blocks
  let hi: usize = 0;
  let blocks = 0;
  let top = count; // buckets from top up are passed already
  let k = count;
  while (k > 0) {
    k--;
    let b = <usize>atomic.load<u32>(bucketWord(k));
    while (b != 0) {
      faultPoint();
      const next = <usize>blockLink(b);
      const end = b + <usize>load<u32>(b + R_SIZE);
      if (hi != 0 && end == lo) {
        lo = b;
        blocks++;
      } else {
        if (hi != 0) {
          if (blocks > 1) mergedRuns++;
          if (hi - lo > largestRun) largestRun = hi - lo;
          emitRun(lo, hi, top, want, keepAt);
          top = (lo >> BUCKET_SHIFT) + 1;
        }
        lo = b;
        hi = end;
        blocks = 1;
      }
      b = next;
    }
  }
  if (hi != 0) {
    if (blocks > 1) mergedRuns++;
    if (hi - lo > largestRun) largestRun = hi - lo;
    emitRun(lo, hi, top, want, keepAt);
  }
}

/** Finishes a defragmentation from the shared words (the caller's, or a
 *  dead thread's), and ends it. */
export function finishDefrag(): void {
  const hi = <usize>atomic.load<u32>(DEFRAG_RUN_HI);
  if (hi != 0) {
    // A run cut short: its bucket words moved past it (again), then the
    // rest of it given back.
    passRun(<usize>atomic.load<u32>(DEFRAG_RUN_LO), <usize>atomic.load<u32>(DEFRAG_BUCKET_COUNT));
    giveBack(<usize>atomic.load<u32>(DEFRAG_DONE), hi);
    atomic.store<u32>(DEFRAG_RUN_HI, 0);
  }
  mergeBuckets(0);
  atomic.store<u32>(DEFRAG, 0);
}

/**
 * Merges free memory (see above), as the thread of slot index + 1 = `who`,
 * keeping a block of `want` bytes for itself if a run has room
 * (defragBlock; want 0: none). Returns whether it gave anything useful:
 * that block, or (want 0) a run of two blocks or more. False also when
 * another thread is at it, or when it is throttled: after a merge that
 * gave nothing useful, not again for a block larger than its largest run
 * (which lies on the free lists, but maybe not where an allocation looks:
 * takeRegion searches a few regions) until a page more was freed, else
 * every failing allocation of a full map would pay a pass. `force`: not
 * throttled (the caller knows that memory it freed came back).
 */
export function defragment(who: u32, want: usize, force: bool = false): bool {
  defragBlock = 0;
  windowAt = 0;
  windowAt2 = 0;
  lastFresh = false;
  if (atomic.load<u32>(DEFRAG_BUCKETS) == 0) return false;
  const free = freeBytes();
  if (!force && free < <i64>atomic.load<u32>(DEFRAG_FRUITLESS) << 10 && (want == 0 || want > <usize>atomic.load<u32>(DEFRAG_LARGEST))) return false;
  if (atomic.cmpxchg<u32>(DEFRAG, 0, who) != 0) return false;
  faultSite(SITE_DEFRAG);
  // Every free block into its bucket, its size at R_SIZE.
  for (let c = 0; c < NUM_CLASSES; c++) {
    const size = classSize(c);
    while (true) {
      faultPoint();
      const b = pop(c);
      if (b == 0) break;
      store<u32>(b + R_SIZE, <u32>size);
      fileBlock(b);
    }
  }
  while (true) {
    faultPoint();
    const r = popRegion();
    if (r == 0) break;
    fileBlock(r);
  }
  mergeBuckets(want);
  atomic.store<u32>(DEFRAG, 0);
  const useful = want != 0 ? defragBlock != 0 : mergedRuns > 0;
  const floor = useful ? 0 : (free + (<i64>1 << 16)) >> 10;
  atomic.store<u32>(DEFRAG_LARGEST, <u32>largestRun);
  atomic.store<u32>(DEFRAG_FRUITLESS, <u32>(floor < 0xffffffff ? floor : 0xffffffff));
  return useful;
}

/** Takes `size` fresh bytes from the bump pointer; 0 past `limit`. */
function bump(size: usize, limit: usize): usize {
  let top = <usize>hdrLoad(H_TOP);
  while (true) {
    // Cache-line aligned, so that a 128-byte entry spans two lines, not three.
    const start = (top + 63) & ~<usize>63;
    const end = start + size;
    if (end > limit || end < top) return 0;
    // Grow first, so that a block is never handed out beyond memory. Two
    // threads may both grow; the extra pages are used by later blocks.
    const have = <usize>memory.size() * PAGE;
    if (end > have) {
      // By a quarter at least (within the limit), so a memory that grows
      // (a LocalMap's) is not grown, and its views renewed, for every block.
      const need = <i32>((end - have + PAGE - 1) / PAGE);
      const room = <i32>((limit - have) / PAGE);
      let pages = <i32>(have / PAGE / 4);
      if (pages > room) pages = room;
      if (pages < need) pages = need;
      if (memory.grow(pages) < 0 && memory.grow(need) < 0 && end > <usize>memory.size() * PAGE) return 0;
    }
    const seen = <usize>hdrCas(H_TOP, <u32>top, <u32>end);
    if (seen == top) return start;
    top = seen;
  }
}

/**
 * A block of at least `size` bytes (8-aligned, contents undefined); 0 if
 * memory is full. Fresh memory stops `reserve` bytes short of the limit:
 * that room is kept for allocReserved (a new table), so that a full map can
 * always migrate, which is how it drops deleted entries.
 */
export function alloc(size: usize): usize {
  return allocBelow(size, <usize>hdrLoad(H_LIMIT) - <usize>hdrLoad(H_RESERVE));
}

/** As alloc, but may use the reserve (tables only). */
export function allocReserved(size: usize): usize {
  return allocBelow(size, <usize>hdrLoad(H_LIMIT));
}

/** As allocReserved, but from freed memory only (a free block of its class,
 *  or a region), never from the bump pointer: for a table larger than the
 *  map asked for, taken only because such a block lies free. */
export function allocFree(size: usize): usize {
  return allocBelow(size, 0); // bump() refuses any block ending past 0
}

/** Freed blocks of `size`'s class at hand (its stack's count; a hint while
 *  other threads push and pop). */
export function freeCount(size: usize): i32 {
  const cls = classOf(size);
  if (cls >= NUM_CLASSES) return 0;
  const n = freeCountLoad(cls);
  return n > 0 ? n : 0;
}

/** Whether the last block this thread allocated came straight from the
 *  bump pointer: never used, so still zero (the memory starts zeroed). */
export let lastFresh: bool = false;

function allocBelow(size: usize, limit: usize): usize {
  faultPoint();
  const cls = classOf(size);
  if (cls >= NUM_CLASSES) return 0;
  lastFresh = false;
  const b = pop(cls);
  if (b != 0) return b;
  const csize = classSize(cls);
  if (csize > SMALL_MAX) {
    const r = takeRegion(csize);
    if (r != 0) {
      // A tail too small to be a region goes to the smaller classes: every
      // byte carved out stays in some block (see defragment).
      if (carved > csize) pushPieces(r + csize, carved - csize);
      return r;
    }
    lastFresh = true;
    return bump(csize, limit); // big classes are multiples of 256: no gap after
  }
  // Carve a span: keep the first block, chain the rest privately, then
  // publish them with one CAS.
  let n = SPAN_BYTES / csize;
  let span = takeRegion(n * csize);
  let bytes: usize = 0;
  if (span != 0) {
    n = carved / csize;
    if (carved - n * csize == 8 && n > 1) n--; // no rest of 8 (no block, see allocSplit)
    bytes = carved;
  } else {
    // A whole number of cache lines, so the next span starts where this one
    // ends (no gap that no block holds); a tail of 8 bytes (no class) is
    // avoided by carving one block fewer.
    while (n > 1 && ((n * csize + 63) & ~<usize>63) - n * csize == 8) n--;
    bytes = (n * csize + 63) & ~<usize>63;
    span = bump(bytes, limit);
    if (span == 0) {
      n = 1;
      bytes = (csize + 63) & ~<usize>63;
      span = bump(bytes, limit);
      if (span == 0) return 0;
    }
  }
  if (n > 1) {
    for (let i: usize = 1; i < n - 1; i++) setBlockLink(span + i * csize, <u32>(span + (i + 1) * csize));
    pushChain(cls, span + csize, span + (n - 1) * csize, <i32>(n - 1));
  }
  if (bytes > n * csize) pushPieces(span + n * csize, bytes - n * csize);
  return span;
}

/** Frees `len` bytes at `a` (8-aligned) as blocks of the classes that fill
 *  them, largest first; never leaves a rest of 8 (no class) unless `len` is
 *  8. A run of SPAN_BYTES or more becomes a region. */
export function pushPieces(a: usize, len: usize): void {
  if (len >= SPAN_BYTES) {
    pushRegion(a, len);
    return;
  }
  while (len >= 16) {
    let k = classOf(len);
    if (classSize(k) > len) k--;
    if (len - classSize(k) == 8 && k > 0) k--;
    const sz = classSize(k);
    pushChain(k, a, a, 1);
    a += sz;
    len -= sz;
  }
}

/** Returns a block that no thread can reach any more (see epoch.ts). A
 *  table's header block takes its slots block with it. */
export function free(b: usize): void {
  if (blockKind(b) == KIND_TABLE) {
    hdrSub(H_TABLES_RETIRED, 1); // first: a kill below leaks the table, not a count
    const outgrown = (blockInfo(b) & TABLE_OUTGROWN) != 0;
    if (!outgrown && keepTables()) {
      // Kept whole for the next migration to a table of its size (the
      // same as the root's, or half of it: evict.ts evictForTable) in
      // TABLE_SPARE; the one kept so far goes back. A kill between the two
      // leaks that one.
      keepTable(b);
      return;
    }
    freeTableBlocks(b, outgrown);
    return;
  }
  pushChain(classOf(blockSize(b)), b, b, 1);
}

/** Frees table t's three blocks (see freeBig). */
function freeTableBlocks(t: usize, outgrown: bool): void {
  freeBig(tableSlots(t), <usize>tableCap(t) << 3, outgrown);
  freeBig(tableChunks(t), <usize>chunkCount(tableCap(t)) << 3, outgrown);
  pushChain(classOf(TABLE_HEADER), t, t, 1);
}

/** Whether retired tables are kept (TABLE_SPARE): under eviction 'lru'. */
@inline function keepTables(): bool {
  return atomic.load<u32>(nsRecord(0) + N_EVICTION) == EVICT_LRU;
}

/** Tables kept whole (TABLE_SPARE words). */
const KEPT_TABLES: usize = 2;

/** Keeps retired table b in an empty TABLE_SPARE word, or in place of one
 *  whose table is not the root's size (else the first), which goes back. */
export function keepTable(b: usize): void {
  const rootCap = tableCap(<usize>hdrLoad(H_ROOT));
  let at: usize = TABLE_SPARE;
  for (let k: usize = 0; k < KEPT_TABLES; k++) {
    const w = TABLE_SPARE + (k << 2);
    const t = <usize>atomic.load<u32>(w);
    if (t == 0 && atomic.cmpxchg<u32>(w, 0, <u32>b) == 0) return;
    if (t != 0 && tableCap(t) != rootCap) at = w;
  }
  const old = <usize>atomic.xchg<u32>(at, <u32>b);
  if (old != 0) freeTableBlocks(old, false);
}

/** A table kept whole (TABLE_SPARE), taken, if one has `cap` slots; else
 *  0. Its blocks hold what its last use left. */
export function takeKeptTable(cap: u32): usize {
  for (let k: usize = 0; k < KEPT_TABLES; k++) {
    const w = TABLE_SPARE + (k << 2);
    const t = <usize>atomic.load<u32>(w);
    // Reading a table another thread just took is a benign race: the CAS
    // then fails (a table taken and kept again is free again).
    if (t == 0 || tableCap(t) != cap) continue;
    if (atomic.cmpxchg<u32>(w, <u32>t, 0) == <u32>t) return t;
  }
  return 0;
}

/** Frees, as regions, the tables kept whole that have more than `cap`
 *  slots (a map whose entries became fewer wants none of them soon). */
export function dropKeptTables(cap: u32): void {
  for (let k: usize = 0; k < KEPT_TABLES; k++) {
    const w = TABLE_SPARE + (k << 2);
    const t = <usize>atomic.load<u32>(w);
    if (t == 0 || tableCap(t) <= cap) continue;
    if (atomic.cmpxchg<u32>(w, <u32>t, 0) == <u32>t) freeTableBlocks(t, true);
  }
}

/** The i-th table kept whole, or 0 (evict.ts evictable). */
export function keptTable(i: usize): usize {
  return <usize>atomic.load<u32>(TABLE_SPARE + (i << 2));
}

/** Frees a table's block: to the regions if the table was outgrown and the
 *  block is big enough to be one, else to its class. */
function freeBig(b: usize, size: usize, outgrown: bool): void {
  const cls = classOf(size);
  if (outgrown && cls < NUM_CLASSES && classSize(cls) >= SPAN_BYTES) pushRegion(b, classSize(cls));
  else pushChain(cls, b, b, 1);
}

/** Returns a block of known size (used for blocks never published). */
export function freeSized(b: usize, size: usize): void {
  pushChain(classOf(size), b, b, 1);
}

/**
 * A block of class `cls` cut from a free block of a larger class below
 * `below`, the rest going to the free lists of the classes that fill it,
 * largest first (pushPieces; a block whose rest would be 8 bytes, no
 * block, is not split). 0 if no such block lies free.
 * Under 'lru', before a merge (evict.ts fromFree); without eviction, after
 * a merge found no run that fits (map.ts splitFree).
 */
export function allocSplit(cls: i32, below: i32): usize {
  const want = classSize(cls);
  const top = below < NUM_CLASSES ? below : NUM_CLASSES;
  for (let c = cls + 1; c < top; c++) {
    // A rest of 8 bytes could be no block: lost for good, it would keep the
    // blocks around it from ever merging into one run.
    if (classSize(c) - want == 8 || freeCountLoad(c) <= 0) continue;
    const b = pop(c);
    if (b == 0) continue;
    pushPieces(b + want, classSize(c) - want);
    return b;
  }
  return 0;
}

// Spare scratch buffers. A thread that attaches needs a scratch buffer of
// SPARE_SCRATCH bytes, and a full map (the steady state of a cache) has no
// such block, and attaching evicts nothing. So init() sets a few aside (sparesFor), attach takes one only
// when memory has none, and a released thread's buffer refills them before
// it goes back to the allocator. A pool of workers that grows once the map
// is full can thus still attach that many threads.

/** Spares a shared map of `limit` bytes keeps: one per 2 MiB, at most 4
 *  (none below 2 MiB, where 64 KiB is too large a share). */
export function sparesFor(limit: usize): u32 {
  const n = <u32>(limit >> 21);
  return n > 4 ? 4 : n;
}

/** A spare scratch buffer (SPARE_SCRATCH bytes), or 0. */
export function popSpare(): usize {
  const b = popAt(SPARES);
  if (b != 0) atomic.sub<i32>(SPARES_COUNT, 1);
  return b;
}

/** Gives back a scratch buffer of `size` bytes: to the spares while they are
 *  short of the number init() set, else to the allocator. */
export function freeScratch(b: usize, size: usize): void {
  if (size == SPARE_SCRATCH && atomic.load<i32>(SPARES_COUNT) < <i32>atomic.load<u32>(SPARES_WANTED)) {
    pushAt(SPARES, b, b);
    // No call or loop between the CAS and the count (see pushChain).
    atomic.add<i32>(SPARES_COUNT, 1);
    return;
  }
  freeSized(b, size);
}

/** Prepares an empty heap: called once by init() on zeroed memory, with the
 *  number of spare scratch buffers to keep. */
export function allocInit(limit: usize, spares: u32): void {
  for (let c = 0; c < NUM_CLASSES; c++) {
    atomic.store<u64>(freeHead(c), 0);
    freeCountStore(c, 0);
  }
  atomic.store<u64>(REGIONS, 0);
  atomic.store<i64>(REGION_BYTES, 0);
  atomic.store<u64>(SPARES, 0);
  atomic.store<i32>(SPARES_COUNT, 0);
  atomic.store<u32>(TABLE_SPARE, 0);
  atomic.store<u32>(TABLE_SPARE + 4, 0);
  hdrStore(H_TOP, <u32>HEAP_START);
  hdrStore(H_LIMIT, <u32>limit);
  hdrStore(H_RESERVE, 0);
  atomic.store<u32>(SPARES_WANTED, spares);
  for (let k: u32 = 0; k < spares; k++) {
    const b = alloc(SPARE_SCRATCH);
    if (b == 0) break;
    freeScratch(b, SPARE_SCRATCH);
  }
  defragInit(limit);
}

/** Bytes handed out by the bump pointer so far (high-water mark). */
export function heapTop(): usize {
  return <usize>hdrLoad(H_TOP);
}

