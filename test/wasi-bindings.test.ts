// This package's own bindings of a guest's hot key-value calls (bucket get,
// set, delete, exists, atomics increment, ttl set-with-ttl, batch set-many; see
// host/wasi/bindings.ts) against jco's generated ones: the same scripts, run
// by the probe plugin through each, must give the same answers and leave the
// same entries, in the cases the fast path takes and in those it hands back
// to jco (keys that are not ASCII, refused keys and values, dropped or
// forged handles, a key policy).
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { SharedMap } from '../dist/index.js';
import { type KeyValuePolicy, PluginComponent, keyValueImports, loadComponent, openResources } from '../dist/wasi.js';
import { createMap, randomInt } from './helpers.js';

const plugin = (name: string) => new URL(`../build/plugins/${name}.wasm`, import.meta.url);

const BOUND = [
  'wasi:keyvalue/store@0.2.0-draft2#get',
  'wasi:keyvalue/store@0.2.0-draft2#set',
  'wasi:keyvalue/store@0.2.0-draft2#delete',
  'wasi:keyvalue/store@0.2.0-draft2#exists',
  'wasi:keyvalue/atomics@0.2.0-draft2#increment',
  'wasmap:keyvalue/ttl@0.1.0#setWithTtl',
  'wasi:keyvalue/batch@0.2.0-draft2#setMany',
];

let fast: PluginComponent;
let jco: PluginComponent;
beforeAll(async () => {
  fast = await loadComponent(plugin('probe'), { name: 'probe' });
  jco = await loadComponent(plugin('probe'), { name: 'probe', bindings: 'jco' });
});

let map: SharedMap;
afterEach(() => map?.close());

function probeOver(component: PluginComponent, ns: SharedMap, policy?: KeyValuePolicy) {
  const imports = keyValueImports(ns, policy);
  const exports = component.instantiate(imports) as { handle(input: string): string };
  return { imports, run: (lines: string[][]) => exports.handle(lines.map((c) => c.join('\t')).join('\n')).split('\n') };
}


const KEYS = [
  'a', 'k1', 'user:42', 'ключ', 'naïve', 'e\u0301', '\u{1F600}', 'x'.repeat(40), 'y'.repeat(41), 'z'.repeat(200),
  'with space', '',
];
const VALUES = ['v', 'héllo', '12', '-7', 'x'.repeat(64), 'y'.repeat(65), 'not a number'];
const DELTAS = ['1', '-1', '1000', '9007199254740991', '9007199254740992', '-9007199254740993'];
const TTLS = ['60000', '0', '-5', '9007199254740992']; // none short enough to expire between the two runs

/** A random script over bucket 1 (open), 2 (dropped) and 7 (never opened). */
function script(rand: (n: number) => number, length: number): string[][] {
  const lines: string[][] = [['open', 'default'], ['open', 'default'], ['drop', '2']];
  const handle = () => ['1', '1', '1', '1', '2', '7'][rand(6)];
  const key = () => KEYS[rand(KEYS.length)];
  for (let i = 0; i < length; i++) {
    if (rand(8) === 0) {
      // set-many of 1 to 3 pairs (a refused key or value among them changes nothing).
      const pairs = Array.from({ length: 1 + rand(3) }, () => [key(), VALUES[rand(VALUES.length)]]).flat();
      lines.push(['set-many', handle(), ...pairs]);
      continue;
    }
    switch (rand(6)) {
      case 0: lines.push(['get', handle(), key()]); break;
      case 1: lines.push(['set', handle(), key(), VALUES[rand(VALUES.length)]]); break;
      case 2: lines.push(['delete', handle(), key()]); break;
      case 3: lines.push(['exists', handle(), key()]); break;
      case 4: lines.push(['incr', handle(), key(), DELTAS[rand(DELTAS.length)]]); break;
      default: lines.push(['set-ttl', handle(), key(), VALUES[rand(VALUES.length)], TTLS[rand(TTLS.length)]]); break;
    }
  }
  return lines;
}

/** A namespace's entries, keys as bytes in hex, with whether each has an expiry. */
function contents(ns: SharedMap): string[] {
  const hex = (k: string | Uint8Array) => (typeof k === 'string' ? new TextEncoder().encode(k) : k).reduce((s, b) => s + b.toString(16).padStart(2, '0'), '');
  return [...ns.entries()].map(([k, v]) => `${hex(k)}=${v instanceof Uint8Array ? new TextDecoder().decode(v) : String(v)}${ns.ttl(k) === Infinity ? '' : ' (ttl)'}`).sort();
}

describe('the package\'s own bindings', () => {
  test('carry the hot functions of a component built against the interfaces; jco\'s carry them with bindings: jco', () => {
    // Fails after a jco upgrade that changed these bindings: check bindings.ts
    // against the new ones, then `npm run fingerprints`.
    expect([...fast.bound].sort()).toEqual([...BOUND].sort());
    expect(jco.bound).toEqual([]);
  });

  test.each([
    ['no key policy', undefined],
    ['a key policy (the fast path hands every key to jco\'s bindings)', { validateKey: (k: string) => k !== 'user:42' || 'no user 42' }],
  ])('random scripts give the same answers and leave the same entries through both: %s', async (_name, extra) => {
    map = await createMap();
    const policy: KeyValuePolicy = { maxKeyBytes: 40, maxValueBytes: 64, ...extra };
    for (let seed = 1; seed <= 12; seed++) {
      const a = map.namespace(`fast-${seed}`);
      const b = map.namespace(`jco-${seed}`);
      const p = probeOver(fast, a, policy);
      const q = probeOver(jco, b, policy);
      const lines = script(randomInt(seed), 150);
      const got = p.run(lines);
      const want = q.run(lines);
      for (let i = 0; i < lines.length; i++) {
        expect(`${lines[i].join(' ')} -> ${got[i]}`, `seed ${seed}, command ${i}`).toBe(`${lines[i].join(' ')} -> ${want[i]}`);
      }
      expect(contents(a), `seed ${seed}`).toEqual(contents(b));
      expect(openResources(p.imports)).toEqual(openResources(q.imports));
    }
  });

  test('a set-many with one value over the limit writes none of its pairs, through both', async () => {
    map = await createMap();
    for (const [name, component] of [['fast', fast], ['jco', jco]] as const) {
      const p = probeOver(component, map.namespace(name), { maxValueBytes: 64 });
      expect(p.run([['open', 'default'], ['set-many', '1', 'a', 'v', 'b', 'y'.repeat(65)], ['get', '1', 'a'], ['set-many', '1', 'a', 'v', 'b', 'w'], ['get', '1', 'b']]), name)
        .toEqual(['ok\t1', 'err\tother\tERR_VALUE_TOO_LARGE: the value has 65 bytes; this plugin\'s policy allows 64', 'none', 'ok', 'some\tw']);
    }
  });

  test('a value over the policy\'s limit is refused before it is copied; one inside it round-trips byte for byte', async () => {
    map = await createMap({ maxMemoryBytes: 64 << 20 });
    const ns = map.namespace('p');
    const p = probeOver(fast, ns, { maxValueBytes: 1024 });
    expect(p.run([['open', 'default']])).toEqual(['ok\t1']);
    const big = 'b'.repeat(1025);
    const fits = 'é'.repeat(512); // 1,024 bytes
    expect(p.run([['set', '1', 'k', big], ['set', '1', 'k', fits], ['get', '1', 'k']])).toEqual([
      'err\tother\tERR_VALUE_TOO_LARGE: the value has 1025 bytes; this plugin\'s policy allows 1024', 'ok', `some\t${fits}`,
    ]);
  });
});
