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
/** Calls of the whole API with keys from `key`, values (and other arguments)
 *  from `value`, ttls from `ttl`; sets weighted by `setWeight`. */
function callsOf(key: fc.Arbitrary<unknown>, value: fc.Arbitrary<unknown>, ttl: fc.Arbitrary<unknown>, setWeight = 1) {
  return fc.oneof(
    fc.tuple(fc.constant('get'), key),
    fc.tuple(fc.constant('has'), key),
    { weight: setWeight, arbitrary: fc.tuple(fc.constant('set'), key, value, fc.option(ttl)) },
    fc.tuple(fc.constant('delete'), key),
    fc.tuple(fc.constant('getOrSet'), key, value, fc.option(ttl)),
    fc.tuple(fc.constant('getAndDelete'), key),
    fc.tuple(fc.constant('swap'), key, value, fc.option(ttl)),
    fc.tuple(fc.constant('compareAndSwap'), key, value, value),
    fc.tuple(fc.constant('compareAndDelete'), key, value),
    fc.tuple(fc.constant('increment'), key, value),
    fc.tuple(fc.constant('expire'), key, ttl),
    fc.tuple(fc.constant('persist'), key),
    fc.tuple(fc.constant('ttl'), key),
    fc.tuple(fc.constant('namespace'), value, value),
    fc.tuple(fc.constant('view'), fc.constantFrom('a', 'b'), fc.integer({ min: 0, max: 12 }), key, value),
  );
}
const call = callsOf(anything, anything, ttl);

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

type Seen = { ok: number; refused: number; codes: Set<string> };

/**
 * Runs sequences of calls (from `call`) on fresh maps from `makeMap`: every
 * error must be a MapError with a documented code, and a call that fails
 * must leave everything observable as it was; the map's debug walk must
 * pass at the end of each sequence.
 */
async function fuzz(
  makeMap: () => Promise<SharedMap>, call: fc.Arbitrary<unknown[]>, calls: { minLength?: number; maxLength: number }, runs: number,
): Promise<Seen> {
  const seen: Seen = { ok: 0, refused: 0, codes: new Set<string>() };
  await fc.assert(
    fc.asyncProperty(fc.array(call, calls), async (sequence) => {
      const map = await makeMap();
      map.namespace('a', { maxEntries: 3 });
      map.namespace('b');
      const keys: unknown[] = ['k', 'x', new Uint8Array([1])];
      try {
        for (const c of sequence) {
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
        expect(map.__verify()).toBe(0);
      } finally {
        map.close();
      }
    }),
    { numRuns: runs },
  );
  return seen;
}

test('random calls with hostile arguments only throw documented MapErrors and change nothing when they do', async () => {
  // A clock that stands still: entries with a TTL do not expire between snapshots.
  const seen = await fuzz(
    () => createMap({ maxKeyBytes: 64, maxValueBytes: 64, initialCapacity: 1, clock: () => 1_000_000 }),
    call, { maxLength: 40 }, scale(150, 3000),
  );
  // The run exercised both sides and a spread of refusals.
  expect(seen.ok).toBeGreaterThan(100);
  expect(seen.refused).toBeGreaterThan(100);
  expect(seen.codes.size).toBeGreaterThanOrEqual(5);
});

// Keys up to the largest maxKeyBytes and values past a thread's 64 KiB
// scratch buffer (written straight into their entries), in a memory small
// enough to fill: the same promises at the limits.
const text = (sizes: number[]) =>
  fc.tuple(fc.constantFrom(...sizes), fc.constantFrom('a', 'é', '🎉'))
    .map(([n, c]) => c.repeat(Math.max(0, Math.round(n / (c === 'a' ? 1 : c === 'é' ? 2 : 4))))); // ~n UTF-8 bytes
const bytes = (sizes: number[]) => fc.constantFrom(...sizes).map((n) => new Uint8Array(n).fill(n & 0xff));
const KEY_SIZES = [1, 8, 1000, 65_000, 65_536, 65_536, 65_537, 0];
const VALUE_SIZES = [0, 8, 65_000, 70_000, 120_000, 150_000, 150_001];
const largeKey = fc.oneof(text(KEY_SIZES), bytes(KEY_SIZES), fc.constantFrom('k', 'a'.repeat(65_000) + '\ud800', 7));
const large = fc.oneof(
  { weight: 3, arbitrary: text(VALUE_SIZES) }, { weight: 2, arbitrary: bytes(VALUE_SIZES) },
  fc.constantFrom('a'.repeat(70_000) + '\ud800', 'k', 7, undefined),
);
const largeCall = callsOf(largeKey, large, fc.integer({ min: 1, max: 1000 }), 4);

test('the same at the limits: keys of up to 65,536 bytes, values past the scratch buffer, a memory that fills', async () => {
  const seen = await fuzz(
    async () => {
      const map = await createMap({ maxMemoryBytes: 1 << 20, maxKeyBytes: 65_536, maxValueBytes: 150_000, clock: () => 1_000_000 });
      // Filled to the brim, then a little room: writes of large values meet
      // a full memory in every sequence.
      for (let i = 0; ; i++) {
        try {
          map.set(`fill:${i}`, new Uint8Array(100_000));
        } catch (e) {
          if ((e as MapError).code !== 'ERR_CAPACITY') throw e;
          map.delete('fill:0');
          return map;
        }
      }
    },
    largeCall, { minLength: 12, maxLength: 24 }, scale(25, 300),
  );
  expect(seen.ok).toBeGreaterThan(20);
  expect(seen.refused).toBeGreaterThan(20);
  expect([...seen.codes]).toEqual(expect.arrayContaining(['ERR_KEY_TOO_LARGE', 'ERR_VALUE_TOO_LARGE', 'ERR_CAPACITY']));
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
