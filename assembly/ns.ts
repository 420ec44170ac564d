// Namespaces: records, quotas and their accounting (layout.ts has the format).
//
// A write that adds entries or bytes to a namespace reserves them first
// (nsReserve, failing with ST_QUOTA past a quota, so a quota is never
// exceeded, even by racing threads), then publishes its entry, then commits
// (nsCommit) or undoes (nsUndo) the reservation. The reservation in flight is
// recorded in the thread slot in the same straight-line code as the add that
// makes it, and cleared right after the publishing CAS: a thread killed in
// between leaves the record, and releasing the thread undoes it.

import { me } from "./epoch";
import {
  H_NS, HEADER, MAX_NAMESPACES, NS_FREE, NS_ID_BITS, NS_LIVE, NS_SIZE, N_BYTES, N_ENTRIES, N_GEN,
  N_DEFAULT_TTL, N_MAX_BYTES, N_MAX_ENTRIES, N_MAX_KEY, N_MAX_VALUE, N_STATE, T_NS_PENDING, T_NS_PENDING_BYTES,
  T_NS_PENDING_ENTRIES, hdrStore, nsRecord, N_COUNTERS, N_TOKEN, NS_COUNTERS, nsCounterOf, statAdd,
} from "./layout";

import { ST_NS_DROPPED, ST_QUOTA } from "./status";
export { ST_NS_DROPPED, ST_QUOTA } from "./status";
/** Namespace tags the core creates itself: the map's own, and the registry. */
export const NS_DEFAULT: u32 = 0;
export const NS_REGISTRY: u32 = 1;

/** Sets up the records block (init, on zeroed memory). */
export function nsInit(block: usize, defaultTtl: f64): void {
  hdrStore(H_NS, <u32>block);
  memory.fill(block, 0, <usize>MAX_NAMESPACES * NS_SIZE);
  setDefaultTtl(nsRecord(NS_DEFAULT), defaultTtl);
  atomic.store<u32>(nsRecord(NS_DEFAULT) + N_STATE, NS_LIVE);
  atomic.store<u32>(nsRecord(NS_REGISTRY) + N_STATE, NS_LIVE);
}

@inline function live(rec: usize, tag: u32): bool {
  return atomic.load<u32>(rec + N_STATE) == NS_LIVE && atomic.load<u32>(rec + N_GEN) == tag >> NS_ID_BITS;
}

/** Adds `d` to a counter unless it would pass `max` (0 = no limit). */
function addWithin(a: usize, d: i64, max: u32): bool {
  if (max == 0 || d <= 0) {
    atomic.add<i64>(a, d);
    return true;
  }
  let cur = atomic.load<i64>(a);
  while (true) {
    if (cur + d > <i64>max) return false;
    const seen = atomic.cmpxchg<i64>(a, cur, cur + d);
    if (seen == cur) return true;
    cur = seen;
  }
  return false; // unreachable
}

/** Reserves `entries` and `bytes` (>= 0) in the namespace of `tag`. */
export function nsReserve(tag: u32, entries: i64, bytes: i64): i32 {
  const rec = nsRecord(tag);
  if (!live(rec, tag)) return ST_NS_DROPPED;
  if (!addWithin(rec + N_ENTRIES, entries, atomic.load<u32>(rec + N_MAX_ENTRIES))) return ST_QUOTA;
  // Straight-line with the add above (see the file comment).
  atomic.store<u32>(me + T_NS_PENDING_ENTRIES, <u32>entries);
  atomic.store<u32>(me + T_NS_PENDING_BYTES, 0);
  atomic.store<u32>(me + T_NS_PENDING, <u32>rec);
  if (!addWithin(rec + N_BYTES, bytes, atomic.load<u32>(rec + N_MAX_BYTES))) {
    nsUndo();
    return ST_QUOTA;
  }
  atomic.store<u32>(me + T_NS_PENDING_BYTES, <u32>bytes);
  return 0;
}

/** The reservation in flight is now published: forget it. */
@inline export function nsCommit(): void {
  atomic.store<u32>(me + T_NS_PENDING, 0);
}

/** Gives back the reservation in flight of thread slot `t` (default: ours). */
export function nsUndoOf(t: usize): void {
  const rec = <usize>atomic.load<u32>(t + T_NS_PENDING);
  if (rec == 0) return;
  atomic.sub<i64>(rec + N_ENTRIES, <i64>atomic.load<i32>(t + T_NS_PENDING_ENTRIES));
  atomic.sub<i64>(rec + N_BYTES, <i64>atomic.load<i32>(t + T_NS_PENDING_BYTES));
  atomic.store<u32>(t + T_NS_PENDING, 0);
}

@inline export function nsUndo(): void {
  nsUndoOf(me);
}

/** Counts one operation: in this thread's statistics, and in its
 *  namespace's counters unless it is the map's own (or the registry). */
@inline export function countOp(tag: u32, stat: i32): void {
  const id = tag & (MAX_NAMESPACES - 1);
  if (id == NS_REGISTRY) return; // the host's own bookkeeping, not the user's traffic
  statAdd(me, stat, 1);
  if (id > NS_REGISTRY) {
    const k = nsCounterOf(stat);
    if (k >= 0) atomic.add<i64>(nsRecord(tag) + N_COUNTERS + (<usize>k << 3), 1);
  }
}

export function nsCounter(tag: u32, k: i32): i64 {
  return atomic.load<i64>(nsRecord(tag) + N_COUNTERS + (<usize>k << 3));
}

/** Accounts a removal or shrink (never refused). */
@inline export function nsAdd(tag: u32, entries: i64, bytes: i64): void {
  const rec = nsRecord(tag);
  atomic.add<i64>(rec + N_ENTRIES, entries);
  atomic.add<i64>(rec + N_BYTES, bytes);
}

/** Claims a free record and returns its tag, or ST_QUOTA if all are taken. */
export function nsCreate(maxEntries: u32, maxBytes: u32, maxKey: u32, maxValue: u32, defaultTtl: f64): i32 {
  for (let id: u32 = NS_REGISTRY + 1; id < MAX_NAMESPACES; id++) {
    const rec = nsRecord(id);
    if (atomic.load<u32>(rec + N_STATE) != NS_FREE) continue;
    // Order: the CAS makes this thread the record's only writer until the
    // namespace is published in the registry (by the host, afterwards).
    if (atomic.cmpxchg<u32>(rec + N_STATE, NS_FREE, NS_LIVE + 1) != NS_FREE) continue;
    atomic.store<i64>(rec + N_ENTRIES, 0);
    atomic.store<i64>(rec + N_BYTES, 0);
    for (let k = 0; k < NS_COUNTERS; k++) atomic.store<i64>(rec + N_COUNTERS + (<usize>k << 3), 0);
    atomic.store<u32>(rec + N_MAX_ENTRIES, maxEntries);
    atomic.store<u32>(rec + N_MAX_BYTES, maxBytes);
    atomic.store<u32>(rec + N_MAX_KEY, maxKey);
    atomic.store<u32>(rec + N_MAX_VALUE, maxValue);
    setDefaultTtl(rec, defaultTtl);
    // No token until the host writes the new one: a handle of the namespace
    // that had this record before must not open this one.
    for (let k: usize = 0; k < 16; k += 4) atomic.store<u32>(rec + N_TOKEN + k, 0);
    atomic.store<u32>(rec + N_STATE, NS_LIVE);
    return <i32>(id | (atomic.load<u32>(rec + N_GEN) << NS_ID_BITS));
  }
  return ST_QUOTA;
}

/** Bumps the generation (so views of the old one fail) and frees the record.
 *  The caller removes the entries (clearNamespace) before and after. */
export function nsRetireTag(tag: u32): bool {
  const rec = nsRecord(tag);
  const gen = tag >> NS_ID_BITS;
  if (atomic.cmpxchg<u32>(rec + N_GEN, gen, gen + 1) != gen) return false;
  return true;
}

export function nsFree(tag: u32): void {
  const rec = nsRecord(tag);
  atomic.store<i64>(rec + N_ENTRIES, 0);
  atomic.store<i64>(rec + N_BYTES, 0);
  atomic.store<u32>(rec + N_STATE, NS_FREE);
}

export function nsField(tag: u32, f: usize): i64 {
  const rec = nsRecord(tag);
  if (f == N_ENTRIES || f == N_BYTES) return atomic.load<i64>(rec + f);
  return <i64>atomic.load<u32>(rec + f);
}

export function nsDefaultTtl(tag: u32): f64 {
  // Atomic (as its bits): a stale view's nsInfo may read a record that
  // nsCreate is filling for a new namespace.
  return reinterpret<f64>(atomic.load<i64>(nsRecord(tag) + N_DEFAULT_TTL));
}

@inline function setDefaultTtl(rec: usize, ms: f64): void {
  atomic.store<i64>(rec + N_DEFAULT_TTL, reinterpret<i64>(ms));
}

export function nsIsLive(tag: u32): bool {
  return live(nsRecord(tag), tag);
}
