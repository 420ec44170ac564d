// What examples/demo.mjs and examples/demo-worker.mjs agree on.

/** Slots of the control Int32Array (the start barrier and the stop flag). */
export const CTL = { READY: 0, GO: 1, STOP: 2, LENGTH: 3 };

/** Each worker's slots in the counts BigInt64Array, written with Atomics.store. */
export const SLOT = { OPS: 0, REQUESTS: 1, SIZE: 2 };

/** The API's methods and routes, with how often each one is called. */
export const ROUTES_WEIGHTED = [
  ['GET /users/:id', 30],
  ['GET /feed', 20],
  ['GET /posts/:id', 15],
  ['GET /search', 10],
  ['POST /posts', 8],
  ['PATCH /users/:id', 7],
  ['POST /login', 6],
  ['DELETE /posts/:id', 4],
];
export const ROUTES = ROUTES_WEIGHTED.map(([route]) => route);

export const SESSIONS = 10_000;
export const TOKENS = 50_000;
export const SESSION_WRITE_RATE = 0.05;

/** Maps u in [0, 1) to a route index, following the weights. */
export function routePicker() {
  const total = ROUTES_WEIGHTED.reduce((sum, [, w]) => sum + w, 0);
  const table = [];
  ROUTES_WEIGHTED.forEach(([, w], i) => {
    for (let k = 0; k < w; k++) table.push(i);
  });
  return (u) => table[(u * total) | 0];
}

/** A session's metadata as the main thread first stores it. */
export function sessionValue(id) {
  return JSON.stringify({
    user: `user${String(id).padStart(5, '0')}`,
    role: id % 50 === 0 ? 'admin' : 'member',
    createdAt: 1_700_000_000_000 + id * 1000,
    lastSeen: 0,
    requests: 0,
  });
}

/** The cached value of token n: the same in every thread, so any thread may store it. */
export function tokenValue(n) {
  let h = Math.imul(n ^ 0x5bd1e995, 0x9e3779b1);
  h ^= h >>> 15;
  h = Math.imul(h, 0x85ebca77);
  h ^= h >>> 13;
  const sig = (h >>> 0).toString(16).padStart(8, '0');
  return `{"user":"user${String(n % SESSIONS).padStart(5, '0')}","scope":"read write","sig":"${sig}"}`;
}
