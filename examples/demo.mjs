// wasmap demo: an API server's shared state in ONE map used by every thread.
//
// One worker thread per CPU core (at least 2) serves simulated requests
// against the same SharedMap (see demo-worker.mjs): per-route call counters
// (increment), session metadata (get, and set now and then) and a token
// cache (getOrSet). At the end the counters in the map are checked against
// the sum of what every worker says it added: they must match exactly.
//
//   npm start                      # builds, then runs for 5 seconds
//   DEMO_SECONDS=2 node examples/demo.mjs
import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { SharedMap } from 'wasmap';
import { CTL, SLOT, ROUTES, SESSIONS, TOKENS, sessionValue } from './demo-shared.mjs';

const seconds = process.env.DEMO_SECONDS === undefined ? 5 : Number(process.env.DEMO_SECONDS);
if (!(seconds > 0 && seconds <= 86400)) {
  console.error(`DEMO_SECONDS must be a number of seconds above 0, got ${JSON.stringify(process.env.DEMO_SECONDS)}`);
  process.exit(2);
}
const threads = Math.max(2, os.availableParallelism());
const tty = process.stdout.isTTY === true;

const int = (n) => Math.round(n).toLocaleString('en-US');
const rate = (n) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : n.toFixed(0));
const mib = (bytes) => `${(bytes / 1048576).toFixed(1)} MiB`;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// --- the map, with the sessions every request will read -------------------
const map = await SharedMap.create();
for (let id = 0; id < SESSIONS; id++) map.set(`session:${id}`, sessionValue(id));

console.log(
  `wasmap demo: ${threads} worker threads, one shared map, ${seconds} s` +
    ` (${int(SESSIONS)} sessions, ${ROUTES.length} routes, ${int(TOKENS)} tokens)`,
);

// --- workers ---------------------------------------------------------------
const control = new SharedArrayBuffer(CTL.LENGTH * 4); // start barrier + stop flag
const counts = new SharedArrayBuffer(threads * SLOT.SIZE * 8); // live ops/requests per worker
const ctl = new Int32Array(control);
const live = new BigInt64Array(counts);

const results = new Array(threads);
const failures = [];
let lastReport = 0;

const exited = [];
for (let index = 0; index < threads; index++) {
  const worker = new Worker(new URL('./demo-worker.mjs', import.meta.url), {
    workerData: { handle: map.handle, control, counts, index },
  });
  map.releaseOnExit(worker);
  worker.on('message', (msg) => {
    if (msg.type === 'done') {
      results[index] = msg;
      lastReport = performance.now();
    } else if (msg.type === 'error') {
      failures.push(msg);
    }
  });
  worker.on('error', (err) => failures.push({ index, error: err }));
  exited.push(
    new Promise((resolve) =>
      worker.once('exit', (code) => {
        if (results[index] === undefined && !failures.some((f) => f.index === index)) {
          failures.push({ index, error: { message: `exited with code ${code} without reporting` } });
        }
        resolve();
      }),
    ),
  );
}

/** Stops every worker, prints what went wrong and exits with code 1. */
async function abort(stage) {
  Atomics.store(ctl, CTL.STOP, 1);
  Atomics.store(ctl, CTL.GO, 1);
  Atomics.notify(ctl, CTL.GO);
  await Promise.all(exited);
  if (tty) process.stdout.write('\n');
  console.error(`demo failed ${stage}:`);
  for (const { index, error } of failures) {
    console.error(`worker ${index}: ${error.code ? `[${error.code}] ` : ''}${error.stack ?? error.message}`);
  }
  map.close();
  process.exitCode = 1;
}

// Barrier: wait until every worker has attached and built its keys...
for (let ready; (ready = Atomics.load(ctl, CTL.READY)) < threads; ) {
  if (failures.length > 0) break;
  await Atomics.waitAsync(ctl, CTL.READY, ready, 100).value;
}
if (failures.length > 0) {
  await abort('before the start');
} else {
  await run();
}

async function run() {
  // ...then release them all at once.
  const t0 = performance.now();
  Atomics.store(ctl, CTL.GO, 1);
  Atomics.notify(ctl, CTL.GO);

  const totals = () => {
    let ops = 0;
    let requests = 0;
    for (let i = 0; i < threads; i++) {
      ops += Number(Atomics.load(live, i * SLOT.SIZE + SLOT.OPS));
      requests += Number(Atomics.load(live, i * SLOT.SIZE + SLOT.REQUESTS));
    }
    return { ops, requests };
  };
  const progress = () => {
    const elapsed = (performance.now() - t0) / 1000;
    const { ops } = totals();
    const line =
      `  ${elapsed.toFixed(1).padStart(5)} s  ${rate(ops / elapsed).padStart(7)} ops/s` +
      `  entries ${int(map.size).padStart(7)}  memory ${mib(map.memoryUsage().usedBytes)}`;
    if (tty) process.stdout.write(`\r${line}\x1b[K`);
    else console.log(line);
  };
  const ticker = setInterval(progress, tty ? 200 : 1000);

  // Run for the set time (or until every worker has ended, if they fail).
  const allExited = Promise.all(exited);
  await Promise.race([sleep(seconds * 1000), allExited]);
  Atomics.store(ctl, CTL.STOP, 1);
  await allExited;
  clearInterval(ticker);
  if (tty) {
    progress();
    process.stdout.write('\n');
  }
  if (failures.length > 0) return abort('while running');

  // --- summary -------------------------------------------------------------
  const duration = (lastReport - t0) / 1000;
  const sum = (field) => results.reduce((s, r) => s + r[field], 0);
  const requests = sum('requests');
  const ops = sum('ops');
  const size = map.size;
  const mem = map.memoryUsage();

  const expected = new Map(ROUTES.map((r) => [`calls:${r}`, 0]));
  for (const r of results) for (const [key, n] of Object.entries(r.counters)) expected.set(key, expected.get(key) + n);
  const counterRows = [...expected].map(([key, want]) => {
    const got = map.get(key);
    return { key, want, got, ok: got === want || (want === 0 && got === undefined) };
  });
  const countersInMap = counterRows.filter((r) => r.got !== undefined).length;

  // Token cache: no deletes, so every token entry is one getOrSet that stored.
  const tokensInMap = size - SESSIONS - countersInMap;
  const tokensStored = sum('tokensStored');
  const wrongTokens = sum('wrongTokens');
  const missingSessions = sum('missingSessions');
  const cacheOk = tokensStored === tokensInMap && wrongTokens === 0 && missingSessions === 0;

  console.log(`done in ${duration.toFixed(2)} s with ${threads} workers`);
  console.log(`  requests  ${int(requests).padStart(12)}  ${rate(requests / duration)}/s`);
  console.log(`  map ops   ${int(ops).padStart(12)}  ${rate(ops / duration)}/s  (increment + get + getOrSet each, set on 5%)`);
  console.log(
    `  entries   ${int(size).padStart(12)}  (${int(SESSIONS)} sessions, ${countersInMap} counters, ${int(tokensInMap)} tokens)`,
  );
  console.log(`  memory    ${mib(mem.usedBytes).padStart(12)}  used (${mib(mem.reservedBytes)} reserved, limit ${mib(mem.limitBytes)})`);
  console.log(
    `  checks    getOrSet stored ${int(tokensStored)} tokens (${int(tokensInMap)} in the map), ` +
      `${wrongTokens} wrong token values, ${missingSessions} missing sessions: ${cacheOk ? 'OK' : 'MISMATCH'}`,
  );

  const keyWidth = Math.max(...counterRows.map((r) => r.key.length));
  const numWidth = Math.max(8, ...counterRows.map((r) => int(r.want).length));
  console.log(`counters (expected = sum of the workers' own tallies):`);
  console.log(`  ${'key'.padEnd(keyWidth)}  ${'expected'.padStart(numWidth)}  ${'actual'.padStart(numWidth)}`);
  for (const { key, want, got, ok } of counterRows) {
    const shown = typeof got === 'number' ? int(got) : String(got);
    console.log(`  ${key.padEnd(keyWidth)}  ${int(want).padStart(numWidth)}  ${shown.padStart(numWidth)}  ${ok ? 'OK' : 'MISMATCH'}`);
  }
  const bad = counterRows.filter((r) => !r.ok).length;
  if (bad === 0) console.log(`all ${counterRows.length} counters exact`);
  else console.log(`${bad} of ${counterRows.length} counters MISMATCH`);

  map.close();
  process.exitCode = bad === 0 && cacheOk ? 0 : 1;
}
