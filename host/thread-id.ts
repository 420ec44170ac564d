// The id a thread is known by in a map's thread slots (never 0).
//
// On Node it is worker_threads' `threadId + 1`, which the thread that
// created a Worker can compute too (`worker.threadId + 1`) and so release
// what the worker held when it exits. Bun defines `process.versions.node`
// and numbers its Web Workers the same way, uniquely: it takes that path too.
//
// Elsewhere it is random, with the top bit set so that it never equals a
// Node id: browsers have no `process`; Deno has one (with `versions.node`),
// but there every Web Worker's worker_threads `threadId` is 0, so two workers
// would share one id and with it one thread slot. workerd (one thread per
// isolate) has no `process` without nodejs_compat; with it, compatibility
// dates from 2025-09-15 give `process.versions.node` but no
// `node:worker_threads` module (later ones have it, with threadId 0): a
// failed import falls back to a random id.

let cached: number | undefined;

interface RuntimeGlobals {
  process?: { versions?: { node?: string } };
  Deno?: unknown;
}

export async function hostThreadId(): Promise<number> {
  if (cached !== undefined) return cached;
  const g = globalThis as RuntimeGlobals;
  if (g.process?.versions?.node && g.Deno === undefined) {
    const threadId = await import('node:worker_threads').then((m) => m.threadId, () => undefined);
    if (typeof threadId === 'number') return (cached = threadId + 1);
  }
  // (Never 0xffffffff: the core's mark of a slot left with its bags.)
  return (cached = ((crypto.getRandomValues(new Uint32Array(1))[0] | 0x80000000) & 0xfffffffe) >>> 0);
}
