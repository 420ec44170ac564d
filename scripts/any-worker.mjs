// A worker thread in any runtime: a Web Worker where the runtime has them
// (Deno, Bun, browsers), else Node's worker_threads. Used by the scripts that
// run unchanged under Node, Deno and Bun (test/runtimes/hammer.mjs,
// bench/runtimes-threads.mjs).

/**
 * Main side: starts the module at `url` as a worker. `onMessage` gets each
 * message it posts, `onError` a description of an uncaught error.
 * Returns { kind, post(message), stop() }.
 */
export async function startWorker(url, onMessage, onError) {
  if (typeof globalThis.Worker === 'function') {
    const w = new Worker(url, { type: 'module' });
    w.onmessage = (e) => onMessage(e.data);
    w.onerror = (e) => {
      e.preventDefault?.();
      onError(e.message ?? String(e));
    };
    return { kind: 'web', post: (m) => w.postMessage(m), stop: () => w.terminate() };
  }
  const { Worker: NodeWorker } = await import('node:worker_threads');
  const w = new NodeWorker(url);
  w.on('message', onMessage);
  w.on('error', (err) => onError(err?.stack ?? String(err)));
  return { kind: 'worker_threads', post: (m) => w.postMessage(m), stop: () => w.terminate() };
}

/**
 * Worker side: calls `onMessage` with each message from the main thread and
 * resolves with a function that posts back. In a Web Worker the handler is
 * set before this function awaits anything, so call it before any other
 * top-level await or a message may be missed; worker_threads' port queues
 * messages until it has a listener.
 */
export async function listen(onMessage) {
  if (typeof self !== 'undefined' && typeof self.postMessage === 'function') {
    self.onmessage = (e) => onMessage(e.data);
    return (m) => self.postMessage(m);
  }
  const { parentPort } = await import('node:worker_threads');
  parentPort.on('message', onMessage);
  return (m) => parentPort.postMessage(m);
}
