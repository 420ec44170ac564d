// A Web Worker (module) of the browser hammer test: attaches to the page's
// map, waits at the start barrier, runs its part of hammer-role.mjs, reports.
import { SharedMap } from '/dist/index.js';
import { hammer } from './hammer-role.mjs';

self.onmessage = async ({ data }) => {
  const { handle, control, writer, rounds } = data;
  try {
    const map = await SharedMap.attach(handle);
    const go = new Int32Array(control);
    self.postMessage({ type: 'ready', threadId: map.threadId });
    Atomics.wait(go, 0, 0); // a worker may block; the page's main thread may not
    const tally = hammer(map, { writer, rounds });
    map.close();
    self.postMessage({ type: 'done', tally });
  } catch (err) {
    self.postMessage({ type: 'error', error: { name: err?.name, code: err?.code, message: err?.message ?? String(err), stack: err?.stack } });
  }
};
