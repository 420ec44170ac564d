// Every failure is a MapError with a stable code, and leaves the map exactly
// as it was.
import { afterEach, describe, expect, test } from 'vitest';
import { MapError, SharedMap } from '../dist/index.js';
import { createMap, LOCAL, shared } from './helpers.js';

let map: SharedMap;
afterEach(() => map?.close());

/** A snapshot of everything in the map, to compare before and after a failure. */
function snapshot(m: SharedMap, keys: string[]) {
  return { size: m.size, values: keys.map((k) => m.get(k)) };
}

function expectCode(fn: () => unknown, code: string) {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(MapError);
  expect((error as MapError).code).toBe(code);
  expect((error as MapError).message.length).toBeGreaterThan(10);
}

const KEYS = ['a', 'b', 'n'];
async function filled(options: object = {}) {
  map = await createMap(options);
  map.set('a', 'alpha').set('b', new Uint8Array([1]));
  map.increment('n', 3);
  return map;
}

const badKeys: [string, unknown][] = [
  ['an empty string', ''],
  ['an empty Uint8Array', new Uint8Array(0)],
  ['a lone high surrogate', 'x\ud800'],
  ['a lone low surrogate', '\udc00y'],
  ['a number', 42],
  ['null', null],
  ['undefined', undefined],
  ['an object', { key: 1 }],
  ['an ArrayBuffer', new ArrayBuffer(2)],
  ['a Uint16Array', new Uint16Array(2)],
];

describe('ERR_INVALID_KEY', () => {
  test.each(badKeys)('every operation given %s throws ERR_INVALID_KEY and changes nothing', async (_what, key) => {
    const m = await filled();
    const before = snapshot(m, KEYS);
    const k = key as string;
    expectCode(() => m.get(k), 'ERR_INVALID_KEY');
    expectCode(() => m.has(k), 'ERR_INVALID_KEY');
    expectCode(() => m.set(k, 'v'), 'ERR_INVALID_KEY');
    expectCode(() => m.delete(k), 'ERR_INVALID_KEY');
    expectCode(() => m.getOrSet(k, 'v'), 'ERR_INVALID_KEY');
    expectCode(() => m.getAndDelete(k), 'ERR_INVALID_KEY');
    expectCode(() => m.swap(k, 'v'), 'ERR_INVALID_KEY');
    expectCode(() => m.compareAndSwap(k, 'a', 'v'), 'ERR_INVALID_KEY');
    expectCode(() => m.compareAndDelete(k, 'a'), 'ERR_INVALID_KEY');
    expectCode(() => m.increment(k), 'ERR_INVALID_KEY');
    expect(snapshot(m, KEYS)).toEqual(before);
  });
});

describe('size limits', () => {
  test('a key over maxKeyBytes throws ERR_KEY_TOO_LARGE, counting UTF-8 bytes', async () => {
    const m = await filled({ maxKeyBytes: 8 });
    const before = snapshot(m, KEYS);
    m.set('12345678', 'fits');
    expectCode(() => m.set('123456789', 'v'), 'ERR_KEY_TOO_LARGE');
    expectCode(() => m.set('éééé5', 'v'), 'ERR_KEY_TOO_LARGE'); // 9 bytes, 5 characters
    expectCode(() => m.get(new Uint8Array(9)), 'ERR_KEY_TOO_LARGE');
    expectCode(() => m.increment('x'.repeat(100)), 'ERR_KEY_TOO_LARGE');
    m.delete('12345678');
    expect(snapshot(m, KEYS)).toEqual(before);
  });

  test('the default maxKeyBytes is 1024', async () => {
    const m = await filled();
    m.set('k'.repeat(1024), 'fits');
    expectCode(() => m.set('k'.repeat(1025), 'v'), 'ERR_KEY_TOO_LARGE');
  });

  test('a value over maxValueBytes throws ERR_VALUE_TOO_LARGE and keeps the old value', async () => {
    const m = await filled({ maxValueBytes: 10 });
    const before = snapshot(m, KEYS);
    m.set('c', '0123456789');
    expectCode(() => m.set('a', '01234567890'), 'ERR_VALUE_TOO_LARGE');
    expectCode(() => m.set('a', 'ééééé6'), 'ERR_VALUE_TOO_LARGE'); // 11 bytes
    expectCode(() => m.swap('a', new Uint8Array(11)), 'ERR_VALUE_TOO_LARGE');
    expectCode(() => m.getOrSet('new', 'x'.repeat(11)), 'ERR_VALUE_TOO_LARGE');
    expectCode(() => m.compareAndSwap('a', 'alpha', 'x'.repeat(11)), 'ERR_VALUE_TOO_LARGE');
    m.delete('c');
    expect(snapshot(m, KEYS)).toEqual(before);
    expect(m.has('new')).toBe(false);
  });

  test('the default maxValueBytes is 1 MiB', async () => {
    const m = await filled();
    m.set('big', new Uint8Array(1 << 20));
    expectCode(() => m.set('big', new Uint8Array((1 << 20) + 1)), 'ERR_VALUE_TOO_LARGE');
    expect((m.get('big') as Uint8Array).length).toBe(1 << 20);
  });
});

describe('ERR_INVALID_VALUE', () => {
  test.each([
    ['a number', 5],
    ['null', null],
    ['undefined', undefined],
    ['an object', { v: 1 }],
    ['an ArrayBuffer', new ArrayBuffer(1)],
    ['a string with a lone surrogate', 'ok\ud801'],
  ])('storing %s throws ERR_INVALID_VALUE and changes nothing', async (_what, value) => {
    const m = await filled();
    const before = snapshot(m, KEYS);
    const v = value as string;
    expectCode(() => m.set('a', v), 'ERR_INVALID_VALUE');
    expectCode(() => m.set('fresh', v), 'ERR_INVALID_VALUE');
    expectCode(() => m.swap('a', v), 'ERR_INVALID_VALUE');
    expectCode(() => m.getOrSet('fresh', v), 'ERR_INVALID_VALUE');
    expectCode(() => m.compareAndSwap('a', 'alpha', v), 'ERR_INVALID_VALUE');
    expect(snapshot(m, KEYS)).toEqual(before);
    expect(m.has('fresh')).toBe(false);
  });

  test.each([1.5, NaN, Infinity, 2 ** 53, '1', null])('increment by %s throws ERR_INVALID_VALUE', async (delta) => {
    const m = await filled();
    expectCode(() => m.increment('n', delta as number), 'ERR_INVALID_VALUE');
    expect(m.get('n')).toBe(3);
  });
});

describe('counters', () => {
  test('increment of a non-counter value throws ERR_NOT_A_COUNTER and keeps it', async () => {
    const m = await filled();
    expectCode(() => m.increment('a'), 'ERR_NOT_A_COUNTER');
    expectCode(() => m.increment('b', 5), 'ERR_NOT_A_COUNTER');
    expect(m.get('a')).toBe('alpha');
  });

  test('increment past ±MAX_SAFE_INTEGER throws ERR_COUNTER_OVERFLOW and keeps the counter', async () => {
    const m = await filled();
    m.increment('max', Number.MAX_SAFE_INTEGER);
    expectCode(() => m.increment('max'), 'ERR_COUNTER_OVERFLOW');
    expect(m.get('max')).toBe(Number.MAX_SAFE_INTEGER);
    m.increment('min', -Number.MAX_SAFE_INTEGER);
    expectCode(() => m.increment('min', -1), 'ERR_COUNTER_OVERFLOW');
    expect(m.get('min')).toBe(-Number.MAX_SAFE_INTEGER);
    expect(m.increment('max', -1)).toBe(Number.MAX_SAFE_INTEGER - 1);
  });
});

describe('ERR_INVALID_OPTION', () => {
  test.each([
    [{ maxMemoryBytes: 1000 }, 'maxMemoryBytes'],
    [{ maxMemoryBytes: 2 ** 40 }, 'maxMemoryBytes'],
    [{ maxMemoryBytes: 1.5 * 2 ** 20 + 0.5 }, 'maxMemoryBytes'],
    [{ maxKeyBytes: 0 }, 'maxKeyBytes'],
    [{ maxKeyBytes: '10' }, 'maxKeyBytes'],
    [{ maxValueBytes: -1 }, 'maxValueBytes'],
    [{ initialCapacity: NaN }, 'initialCapacity'],
    [{ maxEntriez: 5 }, 'maxEntriez'],
    [{ preTouch: 'yes' }, 'preTouch'],
    [{ preTouch: 1 }, 'preTouch'],
  ])('create(%o) throws ERR_INVALID_OPTION naming %s', async (options, name) => {
    const error = await createMap(options as object).catch((e) => e);
    expect(error).toBeInstanceOf(MapError);
    expect(error.code).toBe('ERR_INVALID_OPTION');
    expect(error.message).toContain(name);
  });
});

describe('ERR_CAPACITY', () => {
  test('filling the map throws ERR_CAPACITY, keeps every entry, and deleting makes room', async () => {
    map = await createMap({ maxMemoryBytes: 2 << 20 });
    const value = 'v'.repeat(100);
    let stored = 0;
    let error: unknown;
    try {
      for (;;) map.set(`key:${stored}`, value), stored++;
    } catch (e) {
      error = e;
    }
    expect((error as MapError).code).toBe('ERR_CAPACITY');
    expect((error as MapError).message).toMatch(/maxMemoryBytes \(\d+\) reached; delete entries/);
    expect(stored).toBeGreaterThan(1000);
    expect(map.size).toBe(stored);
    for (let i = 0; i < stored; i++) if (map.get(`key:${i}`) !== value) expect(map.get(`key:${i}`)).toBe(value);
    // Other operations that need room fail the same way and change nothing.
    expectCode(() => map.set('one more', value), 'ERR_CAPACITY');
    expect(map.has('one more')).toBe(false);
    // Deleting half makes room for new keys.
    for (let i = 0; i < stored; i += 2) map.delete(`key:${i}`);
    for (let i = 0; i < stored / 4; i++) map.set(`new:${i}`, value);
    expect(map.get(`new:${Math.floor(stored / 4) - 1}`)).toBe(value);
  });
});

describe('ERR_CLOSED and ERR_INVALID_HANDLE', () => {
  test('every operation after close throws ERR_CLOSED', async () => {
    const m = await filled();
    m.close();
    m.close(); // idempotent
    expect(m.closed).toBe(true);
    expectCode(() => m.get('a'), 'ERR_CLOSED');
    expectCode(() => m.set('a', 'b'), 'ERR_CLOSED');
    expectCode(() => m.increment('n'), 'ERR_CLOSED');
    expectCode(() => m.size, 'ERR_CLOSED');
    if (!LOCAL) expectCode(() => m.handle, 'ERR_CLOSED');
    expectCode(() => m.clear(), 'ERR_CLOSED');
  });

  shared('closing one attachment leaves the map to the others', async () => {
    const m = await filled();
    const other = await SharedMap.attach(m.handle);
    other.close();
    expect(m.get('a')).toBe('alpha');
    expect(m.size).toBe(3);
  });

  test.each([
    ['null', null],
    ['a string', 'handle'],
    ['an empty object', {}],
    ['a handle without its module', { wasmap: 1, memory: new WebAssembly.Memory({ initial: 1, maximum: 2, shared: true }) }],
  ])('attach(%s) throws ERR_INVALID_HANDLE', async (_what, handle) => {
    const error = await SharedMap.attach(handle as never).catch((e) => e);
    expect(error.code).toBe('ERR_INVALID_HANDLE');
  });

  test('attach to a memory that holds no map throws ERR_INVALID_HANDLE', async () => {
    const m = await filled();
    const blank = new WebAssembly.Memory({ initial: 1, maximum: 16, shared: true });
    const error = await SharedMap.attach({ ...m.handle, memory: blank }).catch((e) => e);
    expect(error.code).toBe('ERR_INVALID_HANDLE');
  });
});

describe('bad input after the operations are hot', () => {
  // Optimized code once crashed the process (Node 20) when a number reached a
  // hot path that had only seen strings: every operation is warmed up here
  // until optimized, then given every kind of bad input.
  test('still throws MapErrors with documented codes, never crashes', async () => {
    map = await createMap({ initialCapacity: 1 });
    const good: (string | Uint8Array)[] = ['a', 'bb', new Uint8Array([1, 2]), 'ccc'.repeat(30)];
    const bad: unknown[] = [5, 4, 0, -1, 1.5, null, undefined, {}, [], true, 2n, Symbol('s'), () => 1, new Uint16Array(2), new ArrayBuffer(3), 'x\ud800'];
    const codes = new Set<string>();
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < 20_000; i++) {
        const k = good[i & 3];
        const v = good[(i >> 2) & 3];
        map.set(k, v).get(k);
        map.swap(k, v);
        map.getOrSet(k, v);
        map.compareAndSwap(k, v, v);
        map.compareAndDelete('zz', v);
        map.has(k);
        if (i % 1000 === 0) map.increment('n', i % 7);
      }
      const m = map as unknown as Record<string, (...a: unknown[]) => unknown>;
      for (const b of bad) {
        const calls: [string, unknown[]][] = [
          ['set', [b, 'v']], ['set', ['k', b]], ['get', [b]], ['has', [b]], ['delete', [b]],
          ['swap', ['k', b]], ['getOrSet', [b, 'v']], ['getOrSet', ['k', b]], ['getAndDelete', [b]],
          ['compareAndSwap', ['k', 'v', b]], ['compareAndDelete', [b, 'v']], ['increment', [b]], ['increment', ['n', b]],
        ];
        for (const [name, args] of calls) {
          try {
            m[name].apply(map, args);
          } catch (e) {
            expect(e).toBeInstanceOf(MapError);
            codes.add((e as MapError).code);
          }
        }
      }
    }
    expect([...codes].sort()).toEqual(['ERR_INVALID_KEY', 'ERR_INVALID_VALUE']);
    expect(map.get('a')).toBeDefined();
  });
});
