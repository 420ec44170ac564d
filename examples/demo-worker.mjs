// One simulated API-server thread of examples/demo.mjs.
//
// It attaches to the map the main thread created and serves fake requests
// until told to stop. Each request:
//   1. counts the call:       map.increment('calls:<METHOD> <route>')
//   2. reads the session:     map.get('session:<id>')   (5%: updates lastSeen with map.set)
//   3. looks up the token:    map.getOrSet('token:<n>', value derived from n)
//
// Progress goes to the main thread through shared counters (Atomics), not
// per-request messages; the exact per-counter tally is posted once at the end.
import { workerData, parentPort } from 'node:worker_threads';
import { SharedMap } from 'wasmap';
import { CTL, SLOT, ROUTES, SESSIONS, TOKENS, SESSION_WRITE_RATE, tokenValue, routePicker } from './demo-shared.mjs';

const { handle, control, counts, index } = workerData;
const ctl = new Int32Array(control);
const mine = new BigInt64Array(counts, index * SLOT.SIZE * 8, SLOT.SIZE);

/** Tells the main thread what went wrong, with the library's error code. */
function fail(err) {
  parentPort.postMessage({
    type: 'error',
    index,
    error: { name: err?.name, code: err?.code, message: err?.message ?? String(err), stack: err?.stack },
  });
  process.exitCode = 1;
}

let map;
try {
  map = await SharedMap.attach(handle);
} catch (err) {
  fail(err);
}

if (map) {
  try {
    run(map);
  } catch (err) {
    fail(err);
  } finally {
    map.close();
  }
}

function run(map) {
  // Everything a request needs is built before the start line, so the timed
  // part measures the map, not string building.
  const counterKeys = ROUTES.map((r) => `calls:${r}`);
  const sessionKeys = Array.from({ length: SESSIONS }, (_, i) => `session:${i}`);
  const tokenKeys = Array.from({ length: TOKENS }, (_, n) => `token:${n}`);
  const tokenValues = Array.from({ length: TOKENS }, (_, n) => tokenValue(n));
  const pickRoute = routePicker();
  const tally = new Float64Array(ROUTES.length); // exact per-counter increments by this thread

  // xorshift32, seeded per worker
  let seed = (0x9e3779b9 ^ Math.imul(index + 1, 0x85ebca6b)) | 0 || 1;
  const rand = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 4294967296;
  };

  let requests = 0;
  let ops = 0;
  let tokensStored = 0; // getOrSet calls that stored (loaded: false)
  let wrongTokens = 0; // getOrSet returned a value other than the one every thread derives
  let missingSessions = 0; // get('session:…') found nothing (sessions are never deleted)

  // Barrier: check in, then wait for the main thread to say go.
  Atomics.add(ctl, CTL.READY, 1);
  Atomics.notify(ctl, CTL.READY);
  Atomics.wait(ctl, CTL.GO, 0);

  const BATCH = 64;
  while (Atomics.load(ctl, CTL.STOP) === 0) {
    for (let b = 0; b < BATCH; b++) {
      // 1. per-method call counter
      const r = pickRoute(rand());
      map.increment(counterKeys[r]);
      tally[r]++;

      // 2. session metadata: read on every request, written now and then
      const s = (rand() * SESSIONS) | 0;
      const session = map.get(sessionKeys[s]);
      if (typeof session !== 'string') {
        missingSessions++;
      } else if (rand() < SESSION_WRITE_RATE) {
        const data = JSON.parse(session);
        data.lastSeen = Date.now();
        data.requests++;
        map.set(sessionKeys[s], JSON.stringify(data));
        ops++;
      }

      // 3. token cache
      const t = (rand() * TOKENS) | 0;
      const got = map.getOrSet(tokenKeys[t], tokenValues[t]);
      if (!got.loaded) tokensStored++;
      if (got.value !== tokenValues[t]) wrongTokens++;

      ops += 3;
    }
    requests += BATCH;
    Atomics.store(mine, SLOT.OPS, BigInt(ops));
    Atomics.store(mine, SLOT.REQUESTS, BigInt(requests));
  }

  const counters = {};
  counterKeys.forEach((k, i) => (counters[k] = tally[i]));
  parentPort.postMessage({ type: 'done', index, requests, ops, counters, tokensStored, wrongTokens, missingSessions });
}
