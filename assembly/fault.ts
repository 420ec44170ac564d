// Fault injection, for tests only: makes this thread trap at the n-th fault
// point it passes, to show that an operation cut short leaves nothing half
// visible. Fault points sit where an engine may stop a thread anyway (the
// start of a function or of a loop's turn), never between a CAS and the
// counts that follow it (see map.ts tryInsert).

/** Fault points left before the trap; 0: off. A Wasm global: per thread. */
let countdown: i32 = 0;

export function arm(n: i32): void {
  countdown = n;
}

@inline export function faultPoint(): void {
  if (countdown > 0) {
    countdown--;
    if (countdown == 0) unreachable();
  }
}
