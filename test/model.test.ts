// Model-based property test: random operation sequences run against the map
// and against a plain Map model must agree at every step.
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { SharedMap } from '../dist/index.js';
import { createMap, PRESETS, scale } from './helpers.js';

type V = string | Uint8Array | number;
const enc = new TextEncoder();
const keyId = (k: string | Uint8Array) => Buffer.from(typeof k === 'string' ? enc.encode(k) : k).toString('hex');
const same = (a: V | undefined, b: V | undefined) =>
  typeof a === typeof b && (a instanceof Uint8Array && b instanceof Uint8Array ? Buffer.from(a).equals(Buffer.from(b)) : a === b);
const plain = (v: V | undefined) => (v instanceof Uint8Array ? { bytes: [...v] } : v);

// Few keys, so operations collide; string and byte spellings of the same key.
const key = fc.oneof(
  fc.constantFrom('a', 'b', 'c', 'é', 'key:long:'.repeat(5)),
  fc.constantFrom(new Uint8Array([0x61]), new Uint8Array([0xc3, 0xa9]), new Uint8Array([0, 1, 2])),
);
const value = fc.oneof(
  fc.string({ maxLength: 20 }).filter((s) => s.isWellFormed()),
  fc.uint8Array({ maxLength: 20 }),
  // Same bytes in both kinds, so kind-blind comparisons would be caught.
  fc.constantFrom('x', 'a', new Uint8Array([0x78]), new Uint8Array([0x61]), ''),
);
const op = fc.oneof(
  fc.record({ op: fc.constant('set'), key, value }),
  fc.record({ op: fc.constant('get'), key }),
  fc.record({ op: fc.constant('has'), key }),
  fc.record({ op: fc.constant('delete'), key }),
  fc.record({ op: fc.constant('getOrSet'), key, value }),
  fc.record({ op: fc.constant('getAndDelete'), key }),
  fc.record({ op: fc.constant('swap'), key, value }),
  fc.record({ op: fc.constant('compareAndSwap'), key, expected: fc.oneof(value, fc.integer({ min: -3, max: 3 })), value }),
  fc.record({ op: fc.constant('compareAndDelete'), key, expected: fc.oneof(value, fc.integer({ min: -3, max: 3 })) }),
  fc.record({ op: fc.constant('increment'), key, delta: fc.integer({ min: -3, max: 3 }) }),
  fc.record({ op: fc.constant('clear') }),
);
type Op = { op: string; key?: string | Uint8Array; value?: string | Uint8Array; expected?: V; delta?: number };

/** Applies `o` to the model; returns what the map must return (or throw). */
function model(m: Map<string, V>, o: Op): unknown {
  const id = o.key === undefined ? '' : keyId(o.key);
  const cur = m.get(id);
  const copy = (v: V) => (v instanceof Uint8Array ? v.slice() : v);
  switch (o.op) {
    case 'set': m.set(id, copy(o.value!)); return 'map';
    case 'get': return cur;
    case 'has': return cur !== undefined;
    case 'delete': return m.delete(id);
    case 'getOrSet':
      if (cur !== undefined) return { value: cur, loaded: true };
      m.set(id, copy(o.value!));
      return { value: o.value, loaded: false };
    case 'getAndDelete': m.delete(id); return cur;
    case 'swap': m.set(id, copy(o.value!)); return cur;
    case 'compareAndSwap':
      if (cur === undefined || !same(cur, o.expected)) return false;
      m.set(id, copy(o.value!));
      return true;
    case 'compareAndDelete':
      if (cur === undefined || !same(cur, o.expected)) return false;
      m.delete(id);
      return true;
    case 'increment':
      if (cur !== undefined && typeof cur !== 'number') return 'ERR_NOT_A_COUNTER';
      m.set(id, (cur ?? 0) + o.delta!);
      return (cur ?? 0) + o.delta!;
    case 'clear': m.clear(); return undefined;
  }
  throw new Error(o.op);
}

function run(map: SharedMap, o: Op): unknown {
  try {
    const k = o.key!;
    switch (o.op) {
      case 'set': return map.set(k, o.value!) === map ? 'map' : 'not the map';
      case 'get': return map.get(k);
      case 'has': return map.has(k);
      case 'delete': return map.delete(k);
      case 'getOrSet': return map.getOrSet(k, o.value!);
      case 'getAndDelete': return map.getAndDelete(k);
      case 'swap': return map.swap(k, o.value!);
      case 'compareAndSwap': return map.compareAndSwap(k, o.expected!, o.value!);
      case 'compareAndDelete': return map.compareAndDelete(k, o.expected!);
      case 'increment': return map.increment(k, o.delta);
      case 'clear': return map.clear();
    }
  } catch (e) {
    return (e as { code?: string }).code ?? e;
  }
}

const normal = (r: unknown): unknown =>
  r && typeof r === 'object' && 'loaded' in r ? { ...(r as object), value: plain((r as { value: V }).value) } : plain(r as V);

describe.each(PRESETS)('on %s', (_name, options) => {
  test('random operation sequences agree with a Map model at every step', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 60 }), async (ops) => {
        const map = await createMap(options);
        const m = new Map<string, V>();
        try {
          for (const o of ops as Op[]) {
            const expected = model(m, o);
            expect(normal(run(map, o))).toEqual(normal(expected));
            expect(map.size).toBe(m.size);
          }
          for (const [id, v] of m) expect(normal(map.get(Buffer.from(id, 'hex')))).toEqual(normal(v));
          // Iteration lists exactly the model's keys, each once, with their values.
          const listed = [...map.entries()].map(([k, v]) => [keyId(k), normal(v)]);
          expect(new Map(listed as [string, unknown][]).size).toBe(listed.length);
          expect(new Map(listed as [string, unknown][])).toEqual(new Map([...m].map(([id, v]) => [id, normal(v)])));
          expect(map.__verify()).toBe(0);
        } finally {
          map.close();
        }
      }),
      { numRuns: scale(300, 5000) },
    );
  });

  test('long sequences over many keys agree with the model through table growth', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 2000 }), fc.integer({ min: 0, max: 9 })), { minLength: 500, maxLength: 4000 }),
        async (steps) => {
          const map = await createMap(options);
          const m = new Map<string, V>();
          try {
            for (const [n, action] of steps) {
              const k = `k${n}`;
              if (action < 5) {
                map.set(k, `v${n}:${action}`);
                m.set(k, `v${n}:${action}`);
              } else if (action < 8) {
                expect(map.delete(k)).toBe(m.delete(k));
              } else {
                expect(map.get(k)).toBe(m.get(k));
              }
            }
            expect(map.size).toBe(m.size);
            for (let n = 0; n <= 2000; n++) expect(map.get(`k${n}`)).toBe(m.get(`k${n}`));
            expect(new Map(map.entries())).toEqual(m);
          } finally {
            map.close();
          }
        },
      ),
      { numRuns: scale(20, 300) },
    );
  });
});
