// Memory exhausted by concurrent writers: ERR_CAPACITY, never corruption, and
// the map recovers when room is freed.
import { afterEach, expect, test } from 'vitest';
import { SharedMap } from '../dist/index.js';
import { createMap, shared, startWorkers } from './helpers.js';
// @ts-expect-error: plain JS module shared with the workers
import { roles } from './workers/roles.mjs';

let map: SharedMap;
afterEach(() => map?.close());

shared('three threads filling the map get ERR_CAPACITY, lose nothing, and can write again after deletes', async () => {
  map = await createMap({ maxMemoryBytes: 4 << 20, initialCapacity: 4 });
  const value = 'v'.repeat(120);
  const fill = async () => {
    const started = await startWorkers<number>(map, 'stress.mjs', 2, { role: 'fill', params: { value } });
    started.go();
    const mine = roles(map).fill({ writer: 0, value }) as number;
    return [mine, ...(await started.results)];
  };
  const stored = await fill();
  const total = stored.reduce((a, b) => a + b, 0);
  expect(total).toBeGreaterThan(10_000);
  expect(map.size).toBe(total);
  for (let w = 0; w < 3; w++) {
    for (let i = 0; i < stored[w]; i++) {
      const v = map.get(`fill:${w}:${i}`);
      if (v !== value) expect(v, `fill:${w}:${i}`).toBe(value);
    }
  }
  // Free half of every thread's keys: the same threads can fill it again.
  for (let w = 0; w < 3; w++) for (let i = 0; i < stored[w]; i += 2) map.delete(`fill:${w}:${i}`);
  const left = map.size;
  let again = 0;
  for (;;) {
    try {
      map.set(`more:${again}`, value);
      again++;
    } catch (e) {
      expect((e as { code: string }).code).toBe('ERR_CAPACITY');
      break;
    }
  }
  expect(again).toBeGreaterThan(total / 3);
  expect(map.size).toBe(left + again);
  expect(map.get(`fill:0:1`)).toBe(value);
  expect(map.__verify()).toBe(0);
});
