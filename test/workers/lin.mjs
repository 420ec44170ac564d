// Records a history of random operations on a few keys (linearizability.test.ts).
import { SharedMap } from '../../dist/index.js';
import { finish, rng } from './common.mjs';

export function record(map, { ops, writer, keys, clock, filler, time, ttl, holds = 0, seed = 0, tick = 16, holdBits = 12, holdSteps = 12, holdMigration = false, step = false, fillerEvery = 1, fillerLife = 200, sweeps = 0 }) {
  const next = rng(writer * 7919 + 13 + seed * 104729);
  // A write's ttl (ms, or undefined): on half the writes of a TTL run.
  const ttlOf = () => (ttl && next() < 0.5 ? 1 + Math.floor(next() * 4) : undefined);
  const opts = (t) => (t === undefined ? undefined : { ttl: t });
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
    // Held: the core stops at a random step of this operation for a random
    // while (as if descheduled there), while the other threads go on.
    const held = holds > 0 && next() < holds;
    if (held) map.__hold(1 + Math.floor(next() * holdSteps), 1 << (8 + Math.floor(next() * holdBits)), false, holdMigration);
    // Stepped: the core holds at every fault point, and the main thread
    // chooses which thread takes the next step.
    if (step) map.__hold(1, 0, true);
    const call = Atomics.add(clock, 0, 1);
    if (p < 0.3) {
      const out = map.get(key);
      op = { op: 'get', out: cell(out) };
      seen.set(key, out);
    } else if (p < 0.42) {
      const t = ttlOf();
      map.set(key, v, opts(t));
      op = { op: 'set', v, ttl: t };
    } else if (p < 0.5) {
      op = { op: 'delete', out: map.delete(key) };
    } else if (p < 0.58) {
      const t = ttlOf();
      const r = map.getOrSet(key, v, opts(t));
      op = { op: 'getOrSet', v, ttl: t, out: cell(r.value), loaded: r.loaded };
    } else if (p < 0.64) {
      op = { op: 'getAndDelete', out: cell(map.getAndDelete(key)) };
    } else if (p < 0.72) {
      const t = ttlOf();
      op = { op: 'swap', v, ttl: t, out: cell(map.swap(key, v, opts(t))) };
    } else if (p < 0.82) {
      const t = ttlOf();
      const e = expected === undefined ? 'none' : expected;
      op = { op: 'cas', expected: e, v, ttl: t, out: map.compareAndSwap(key, e, v, opts(t)) };
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
    if (held || step) map.__hold(0); // disarmed, if the operation passed fewer fault points
    if (time) op.now = time.last; // the clock reading the operation used
    events.push({ key, call, ret, thread: writer, op });
    // The main thread moves the shared fake clock on, a millisecond at a time.
    if (time && writer === 0 && i % tick === 0) Atomics.add(time.ms, 0, 1);
    // Unrecorded inserts and deletes of other keys keep the table migrating.
    // Unrecorded sweeps of every table (size and purgeExpired sweep the
    // root and the table it migrates to).
    if (sweeps > 0 && next() < sweeps) {
      if (step) map.__hold(1, 0, true);
      if (next() < 0.5) void map.size;
      else map.purgeExpired();
      if (step) map.__hold(0);
    }
    if (filler && i % fillerEvery === 0) {
      if (step) map.__hold(1, 0, true);
      map.set(`fill:${writer}:${i}`, 'x', ttl && next() < 0.5 ? { ttl: 1 + Math.floor(next() * 4) } : undefined);
      if (i >= fillerLife) map.delete(`fill:${writer}:${i - fillerLife}`);
      if (step) map.__hold(0);
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
  const map = await SharedMap.attach(workerData.handle, {
    ...(time ? { clock: time.clock } : {}), readCache: workerData.params.readCache ?? 0,
  });
  parentPort.postMessage({ ready: true, holdWord: map.__holdWord });
  Atomics.wait(workerData.barrier, 0, 0);
  const events = record(map, { ...workerData.params, writer: workerData.index + 1, time });
  if (workerData.params.step) {
    // Tells the stepping main thread this worker is done (see stepThrough).
    const word = new Int32Array(map.__memory.buffer);
    Atomics.store(word, map.__holdWord >> 2, 2);
    Atomics.notify(word, map.__holdWord >> 2);
  }
  finish(map, events);
}
