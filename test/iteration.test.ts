// Iteration: scan pages, keys(), entries(). A key present from the first
// page to the last is returned at least once, whatever writes (from this
// thread or others) grow, shrink or migrate the table between pages.
import { afterEach, expect, test } from 'vitest';
import type { SharedMap } from '../dist/index.js';
import { createMap, scale, shared, startWorkers } from './helpers.js';

let map: SharedMap;
afterEach(() => map?.close());

test('keys, entries and the map itself iterate the live keys of their view, and nothing else', async () => {
  let now = 0;
  map = await createMap({ initialCapacity: 4, clock: () => now });
  for (let i = 0; i < 3000; i++) map.set(`k${i}`, `v${i}`);
  for (let i = 0; i < 3000; i += 3) map.delete(`k${i}`);
  map.set('gone soon', 'x', { ttl: 10 });
  map.increment('counter', 7);
  map.set(new Uint8Array([0xff, 0x00, 0x41]), 'not UTF-8');
  map.set(new Uint8Array([0xc3, 0xa9]), 'UTF-8 bytes');
  const ns = map.namespace('other');
  ns.set('k1', 'in the namespace');
  ns.set('only here', '1');
  now = 10; // 'gone soon' has expired

  const expected = new Map<string, unknown>();
  for (let i = 0; i < 3000; i++) if (i % 3 !== 0) expected.set(`k${i}`, `v${i}`);
  expected.set('counter', 7);
  expected.set('é', 'UTF-8 bytes');
  const got = new Map<string, unknown>();
  let raw: Uint8Array | undefined;
  for (const [key, value] of map) {
    if (key instanceof Uint8Array) raw = key;
    else got.set(key, value);
  }
  expect(got).toEqual(expected);
  expect(raw).toEqual(new Uint8Array([0xff, 0x00, 0x41])); // not UTF-8: comes back as bytes
  expect(map.get(raw!)).toBe('not UTF-8');
  expect(new Set(map.keys()).size).toBe(map.size);
  expect([...ns.keys()].sort()).toEqual(['k1', 'only here']);
  expect(Object.fromEntries(ns.entries())).toEqual({ k1: 'in the namespace', 'only here': '1' });
});

test('scan pages walk every key with a cursor, and iteration stops when asked', async () => {
  map = await createMap();
  for (let i = 0; i < 20_000; i++) map.set(`key:${i}`, 'v');
  const seen = new Set<string>();
  let cursor = 0;
  let pages = 0;
  for (;;) {
    const page = map.scan(cursor);
    pages++;
    for (const k of page.keys) seen.add(k as string);
    if (page.done) {
      expect(page.cursor).toBe(0);
      break;
    }
    cursor = page.cursor;
  }
  expect(seen.size).toBe(20_000);
  expect(pages).toBeGreaterThan(1);
  let taken = 0;
  for (const _ of map.keys()) if (++taken === 10) break;
  expect(taken).toBe(10);
  expect(map.scan(0).keys.length).toBeGreaterThan(0);
  for (const bad of [-1, 1.5, 2 ** 32, NaN, '0']) {
    expect(() => map.scan(bad as number)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }));
  }
});

test('keys present throughout are all returned while writes between pages grow, shrink and migrate the table', async () => {
  map = await createMap({ initialCapacity: 1 });
  const stable = scale(2000, 20_000);
  for (let i = 0; i < stable; i++) map.set(`stable:${i}`, 's');
  // Churn in a namespace of its own (the same table): bursts of inserts grow
  // the table; clearing the namespace migrates it to a smaller one.
  const churn = map.namespace('churn');
  let pages = 0;
  const rounds = scale(5, 10);
  for (let round = 0; round < rounds; round++) {
    const seen = new Set<string>();
    let cursor = 0;
    let n = 0;
    for (let page = 0; ; page++) {
      const p = map.scan(cursor);
      pages++;
      for (const k of p.keys) seen.add(k as string);
      if (p.done) break;
      cursor = p.cursor;
      // Up to 4x the stable keys, then all gone: the table grows, then
      // shrinks, again and again, but stays bounded, so the scan ends.
      if (churn.size < 4 * stable) for (let j = 0; j < stable; j++) churn.set(`churn:${n++}`, 'c');
      else churn.clear();
    }
    expect([...seen].filter((k) => !k.startsWith('stable:'))).toEqual([]);
    for (let i = 0; i < stable; i++) expect(seen.has(`stable:${i}`), `stable:${i} in round ${round}`).toBe(true);
    churn.clear();
  }
  expect(pages).toBeGreaterThan(rounds * 3);
  expect(map.__verify()).toBe(0);
});

shared('keys present throughout are all returned while other threads insert and delete', async () => {
  map = await createMap({ initialCapacity: 1 });
  const stable = 5000;
  for (let i = 0; i < stable; i++) map.set(`stable:${i}`, 's');
  const started = await startWorkers<{ live: number }>(map, 'stress.mjs', 2, {
    role: 'inserts', params: { count: scale(40_000, 400_000) },
  });
  started.go();
  let scans = 0;
  let finished = false;
  started.results.then(() => (finished = true), () => (finished = true));
  while (!finished || scans === 0) {
    const seen = new Set<string>();
    for (const k of map.keys()) {
      const key = k as string;
      expect(key.startsWith('stable:') || key.startsWith('own:'), key).toBe(true);
      seen.add(key);
    }
    for (let i = 0; i < stable; i++) expect(seen.has(`stable:${i}`), `stable:${i}`).toBe(true);
    scans++;
    await new Promise((r) => setImmediate(r));
  }
  const results = await started.results;
  const live = results.reduce((s, r) => s + r.live, 0);
  expect(new Set(map.keys()).size).toBe(stable + live);
  expect(map.__verify()).toBe(0);
});

/** The core's scan calls a map makes (its exports, wrapped). */
function countScans(m: SharedMap): { calls: number } {
  const s = (m as unknown as { s: { core: Record<string, unknown> } }).s;
  const core = s.core;
  const scan = core.scan as (...a: number[]) => number;
  const counter = { calls: 0 };
  const counted = (...a: number[]) => {
    counter.calls++;
    return scan(...a);
  };
  const wrapped: Record<string, unknown> = {};
  for (const name of Object.keys(core)) wrapped[name] = core[name];
  wrapped.scan = counted;
  s.core = wrapped;
  return counter;
}

/** A map with 3,000 `user:` keys, 2,000 `session:` keys, a counter and a
 *  key of raw bytes that starts with `user:`'s bytes. */
async function usersAndSessions() {
  map = await createMap();
  for (let i = 0; i < 3000; i++) map.set(`user:${i}`, `u${i}`);
  for (let i = 0; i < 2000; i++) map.set(`session:${i}`, `s${i}`);
  map.increment('user:count', 3000);
  map.set(new Uint8Array([...new TextEncoder().encode('user:'), 0xff]), 'raw');
}

test('scan({ prefix, cursor, limit }) pages through the entries whose keys start with the prefix, about limit at a time', async () => {
  await usersAndSessions();
  const before = map.size;
  for (const prefix of ['user:', new TextEncoder().encode('user:')]) {
    const got = new Map<string, unknown>();
    let raw = 0;
    let cursor = 0;
    let pages = 0;
    for (;;) {
      const page = map.scan({ prefix, cursor, limit: 100 });
      pages++;
      expect(page.entries.length).toBeLessThanOrEqual(104); // keys sharing a home come together
      for (const [k, v] of page.entries) {
        if (k instanceof Uint8Array) {
          expect(v).toBe('raw');
          raw++;
        } else got.set(k, v);
      }
      if (page.done) {
        expect(page.cursor).toBe(0);
        break;
      }
      cursor = page.cursor;
    }
    expect(pages).toBeGreaterThanOrEqual(30);
    expect(raw).toBe(1);
    expect(got.size).toBe(3001);
    for (let i = 0; i < 3000; i++) expect(got.get(`user:${i}`)).toBe(`u${i}`);
    expect(got.get('user:count')).toBe(3000);
  }
  // No prefix, or an empty one: every entry. A prefix nothing has: no entry, and done.
  for (const prefix of [undefined, '']) {
    let n = 0;
    let cursor = 0;
    for (;;) {
      const page = map.scan({ prefix, cursor, limit: 1000 });
      n += page.entries.length;
      if (page.done) break;
      cursor = page.cursor;
    }
    expect(n).toBe(before);
  }
  let cursor = 0;
  for (;;) {
    const page = map.scan({ prefix: 'nobody:', cursor });
    expect(page.entries).toEqual([]);
    if (page.done) break;
    cursor = page.cursor;
  }
  // A scan of a namespace sees its own keys only.
  const ns = map.namespace('other');
  ns.set('user:ns', 'mine');
  expect(ns.scan({ prefix: 'user:' })).toEqual({ entries: [['user:ns', 'mine']], cursor: 0, done: true });
});

test('scan(options) and iterate(options) refuse bad options with a code and change nothing', async () => {
  await usersAndSessions();
  const size = map.size;
  const bad: [string, object][] = [
    ['limit 0', { limit: 0 }], ['limit 1.5', { limit: 1.5 }], ['limit 2^21', { limit: 2 ** 21 }], ['limit "5"', { limit: '5' }],
    ['prefix 42', { prefix: 42 }], ['prefix with a lone surrogate', { prefix: 'a\ud800' }], ['cursor -1', { cursor: -1 }], ['cursor 2^32', { cursor: 2 ** 32 }],
  ];
  for (const [what, options] of bad) {
    expect(() => map.scan(options as never), what).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }));
  }
  for (const options of [{ batchSize: 0 }, { prefix: 42 }, { signal: 'stop' }]) {
    await expect(map.iterate(options as never).next()).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION' });
  }
  expect(map.size).toBe(size);
});

test('a prefix scan returns every key with the prefix present throughout while writes between pages grow, shrink and migrate the table', async () => {
  map = await createMap({ initialCapacity: 1 });
  const stable = scale(2000, 20_000);
  for (let i = 0; i < stable; i++) map.set(`stable:${i}`, `s${i}`);
  const churn = map.namespace('churn');
  let n = 0;
  for (let round = 0; round < scale(3, 10); round++) {
    const seen = new Map<string, unknown>();
    let cursor = 0;
    for (;;) {
      const page = map.scan({ prefix: 'stable:', cursor, limit: 200 });
      for (const [k, v] of page.entries) seen.set(k as string, v);
      if (page.done) break;
      cursor = page.cursor;
      if (churn.size < 4 * stable) for (let j = 0; j < stable; j++) churn.set(`stable:churn:${n++}`, 'c');
      else churn.clear();
      // Keys of the map itself with another prefix, come and gone.
      map.set(`other:${n}`, 'o');
      map.delete(`other:${n - 1}`);
    }
    expect(seen.size).toBe(stable);
    for (let i = 0; i < stable; i++) expect(seen.get(`stable:${i}`), `stable:${i} in round ${round}`).toBe(`s${i}`);
    churn.clear();
  }
  expect(map.__verify()).toBe(0);
});

test('iterate({ prefix, batchSize }) yields batches of the prefix\'s entries, reads none ahead of its consumer, and gives the event loop a turn between batches', async () => {
  await usersAndSessions();
  const scans = countScans(map);
  const it = map.iterate({ prefix: 'user:', batchSize: 500 });
  const first = await it.next();
  expect(first.done).toBe(false);
  const batch = first.value as [unknown, unknown][];
  expect(batch.length).toBeGreaterThan(0);
  expect(batch.length).toBeLessThanOrEqual(504);
  // A slow consumer: nothing more is read while it holds on.
  const after = scans.calls;
  await new Promise((r) => setTimeout(r, 50));
  expect(scans.calls).toBe(after);
  // Between two batches, other work runs.
  let ran = false;
  setImmediate(() => (ran = true));
  const second = await it.next();
  expect(second.done).toBe(false);
  expect(ran).toBe(true);
  expect(scans.calls).toBeGreaterThan(after);
  const keys = new Set<unknown>([...batch, ...(second.value as [unknown, unknown][])].map(([k]) => k));
  for await (const more of it) for (const [k] of more) keys.add(k);
  expect([...keys].filter((k) => typeof k === 'string')).toHaveLength(3001);
  expect([...keys].filter((k) => typeof k === 'string' && !k.startsWith('user:'))).toEqual([]);
});

test('a break out of for await over iterate() stops it: no more is read', async () => {
  await usersAndSessions();
  const scans = countScans(map);
  let batches = 0;
  for await (const batch of map.iterate({ batchSize: 100 })) {
    expect(batch.length).toBeGreaterThan(0);
    if (++batches === 3) break;
  }
  const calls = scans.calls;
  await new Promise((r) => setTimeout(r, 30));
  expect(scans.calls).toBe(calls);
  expect(batches).toBe(3);
});

test('iterate() with an AbortSignal stops at once when it aborts, rejecting with its reason', async () => {
  await usersAndSessions();
  // Aborted before it starts: the first step rejects.
  const early = new AbortController();
  early.abort(new Error('not wanted'));
  await expect(map.iterate({ signal: early.signal }).next()).rejects.toThrow('not wanted');
  // Aborted while the consumer waits for the next batch (the iteration is
  // between batches, waiting for its turn): that step rejects at once.
  const controller = new AbortController();
  const scans = countScans(map);
  const it = map.iterate({ batchSize: 100, signal: controller.signal });
  expect((await it.next()).done).toBe(false);
  const pending = it.next();
  controller.abort(new Error('enough'));
  await expect(pending).rejects.toThrow('enough');
  const calls = scans.calls;
  expect(await it.next()).toEqual({ done: true, value: undefined });
  await new Promise((r) => setTimeout(r, 30));
  expect(scans.calls).toBe(calls);
  // With the default reason, an AbortError.
  const plain = new AbortController();
  const it2 = map.iterate({ signal: plain.signal });
  await it2.next();
  const next = it2.next();
  plain.abort();
  await expect(next).rejects.toMatchObject({ name: 'AbortError' });
});
