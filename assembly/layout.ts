// The memory layout of a wasmap map: the only file that knows offsets.
//
// Every structure lives in one shared linear memory. Nothing here is a
// managed AssemblyScript object: addresses are plain `usize` offsets, and the
// tiny `@inline` accessors below are the only places that add to them.
//
//   0                 64                 HEAP_START
//   +-----------------+------------------+--------------------------------->
//   | null guard      | header | free-list heads | thread slots | heap ...
//   +-----------------+------------------+--------------------------------->
//
// Header (at HEADER), one line of read-mostly fields, then hot counters each
// on its own 64-byte line so that they do not share a cache line:
//
//   +0  u32 magic          MAGIC; written last by init()
//   +4  u32 version        LAYOUT_VERSION
//   +8  u32 seed           hash seed chosen by the host (crypto random)
//   +12 u32 limit          bytes the map may use in all (maxMemoryBytes)
//   +16 u32 root           the current table (see Table below)
//   +20 u32 epoch          global reclamation epoch (epoch.ts)
//   +24 u32 top            bump pointer: first byte never handed out
//   +28 u32 threadHigh     1 + highest thread slot ever claimed
//   +32 u32 maxKeyBytes    validated by every host thread
//   +36 u32 maxValueBytes
//   +40 u32 minCapacity    smallest table, in slots
//   +44 u32 reserve        bytes below the limit kept for a table migration
//   +48 u32 namespaces     address of the namespace records (see below)
//   +52 u32 sweepCursor    next expiry chunk a writer sweeps (expiry.ts)
//   +56 f64 timeBase       the creator's clock at init: expiry chunks count
//                          milliseconds from it
//   +64 i64 size           live entries                      (own line)
//   +72 i64 intents        atomic commits' intents in slots that were
//                          EMPTY, not settled (commit.ts): entries a
//                          migration's target must have room for
//   +120 u32 tablesRetired tables retired, not yet freed
//   +128 u64 stats[16]     totals folded in from released thread slots
//   +256 u64 revision      the map's revision (rev.ts)       (own line)
//   +320 ANON_TOMB         the entry of every DELETED slot (40 bytes)
//
// Free-list heads (at FREE_HEADS): NUM_CLASSES records of FREE_HEAD_SIZE
// bytes, one Treiber stack per size class (alloc.ts):
//
//   +0  u64 head           `offset | tag<<32` of the top block
//   +8  i32 count          blocks on the stack: added to right after each
//                          push's or pop's CAS, so exact when no thread is
//                          between the two (a hint for eviction, evict.ts)
//
// then on a line of its own the head of the regions: big freed blocks that
// small blocks are carved from.
//
// Thread slots (at THREADS): MAX_THREADS records of THREAD_SIZE bytes, one
// cache line each, claimed by a CAS of their owner word (epoch.ts):
//
//   +0  u32 owner          host id of the thread; 0 = free
//   +4  u32 announce       0 = outside the map; (epoch << 1) | 1 = inside
//   +8  u32 scratch        the thread's private I/O buffer (block address)
//   +12 u32 scratchSize
//   +16 u32 bagHead[3]     retired blocks by epoch % 3 (intrusive lists)
//   +28 u32 bagEpoch[3]
//   +40 u32 retiredSince   retirements since the last advance attempt
//   +44 u32 nsPending      namespace record with a reservation in flight
//   +48 i32 nsPendingEntries, +52 i32 nsPendingBytes: its amounts
//   +56 u32 hold           tests only (fault.ts): 1 while the thread is held
//                          at a fault point; anyone stores 0 to let it go
//   +64 u64 stats[16]      this thread's statistics (STAT_*), on lines of
//                          their own: striped, so counting never contends
//
// Blocks (alloc.ts) carry no allocator header: every entry and table block
// starts with the same two words, and its size is computed from its own
// fields (blockSize). A thread's scratch buffer is the exception: the host
// writes over all of it, so its size is kept in the thread slot.
//
// Entry (immutable once published, except the counter word, the use record
// and the revision word, which are written with atomics):
//
//   +0  u32 link           retire/free-list link; written only once the
//                          entry is unreachable, never read by readers
//   +4  u32 info           kind (low 7 bits), E_TIMED (bit 7); bits 8..31:
//                          use record (eviction)
//   +8  u32 keyLen
//   +12 u32 valueLen
//   +16 u64 rev            modRevision in bits 0..52: 0 until stamped, once,
//                          right after the entry is published (rev.ts);
//                          REV_DELETED (bit 63) once its key's deletion is
//                          stamped
//   +24 u64 create         createRevision; 0 = the entry's own modRevision
//                          (it created its key)
//   +32 u32 version        changes of the key since it was created (1 for
//                          the entry that created it)
//   +36 f64 expires        only if E_TIMED (unaligned: read and written
//                          plainly): absolute expiry, ms on the
//                          hosts' clock (0 = never, for a counter, which
//                          always has the word: increment sets it late)
//   then key bytes (at 36, or 44 with an expiry; 4-aligned, so copied
//   exactly, never past their end), then value bytes, 8-aligned, padded to 8
//
// An entry without an expiry has 36 bytes of header: a 30-byte key (34
// with its namespace tag) with a 55-byte value takes a 128-byte block.
//
// Table: a header block of TABLE_HEADER bytes, and a slots block of exactly
// cap * 8 bytes (a power of two, so an exact size class; no bytes wasted):
//
//   +0  u32 link           as for entries
//   +4  u32 info           KIND_TABLE, | TABLE_FULL_SIZE if made smaller than
//                          wanted (no memory), | TABLE_OUTGROWN once a larger table
//                          replaced it, or under 'lru' a far smaller one
//                          (evict.ts shrinkTable): its blocks are then freed
//                          as regions
//   +8  u32 cap            slots, a power of two
//   +12 u32 next           table being migrated to; 0 = none
//   +16 u32 used           non-empty slots (drives growth; a heuristic)
//   +20 u32 claim          next migration chunk to claim (grows past nChunks)
//   +24 u32 moved          slots moved to `next`; == cap means done
//   +44 u32 safe           epoch from which a delete here may free the
//                          entry at once (see DELETED below)
//   +48 u32 keyed          DELETED slots that keep their entry
//   +28 u32 reserve        for a migration target: entries its source may
//                          still copy in (live count at the start, + slack)
//   +32 u32 copied         entries copied in by migration
//   +36 u32 slots          address of the slots block: u64 slots[cap]
//   +40 u32 chunks         address of the expiry chunk words (expiry.ts): one
//                          u64 per CHUNK slots (map.ts), (version << 32) | the
//                          earliest expiry (ms from timeBase) of any entry
//                          published in those slots since the chunk was swept
//
// Slot word (u64): high 32 bits = key hash, low 32 bits = entry address with
// flag bits in its low 3 bits (entries are 8-aligned, so these are free):
//
//   0                      EMPTY: never used in this table
//   (h, E)                 LIVE: entry E holds the key's current value
//   (h, ANON | DEL)        DELETED: occupied, for the probe chains that pass
//                          it, but no key's: ANON_TOMB has an empty key,
//                          which no key equals. The entry that was there is
//                          retired when the slot turns DELETED, so removing
//                          a key never needs memory and gives its memory
//                          back without waiting for a migration. A key set
//                          again goes to the end of its chain.
//   (h, E | DEL)           DELETED, keyed: E, the key's old entry, stays as
//                          its tombstone (retired when the table migrates).
//                          Only in a table whose `safe` epoch has not come:
//                          while it is a migration's target, and for three
//                          epochs after, a migration helper that read the
//                          key in the old table may still copy it in, and
//                          must then find the key deleted, not an empty
//                          slot (it would bring the key back).
//   (h, x | FROZEN)        FROZEN: migration owns it; no more writes here
//   (0, FROZEN)            FROZEN_EMPTY
//   (h, MOVED)             MOVED: its content is in `next`; key identity
//                          is gone (only the hash stays)
//   (0, MOVED_EMPTY)       MOVED_EMPTY: was empty; ends every probe chain

// ---------------------------------------------------------------------------
// Header

export const MAGIC: u32 = 0x50414d57; // "WMAP" little-endian
/** Bumped whenever any offset or protocol in this file changes. */
export const LAYOUT_VERSION: u32 = 15;

/** Addresses below this are never handed out: 0 means "no block". */
export const HEADER: usize = 64;
export const H_MAGIC: usize = 0;
export const H_VERSION: usize = H_MAGIC + 4;
export const H_SEED: usize = H_VERSION + 4;
export const H_LIMIT: usize = H_SEED + 4;
export const H_ROOT: usize = H_LIMIT + 4;
export const H_EPOCH: usize = H_ROOT + 4;
export const H_TOP: usize = H_EPOCH + 4;
export const H_THREAD_HIGH: usize = H_TOP + 4;
export const H_MAX_KEY: usize = H_THREAD_HIGH + 4;
export const H_MAX_VALUE: usize = H_MAX_KEY + 4;
export const H_MIN_CAP: usize = H_MAX_VALUE + 4;
export const H_RESERVE: usize = H_MIN_CAP + 4;
export const H_NS: usize = H_RESERVE + 4;
export const H_SWEEP: usize = H_NS + 4;
export const H_TIME_BASE: usize = H_SWEEP + 4; // 8-aligned (56)
/** Live entry count; on its own cache line (written by every insert/delete). */
export const H_SIZE: usize = 64;
/** The map's revision (u64): advanced by every change (rev.ts). On a line of
 *  its own: every write adds to it. */
export const H_REV: usize = 256;
/**
 * The anonymous tombstone that every DELETED slot points at: an entry with
 * an empty key (kind KIND_TOMB), written once by init, never freed, its
 * deletion stamped (rev.ts). ENTRY_KEY + 8 bytes: a key read stops at the
 * length, which is 0.
 */
export const ANON_TOMB: usize = HEADER + 320;
/** Tables retired and not yet freed (u32, the end of H_SIZE's line, after
 *  ANON_TOMB): added to when a migration retires its source table, taken
 *  from when the table is freed. A full map waits for one (map.ts,
 *  waitForTable) only while there is one. */
export const H_TABLES_RETIRED: usize = H_SIZE + 56;
/** Statistics of threads that have let their slot go (see T_STATS). */
export const H_STATS: usize = H_SIZE + 64;
export const HEADER_SIZE: usize = 384;

@inline export function hdrLoad(field: usize): u32 {
  // Safety: HEADER + field < FREE_HEADS, inside the first page.
  return atomic.load<u32>(HEADER + field);
}
@inline export function hdrStore(field: usize, v: u32): void {
  atomic.store<u32>(HEADER + field, v);
}
@inline export function hdrCas(field: usize, old: u32, v: u32): u32 {
  return atomic.cmpxchg<u32>(HEADER + field, old, v);
}
@inline export function hdrAdd(field: usize, v: u32): u32 {
  return atomic.add<u32>(HEADER + field, v);
}
@inline export function hdrSub(field: usize, v: u32): u32 {
  return atomic.sub<u32>(HEADER + field, v);
}
@inline export function sizeAdd(d: i64): void {
  // Safety: H_SIZE is 8-aligned inside the header.
  atomic.add<i64>(HEADER + H_SIZE, d);
}
/** Intents of new keys in flight (see the header): added to right after
 *  the CAS that installs one, taken from right after the one that settles it. */
export const H_INTENTS: usize = H_SIZE + 8;
@inline export function intentsAdd(d: i64): void {
  atomic.add<i64>(HEADER + H_INTENTS, d);
}
@inline export function intentsLoad(): i64 {
  return atomic.load<i64>(HEADER + H_INTENTS);
}
@inline export function sizeLoad(): i64 {
  return atomic.load<i64>(HEADER + H_SIZE);
}

// ---------------------------------------------------------------------------
// Free lists

/** 7 classes of 16..64 B by 8, then 4 per doubling up to 8 KiB, then 8 per
 *  doubling up to 2^32: see alloc.ts. */
export const NUM_CLASSES: i32 = 187;
export const FREE_HEADS: usize = HEADER + HEADER_SIZE;
/** A class's record: the u64 head, then an i32 count of the blocks on its
 *  stack (4 spare bytes). 16 bytes: four classes a line, and the count on
 *  its head's line, so that keeping it costs a push or pop no other line. */
export const FREE_HEAD_SIZE: usize = 16;
export const F_COUNT: usize = 8;

@inline export function freeHead(cls: i32): usize {
  // Safety: cls < NUM_CLASSES (classOf caps it), 16-aligned.
  return FREE_HEADS + <usize>cls * FREE_HEAD_SIZE;
}
@inline export function freeCountAdd(cls: i32, d: i32): void {
  atomic.add<i32>(freeHead(cls) + F_COUNT, d);
}
@inline export function freeCountLoad(cls: i32): i32 {
  return atomic.load<i32>(freeHead(cls) + F_COUNT);
}
@inline export function freeCountStore(cls: i32, v: i32): void {
  atomic.store<i32>(freeHead(cls) + F_COUNT, v);
}

/** Head (u64 `offset | tag<<32`) of the regions stack (alloc.ts). A region
 *  is a freed big block: u32 link at +0, u32 size at +8. */
export const REGIONS: usize = FREE_HEADS + <usize>NUM_CLASSES * FREE_HEAD_SIZE;
export const R_SIZE: usize = 8;
/** i64 after the regions' head: bytes the regions hold (added to by each
 *  push, taken from by each pop, right after the CAS; a hint between). */
export const REGION_BYTES: usize = REGIONS + 8;
/** On the regions' line: the head (u64, as a free list's) and the count
 *  (i32, a hint) of the spare scratch buffers, SPARE_SCRATCH bytes each,
 *  kept for threads that attach once memory is full (alloc.ts). */
export const SPARES: usize = REGIONS + 16;
export const SPARES_COUNT: usize = REGIONS + 24;
/** u32: spares the map keeps (set by init: 0 for a LocalMap, which no other
 *  thread attaches to). */
export const SPARES_WANTED: usize = REGIONS + 28;
/** u32: the thread defragmenting free memory (its slot index + 1), or 0
 *  (alloc.ts defragment); u32: address of its bucket word array; u32:
 *  buckets in that array (one per 4 KiB of the limit). */
export const DEFRAG: usize = REGIONS + 32;
export const DEFRAG_BUCKETS: usize = REGIONS + 36;
export const DEFRAG_BUCKET_COUNT: usize = REGIONS + 40;
/** u32: free bytes (KiB) below which no defragmentation is tried, set by
 *  one that merged nothing useful to what was free then plus a page. */
export const DEFRAG_FRUITLESS: usize = REGIONS + 44;
/** u32 x 3: the run of merged memory being given back (alloc.ts giveBack):
 *  its start, its end (0: none; written last), and how far it is given
 *  back (below that address, on the free lists or handed out). */
export const DEFRAG_RUN_LO: usize = REGIONS + 48;
export const DEFRAG_RUN_HI: usize = REGIONS + 52;
export const DEFRAG_DONE: usize = REGIONS + 56;
/** u32: the largest run that merge gave back (with DEFRAG_FRUITLESS): a
 *  block no larger may be found by merging again. */
export const DEFRAG_LARGEST: usize = REGIONS + 60;
export const SPARE_SCRATCH: usize = 65536;
/** u32 x 2, on a line of their own: under eviction 'lru', tables that
 *  migrations replaced (once the map used half its memory), kept whole for
 *  the next migration to a table of their size (alloc.ts keepTable,
 *  table.ts newTable), or 0. A full 'lru' map merges free memory, whose
 *  runs entries of any size carve, so the block of a table it replaced
 *  would not wait for the next replacement. */
export const TABLE_SPARE: usize = REGIONS + 64;

// ---------------------------------------------------------------------------
// Thread slots

/** Threads that may attach at once. A slot is one cache line of hot fields
 *  and two of statistics, so that no two threads share a line. */
export const MAX_THREADS: i32 = 256;
export const THREAD_SIZE: usize = 192;
export const THREADS: usize = REGIONS + 128;
export const T_OWNER: usize = 0;
/** The owner word of a slot whose thread closed while its retired blocks
 *  were still too young to free (the epoch held back by a thread that
 *  died inside an operation): its bags stay in the slot, for the next
 *  thread that claims it, or that releases a dead one (epoch.ts). The
 *  host never gives a thread this id. */
export const ORPHAN_OWNER: u32 = 0xffffffff;
export const T_ANNOUNCE: usize = T_OWNER + 4;
export const T_SCRATCH: usize = T_ANNOUNCE + 4;
export const T_SCRATCH_SIZE: usize = T_SCRATCH + 4;
export const T_BAG_HEAD: usize = T_SCRATCH_SIZE + 4; // 3 x u32
export const T_BAG_EPOCH: usize = T_BAG_HEAD + 12; // 3 x u32
export const T_RETIRED: usize = T_BAG_EPOCH + 12;
export const T_NS_PENDING: usize = T_RETIRED + 4;
export const T_NS_PENDING_ENTRIES: usize = T_NS_PENDING + 4;
export const T_NS_PENDING_BYTES: usize = T_NS_PENDING_ENTRIES + 4;
export const T_HOLD: usize = T_NS_PENDING_BYTES + 4;
export const T_STATS: usize = 64;

// Statistics: 64-bit counters, one set per thread slot, written only by the
// slot's owner, read by anyone and summed; both sides atomic (the owner's
// load-add-store needs no read-modify-write: no one else writes them). A
// slot let go folds its counts into the header.
export const NUM_STATS: i32 = 16;
export const STAT_HITS: i32 = 0;
export const STAT_MISSES: i32 = 1;
export const STAT_SETS: i32 = 2;
export const STAT_DELETES: i32 = 3;
export const STAT_CAS_FAILURES: i32 = 4;
export const STAT_CONTENTION: i32 = 5;
/** Bytes of live keys and values (signed deltas per thread; the sum is exact). */
export const STAT_KEY_BYTES: i32 = 6;
export const STAT_VALUE_BYTES: i32 = 7;
/** Entries removed by expiry, and by eviction. */
export const STAT_EXPIRATIONS: i32 = 8;
export const STAT_EVICTIONS: i32 = 9;
/** Live entries moved out of a window of free memory (evacuate.ts). */
export const STAT_MOVES: i32 = 10;

/** The namespace counter (index into N_COUNTERS) a statistic maps to, or -1. */
@inline export function nsCounterOf(stat: i32): i32 {
  if (stat <= STAT_DELETES) return stat;
  if (stat == STAT_EXPIRATIONS) return 4;
  if (stat == STAT_EVICTIONS) return 5;
  return -1;
}

/** Adds to one of this thread's statistics (`t` is its own slot). */
@inline export function statAdd(t: usize, stat: i32, d: i64): void {
  // Safety: stat < NUM_STATS; the slot is THREAD_SIZE bytes.
  const a = t + T_STATS + (<usize>stat << 3);
  atomic.store<i64>(a, atomic.load<i64>(a) + d);
}
@inline export function statLoad(t: usize, stat: i32): i64 {
  return atomic.load<i64>(t + T_STATS + (<usize>stat << 3));
}
@inline export function statAddr(t: usize, stat: i32): usize {
  return t + T_STATS + (<usize>stat << 3);
}
/** Announce word: bit 0 says "inside an operation", the rest is the epoch. */
export const ANNOUNCE_ACTIVE: u32 = 1;

@inline export function threadSlot(i: i32): usize {
  // Safety: 0 <= i < MAX_THREADS, checked by every caller's loop bound.
  return THREADS + <usize>i * THREAD_SIZE;
}

/** First address the allocator may hand out (64-aligned). */
export const HEAP_START: usize = (THREADS + <usize>MAX_THREADS * THREAD_SIZE + 63) & ~<usize>63;

// ---------------------------------------------------------------------------
// Namespaces
//
// Every key starts with a 4-byte namespace tag (little-endian): the record
// index in its low NS_ID_BITS, the record's generation above. Tag 0 is the
// map's own namespace, tag 1 the registry of names (kept by the host). So
// keys of different namespaces never collide, and a view of a dropped
// namespace (old generation) can never reach the entries of a new one.
//
// Namespace record (NS_SIZE bytes, at H_NS + index * NS_SIZE):
//   +0  i64 entries        live entries, reserved before they are published
//   +8  i64 bytes          entry bytes (entrySize) of those entries
//   +16 u32 maxEntries     quota; 0 = none
//   +20 u32 maxBytes       quota; 0 = none
//   +24 u32 state          NS_FREE or NS_LIVE
//   +28 u32 gen            generation; bumped when the namespace is dropped
//   +32 u32 maxKey, +36 u32 maxValue: limits the host applies to its keys
//   +40 f64 defaultTtl     ms the host gives new entries without a ttl; 0 = none
//   +48 u32 ttlUsed        (record 0 only) set once any entry gets an expiry:
//                          until then hosts skip reading their clock
//   +52 u32 mapMaxEntries  (record 0 only) bound on the whole map; 0 = none
//   +56 u32 eviction       (record 0 only) EVICT_NONE or EVICT_LRU
//   +60 u32 tick           (record 0 only) new entries so far: the clock of
//                          the use stamps (info bits 8..31 of an entry)
//   +64 i64 counters[6]    hits, misses, sets, deletes, expirations,
//                          evictions of this namespace (not kept for the
//                          map's own namespace, whose traffic is the map's:
//                          see the striped statistics, nor for the
//                          registry, whose first word is N_FLIGHTS instead)
//   +112 u32 token[4]      the secret a handle of this namespace carries
//                          (record 0: the map's own handle), written by the
//                          host, checked by SharedMap.attach; zero until
//                          written, and no zero token is accepted

export const MAX_NAMESPACES: u32 = 1024;
export const NS_ID_BITS: u32 = 10;
export const NS_SIZE: usize = 128;
export const NS_TAG_BYTES: usize = 4;
export const NS_FREE: u32 = 0;
export const NS_LIVE: u32 = 1;
export const N_ENTRIES: usize = 0;
export const N_BYTES: usize = N_ENTRIES + 8;
export const N_MAX_ENTRIES: usize = N_BYTES + 8;
export const N_MAX_BYTES: usize = N_MAX_ENTRIES + 4;
export const N_STATE: usize = N_MAX_BYTES + 4;
export const N_GEN: usize = N_STATE + 4;
export const N_MAX_KEY: usize = N_GEN + 4;
export const N_MAX_VALUE: usize = N_MAX_KEY + 4;
export const N_DEFAULT_TTL: usize = N_MAX_VALUE + 4; // 8-aligned (40)
export const N_TTL_USED: usize = N_DEFAULT_TTL + 8;
export const N_MAP_MAX_ENTRIES: usize = N_TTL_USED + 4;
export const N_EVICTION: usize = N_MAP_MAX_ENTRIES + 4;
export const N_TICK: usize = N_EVICTION + 4;
export const N_COUNTERS: usize = 64;
export const N_TOKEN: usize = 112;
/** In the registry's record (tag 1), in place of its counters: a word the
 *  host bumps and notifies each time a getOrCompute computation ends, which
 *  its waiters wait on (Atomics.waitAsync). */
export const N_FLIGHTS: usize = N_COUNTERS;
export const NS_COUNTERS: i32 = 6;
export const EVICT_NONE: u32 = 0;
export const EVICT_LRU: u32 = 1;
/** An entry's use record, in bits 8..31 of its info word: a 4-bit use
 *  count (bits 8..11) and a 20-bit stamp (bits 12..31), (tick >> 2) when it
 *  was last used. Readers write it only when the stamp changed, so the count
 *  is "ticks in which it was used" (at most 15), and sampling wears it down. */
export const FREQ_SHIFT: u32 = 8;
export const FREQ_MASK: u32 = 0xf;
export const STAMP_SHIFT: u32 = 12;
export const STAMP_TICK_SHIFT: u32 = 2;
export const STAMP_MASK: u32 = 0xfffff;

@inline export function nsRecord(tag: u32): usize {
  // Safety: the index is masked below MAX_NAMESPACES; the block holds them all.
  return <usize>atomic.load<u32>(HEADER + H_NS) + (<usize>(tag & (MAX_NAMESPACES - 1)) * NS_SIZE);
}
@inline export function nsTagOf(key: usize): u32 {
  return load<u32>(key); // every key has at least NS_TAG_BYTES + 1 bytes
}

// ---------------------------------------------------------------------------
// Blocks, entries, tables

export const KIND_STRING: u32 = 1;
export const KIND_BYTES: u32 = 2;
export const KIND_COUNTER: u32 = 3;
/** The kind of ANON_TOMB, the entry of every DELETED slot. */
export const KIND_TOMB: u32 = 4;
export const KIND_TABLE: u32 = 5;
/** An atomic commit's intent for one key (commit.ts): an entry of the key
 *  whose value area is INTENT_BYTES of fields, in the key's slot from the
 *  commit's install to its settling. */
export const KIND_INTENT: u32 = 6;
/** An atomic commit's record (commit.ts): an entry of no key whose value
 *  area is COMMIT_BYTES of fields. */
export const KIND_COMMIT: u32 = 7;
/** Intent fields (in its value area): the key's slot word before the
 *  intent (u64), the commit's new entry for the key (0: none), the commit
 *  record, and the operation (commit.ts OP_*). */
export const I_PREV: usize = 0;
export const I_NEXT: usize = 8;
export const I_COMMIT: usize = 12;
export const I_OP: usize = 16;
export const INTENT_BYTES: usize = 24;
/** Commit record fields (in its value area): the status (u64: 0 pending,
 *  COMMIT_ABORTED, COMMIT_DECIDED, or the commit's revision) and the
 *  references to it (u32: each intent installed, and its owner). */
export const C_STATUS: usize = 0;
export const C_REFS: usize = 8;
export const COMMIT_BYTES: usize = 16;
export const COMMIT_ABORTED: u64 = <u64>1 << 62;
export const COMMIT_DECIDED: u64 = <u64>1 << 61;
export const KIND_MASK: u32 = 0x7f;
/** Info bit of a table replaced by a larger one (see alloc.ts, regions). */
export const TABLE_OUTGROWN: u32 = 0x100;
/** Info bit of a table made smaller than its entries wanted, for want of
 *  memory: under eviction 'lru', while it is in use every insert of a new
 *  key evicts one entry (evict.ts, makeRoom). Set before it is published. */
export const TABLE_FULL_SIZE: u32 = 0x200;

export const B_LINK: usize = 0;
export const B_INFO: usize = B_LINK + 4;

export const E_KEY_LEN: usize = B_INFO + 4;
export const E_VALUE_LEN: usize = E_KEY_LEN + 4;
/** The revision words (rev.ts). */
export const E_REV: usize = E_VALUE_LEN + 4;
export const E_CREATE: usize = E_REV + 8;
export const E_VERSION: usize = E_CREATE + 8;
/** The expiry word, in an entry whose info has E_TIMED only. */
export const E_EXPIRES: usize = E_VERSION + 4;
/** Where an entry's key starts without an expiry word (36: its header);
 *  E_TIMED moves it 8 further. */
export const ENTRY_KEY: usize = E_EXPIRES;
/** Info bit: the entry has an expiry word at E_EXPIRES. */
export const E_TIMED: u32 = 0x80;
/** The rev word's bits: the modRevision, and the flag of a stamped deletion. */
export const REV_MASK: u64 = 0x1fffffffffffff;
export const REV_DELETED: u64 = <u64>1 << 63;

@inline export function align8(n: usize): usize {
  return (n + 7) & ~<usize>7;
}
@inline export function blockLink(b: usize): u32 {
  return atomic.load<u32>(b + B_LINK);
}
@inline export function setBlockLink(b: usize, next: u32): void {
  // Order: made visible to another thread only by the CAS that publishes
  // the list it belongs to (free-list push, or handing over a dead thread's
  // bags).
  atomic.store<u32>(b + B_LINK, next);
}
/** The info word: every access is atomic, since readers of a published
 *  entry or table may meet a writer of its upper bits (the use record,
 *  TABLE_OUTGROWN); its low byte (kind, E_TIMED) never changes once the
 *  block is published. */
@inline export function blockInfo(b: usize): u32 {
  return atomic.load<u32>(b + B_INFO);
}
@inline export function setBlockInfo(b: usize, v: u32): void {
  atomic.store<u32>(b + B_INFO, v);
}
@inline export function blockKind(b: usize): u32 {
  return blockInfo(b) & KIND_MASK;
}
@inline export function entryKeyLen(e: usize): u32 {
  return load<u32>(e + E_KEY_LEN);
}
@inline export function entryValueLen(e: usize): u32 {
  return load<u32>(e + E_VALUE_LEN);
}
@inline export function entryTimed(e: usize): bool {
  return (blockInfo(e) & E_TIMED) != 0;
}
@inline export function entryKey(e: usize): usize {
  // E_TIMED >> 4 == 8: the expiry word's bytes, when there is one.
  return e + ENTRY_KEY + <usize>((blockInfo(e) & E_TIMED) >> 4);
}
@inline export function entryValue(e: usize): usize {
  // Safety: entries are 8-aligned, so the value (and a counter's 8-byte
  // word) is 8-aligned for atomics.
  return align8(entryKey(e) + <usize>entryKeyLen(e));
}
@inline export function entrySize(keyLen: usize, valueLen: usize, timed: bool): usize {
  return align8(ENTRY_KEY + (timed ? 8 : 0) + keyLen) + align8(valueLen);
}
/** Bytes of entry e, from its own header. */
@inline export function entryBytes(e: usize): usize {
  return entrySize(<usize>entryKeyLen(e), <usize>entryValueLen(e), entryTimed(e));
}
/** Bytes of a counter entry (always with its expiry word). */
@inline export function counterSize(keyLen: usize): usize {
  return entrySize(keyLen, 8, true);
}
/** Writes a private (unpublished) entry's header (its expiry 0, if it has
 *  the word); the caller fills bytes. */
@inline export function entryInit(e: usize, kind: u32, keyLen: u32, valueLen: u32, timed: bool): void {
  // The link word atomically: a thread popping this block's free list with
  // a stale head may still read it (alloc.ts popAt).
  setBlockLink(e, 0);
  setBlockInfo(e, timed ? kind | E_TIMED : kind);
  store<u32>(e + E_KEY_LEN, keyLen);
  store<u32>(e + E_VALUE_LEN, valueLen);
  atomic.store<u64>(e + E_REV, 0);
  store<u64>(e + E_CREATE, 0);
  store<u32>(e + E_VERSION, 1);
  if (timed) store<f64>(e + E_EXPIRES, 0);
}

// Counter word: a signed 64-bit value kept within +-(2^53 - 1), so that bits
// 62 and 63 are always equal. A replacing writer SEALS the word by flipping
// bit 62 (keeping the value recoverable); increments refuse a sealed word.
export const COUNTER_SEAL: u64 = 1 << 62;
@inline export function counterLoad(e: usize): u64 {
  return atomic.load<u64>(entryValue(e));
}
@inline export function counterCas(e: usize, old: u64, v: u64): u64 {
  return atomic.cmpxchg<u64>(entryValue(e), old, v);
}
@inline export function counterSealed(w: u64): bool {
  return (((w >> 62) ^ (w >> 63)) & 1) != 0;
}

export const TB_CAP: usize = B_INFO + 4;
export const TB_NEXT: usize = TB_CAP + 4;
export const TB_USED: usize = TB_NEXT + 4;
export const TB_CLAIM: usize = TB_USED + 4;
export const TB_MOVED: usize = TB_CLAIM + 4;
export const TB_RESERVE: usize = TB_MOVED + 4;
export const TB_COPIED: usize = TB_RESERVE + 4;
export const TB_SLOTS: usize = TB_COPIED + 4;
export const TB_CHUNKS: usize = TB_SLOTS + 4;
export const TB_SAFE: usize = TB_CHUNKS + 4;
/** DELETED slots of this table that keep their entry (tombFor): memory that
 *  only a migration of the table gives back. */
export const TB_KEYED: usize = TB_SAFE + 4;
/** TB_SAFE of a table that is still a migration's target. */
export const SAFE_NEVER: u32 = 0xffffffff;
/** Slots per expiry chunk: what one sweep step scans. */
export const SWEEP_SHIFT: u32 = 10;
export const NO_EXPIRY: u32 = 0xffffffff;

@inline export function chunkCount(cap: u32): u32 {
  return cap >> SWEEP_SHIFT > 0 ? cap >> SWEEP_SHIFT : 1;
}
@inline export function tableChunks(t: usize): usize {
  return <usize>load<u32>(t + TB_CHUNKS); // immutable once the table is published
}
@inline export function chunkAddr(chunks: usize, c: u32): usize {
  // Safety: c < chunkCount(cap) at every call site; 8-aligned block.
  return chunks + (<usize>c << 3);
}
@inline export function entryExpires(e: usize): f64 {
  // Immutable once published (a counter's is set before it is published).
  return entryTimed(e) ? load<f64>(e + E_EXPIRES) : 0;
}
export const TABLE_HEADER: usize = 64;

/** Bytes a table of `cap` slots takes: its header, slots and expiry chunk
 *  blocks, with room for the alignment of each (what the reserve must hold). */
@inline export function tableSize(cap: u32): usize {
  const chunkBytes = <usize>chunkCount(cap) << 3;
  return TABLE_HEADER + (<usize>cap << 3) + (chunkBytes < 16 ? 16 : chunkBytes) + 3 * 64;
}
@inline export function tableSlots(t: usize): usize {
  return <usize>load<u32>(t + TB_SLOTS); // immutable once the table is published
}
@inline export function tableCap(t: usize): u32 {
  return load<u32>(t + TB_CAP); // immutable once the table is published
}
@inline export function tableNext(t: usize): u32 {
  return atomic.load<u32>(t + TB_NEXT);
}
@inline export function tableField(t: usize, f: usize): u32 {
  return atomic.load<u32>(t + f);
}
@inline export function tableAdd(t: usize, f: usize, v: u32): u32 {
  return atomic.add<u32>(t + f, v);
}
@inline export function tableCas(t: usize, f: usize, old: u32, v: u32): u32 {
  return atomic.cmpxchg<u32>(t + f, old, v);
}
@inline export function slotAddr(slots: usize, i: u32): usize {
  // Safety: i = index & (cap - 1) < cap at every call site, and `slots` is
  // the table's slots block of cap * 8 bytes.
  return slots + (<usize>i << 3);
}
@inline export function slotLoad(s: usize): u64 {
  return atomic.load<u64>(s);
}
@inline export function slotCas(s: usize, old: u64, v: u64): u64 {
  return atomic.cmpxchg<u64>(s, old, v);
}

export const SLOT_EMPTY: u64 = 0;
export const SLOT_FROZEN: u32 = 1;
export const SLOT_DEL: u32 = 2;
/** Low word of a moved slot (its hash stays in the high word). */
export const SLOT_MOVED: u32 = 4;
/** Low word of a slot that was empty when it was moved: ends every chain. */
export const SLOT_MOVED_EMPTY: u32 = 6;
export const SLOT_FLAGS: u32 = 7;

@inline export function slotWord(hash: u32, lo: u32): u64 {
  return (<u64>hash << 32) | <u64>lo;
}
@inline export function slotHash(w: u64): u32 {
  return <u32>(w >> 32);
}
@inline export function slotLo(w: u64): u32 {
  return <u32>w;
}
@inline export function slotEntry(w: u64): usize {
  return <usize>(<u32>w & ~SLOT_FLAGS);
}
