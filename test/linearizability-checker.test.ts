// The checker itself: histories it must accept, and ones it must reject.
import { describe, expect, test } from 'vitest';
import { type Event, type Op, linearizable } from './lin/checker.js';
import { type RevEvent, type Write, checkRevisions } from './lin/revisions.js';

const s = (v: string) => ({ kind: 's' as const, v });
const ev = (call: number, ret: number, op: Op, thread = 0): Event => ({ key: 'k', call, ret, thread, op });

describe('accepted', () => {
  test.each<[string, Event[]]>([
    ['a sequential history', [ev(0, 1, { op: 'set', v: 'a' }), ev(2, 3, { op: 'get', out: s('a') })]],
    ['a read overlapping a write may see the old value', [
      ev(0, 1, { op: 'set', v: 'a' }),
      ev(2, 5, { op: 'set', v: 'b' }),
      ev(3, 4, { op: 'get', out: s('a') }),
    ]],
    ['a read overlapping a write may see the new value', [
      ev(0, 1, { op: 'set', v: 'a' }),
      ev(2, 5, { op: 'set', v: 'b' }),
      ev(3, 4, { op: 'get', out: s('b') }),
    ]],
    ['two overlapping increments in either order', [
      ev(0, 3, { op: 'increment', delta: 1, out: 2 }),
      ev(1, 2, { op: 'increment', delta: 1, out: 1 }),
    ]],
    ['a compare-and-swap race with one winner', [
      ev(0, 1, { op: 'set', v: 'x' }),
      ev(2, 5, { op: 'cas', expected: 'x', v: 'a', out: false }),
      ev(3, 4, { op: 'cas', expected: 'x', v: 'b', out: true }),
      ev(6, 7, { op: 'get', out: s('b') }),
    ]],
    ['getOrSet racing: one stores, the other loads', [
      ev(0, 3, { op: 'getOrSet', v: 'a', out: s('b'), loaded: true }),
      ev(1, 2, { op: 'getOrSet', v: 'b', out: s('b'), loaded: false }),
    ]],
    ['an entry read before its expiry, then absent after it', [
      ev(0, 1, { op: 'set', v: 'a', ttl: 10, now: 0 }),
      ev(2, 3, { op: 'get', out: s('a'), now: 9 }),
      ev(4, 5, { op: 'get', out: undefined, now: 10 }),
      ev(6, 7, { op: 'getOrSet', v: 'b', out: s('b'), loaded: false, now: 11 }),
    ]],
    ['a read whose clock reading came before an expiry may find the entry gone, once the clock can have passed it', [
      ev(0, 1, { op: 'set', v: 'a', ttl: 10, now: 0 }),
      ev(2, 3, { op: 'get', out: undefined, now: 9 }), // read 9, took effect after another thread removed it
      ev(4, 5, { op: 'get', out: undefined, now: 10 }),
    ]],
    ['a counter keeps its expiry through increments', [
      ev(0, 1, { op: 'increment', delta: 1, out: 1, now: 0 }),
      ev(2, 3, { op: 'get', out: { kind: 'n', v: 1 }, now: 100 }),
    ]],
  ])('%s', (_name, events) => {
    expect(linearizable(events)).toBe(true);
  });
});

describe('rejected', () => {
  test.each<[string, Event[]]>([
    ['a read of a value never written', [ev(0, 1, { op: 'set', v: 'a' }), ev(2, 3, { op: 'get', out: s('z') })]],
    ['a stale read after the write returned', [
      ev(0, 1, { op: 'set', v: 'a' }),
      ev(2, 3, { op: 'set', v: 'b' }),
      ev(4, 5, { op: 'get', out: s('a') }),
    ]],
    ['a lost update: two increments that both returned 1', [
      ev(0, 3, { op: 'increment', delta: 1, out: 1 }),
      ev(1, 2, { op: 'increment', delta: 1, out: 1 }),
    ]],
    ['two compare-and-swaps from the same value both winning', [
      ev(0, 1, { op: 'set', v: 'x' }),
      ev(2, 5, { op: 'cas', expected: 'x', v: 'a', out: true }),
      ev(3, 4, { op: 'cas', expected: 'x', v: 'b', out: true }),
    ]],
    ['a value handed out twice by getAndDelete', [
      ev(0, 1, { op: 'set', v: 'x' }),
      ev(2, 5, { op: 'getAndDelete', out: s('x') }),
      ev(3, 4, { op: 'getAndDelete', out: s('x') }),
    ]],
    ['a deleted value read back later', [
      ev(0, 1, { op: 'set', v: 'x' }),
      ev(2, 3, { op: 'delete', out: true }),
      ev(4, 5, { op: 'get', out: s('x') }),
    ]],
    ['an expired entry read back', [
      ev(0, 1, { op: 'set', v: 'a', ttl: 10, now: 0 }),
      ev(2, 3, { op: 'get', out: s('a'), now: 10 }),
    ]],
    ['an entry gone before the clock can have reached its expiry', [
      ev(0, 1, { op: 'set', v: 'a', ttl: 10, now: 0 }),
      ev(2, 3, { op: 'get', out: undefined, now: 9 }),
      ev(4, 5, { op: 'set', v: 'b', now: 9 }), // called after the read returned: the clock was at most 9 then
    ]],
    ['an entry that expired, deleted as if present', [
      ev(0, 1, { op: 'set', v: 'a', ttl: 5, now: 0 }),
      ev(2, 3, { op: 'delete', out: true, now: 7 }),
    ]],
    ['a read that goes back in time between two reads', [
      ev(0, 10, { op: 'set', v: 'b' }),
      ev(1, 2, { op: 'get', out: s('b') }),
      ev(3, 4, { op: 'get', out: undefined }),
    ]],
  ])('%s', (_name, events) => {
    expect(linearizable(events)).toBe(false);
  });
});

describe('with eviction', () => {
  test('a key may vanish (evicted), but a value never comes back or changes by itself', () => {
    const vanish = [ev(0, 1, { op: 'set', v: 'a' }), ev(2, 3, { op: 'get', out: undefined })];
    expect(linearizable(vanish)).toBe(false);
    expect(linearizable(vanish, undefined, 1e6, true)).toBe(true);
    const resurrect = [...vanish, ev(4, 5, { op: 'get', out: s('a') })];
    expect(linearizable(resurrect, undefined, 1e6, true)).toBe(false);
    const counter = [
      ev(0, 1, { op: 'increment', delta: 5, out: 5 }),
      ev(2, 3, { op: 'increment', delta: 1, out: 1 }), // evicted, then created again
      ev(4, 5, { op: 'increment', delta: 1, out: 7 }), // but not back to the old count
    ];
    expect(linearizable(counter, undefined, 1e6, true)).toBe(false);
  });
});

describe('the revisions checker (atomic commits, getEntry, revision reads)', () => {
  const commit = (call: number, ret: number, revision: number, writes: [string, Write][], checks: [string, number][] = []): RevEvent =>
    ({ call, ret, thread: 0, op: { op: 'commit', checks, writes, out: { ok: true, revision } } });
  const read = (call: number, ret: number, key: string, out: RevEvent['op'] extends infer O ? O extends { op: 'getEntry'; out: infer R } ? R : never : never): RevEvent =>
    ({ call, ret, thread: 1, op: { op: 'getEntry', key, out } });
  const revision = (call: number, ret: number, out: number): RevEvent => ({ call, ret, thread: 1, op: { op: 'revision', out } });
  const set = (v: string): Write => ({ kind: 'set', v });
  const entry = (value: string | number, modRevision: number, createRevision = modRevision, version = 1) =>
    ({ value, modRevision, createRevision, version });

  test('accepts a sequential history, and reads overlapping a commit that see either side', () => {
    expect(checkRevisions([
      commit(0, 1, 1, [['x', set('a')], ['y', set('a')]]),
      read(2, 3, 'x', entry('a', 1)),
      commit(4, 9, 3, [['x', set('b')], ['y', set('b')]], [['x', 1]]),
      read(5, 6, 'x', entry('a', 1)),
      read(7, 8, 'y', entry('b', 3, 1, 2)),
      revision(10, 11, 3),
      read(12, 13, 'z', undefined),
    ])).toBeUndefined();
  });

  test('rejects a read that sees one key of a commit and, after it, the other key from before', () => {
    expect(checkRevisions([
      commit(0, 1, 1, [['x', set('a')], ['y', set('a')]]),
      commit(2, 9, 2, [['x', set('b')], ['y', set('b')]]),
      read(3, 4, 'x', entry('b', 2, 1, 2)),
      read(5, 6, 'y', entry('a', 1)),
    ])).toMatch(/cannot take effect/);
  });

  test('rejects revisions that contradict real time, and a revision read behind a change already seen', () => {
    expect(checkRevisions([commit(0, 1, 5, [['x', set('a')]]), commit(2, 3, 4, [['y', set('a')]])])).toMatch(/cannot take effect/);
    expect(checkRevisions([
      commit(0, 10, 5, [['x', set('a')]]),
      read(1, 2, 'x', entry('a', 5)),
      revision(3, 4, 4),
    ])).toMatch(/cannot take effect/);
  });

  test('rejects a failed check that held throughout, a passed one that did not, and a wrong version', () => {
    expect(checkRevisions([
      commit(0, 1, 1, [['x', set('a')]]),
      { call: 2, ret: 3, thread: 0, op: { op: 'commit', checks: [['x', 1]], writes: [['x', set('b')]], out: { ok: false } } },
    ])).toMatch(/failed its checks/);
    expect(checkRevisions([
      commit(0, 1, 1, [['x', set('a')]]),
      commit(2, 3, 2, [['x', set('b')]], [['x', 0]]),
    ])).toMatch(/checked x at 0/);
    expect(checkRevisions([
      commit(0, 1, 1, [['x', set('a')]]),
      commit(2, 3, 2, [['x', set('b')]]),
      read(4, 5, 'x', entry('b', 2, 2, 1)),
    ])).toMatch(/returned/);
  });

  test('rejects an absent read between two commits that surely left the key present', () => {
    expect(checkRevisions([
      commit(0, 1, 1, [['x', set('a')]]),
      read(2, 3, 'x', undefined),
      commit(4, 5, 2, [['x', { kind: 'delete' }]]),
    ])).toMatch(/absent/);
  });
});
