// Histories of random operations from three threads on a few keys, under
// heavy contention and constant table migration, checked for
// linearizability key by key.
import { Worker } from 'node:worker_threads';
import { expect, test } from 'vitest';
import { SharedMap } from '../dist/index.js';
import { createMap, scale, shared, startWorkers } from './helpers.js';
import { type Event, checkHistory } from './lin/checker.js';
// @ts-expect-error: plain JS module shared with the workers
import { fakeTime, record } from './workers/lin.mjs';

shared.each([
  ['a tiny table that keeps migrating', { initialCapacity: 1 }, true],
  ['defaults', {}, false],
])('histories from three threads on %s are linearizable', async (_name, options, filler) => {
  for (let round = 0; round < scale(3, 30); round++) {
    const map = await createMap(options);
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
    expect(map.__verify()).toBe(0);
    map.close();
  }
});

shared('histories with TTL expiry on a shared fake clock are linearizable', async () => {
  for (let round = 0; round < scale(3, 30); round++) {
    const timeMs = new Int32Array(new SharedArrayBuffer(4));
    const time = fakeTime(timeMs);
    // A table of 128 sweep chunks: an expired entry lingers until a write's
    // sweep reaches its chunk, so reads must judge expiry themselves.
    const map = await createMap({ initialCapacity: 60_000, clock: time.clock });
    map.set('warm-up', 'x', { ttl: 1 }); // from here on every thread reads its clock
    const clock = new Int32Array(new SharedArrayBuffer(4));
    const params = { ops: scale(1_500, 5_000), keys: 3, clock, filler: true, ttl: true, timeMs };
    const started = await startWorkers<Event[]>(map, 'lin.mjs', 2, { params });
    started.go();
    const mine = record(map, { ...params, writer: 0, time }) as Event[];
    const events = [...mine, ...(await started.results).flat()];
    expect(events.some((e) => 'ttl' in e.op && e.op.ttl !== undefined)).toBe(true);
    expect(Atomics.load(timeMs, 0)).toBeGreaterThan(50); // time moved during the run
    const { failed, unknown } = checkHistory(events);
    expect(failed).toEqual([]);
    expect(unknown).toEqual([]);
    expect(map.__verify()).toBe(0);
    map.close();
  }
});

shared('a read whose clock reading came before an expiry finds the entry gone if another thread removed it meanwhile', async () => {
  // What the checker allows (lin/checker.ts, Expiry), made to happen: the
  // read takes its reading, another thread moves the clock past the expiry
  // and removes the entry, then the read runs with its earlier reading.
  const timeMs = new Int32Array(new SharedArrayBuffer(4));
  const ctl = new Int32Array(new SharedArrayBuffer(4));
  let pause = false;
  const map = await createMap({
    clock: () => {
      const t = 1_000_000 + Atomics.load(timeMs, 0);
      if (pause) {
        pause = false;
        Atomics.store(ctl, 0, 1);
        Atomics.notify(ctl, 0);
        expect(Atomics.wait(ctl, 0, 1, 10_000)).not.toBe('timed-out');
      }
      return t;
    },
  });
  try {
    const worker = new Worker(new URL('./workers/expiry-remover.mjs', import.meta.url), {
      workerData: { handle: map.handle, timeMs, ctl },
    });
    map.releaseOnExit(worker);
    const messages: { ready?: true; removed?: number }[] = [];
    const done = new Promise<void>((resolve, reject) => {
      worker.on('message', (m) => {
        messages.push(m);
        if (m.removed !== undefined) resolve();
      });
      worker.on('error', reject);
    });
    await new Promise<void>((resolve) => worker.once('message', () => resolve()));
    map.set('k', 'a', { ttl: 5 }); // expires at 1,000,005
    pause = true;
    const out = map.get('k'); // reads 1,000,000, then the worker removes the entry at 1,000,010
    await done;
    expect(messages.at(-1)).toEqual({ removed: 1 });
    expect(out).toBeUndefined();
    const events: Event[] = [
      { key: 'k', call: 0, ret: 1, thread: 0, op: { op: 'set', v: 'a', ttl: 5, now: 1_000_000 } },
      { key: 'k', call: 2, ret: 3, thread: 0, op: { op: 'get', out: undefined, now: 1_000_000 } },
      { key: 'k', call: 4, ret: 5, thread: 0, op: { op: 'get', out: map.get('k') as undefined, now: 1_000_010 } },
    ];
    expect(checkHistory(events).failed).toEqual([]);
  } finally {
    map.close();
  }
});

shared('histories on a map that keeps evicting are linearizable, with keys allowed to vanish', async () => {
  for (let round = 0; round < scale(3, 30); round++) {
    // 150 entries at most, while each thread keeps 200 filler keys: eviction never stops.
    const map = await createMap({ initialCapacity: 1, maxEntries: 150, eviction: 'lru' });
    const clock = new Int32Array(new SharedArrayBuffer(4));
    const params = { ops: scale(1_500, 5_000), keys: 3, clock, filler: true };
    const started = await startWorkers<Event[]>(map, 'lin.mjs', 2, { params });
    started.go();
    const mine = record(map, { ...params, writer: 0 }) as Event[];
    const events = [...mine, ...(await started.results).flat()];
    expect(map.stats().evictions).toBeGreaterThan(1000);
    const { failed, unknown } = checkHistory(events, true);
    expect(failed).toEqual([]);
    expect(unknown).toEqual([]);
    expect(map.__verify()).toBe(0);
    map.close();
  }
});
