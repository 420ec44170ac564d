// Revisions, update() and atomic() commits: what each returns, what a
// refused one leaves, and, with workers, that commits are all-or-nothing
// for every reader and every kill.
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, test } from 'vitest';
import { type SharedMap } from '../dist/index.js';
import { codeOf, createMap, rng, scale, shared } from './helpers.js';
// @ts-expect-error: plain JS module shared with the workers
import { audit, transfer } from './workers/bank.mjs';

let map: SharedMap | undefined;
afterEach(() => {
  map?.close();
  map = undefined;
});

describe('revisions', () => {
  test('every change advances the map revision; an entry carries its creation, its last change and its version', async () => {
    map = await createMap();
    expect(map.revision).toBe(0);
    map.set('a', '1');
    const r1 = map.revision;
    expect(map.getEntry('a')).toEqual({ value: '1', createRevision: r1, modRevision: r1, version: 1, expiresAt: undefined });
    map.set('a', '2');
    map.set('b', 'x');
    const a = map.getEntry('a')!;
    expect(a).toMatchObject({ value: '2', createRevision: r1, version: 2 });
    expect(a.modRevision).toBeGreaterThan(r1);
    expect(map.getEntry('b')!.modRevision).toBeGreaterThan(a.modRevision);
    // Reads change nothing.
    const before = map.revision;
    map.get('a');
    map.getEntry('b');
    map.has('zz');
    expect(map.revision).toBe(before);
    // Deleted and set again: a new creation.
    expect(map.delete('a')).toBe(true);
    expect(map.revision).toBeGreaterThan(before);
    expect(map.getEntry('a')).toBeUndefined();
    map.set('a', '3');
    const again = map.getEntry('a')!;
    expect(again.version).toBe(1);
    expect(again.createRevision).toBe(again.modRevision);
    expect(again.createRevision).toBeGreaterThan(before);
    // Counters, and a new expiry, are changes too.
    expect(map.increment('n', 2)).toBe(2);
    expect(map.increment('n', 3)).toBe(5);
    expect(map.getEntry('n')).toMatchObject({ value: 5, version: 2 });
    const m = map.getEntry('b')!.modRevision;
    expect(map.expire('b', 60_000)).toBe(true);
    const b = map.getEntry('b')!;
    expect(b.modRevision).toBeGreaterThan(m);
    expect(b.version).toBe(2);
    expect(b.expiresAt).toBeGreaterThan(Date.now() + 50_000);
    expect(map.__verify()).toBe(0);
  });

  test("a namespace's entries carry the map's revisions", async () => {
    map = await createMap();
    const ns = map.namespace('tenant');
    map.set('root', '1');
    const r = map.revision;
    ns.set('k', 'v');
    expect(map.revision).toBeGreaterThan(r);
    expect(ns.revision).toBe(map.revision);
    expect(ns.getEntry('k')!.modRevision).toBe(map.revision);
    expect(map.getEntry('k')).toBeUndefined();
  });
});

describe('update', () => {
  test('writes what the function returns, deletes on undefined, and calls it with the current value', async () => {
    map = await createMap();
    expect(map.update('a', (v) => (v === undefined ? 'first' : `${v}+`))).toBe('first');
    expect(map.update('a', (v) => `${v}+`)).toBe('first+');
    expect(map.get('a')).toBe('first+');
    expect(map.update('a', () => undefined)).toBeUndefined();
    expect(map.has('a')).toBe(false);
    expect(map.update('absent', () => undefined)).toBeUndefined();
    map.increment('n', 41);
    expect(map.update('n', (v) => String((v as number) + 1))).toBe('42');
    expect(map.update('t', () => 'x', { ttl: 60_000 })).toBe('x');
    expect(map.ttl('t')).toBeGreaterThan(59_000);
  });

  test('a change between its read and its write makes it read and call again; past its tries, ERR_CONFLICT, and nothing of its own is written', async () => {
    map = await createMap();
    map.set('k', '0');
    let calls = 0;
    // The first call's write is refused (another write came between), the second lands.
    expect(map.update('k', (v) => {
      if (++calls === 1) map!.set('k', '10');
      return `${Number(v) + 1}`;
    })).toBe('11');
    expect(calls).toBe(2);
    // The same value written back still counts as a change (revisions, not values).
    calls = 0;
    const conflict = codeOf(() => map!.update('k', (v) => {
      calls++;
      map!.set('k', v as string);
      return 'mine';
    }, { retries: 3 }));
    expect(conflict).toBe('ERR_CONFLICT');
    expect(calls).toBe(3);
    expect(map.get('k')).toBe('11');
    // A function that throws writes nothing.
    expect(() => map!.update('k', () => {
      throw new Error('no');
    })).toThrow('no');
    expect(map.get('k')).toBe('11');
    expect(codeOf(() => map!.update('k', () => 'x', { retries: 0 }))).toBe('ERR_INVALID_OPTION');
  });
});

describe('atomic', () => {
  test('commits every write at one revision, or none when a check fails', async () => {
    map = await createMap();
    map.set('a', '100');
    map.set('gone', 'x');
    const a = map.getEntry('a')!;
    const r = map.atomic()
      .check('a', a.modRevision).check('new', 0)
      .set('a', '90').set('new', '10', { ttl: 60_000 }).increment('n', 5).delete('gone')
      .commit();
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(map.revision).toBe(r.revision);
    for (const k of ['a', 'new', 'n']) expect(map.getEntry(k)!.modRevision, k).toBe(r.revision);
    expect([map.get('a'), map.get('new'), map.get('n'), map.has('gone')]).toEqual(['90', '10', 5, false]);
    expect(map.ttl('new')).toBeGreaterThan(59_000);
    expect(map.size).toBe(3);
    // A stale check: nothing changes, not even the revision.
    const before = map.revision;
    expect(map.atomic().check('a', a.modRevision).set('a', 'stale').delete('n').commit()).toEqual({ ok: false });
    expect(map.atomic().check('a', 0).set('x', 'y').commit()).toEqual({ ok: false });
    expect([map.get('a'), map.get('n'), map.has('x'), map.revision]).toEqual(['90', 5, false, before]);
    expect(map.__verify()).toBe(0);
  });

  test('a commit refused part way changes nothing, and its errors are stable', async () => {
    map = await createMap();
    map.set('s', 'string');
    map.set('keep', '1');
    const before = map.revision;
    // The increment of a string is refused after the set of `keep` was made ready.
    expect(codeOf(() => map!.atomic().set('keep', '2').increment('s', 1).commit())).toBe('ERR_NOT_A_COUNTER');
    map.increment('big', Number.MAX_SAFE_INTEGER);
    const after = map.revision;
    expect(codeOf(() => map!.atomic().set('keep', '3').increment('big', 1).commit())).toBe('ERR_COUNTER_OVERFLOW');
    expect([map.get('keep'), map.get('s'), map.get('big')]).toEqual(['1', 'string', Number.MAX_SAFE_INTEGER]);
    expect(map.revision).toBe(after);
    expect(after).toBe(before + 1);
    // Bounds and misuse.
    const op = map.atomic();
    for (let i = 0; i < 256; i++) op.set(`k${i}`, 'v');
    expect(codeOf(() => op.set('k256', 'v'))).toBe('ERR_ATOMIC_TOO_LARGE');
    expect(codeOf(() => map!.atomic().set('d', '1').delete('d'))).toBe('ERR_DUPLICATE_KEY');
    expect(codeOf(() => map!.atomic().check('d', 0).check('d', 0))).toBe('ERR_DUPLICATE_KEY');
    expect(codeOf(() => map!.atomic().set('d', '1').set(new TextEncoder().encode('d'), '2').commit())).toBe('ERR_DUPLICATE_KEY');
    expect(codeOf(() => map!.atomic().check('d', -1))).toBe('ERR_INVALID_OPTION');
    const mib = 'x'.repeat(1 << 20);
    expect(codeOf(() => map!.atomic().set('d', mib).set('e', mib).set('f', mib).set('g', mib).set('h', mib).commit())).toBe('ERR_ATOMIC_TOO_LARGE');
    expect(codeOf(() => map!.atomic().set('', 'v').commit())).toBe('ERR_INVALID_KEY');
    const once = map.atomic().set('once', '1');
    expect(once.commit().ok).toBe(true);
    expect(codeOf(() => once.commit())).toBe('ERR_INVALID_OPTION');
    expect(map.has('d') || map.has('e') || map.has('k0')).toBe(false);
    expect(map.__verify()).toBe(0);
  });

  test('a commit of the most keys into the smallest table makes it grow for them, and so does one that deletes them', async () => {
    // The new keys' intents are copied by the migrations they start: the
    // tables made for them must have room (an early core ran out: ERR_CAPACITY).
    map = await createMap({ initialCapacity: 1 });
    const op = map.atomic();
    for (let i = 0; i < 256; i++) op.set(`k${i}`, `v${i}`);
    expect(op.commit().ok).toBe(true);
    expect(map.size).toBe(256);
    for (let i = 0; i < 256; i++) expect(map.get(`k${i}`)).toBe(`v${i}`);
    const del = map.atomic();
    for (let i = 0; i < 256; i++) del.delete(`k${i}`).check(`k${i}`, map.getEntry(`k${i}`)!.modRevision);
    expect(del.commit().ok).toBe(true);
    expect(map.size).toBe(0);
    expect(map.__verify()).toBe(0);
  });

  test("a commit's entries with a ttl are swept when due, though its intents moved to larger tables before they settled", async () => {
    let now = 1_000_000;
    map = await createMap({ initialCapacity: 1, clock: () => now });
    const op = map.atomic();
    for (let i = 0; i < 200; i++) op.set(`t${i}`, 'v', { ttl: 100 });
    expect(op.commit().ok).toBe(true);
    expect(map.size).toBe(200);
    now += 101;
    // Writes alone sweep, chunk by chunk, the chunks that say something
    // expires in them (no read, no purge).
    for (let i = 0; i < 2000 && map.stats().expirations < 200; i++) map.set(`other:${i % 10}`, 'x');
    expect(map.stats().expirations).toBe(200);
    expect(map.__verify()).toBe(0);
  });

  test('checks and writes of many keys in a map that keeps growing stay whole', async () => {
    map = await createMap({ initialCapacity: 8 });
    const next = rng(7);
    const accounts = 32;
    for (let i = 0; i < accounts; i++) {
      map.set(`acct:${i}`, '100');
      map.increment(`ctr:${i}`, 0);
    }
    let commits = 0;
    for (let i = 0; i < 3000; i++) {
      if (transfer(map, next, accounts)) commits++;
      map.set(`filler:${i}`, 'x'); // growth: tables migrate under the commits
      if (i % 500 === 0) expect(audit(map, accounts)).toEqual({ acct: accounts * 100, ctr: 0 });
    }
    expect(commits).toBe(3000); // one thread: no check can fail
    expect(audit(map, accounts)).toEqual({ acct: accounts * 100, ctr: 0 });
    expect(map.__verify()).toBe(0);
  });
});

const bankUrl = new URL('./workers/bank.mjs', import.meta.url);
type Tally = { transfers: number; failed: number; audits: number; bad: unknown[]; updates: number; conflicts: number };

function bankWorker(m: SharedMap, role: string, index: number, stop: Int32Array, progress?: Int32Array, hold = 0, go?: Int32Array) {
  const w = new Worker(bankUrl, {
    workerData: { bank: true, handle: m.handle, role, accounts: ACCOUNTS, stop, progress, index, seed: 17 + hold, hold, go },
  });
  m.releaseOnExit(w);
  const ready = new Promise<number>((resolve, reject) => {
    w.once('message', (msg) => resolve(msg.holdWord));
    w.once('error', reject);
  });
  const result = new Promise<Tally>((resolve, reject) => {
    w.on('message', (msg) => msg.result && resolve(msg.result));
    w.on('error', reject);
  });
  return { w, ready, result };
}

const ACCOUNTS = 8;

async function bank(options = {}) {
  const m = await createMap({ initialCapacity: 8, ...options });
  for (let i = 0; i < ACCOUNTS; i++) {
    m.set(`acct:${i}`, '100');
    m.increment(`ctr:${i}`, 0);
  }
  return m;
}

shared('workers transferring by atomic() and update() while others audit: every audit sees the totals, every update counts', async () => {
  map = await bank();
  const stop = new Int32Array(new SharedArrayBuffer(4));
  const roles = ['transfer', 'transfer', 'update', 'update', 'audit'];
  const workers = roles.map((role, i) => bankWorker(map!, role, i, stop));
  await Promise.all(workers.map((w) => w.ready));
  // The main thread audits too, and keeps the table growing.
  let audits = 0;
  const end = Date.now() + scale(1500, 20_000);
  for (let i = 0; Date.now() < end; i++) {
    map.set(`filler:${i}`, 'x');
    if (i % 4 === 0) {
      const sums = audit(map, ACCOUNTS);
      if (sums !== undefined) {
        audits++;
        expect(sums).toEqual({ acct: ACCOUNTS * 100, ctr: 0 });
      }
    }
    if (i % 64 === 0) await new Promise((r) => setTimeout(r, 0));
  }
  Atomics.store(stop, 0, 1);
  const tallies = await Promise.all(workers.map((w) => w.result));
  const sum = (k: keyof Tally) => tallies.reduce((n, t) => n + (t[k] as number), 0);
  expect(tallies.flatMap((t) => t.bad)).toEqual([]);
  expect(sum('transfers')).toBeGreaterThan(100);
  expect(sum('audits') + audits).toBeGreaterThan(10);
  // Exact: every update that returned added one; none that threw did.
  let counted = 0;
  for (let k = 0; k < 4; k++) counted += Number(map.get(`u:${k}`) ?? '0');
  expect(counted).toBe(sum('updates'));
  expect(audit(map, ACCOUNTS)).toEqual({ acct: ACCOUNTS * 100, ctr: 0 });
  expect(map.__verify()).toBe(0);
}, scale(60_000, 120_000));

shared("no reader ever sees some of a commit's writes without the others", async () => {
  map = await bank();
  const stop = new Int32Array(new SharedArrayBuffer(4));
  const roles = ['pair-writer', 'pair-writer', 'pair-reader', 'pair-reader'];
  const workers = roles.map((role, i) => bankWorker(map!, role, i, stop));
  await Promise.all(workers.map((w) => w.ready));
  // The main thread keeps the table migrating under them.
  const end = Date.now() + scale(1000, 15_000);
  for (let i = 0; Date.now() < end; i++) {
    map.set(`filler:${i}`, 'x');
    if (i % 64 === 0) await new Promise((r) => setTimeout(r, 0));
  }
  Atomics.store(stop, 0, 1);
  const tallies = await Promise.all(workers.map((w) => w.result));
  expect(tallies.flatMap((t) => t.bad)).toEqual([]);
  expect(tallies[0].transfers + tallies[1].transfers).toBeGreaterThan(100);
  expect(tallies[2].audits + tallies[3].audits).toBeGreaterThan(100);
  expect(map.getEntry('pair:x')).toEqual({ ...map.getEntry('pair:y'), expiresAt: undefined });
}, scale(60_000, 120_000));

shared('single-key writes are numbered in the order they take effect: no reader sees a change numbered below one it saw earlier appear later', async () => {
  map = await bank();
  const stop = new Int32Array(new SharedArrayBuffer(4));
  const roles = ['rev-writer', 'rev-writer', 'rev-reader', 'rev-reader'];
  const workers = roles.map((role, i) => bankWorker(map!, role, i, stop));
  await Promise.all(workers.map((w) => w.ready));
  await new Promise((r) => setTimeout(r, scale(1500, 15_000)));
  Atomics.store(stop, 0, 1);
  const tallies = await Promise.all(workers.map((w) => w.result));
  expect(tallies.flatMap((t) => t.bad)).toEqual([]);
  expect(tallies[0].transfers + tallies[1].transfers).toBeGreaterThan(1000);
  expect(tallies[2].audits + tallies[3].audits).toBeGreaterThan(1000);
  expect(map.__verify()).toBe(0);
}, scale(60_000, 120_000));

const KILLS = scale(40, 400);

shared(`${KILLS} transferring workers killed at random instants leave every commit whole and nobody waiting`, async () => {
  map = await bank();
  const random = rng(99);
  const stop = new Int32Array(new SharedArrayBuffer(4));
  const progress = new Int32Array(new SharedArrayBuffer(8));
  // A survivor transfers throughout.
  const survivor = bankWorker(map, 'transfer', 1, stop);
  await survivor.ready;
  const word = new Int32Array(map.__memory.buffer);
  let held = 0;
  for (let round = 0; round < KILLS; round++) {
    Atomics.store(progress, 0, 0);
    // Held at a random step of its third commit (installing its intents,
    // deciding, settling), then killed there; or, if that commit had fewer
    // steps, killed a little later, wherever it is.
    const hold = 1 + Math.floor(random() * 48);
    const go = new Int32Array(new SharedArrayBuffer(4));
    const victim = bankWorker(map, 'transfer', 0, new Int32Array(new SharedArrayBuffer(4)), progress, hold, go);
    const holdAt = (await victim.ready) >> 2;
    Atomics.store(word, holdAt, 0); // as a dead victim of this thread slot left it
    Atomics.store(go, 0, 1);
    Atomics.notify(go, 0);
    while (Atomics.load(word, holdAt) !== 1 && Atomics.load(progress, 0) < 3 + (round % 5)) {
      await new Promise((r) => setImmediate(r));
    }
    if (Atomics.load(word, holdAt) === 1) held++;
    await victim.w.terminate();
    // Whatever the dead commit left, the next thread to meet it finishes or
    // undoes it: the main thread's audit and transfer go through at once.
    let sums;
    for (let k = 0; sums === undefined && k < 1000; k++) sums = audit(map, ACCOUNTS);
    expect(sums, `round ${round}`).toEqual({ acct: ACCOUNTS * 100, ctr: 0 });
    transfer(map, random, ACCOUNTS);
  }
  expect(held).toBeGreaterThan(KILLS / 3);
  Atomics.store(stop, 0, 1);
  const t = await survivor.result;
  expect(t.bad).toEqual([]);
  expect(audit(map, ACCOUNTS)).toEqual({ acct: ACCOUNTS * 100, ctr: 0 });
  expect(map.__verify()).toBe(0);
}, scale(120_000, 900_000));
