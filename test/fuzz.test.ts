// Hostile and malformed input against the whole public API: only MapErrors
// with documented codes come out (never a trap, a RangeError or a crash),
// and a call that fails leaves the map exactly as it was.
import fc from 'fast-check';
import { expect, test } from 'vitest';
import { MapError, SharedMap } from '../dist/index.js';
import { createMap, scale, shared } from './helpers.js';

const CODES = new Set([
  'ERR_INVALID_KEY', 'ERR_KEY_TOO_LARGE', 'ERR_INVALID_VALUE', 'ERR_VALUE_TOO_LARGE', 'ERR_INVALID_OPTION',
  'ERR_CAPACITY', 'ERR_NOT_A_COUNTER', 'ERR_COUNTER_OVERFLOW', 'ERR_CONTENTION', 'ERR_CLOSED', 'ERR_INVALID_HANDLE',
  'ERR_INVALID_TTL', 'ERR_QUOTA', 'ERR_NAMESPACE_DROPPED',
]);

const anything = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }), // lone surrogates included
  fc.uint8Array({ maxLength: 40 }),
  fc.constantFrom('', 'k', 'x'.repeat(70), 'é'.repeat(30), '\ud800', new Uint8Array(0), new Uint8Array(70)),
  fc.integer(), fc.double(), fc.constantFrom(NaN, Infinity, -Infinity, -0, 2 ** 53, -1),
  fc.constantFrom(null, undefined, true, {}, [], new ArrayBuffer(2), new Uint16Array(2), 10n, Symbol('s'), () => 1),
);
const ttl = fc.oneof(anything, fc.integer({ min: 1, max: 1000 }));
const call = fc.oneof(
  fc.tuple(fc.constant('get'), anything),
  fc.tuple(fc.constant('has'), anything),
  fc.tuple(fc.constant('set'), anything, anything, fc.option(ttl)),
  fc.tuple(fc.constant('delete'), anything),
  fc.tuple(fc.constant('getOrSet'), anything, anything, fc.option(ttl)),
  fc.tuple(fc.constant('getAndDelete'), anything),
  fc.tuple(fc.constant('swap'), anything, anything, fc.option(ttl)),
  fc.tuple(fc.constant('compareAndSwap'), anything, anything, anything),
  fc.tuple(fc.constant('compareAndDelete'), anything, anything),
  fc.tuple(fc.constant('increment'), anything, anything),
  fc.tuple(fc.constant('expire'), anything, anything),
  fc.tuple(fc.constant('persist'), anything),
  fc.tuple(fc.constant('ttl'), anything),
  fc.tuple(fc.constant('namespace'), anything, anything),
  fc.tuple(fc.constant('view'), fc.constantFrom('a', 'b'), fc.integer({ min: 0, max: 12 }), anything, anything),
);

/** Everything observable about the map, to compare before and after a failed call. */
function snapshot(map: SharedMap, keys: unknown[]) {
  const read = (m: SharedMap) =>
    keys.map((k) => {
      try {
        const v = m.get(k as string);
        return v instanceof Uint8Array ? [...v] : v;
      } catch (e) {
        return (e as MapError).code;
      }
    });
  return {
    size: map.size, a: map.namespace('a').size, b: map.namespace('b').size,
    root: read(map), inA: read(map.namespace('a')), inB: read(map.namespace('b')),
  };
}

test('random calls with hostile arguments only throw documented MapErrors and change nothing when they do', async () => {
  const seen = { ok: 0, refused: 0, codes: new Set<string>() };
  await fc.assert(
    fc.asyncProperty(fc.array(call, { maxLength: 40 }), async (calls) => {
      // A clock that stands still: entries with a TTL do not expire between snapshots.
      const map = await createMap({ maxKeyBytes: 64, maxValueBytes: 64, initialCapacity: 1, clock: () => 1_000_000 });
      map.namespace('a', { maxEntries: 3 });
      map.namespace('b');
      const keys: unknown[] = ['k', 'x', new Uint8Array([1])];
      try {
        for (const c of calls) {
          keys.push(c[1]);
          const before = snapshot(map, keys);
          let error: unknown;
          try {
            const [name, ...args] = c as [string, ...unknown[]];
            if (name === 'view') {
              const [ns, which, x, y] = args as [string, number, unknown, unknown];
              const v = map.namespace(ns) as unknown as Record<string, (...a: unknown[]) => unknown>;
              const names = ['get', 'has', 'set', 'delete', 'getOrSet', 'getAndDelete', 'swap', 'compareAndSwap',
                'compareAndDelete', 'increment', 'expire', 'persist', 'ttl'];
              v[names[which]].call(v, x, y, y);
            } else if (name === 'set' || name === 'getOrSet' || name === 'swap') {
              const [k, v, t] = args;
              (map as unknown as Record<string, (...a: unknown[]) => unknown>)[name](k, v, t === null ? undefined : { ttl: t });
            } else {
              (map as unknown as Record<string, (...a: unknown[]) => unknown>)[name](...args);
            }
          } catch (e) {
            error = e;
          }
          if (error === undefined) seen.ok++;
          else {
            seen.refused++;
            if (!(error instanceof MapError)) throw new Error(`not a MapError from ${String(c[0])}: ${String(error)}`);
            seen.codes.add(error.code);
            expect(CODES.has(error.code)).toBe(true);
            // A refused call changed nothing (a quota or capacity refusal included).
            expect(snapshot(map, keys)).toEqual(before);
          }
        }
      } finally {
        map.close();
      }
    }),
    { numRuns: scale(150, 3000) },
  );
  // The run exercised both sides and a spread of refusals.
  expect(seen.ok).toBeGreaterThan(100);
  expect(seen.refused).toBeGreaterThan(100);
  expect(seen.codes.size).toBeGreaterThanOrEqual(5);
});

shared('a closed map, and a handle of another version or of a corrupted memory, are refused clearly', async () => {
  const map = await createMap();
  const handle = map.handle;
  // Wrong magic: a memory whose header was overwritten.
  const corrupted = new WebAssembly.Memory({ initial: 2, maximum: 2, shared: true });
  new Uint8Array(corrupted.buffer).fill(0xab, 0, 4096);
  for (const bad of [{ ...handle, memory: corrupted }, { ...handle, wasmap: 2 }, { ...handle, module: {} }]) {
    const error = await SharedMap.attach(bad as never).catch((e) => e);
    expect(error).toBeInstanceOf(MapError);
    expect(error.code).toBe('ERR_INVALID_HANDLE');
  }
  // Another layout version: the same memory with its version word changed.
  const other = await createMap();
  const view = new DataView(other.handle.memory.buffer);
  view.setUint32(64 + 4, 999, true);
  const error = await SharedMap.attach(other.handle).catch((e) => e);
  expect(error.code).toBe('ERR_INVALID_HANDLE');
  map.close();
  expect(() => map.get('k')).toThrow(MapError);
});
