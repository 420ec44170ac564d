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
