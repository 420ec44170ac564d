// The id a thread is known by in a map's thread slots (never 0).
//
// On Node it is worker_threads' `threadId + 1`, which the thread that
// created a Worker can compute too (`worker.threadId + 1`) and so release
// what the worker held when it exits. Elsewhere it is random.

let cached: number | undefined;

export async function hostThreadId(): Promise<number> {
  if (cached !== undefined) return cached;
  const proc = (globalThis as { process?: { versions?: { node?: string } } }).process;
  if (proc?.versions?.node) {
    const { threadId } = await import('node:worker_threads');
    cached = threadId + 1;
  } else {
    cached = (crypto.getRandomValues(new Uint32Array(1))[0] | 0x80000000) >>> 0;
  }
  return cached;
}
