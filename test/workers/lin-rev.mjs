// Records a history of atomic() commits, getEntry and revision reads on a
// few keys (linearizability.test.ts, checked by lin/revisions.ts).
import { SharedMap } from '../../dist/index.js';
import { finish, rng } from './common.mjs';

export function recordRevisions(map, { ops, writer, clock, seed = 0, holds = 0, filler = false }) {
  const next = rng(writer * 7919 + 29 + seed * 104729);
  const events = [];
  const seen = new Map(); // key -> last modRevision this thread read
  const strings = ['s0', 's1', 's2', 's3'];
  const counters = ['c0', 'c1'];
  const pick = (list) => list[Math.floor(next() * list.length)];
  for (let i = 0; i < ops; i++) {
    const p = next();
    let op;
    const held = holds > 0 && next() < holds;
    if (held) map.__hold(1 + Math.floor(next() * 24), 1 << (6 + Math.floor(next() * 10)));
    if (p < 0.35) {
      const key = next() < 0.7 ? pick(strings) : pick(counters);
      const call = Atomics.add(clock, 0, 1);
      const e = map.getEntry(key);
      const ret = Atomics.add(clock, 0, 1);
      if (e !== undefined) seen.set(key, e.modRevision);
      const out = e === undefined ? undefined
        : { value: e.value, modRevision: e.modRevision, createRevision: e.createRevision, version: e.version };
      op = { call, ret, op: { op: 'getEntry', key, out } };
    } else if (p < 0.45) {
      const call = Atomics.add(clock, 0, 1);
      const out = map.revision;
      const ret = Atomics.add(clock, 0, 1);
      op = { call, ret, op: { op: 'revision', out } };
    } else {
      // One to three keys, each checked (at what this thread last read, or
      // absent) or not, and written.
      const keys = new Set();
      const count = 1 + Math.floor(next() * 3);
      while (keys.size < count) keys.add(next() < 0.7 ? pick(strings) : pick(counters));
      const checks = [];
      const writes = [];
      const a = map.atomic();
      for (const key of keys) {
        if (next() < 0.4) {
          const want = next() < 0.8 ? seen.get(key) ?? 0 : 0;
          checks.push([key, want]);
          a.check(key, want);
        }
        const q = next();
        if (q < 0.15) {
          writes.push([key, { kind: 'delete' }]);
          a.delete(key);
        } else if (q < 0.9 || checks.length === 0) {
          if (key[0] === 'c') {
            const delta = 1 + (i % 3);
            writes.push([key, { kind: 'increment', delta }]);
            a.increment(key, delta);
          } else {
            const v = `${writer}.${i}`;
            writes.push([key, { kind: 'set', v }]);
            a.set(key, v);
          }
        }
      }
      const call = Atomics.add(clock, 0, 1);
      const r = a.commit();
      const ret = Atomics.add(clock, 0, 1);
      op = { call, ret, op: { op: 'commit', checks, writes, out: r } };
    }
    if (held) map.__hold(0);
    events.push({ ...op, thread: writer });
    // Unrecorded inserts and deletes of other keys keep the table migrating.
    if (filler) {
      map.set(`fill:${writer}:${i}`, 'x');
      if (i >= 100) map.delete(`fill:${writer}:${i - 100}`);
    }
  }
  return events;
}

const threads = await import('node:worker_threads');
if (!threads.isMainThread && threads.workerData?.revisions) {
  const { workerData, parentPort } = threads;
  const map = await SharedMap.attach(workerData.handle);
  parentPort.postMessage({ ready: true });
  Atomics.wait(workerData.barrier, 0, 0);
  const events = recordRevisions(map, { ...workerData.params, writer: workerData.index + 1 });
  finish(map, events);
}
