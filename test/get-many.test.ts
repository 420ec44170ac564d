// getMany: the values of many keys, as as many gets would give them.
import { afterEach, expect, test } from 'vitest';
import { type SharedMap } from '../dist/index.js';
import { codeOf, createMap } from './helpers.js';

let map: SharedMap | undefined;
afterEach(() => {
  map?.close();
  map = undefined;
});

test('getMany returns what get returns for every key, in order, over batches and every kind of value', async () => {
  map = await createMap();
  const keys: (string | Uint8Array)[] = [];
  for (let i = 0; i < 300; i++) {
    const key = `k${i}`;
    keys.push(key);
    if (i % 5 === 0) continue; // absent
    if (i % 5 === 1) map.set(key, `value ${i}`);
    else if (i % 5 === 2) map.set(key, `é ${i} ✓`);
    else if (i % 5 === 3) map.set(key, new Uint8Array([i & 255, 0, 255]));
    else map.increment(key, i);
  }
  map.set('big', 'x'.repeat(200_000)); // larger than a thread's buffer: read on its own
  keys.push('big', new TextEncoder().encode('k1'));
  const before = map.stats();
  const got = map.getMany(keys);
  const after = map.stats();
  expect(after.hits - before.hits).toBe(240 + 1 + 1); // 240 present of 300, big, k1 as bytes
  expect(after.misses - before.misses).toBe(60);
  expect(got).toEqual(keys.map((k) => map!.get(k)));
  expect(map.getMany([])).toEqual([]);
  expect(codeOf(() => map!.getMany(['ok', '']))).toBe('ERR_INVALID_KEY');
  const view = map.namespace('ns');
  view.set('k1', 'in ns');
  expect(view.getMany(['k1', 'k2'])).toEqual(['in ns', undefined]);
});
