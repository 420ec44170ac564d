// Memory per entry and the worst pause while filling, at 1M and 5M entries
// (BENCH_QUICK=1: 1M only), for a JS Map against wasmap, with the workload's key and
// value shapes (30-byte keys, 55-byte values). Run in a child process with
// --expose-gc so each store is measured on its own heap.
//
// A set may also pay for a garbage collection: of the store's own heap (a
// JS Map's entries), or of the young strings the fill loop makes for every
// key and value, which any store pays. So two figures: the worst set, and
// the worst set no collection overlapped (the store's own work), after a
// warm-up of 10,000 sets (compiling the code on first use).
//
// Kinds: 'map' (a JS Map), 'wasmap', 'wasmap-pretouch' (the option
// preTouch: every page of its memory backed at creation, so no set waits for
// the OS to fault one in), and 'copy', a control: a store that only copies
// each key's and value's bytes (TextEncoder.encodeInto) to one fixed buffer,
// work of about the same length as a set, which keeps nothing, builds
// nothing and touches no new memory. What stalls the control is the
// machine: a VM whose process is not scheduled for a few ms now and then.
// `slowSets` counts sets over 1 ms that no GC overlapped.
import { execFileSync } from 'node:child_process';
import { PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const SIZES = process.env.BENCH_QUICK === '1' ? [1_000_000] : [1_000_000, 5_000_000];

/** The control store: copies the bytes of each key and value to one buffer. */
function copyStore() {
  const buffer = new Uint8Array(4096);
  const encoder = new TextEncoder();
  return {
    set(key, value) {
      encoder.encodeInto(key, buffer);
      encoder.encodeInto(value, buffer.subarray(1024));
    },
  };
}

async function measure(kind, n) {
  const { SharedMap } = await import('../dist/index.js');
  const { makeKey, makeValue } = await import('./workload.mjs');
  globalThis.gc();
  const heap0 = process.memoryUsage().heapUsed;
  const maxMemoryBytes = Math.min(4000, Math.ceil(n * 400 / 2 ** 20)) * 2 ** 20;
  const c0 = performance.now();
  const store = kind === 'map'
    ? new Map()
    : kind === 'copy'
      ? copyStore()
      : await SharedMap.create({ maxMemoryBytes, preTouch: kind === 'wasmap-pretouch' });
  const c1 = performance.now();
  const gcs = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcs.push([e.startTime, e.startTime + e.duration]);
  });
  observer.observe({ entryTypes: ['gc'] });
  let worst = 0;
  const slow = []; // [start, end] of sets over 0.25 ms, after the warm-up
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const key = makeKey(i);
    const value = makeValue(i, 'A');
    const a = performance.now();
    store.set(key, value);
    const b = performance.now();
    if (b - a > worst) worst = b - a;
    if (b - a > 0.25 && i >= 10_000) slow.push([a, b]);
  }
  const fill = performance.now() - t0;
  await new Promise((r) => setTimeout(r, 50)); // the observer's last entries
  observer.disconnect();
  let worstOutsideGc = 0;
  let slowSets = 0;
  for (const [a, b] of slow) {
    if (gcs.some(([s, e]) => s < b && e > a)) continue;
    if (b - a > worstOutsideGc) worstOutsideGc = b - a;
    if (b - a > 1) slowSets++;
  }
  const g0 = performance.now();
  globalThis.gc();
  const gc = performance.now() - g0;
  const heap = process.memoryUsage().heapUsed - heap0;
  const bytes = kind === 'map' || kind === 'copy' ? heap : store.memoryUsage().usedBytes + Math.max(0, heap);
  return {
    kind, entries: n, bytesPerEntry: bytes / n, worstSetMs: worst, worstSetOutsideGcMs: worstOutsideGc, slowSets,
    fillSeconds: fill / 1000, fullGcMs: gc, createMs: c1 - c0,
  };
}

export function memoryRows() {
  const rows = [];
  for (const n of SIZES) {
    for (const kind of ['map', 'wasmap', 'wasmap-pretouch', 'copy']) {
      const out = execFileSync(process.execPath, ['--expose-gc', '--max-old-space-size=8192', fileURLToPath(import.meta.url), kind, String(n)], {
        encoding: 'utf8',
      });
      rows.push(JSON.parse(out));
    }
  }
  return rows;
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2]) {
  const r = await measure(process.argv[2], Number(process.argv[3]));
  process.stdout.write(JSON.stringify(r));
  process.exit(0);
}
