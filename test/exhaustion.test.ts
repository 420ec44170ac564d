// Memory exhausted by concurrent writers: ERR_CAPACITY, never corruption, and
// the map recovers when room is freed. A LocalMap (one thread) fills it alone,
// growing its memory up to the bound.
import { afterEach, expect, test } from 'vitest';
import { SharedMap } from '../dist/index.js';
import { createMap, LOCAL, startWorkers } from './helpers.js';
// @ts-expect-error: plain JS module shared with the workers
import { roles } from './workers/roles.mjs';

let map: SharedMap;
afterEach(() => map?.close());

const THREADS = LOCAL ? 1 : 3;

test(`${THREADS} thread(s) filling the map get ERR_CAPACITY, lose nothing, and can write again after deletes`, async () => {
  map = await createMap({ maxMemoryBytes: 4 << 20, initialCapacity: 4 });
  const value = 'v'.repeat(120);
  const fill = async () => {
    const started = await startWorkers<number>(map, 'stress.mjs', THREADS - 1, { role: 'fill', params: { value } });
    started.go();
    const mine = roles(map).fill({ writer: 0, value }) as number;
    return [mine, ...(await started.results)];
  };
  const stored = await fill();
  const total = stored.reduce((a, b) => a + b, 0);
  expect(total).toBeGreaterThan(10_000);
  expect(map.size).toBe(total);
  for (let w = 0; w < THREADS; w++) {
    for (let i = 0; i < stored[w]; i++) {
      const v = map.get(`fill:${w}:${i}`);
      if (v !== value) expect(v, `fill:${w}:${i}`).toBe(value);
    }
  }
  // Free half of every thread's keys: the same threads can fill it again.
  for (let w = 0; w < THREADS; w++) for (let i = 0; i < stored[w]; i += 2) map.delete(`fill:${w}:${i}`);
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

test('deletes in a full map free room without migrating the table each time', async () => {
  // Regression: a delete whose tombstone found no memory compacted the map
  // (a migration of the whole table) to make room, on every delete.
  map = await createMap({ maxMemoryBytes: 4 << 20, initialCapacity: 4 });
  const value = 'v'.repeat(120);
  let n = 0;
  for (;;) {
    try {
      map.set(`full:${n}`, value);
      n++;
    } catch (e) {
      expect((e as { code: string }).code).toBe('ERR_CAPACITY');
      break;
    }
  }
  const root = () => new DataView(map.__memory.buffer).getUint32(64 + 16, true); // the header's root table
  let roots = 0;
  let last = root();
  for (let i = 0; i < n; i += 2) {
    expect(map.delete(`full:${i}`)).toBe(true);
    if (root() !== last) {
      roots++;
      last = root();
    }
  }
  expect(roots).toBeLessThanOrEqual(2);
  expect(map.size).toBe(n - Math.ceil(n / 2));
  // The room is there for new entries (one compaction when a set needs it).
  for (let i = 0; i < n / 4; i++) map.set(`new:${i}`, value);
  expect(map.get(`full:1`)).toBe(value);
  expect(map.__verify()).toBe(0);
});
