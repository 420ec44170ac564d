// Records a history of random operations on a few keys (linearizability.test.ts).
import { SharedMap } from '../../dist/index.js';
import { finish, rng } from './common.mjs';

export function record(map, { ops, writer, keys, clock, filler, time, ttl }) {
  const next = rng(writer * 7919 + 13);
  const events = [];
  const seen = new Map(); // key -> last value this thread saw (for expected values)
  const cell = (v) => (v === undefined ? undefined : typeof v === 'number' ? { kind: 'n', v } : { kind: 's', v });
  for (let i = 0; i < ops; i++) {
    // One key in five is the counter C, hammered by increments.
    const counter = next() < 0.2;
    const key = counter ? 'C' : `L${Math.floor(next() * keys)}`;
    const p = counter ? (next() < 0.8 ? 0.9 : 0.1) : next();
    const v = `${writer}.${i}`;
    const expected = next() < 0.7 && seen.has(key) ? seen.get(key) : `${writer}.${i - 1}`;
    let op;
    const call = Atomics.add(clock, 0, 1);
    if (p < 0.3) {
      const out = map.get(key);
      op = { op: 'get', out: cell(out) };
      seen.set(key, out);
    } else if (p < 0.42) {
      if (ttl && next() < 0.5) {
        const t = 1 + Math.floor(next() * 4);
        map.set(key, v, { ttl: t });
        op = { op: 'set', v, ttl: t };
      } else {
        map.set(key, v);
        op = { op: 'set', v };
      }
    } else if (p < 0.5) {
      op = { op: 'delete', out: map.delete(key) };
    } else if (p < 0.58) {
      const r = map.getOrSet(key, v);
      op = { op: 'getOrSet', v, out: cell(r.value), loaded: r.loaded };
    } else if (p < 0.64) {
      op = { op: 'getAndDelete', out: cell(map.getAndDelete(key)) };
    } else if (p < 0.72) {
      op = { op: 'swap', v, out: cell(map.swap(key, v)) };
    } else if (p < 0.82) {
      if (expected === undefined) op = { op: 'cas', expected: 'none', v, out: map.compareAndSwap(key, 'none', v) };
      else op = { op: 'cas', expected, v, out: map.compareAndSwap(key, expected, v) };
    } else if (p < 0.86) {
      const e = expected === undefined ? 'none' : expected;
      op = { op: 'cad', expected: e, out: map.compareAndDelete(key, e) };
    } else {
      let out;
      try {
        out = map.increment(key, 1 + (i % 3));
      } catch (e) {
        if (e.code !== 'ERR_NOT_A_COUNTER') throw e;
        out = 'ERR_NOT_A_COUNTER';
      }
      op = { op: 'increment', delta: 1 + (i % 3), out };
    }
    const ret = Atomics.add(clock, 0, 1);
    if (time) op.now = time.last; // the clock reading the operation used
    events.push({ key, call, ret, thread: writer, op });
    // The main thread moves the shared fake clock on, a millisecond at a time.
    if (time && writer === 0 && i % 16 === 0) Atomics.add(time.ms, 0, 1);
    // Unrecorded inserts and deletes of other keys keep the table migrating.
    if (filler) {
      map.set(`fill:${writer}:${i}`, 'x');
      if (i >= 200) map.delete(`fill:${writer}:${i - 200}`);
    }
  }
  return events;
}

/** A fake clock on shared memory that remembers the last reading it gave. */
export function fakeTime(ms) {
  const time = { ms, last: 0 };
  time.clock = () => (time.last = 1_000_000 + Atomics.load(ms, 0));
  return time;
}

const threads = await import('node:worker_threads');
if (!threads.isMainThread) {
  const { workerData, parentPort } = threads;
  const time = workerData.params.ttl ? fakeTime(workerData.params.timeMs) : undefined;
  const map = await SharedMap.attach(workerData.handle, time ? { clock: time.clock } : undefined);
  parentPort.postMessage({ ready: true });
  Atomics.wait(workerData.barrier, 0, 0);
  finish(map, record(map, { ...workerData.params, writer: workerData.index + 1, time }));
}
