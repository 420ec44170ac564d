// Histories of random operations from three threads on a few keys, under
// heavy contention and constant table migration, checked for
// linearizability key by key.
import { expect, test } from 'vitest';
import { SharedMap } from '../dist/index.js';
import { scale, startWorkers } from './helpers.js';
import { type Event, checkHistory } from './lin/checker.js';
// @ts-expect-error: plain JS module shared with the workers
import { record } from './workers/lin.mjs';

test.each([
  ['a tiny table that keeps migrating', { initialCapacity: 1 }, true],
  ['defaults', {}, false],
])('histories from three threads on %s are linearizable', async (_name, options, filler) => {
  for (let round = 0; round < scale(3, 30); round++) {
    const map = await SharedMap.create(options);
    const clock = new Int32Array(new SharedArrayBuffer(4));
    const params = { ops: scale(1_500, 5_000), keys: 3, clock, filler };
    const started = await startWorkers<Event[]>(map, 'lin.mjs', 2, { params });
    started.go();
    const mine = record(map, { ...params, writer: 0 }) as Event[];
    const events = [...mine, ...(await started.results).flat()];
    const { failed, unknown, keys } = checkHistory(events);
    expect(keys).toBe(4); // L0..L2 and the counter C
    expect(failed).toEqual([]);
    expect(unknown).toEqual([]);
    map.close();
  }
});
