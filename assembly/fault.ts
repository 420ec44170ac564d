// Fault injection, for tests only: makes this thread trap, or stop for a
// while, at the n-th fault point it passes. A trap shows that an operation
// cut short leaves nothing half visible; a hold shows what other threads may
// do while an operation stands still at that step (as when the OS
// deschedules its thread). Fault points sit where an engine may stop a thread
// anyway (the start of a function or of a loop's turn) and before every CAS
// that publishes a write, never between a CAS and the counts that follow it
// (see map.ts tryInsert).

import { H_ROOT, hdrLoad, tableNext } from "./layout";

/** Fault points left before the fault; 0: off. Wasm globals: per thread. */
let countdown: i32 = 0;
/** Address of this thread's hold word (layout.ts T_HOLD), or 0: trap. */
let holdWord: usize = 0;
/** Spins a hold lasts at most; 0: until another thread lets it go. */
let holdSpins: i32 = 0;
/** Whether to hold again at every later fault point (step mode: another
 *  thread lets this one go one step at a time, and so chooses the order in
 *  which the steps of several threads interleave). */
let holdEvery: bool = false;
/** Whether a hold also ends when the map's tables change: the root table,
 *  or the table it migrates to (a migration started or ended). */
let holdMigration: bool = false;

/** Arms a trap at the n-th fault point from now (0: disarms). */
export function arm(n: i32): void {
  countdown = n;
  deferred = 0;
  holdWord = 0;
  holdEvery = false;
  holdMigration = false;
}

/** Arms a hold at the n-th fault point from now: the thread stores 1 in
 *  the word at `word`, then spins until another thread stores 0 there or,
 *  if `spins` > 0, for at most that many rounds. `every`: and again at
 *  each fault point after it, until disarmed. */
export function armHold(n: i32, word: usize, spins: i32, every: bool, migration: bool = false): void {
  countdown = n;
  deferred = 0;
  holdWord = word;
  holdSpins = spins;
  holdEvery = every;
  holdMigration = migration;
}

/** The root table and the one it migrates to, as one word. */
function tables(): u64 {
  const root = hdrLoad(H_ROOT);
  return (<u64>root << 32) | <u64>tableNext(<usize>root);
}

/** The fault site the countdown waits for, or 0 (tests: a fault at the
 *  n-th step from some point, whatever came before it). */
let deferred: i32 = 0;
/** Fault sites: the start of a defragmentation (alloc.ts defragment), and
 *  a move's copy made, its CAS next (evacuate.ts moveEntry). */
export const SITE_DEFRAG: i32 = 1;
export const SITE_MOVE: i32 = 2;

/** Arms or defers the countdown: with a site, it starts there. */
export function deferTo(site: i32): void {
  deferred = site;
}

/** Where a countdown deferred to `site` starts. */
export function faultSite(site: i32): void {
  if (deferred == site) deferred = 0;
}

@inline export function faultPoint(): void {
  if (countdown > 0 && deferred == 0) {
    countdown--;
    if (countdown == 0) fault();
  }
}

function fault(): void {
  if (holdWord == 0) unreachable();
  const word = holdWord;
  if (holdEvery) countdown = 1;
  else holdWord = 0;
  // Order: the store says "held" to the thread that watches the word; its
  // store of 0 is the release, read by the loads below.
  atomic.store<u32>(word, 1);
  atomic.notify(word, 1);
  const seen = holdMigration ? tables() : 0;
  for (let k = 0; holdSpins == 0 || k < holdSpins; k++) {
    if (atomic.load<u32>(word) == 0) return;
    if (holdMigration && tables() != seen) break;
  }
  atomic.store<u32>(word, 0);
}
