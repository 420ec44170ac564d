// Revisions: the map's revision, and each entry's modRevision,
// createRevision and version (etcd's model). Read index.ts's Overview first.
//
// A change becomes visible by a CAS of its key's slot (map.ts); the map's
// revision is a counter in the header (H_REV). No single instruction does
// both, so a change is published first and numbered right after, and
// whoever observes a change not yet numbered numbers it:
//
//   - an entry is published with rev 0; `stamp` takes the next revision
//     (an atomic add to H_REV) and CASes it into the entry's rev word. The
//     publishing writer stamps right after its slot CAS; any thread that
//     finds the entry first (a reader, a writer that would replace it, a
//     thread moving it) stamps it before it uses it. Exactly one CAS wins;
//     a loser's revision is skipped (revisions increase, with gaps).
//   - a deletion first turns the key's slot into a DELETED slot that keeps
//     the entry (a keyed tombstone, layout.ts); `stampDeleted` takes a
//     revision and sets REV_DELETED on the entry; only then may the slot
//     drop the entry for ANON_TOMB (whose flag init sets). A reader that
//     meets a keyed tombstone stamps it before it reports the key absent.
//
// So the instant a change takes effect, for every thread, is the add to
// H_REV that numbered it: nobody returns a value, or an absence, before
// that add, and a change that replaces an entry stamps it first, so a key's
// revisions increase along its history. `revision` (the counter) is then
// exactly the number of the last change that took effect: a read of it
// that returns R comes after every change numbered R or less, and before
// every change numbered above R. A thread killed between its CAS and its
// stamp loses nothing: the next thread to meet the entry numbers it.
//
// Expiry is not a change: an entry whose time has come reads as absent
// from then on, with no revision; the sweep that later removes it takes
// one (as any deletion), which no reader can tell from a skipped number.

import { E_CREATE, E_REV, E_VERSION, HEADER, H_REV, REV_DELETED, REV_MASK } from "./layout";

/** The map's revision. */
@inline export function revision(): u64 {
  return atomic.load<u64>(HEADER + H_REV);
}

/** Takes the next revision: the instant a change numbered by it takes effect. */
@inline export function nextRevision(): u64 {
  return atomic.add<u64>(HEADER + H_REV, 1) + 1;
}

/** Entry e's modRevision, stamped first if it was not yet. */
@inline export function stamp(e: usize): u64 {
  const w = atomic.load<u64>(e + E_REV);
  return (w & REV_MASK) != 0 ? w & REV_MASK : stampSlow(e);
}

function stampSlow(e: usize): u64 {
  const r = nextRevision();
  const seen = atomic.cmpxchg<u64>(e + E_REV, 0, r);
  return seen == 0 ? r : seen & REV_MASK;
}

/** Numbers the deletion of e's key (e is in a keyed tombstone). */
@inline export function stampDeleted(e: usize): void {
  const w = atomic.load<u64>(e + E_REV);
  if ((w & REV_DELETED) == 0) stampDeletedSlow(e, w);
}

function stampDeletedSlow(e: usize, w: u64): void {
  // e was live before it was deleted, and every deleter located it (which
  // stamps it) first, so its own modRevision is there; in case not, it is
  // numbered first, so the deletion comes after it.
  if ((w & REV_MASK) == 0) {
    stampSlow(e);
    w = atomic.load<u64>(e + E_REV);
  }
  // If another thread sets the flag first, this revision is skipped.
  nextRevision();
  while ((w & REV_DELETED) == 0) {
    const seen = atomic.cmpxchg<u64>(e + E_REV, w, w | REV_DELETED);
    if (seen == w) return;
    w = seen;
  }
}

/** Marks an entry whose deletion is numbered (ANON_TOMB, at init). */
@inline export function markDeleted(e: usize): void {
  atomic.store<u64>(e + E_REV, REV_DELETED | 1);
}

/** The createRevision of a (stamped) entry. */
@inline export function createRevision(e: usize): u64 {
  const c = load<u64>(e + E_CREATE);
  return c != 0 ? c : atomic.load<u64>(e + E_REV) & REV_MASK;
}

@inline export function version(e: usize): u32 {
  return load<u32>(e + E_VERSION);
}

/** Makes private entry n the next change of the key whose live entry is
 *  `prev` (stamped: located), or the first of its key if prev is 0. */
@inline export function succeed(n: usize, prev: usize): void {
  if (prev == 0) {
    store<u64>(n + E_CREATE, 0);
    store<u32>(n + E_VERSION, 1);
    return;
  }
  store<u64>(n + E_CREATE, createRevision(prev));
  const v = version(prev);
  store<u32>(n + E_VERSION, v == 0xffffffff ? v : v + 1); // saturates
}
