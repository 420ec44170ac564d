// Writers killed at random instants (worker.terminate(), mostly in the middle
// of a set) must not block anyone, lose a write that returned, or corrupt
// the map.
import { Worker } from 'node:worker_threads';
import { expect, test } from 'vitest';
import { SharedMap } from '../dist/index.js';
import { createMap, expectReclaims, rng, scale, shared } from './helpers.js';
// @ts-expect-error: plain JS module shared with the workers
import { killValue } from './workers/kill-value.mjs';

const KILLS = scale(60, 400);
const at = (name: string) => new URL(`./workers/${name}`, import.meta.url);

function spawn(map: SharedMap, name: string, data: object): Promise<Worker> {
  const w = new Worker(at(name), { workerData: { handle: map.handle, ...data } });
  map.releaseOnExit(w);
  return new Promise((resolve, reject) => {
    w.once('message', () => resolve(w));
    w.once('error', reject);
  });
}

/** Waits until cond() holds, yielding to the event loop; fails after `ms`. */
async function until(cond: () => boolean, ms: number, what: string) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

shared(`${KILLS} writers killed at random instants block no one and lose no returned write`, async () => {
  // Small first table: kills land during migrations too.
  const map = await createMap({ initialCapacity: 8, maxMemoryBytes: 512 << 20 });
  const random = rng(12345);
  const survivorProgress = new Int32Array(new SharedArrayBuffer(8));
  const survivor = await spawn(map, 'survivor.mjs', { progress: survivorProgress });
  const survivorDone = new Promise<{ live: string[]; ops: number }>((resolve, reject) => {
    survivor.on('message', (m) => resolve(m.result));
    survivor.on('error', reject);
  });
  const committed: [number, number][] = []; // [round, sets returned]
  const progress = new Int32Array(new SharedArrayBuffer(8));
  for (let round = 0; round < KILLS; round++) {
    const writer = await spawn(map, 'kill-writer.mjs', { progress, slot: 0, round });
    await until(() => Atomics.load(progress, 0) > 0, 10_000, 'the writer to start');
    await new Promise((r) => setTimeout(r, random() * 15));
    await writer.terminate();
    committed.push([round, Atomics.load(progress, 0)]);
    Atomics.store(progress, 0, 0);
    // The main thread and the survivor keep working after every kill.
    const beat = Atomics.load(survivorProgress, 0);
    map.set(`main:${round}`, `after kill ${round}`);
    expect(map.get(`main:${round}`)).toBe(`after kill ${round}`);
    await until(() => Atomics.load(survivorProgress, 0) > beat + 10, 10_000, 'the survivor to make progress');
  }
  Atomics.store(survivorProgress, 1, 1);
  const { live: survivorLive } = await survivorDone;

  // Every set that returned before its writer died is readable, and the size
  // counts exactly what is in the map.
  let present = 0;
  for (const [round, n] of committed) {
    for (let i = 0; i < n; i++) {
      const v = map.get(`kill:${round}:${i}`);
      if (v !== killValue(i)) expect(v, `kill:${round}:${i} (${n} sets returned)`).toBe(killValue(i));
      present++;
    }
    // The set in flight at the kill may or may not have landed; nothing after.
    if (map.has(`kill:${round}:${n}`)) present++;
    expect(map.has(`kill:${round}:${n + 1}`)).toBe(false);
  }
  for (let c = 0; c < 4; c++) if (map.has(`killcount:${c}`)) present++;
  present += survivorLive.length + KILLS; // survivor's keys, main's keys
  for (const k of survivorLive) expect(map.has(k)).toBe(true);
  expect(map.size).toBe(present);
  // The structure the dead writers left behind is whole: every invariant of
  // the core's overview holds.
  expect(map.__verify()).toBe(0);

  // The dead writers' thread slots were released: the map can still take
  // many more threads, and memory is still reclaimed (churn does not grow it).
  expectReclaims(map);
  map.close();
});
