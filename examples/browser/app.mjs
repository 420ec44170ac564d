// The browser example's page: creates one SharedMap, starts Web Workers that
// attach to it and run the load (worker.mjs, load.mjs), and twice a second
// reads each worker's totals (from a SharedArrayBuffer) and map.stats() to
// update the figures and charts. Without cross-origin isolation there is no
// shared memory: the page says why and runs the same load on a LocalMap on
// its main thread instead.
//
// Everything the page shows is also on `window.__wasmapExample` (see `api`
// below), which the example's test reads.

import { LocalMap, SharedMap } from 'wasmap';
import { TimeChart, compact } from './chart.mjs';
import { CONTROL_BYTES, COUNTS_BYTES, CTL, KEY_CHOICES, Load, MAX_WORKERS, SLOT } from './load.mjs';

const SAMPLE_MS = 500;
/** Seconds of history the charts show; `?window=20` in the address changes it (10 to 600). */
const WINDOW_SECONDS = Math.min(600, Math.max(10, Number(new URLSearchParams(location.search).get('window')) || 60));
/** The map's bound; at 100k keys the entries take ~15 MiB. */
const MAP_OPTIONS = { maxMemoryBytes: 64 << 20 };
const COLORS = [
  '#4f46e5', '#0891b2', '#16a34a', '#d97706', '#dc2626', '#9333ea', '#db2777', '#0d9488',
  '#65a30d', '#2563eb', '#ea580c', '#7c3aed', '#059669', '#e11d48', '#0284c7', '#a16207',
];

const $ = (id) => document.getElementById(id);
const int = (n) => Math.round(n).toLocaleString('en-US');
const mib = (bytes) => `${(bytes / 1048576).toFixed(1)} MiB`;
const pct = (r) => (r === null ? '–' : `${(r * 100).toFixed(1)}%`);
const ratio = (hits, gets) => (gets > 0 ? hits / gets : null);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const ZERO = () => ({ ops: 0, gets: 0, sets: 0, hits: 0, misses: 0 });
const add = (a, b) => ({ ops: a.ops + b.ops, gets: a.gets + b.gets, sets: a.sets + b.sets, hits: a.hits + b.hits, misses: a.misses + b.misses });

const settings = { workers: 2, readPercent: 90, ttlMs: 1000, keys: 100_000 };

const state = {
  /** 'starting' | 'shared' (SharedMap + workers) | 'local' (LocalMap, main thread). */
  mode: 'starting',
  crossOriginIsolated: self.crossOriginIsolated === true,
  /** Why there is no SharedMap (the MapError's code and message), or null. */
  reason: null,
  running: true,
  /** Live threads: { id, name, color, slot, ready, stopping, opsPerSec, totals, prevOps }. */
  threads: [],
  /** What stopped workers did, so totals still add up to the map's stats. */
  retired: ZERO(),
  /** Last map.stats(), and figures of the last sample interval. */
  stats: null,
  intervalHitRatio: null,
  expirationsPerSecond: 0,
  totalOpsPerSecond: 0,
  samples: 0,
  errors: [],
};

let map = null;
let ctl = null;
let counts = null;
let nextId = 1;
const freeSlots = Array.from({ length: MAX_WORKERS }, (_, i) => i);

// ---------------------------------------------------------------------------
// Errors: shown on the page, and kept for the test.

function reportError(message) {
  state.errors.push(message);
  const box = $('errors');
  box.hidden = false;
  box.textContent = state.errors.join('\n');
  console.error(message);
}
addEventListener('error', (e) => reportError(`uncaught: ${e.message}`));
addEventListener('unhandledrejection', (e) => reportError(`unhandled rejection: ${e.reason?.stack ?? e.reason}`));

// ---------------------------------------------------------------------------
// Workers (shared mode)

function readSlot(slot) {
  const at = slot * SLOT.SIZE;
  const n = (f) => Number(Atomics.load(counts, at + f));
  return { ops: n(SLOT.OPS), gets: n(SLOT.GETS), sets: n(SLOT.SETS), hits: n(SLOT.HITS), misses: n(SLOT.MISSES) };
}

function startWorker() {
  const slot = freeSlots.shift();
  if (slot === undefined) return;
  for (let f = 0; f < SLOT.SIZE; f++) Atomics.store(counts, slot * SLOT.SIZE + f, 0n);
  Atomics.store(ctl, CTL.STOP + slot, 0);
  const id = nextId++;
  const thread = {
    id, name: `worker ${id}`, color: COLORS[(id - 1) % COLORS.length], slot,
    ready: false, stopping: false, opsPerSec: 0, totals: ZERO(), prevOps: 0, threadId: null,
  };
  const worker = new Worker(new URL('./worker.mjs', import.meta.url), { type: 'module', name: thread.name });
  thread.worker = worker;
  worker.onmessage = ({ data }) => {
    if (data.type === 'ready') {
      thread.ready = true;
      thread.threadId = data.threadId;
    } else if (data.type === 'stopped') {
      // Its slot and its final totals agree; move them to `retired` in one step.
      state.retired = add(state.retired, data.totals);
      state.threads = state.threads.filter((t) => t !== thread);
      worker.terminate();
      freeSlots.push(slot);
      render();
    } else if (data.type === 'error') {
      reportError(`${thread.name}: ${data.message}`);
    }
  };
  worker.onerror = (e) => reportError(`${thread.name} failed: ${e.message || 'could not load worker.mjs'}`);
  worker.postMessage({ handle: map.handle, control: ctl.buffer, counts: counts.buffer, slot });
  state.threads.push(thread);
}

function stopWorker(thread) {
  thread.stopping = true;
  Atomics.store(ctl, CTL.STOP + thread.slot, 1);
  Atomics.notify(ctl, CTL.RUN); // a parked worker looks at its stop flag
}

function setWorkerCount(n) {
  settings.workers = n;
  applySettings();
  if (state.mode !== 'shared') return;
  let live = state.threads.filter((t) => !t.stopping);
  while (live.length < n && freeSlots.length > 0) {
    startWorker();
    live = state.threads.filter((t) => !t.stopping);
  }
  while (live.length > n) stopWorker(live.pop());
  render();
}

// ---------------------------------------------------------------------------
// The main-thread load (local mode): slices of ~12 ms, so the page stays responsive.

let localLoad = null;
function runLocalSlice() {
  if (state.running) {
    const end = performance.now() + 12;
    do {
      localLoad.run(256, settings.readPercent * 10, settings.ttlMs, settings.keys);
    } while (performance.now() < end);
  }
  setTimeout(runLocalSlice, 0);
}

// ---------------------------------------------------------------------------
// Controls

function applySettings() {
  if (ctl !== null) {
    Atomics.store(ctl, CTL.READ_PERMILLE, settings.readPercent * 10);
    Atomics.store(ctl, CTL.TTL_MS, settings.ttlMs);
    Atomics.store(ctl, CTL.KEYS, settings.keys);
  }
  $('mix-text').textContent = `${settings.readPercent}% get · ${100 - settings.readPercent}% set`;
  $('reads').value = String(settings.readPercent);
  for (const [group, value] of [['workers', settings.workers], ['ttl', settings.ttlMs], ['keys', settings.keys]]) {
    const pressed = (b) => Number(b.dataset.value) === value && !(group === 'workers' && state.mode === 'local');
    for (const b of $(group).querySelectorAll('button')) b.setAttribute('aria-pressed', String(pressed(b)));
  }
}

function setRunning(running) {
  state.running = running;
  if (ctl !== null) {
    Atomics.store(ctl, CTL.RUN, running ? 1 : 0);
    if (running) Atomics.notify(ctl, CTL.RUN);
  }
  $('pause').textContent = running ? 'Pause' : 'Resume';
}

/**
 * Pauses every thread and resolves once each has published everything it did
 * (workers park after their current batch; the main-thread load stops between
 * slices), so the totals and map.stats() can be compared exactly.
 */
async function pause() {
  setRunning(false);
  if (state.mode !== 'shared') {
    await sleep(0);
    return snapshot();
  }
  const deadline = performance.now() + 10_000;
  for (;;) {
    const waiting = state.threads.filter((t) => Atomics.load(counts, t.slot * SLOT.SIZE + SLOT.PARKED) !== 1n);
    if (waiting.length === 0) return snapshot();
    if (performance.now() > deadline) throw new Error(`pause: ${waiting.map((t) => t.name).join(', ')} never parked`);
    await sleep(5);
  }
}

function resume() {
  setRunning(true);
}

function threadTotals(t) {
  return state.mode === 'shared' ? readSlot(t.slot) : localLoad.totals();
}

/** Every thread's totals, their sum with the retired ones, and the map's stats, read together. */
function snapshot() {
  const threads = state.threads.map((t) => ({ id: t.id, name: t.name, ...threadTotals(t) }));
  const sum = threads.reduce(add, state.retired);
  return { threads, retired: { ...state.retired }, sum, stats: map.stats(), size: map.size };
}

/** Pauses, compares what the threads counted with map.stats(), resumes. */
async function check() {
  const wasRunning = state.running;
  const s = await pause();
  if (wasRunning) resume();
  const rows = [
    ['gets = hits + misses', s.sum.gets, s.stats.hits + s.stats.misses],
    ['hits', s.sum.hits, s.stats.hits],
    ['sets', s.sum.sets, s.stats.sets],
  ];
  const bad = rows.filter(([, a, b]) => a !== b);
  const ok = bad.length === 0;
  const el = $('check-result');
  el.className = `check ${ok ? 'ok' : 'bad'}`;
  el.textContent = ok
    ? `✓ Counts agree: the threads did ${int(s.sum.gets)} gets and ${int(s.sum.sets)} sets; map.stats() counts ${int(s.stats.hits)} hits + ${int(s.stats.misses)} misses and ${int(s.stats.sets)} sets.`
    : `✗ Counts differ: ${bad.map(([name, a, b]) => `${name}: threads ${a}, map ${b}`).join('; ')}`;
  return { ok, rows, snapshot: s };
}

function wireControls() {
  for (const b of $('workers').querySelectorAll('button')) {
    b.addEventListener('click', () => setWorkerCount(Number(b.dataset.value)));
  }
  for (const b of $('ttl').querySelectorAll('button')) {
    b.addEventListener('click', () => {
      settings.ttlMs = Number(b.dataset.value);
      applySettings();
    });
  }
  for (const b of $('keys').querySelectorAll('button')) {
    b.addEventListener('click', () => {
      settings.keys = Number(b.dataset.value);
      applySettings();
    });
  }
  $('reads').addEventListener('input', (e) => {
    settings.readPercent = Number(e.target.value);
    applySettings();
  });
  $('pause').addEventListener('click', () => (state.running ? pause().catch((e) => reportError(String(e))) : resume()));
  $('check').addEventListener('click', () => check().catch((e) => reportError(String(e?.stack ?? e))));
  applySettings();
}

// ---------------------------------------------------------------------------
// Sampling and drawing

const history = { times: [], perThread: new Map(), entries: [], memory: [], hitRatio: [], expirations: [] };
let prevStats = null;
let prevTime = 0;

const charts = {};
function makeCharts() {
  charts.ops = new TimeChart($('chart-ops'), { yLabel: 'ops/s', stacked: true, windowSeconds: WINDOW_SECONDS });
  charts.entries = new TimeChart($('chart-entries'), { yLabel: 'entries', legend: false, windowSeconds: WINDOW_SECONDS });
  charts.memory = new TimeChart($('chart-memory'), {
    yLabel: 'MiB used', legend: false, windowSeconds: WINDOW_SECONDS,
  });
  charts.hits = new TimeChart($('chart-hits'), {
    yLabel: 'hit ratio', legend: false, yMax: 1, windowSeconds: WINDOW_SECONDS, format: (v) => `${Math.round(v * 100)}%`,
  });
  charts.exp = new TimeChart($('chart-exp'), { yLabel: 'expirations/s', legend: false, windowSeconds: WINDOW_SECONDS });
}

function sample() {
  const now = performance.now() / 1000;
  const dt = prevTime === 0 ? SAMPLE_MS / 1000 : now - prevTime;
  prevTime = now;

  let total = 0;
  for (const t of state.threads) {
    t.totals = threadTotals(t);
    t.opsPerSec = Math.max(0, (t.totals.ops - t.prevOps) / dt);
    t.prevOps = t.totals.ops;
    total += t.opsPerSec;
  }
  state.totalOpsPerSecond = total;

  const stats = map.stats();
  const p = prevStats ?? stats;
  const gets = stats.hits + stats.misses - (p.hits + p.misses);
  state.intervalHitRatio = ratio(stats.hits - p.hits, gets);
  state.expirationsPerSecond = Math.max(0, (stats.expirations - p.expirations) / dt);
  state.stats = stats;
  prevStats = stats;
  state.samples++;

  // History: one column per sample, null where a thread did not exist yet / any more.
  history.times.push(now);
  for (const t of state.threads) {
    if (!history.perThread.has(t.id)) {
      history.perThread.set(t.id, { name: t.name, color: t.color, values: history.times.slice(0, -1).map(() => null) });
    }
  }
  for (const [id, s] of history.perThread) {
    const t = state.threads.find((x) => x.id === id);
    s.values.push(t ? t.opsPerSec : null);
  }
  history.entries.push(stats.entries);
  history.memory.push(stats.memoryUsedBytes / 1048576);
  history.hitRatio.push(state.intervalHitRatio);
  history.expirations.push(state.expirationsPerSecond);
  while (history.times.length > 0 && history.times[0] < now - WINDOW_SECONDS - 1) {
    history.times.shift();
    for (const list of [history.entries, history.memory, history.hitRatio, history.expirations]) list.shift();
    for (const [id, s] of history.perThread) {
      s.values.shift();
      if (s.values.every((v) => v === null)) history.perThread.delete(id);
    }
  }
  render();
}

function render() {
  if (map === null) return;
  const now = history.times.at(-1) ?? performance.now() / 1000;
  const times = history.times;
  const one = (name, color, values) => ({ now, times, series: [{ name, color, values }] });
  charts.ops.update({ now, times, series: [...history.perThread.values()] });
  charts.entries.update(one('entries', '#0891b2', history.entries));
  charts.memory.update(one('memory used', '#9333ea', history.memory));
  charts.hits.update(one('hit ratio', '#16a34a', history.hitRatio));
  charts.exp.update(one('expirations/s', '#d97706', history.expirations));

  const s = state.stats;
  if (s !== null) {
    $('v-ops').textContent = compact(state.totalOpsPerSecond);
    $('s-ops').textContent = `ops/s over ${state.threads.length} ${state.mode === 'shared' ? 'worker' : 'thread'}${state.threads.length === 1 ? '' : 's'}${state.running ? '' : ' · paused'}`;
    $('v-entries').textContent = int(s.entries);
    $('s-entries').textContent = `live keys, of ${compact(settings.keys)} drawn from`;
    $('v-memory').textContent = mib(s.memoryUsedBytes);
    $('s-memory').textContent = `of ${mib(s.memoryLimitBytes)} (maxMemoryBytes)`;
    $('v-hits').textContent = pct(state.intervalHitRatio);
    $('s-hits').textContent = `last ${SAMPLE_MS} ms · overall ${pct(ratio(s.hits, s.hits + s.misses))}`;
    $('v-exp').textContent = int(s.expirations);
    $('s-exp').textContent = `${compact(state.expirationsPerSecond)}/s now · TTL ${settings.ttlMs ? `${settings.ttlMs} ms` : 'off'}`;
  }

  const rows = state.threads.map((t) => {
    const tt = t.totals;
    const status = t.stopping ? ' (stopping)' : t.ready || state.mode !== 'shared' ? '' : ' (starting)';
    return `<tr><td><span class="swatch" style="background:${t.color}"></span>${t.name}${status}</td>` +
      `<td>${int(t.opsPerSec)}</td><td>${int(tt.ops)}</td><td>${int(tt.gets)}</td><td>${int(tt.sets)}</td>` +
      `<td>${pct(ratio(tt.hits, tt.gets))}</td></tr>`;
  });
  $('worker-rows').innerHTML = rows.join('');
  const r = state.retired;
  $('worker-foot').innerHTML = r.ops > 0
    ? `<tr><td>stopped workers</td><td></td><td>${int(r.ops)}</td><td>${int(r.gets)}</td><td>${int(r.sets)}</td><td>${pct(ratio(r.hits, r.gets))}</td></tr>`
    : '';
  for (const b of $('workers').querySelectorAll('button')) {
    b.disabled = state.mode !== 'shared';
    b.title = b.disabled ? 'Web Workers need a cross-origin isolated page' : '';
  }
  if (state.mode === 'shared') {
    const n = state.threads.filter((t) => !t.stopping).length;
    $('status-text').textContent = `Cross-origin isolated · one SharedMap, ${n} Web Worker${n === 1 ? '' : 's'}`;
  }
}

function setStatus(mode, text) {
  state.mode = mode;
  $('status').dataset.mode = mode;
  $('status-text').textContent = text;
}

function showNotice(html) {
  const box = $('notice');
  box.hidden = false;
  box.innerHTML = html;
}

// ---------------------------------------------------------------------------
// Start

const escapeHtml = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);

async function start() {
  wireControls();
  makeCharts();
  try {
    map = await SharedMap.create(MAP_OPTIONS);
  } catch (err) {
    if (err?.code !== 'ERR_NO_SHARED_MEMORY') throw err;
    state.reason = { code: err.code, message: err.message };
  }

  if (map !== null) {
    ctl = new Int32Array(new SharedArrayBuffer(CONTROL_BYTES));
    counts = new BigInt64Array(new SharedArrayBuffer(COUNTS_BYTES));
    applySettings();
    setRunning(true);
    setStatus('shared', 'Cross-origin isolated · one SharedMap');
    setWorkerCount(settings.workers);
  } else {
    const why =
      `<strong>This page is not cross-origin isolated, so it has no shared memory.</strong>` +
      `<code>SharedMap.create()</code> threw <code>${escapeHtml(state.reason.code)}</code>: “${escapeHtml(state.reason.message)}”. ` +
      `<code>npm run example:browser</code> serves this page with those two headers, and then several Web Workers share one map.`;
    map = await LocalMap.create(MAP_OPTIONS);
    localLoad = new Load(map, 0);
    state.threads.push({
      id: 0, name: 'main thread', color: COLORS[0], slot: -1, ready: true, stopping: false,
      opsPerSec: 0, totals: ZERO(), prevOps: 0, threadId: null,
    });
    showNotice(`${why}<br>Meanwhile the same load runs on a <code>LocalMap</code> on this page's main thread: same API, one thread, no workers.`);
    setStatus('local', 'Not cross-origin isolated · LocalMap on the main thread');
    applySettings();
    setRunning(true);
    runLocalSlice();
  }
  sample();
  setInterval(sample, SAMPLE_MS);
}

// What the page shows, for the example's test (and the curious, in the console).
const api = {
  get mode() { return state.mode; },
  get crossOriginIsolated() { return state.crossOriginIsolated; },
  get reason() { return state.reason; },
  get running() { return state.running; },
  get samples() { return state.samples; },
  get errors() { return [...state.errors]; },
  get settings() { return { ...settings }; },
  get stats() { return state.stats; },
  get totalOpsPerSecond() { return state.totalOpsPerSecond; },
  get intervalHitRatio() { return state.intervalHitRatio; },
  get expirationsPerSecond() { return state.expirationsPerSecond; },
  get retired() { return { ...state.retired }; },
  get threads() {
    return state.threads.map((t) => ({
      id: t.id, name: t.name, ready: t.ready, stopping: t.stopping, opsPerSec: t.opsPerSec, ...t.totals,
    }));
  },
  setWorkers: setWorkerCount,
  pause,
  resume,
  snapshot,
  check,
  keyChoices: KEY_CHOICES,
};
window.__wasmapExample = api;

start().catch((err) => reportError(`start failed: ${err?.stack ?? err}`));
