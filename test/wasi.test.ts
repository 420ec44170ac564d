// wasmap/wasi: a namespace as wasi:keyvalue@0.2.0-draft2 (+ wasmap:keyvalue/ttl)
// for WebAssembly components, driven through real guest components built from
// examples/plugins/guest/ (npm run build). The probe plugin runs scripts of
// commands (one a line, tab-separated fields; see commands.ts) and answers
// one line per command, so every import is reached the way a plugin reaches
// it: canonical ABI, jco's bindings, resource handles.
import { readFileSync } from 'node:fs';
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { parse } from '@bytecodealliance/jco';
import { SharedMap } from '../dist/index.js';
import {
  type KeyValuePolicy, PluginComponent, PluginError, bucketKey, keyValueImports, loadComponent, openResources,
} from '../dist/wasi.js';
import { createMap, shared, startWorkers } from './helpers.js';
import { oneCallGuest } from './wasi-guest.js';

const plugin = (name: string) => new URL(`../build/plugins/${name}.wasm`, import.meta.url);

let probe: PluginComponent;
let watching: PluginComponent;
beforeAll(async () => {
  probe = await loadComponent(plugin('probe'), { name: 'probe' });
  watching = await loadComponent(plugin('watching'), { name: 'watching' });
});

let map: SharedMap;
afterEach(() => map?.close());

type Probe = { run(...commands: string[][]): string[]; imports: ReturnType<typeof keyValueImports> };

/** A fresh probe instance over `ns`: run(['set', '1', 'k', 'v'], ...) gives one answer line per command. */
function instance(ns: SharedMap, policy?: KeyValuePolicy, component = probe): Probe {
  const imports = keyValueImports(ns, policy);
  const exports = component.instantiate(imports) as { handle(input: string): string };
  return {
    imports,
    run: (...commands) => exports.handle(commands.map((c) => c.join('\t')).join('\n')).split('\n'),
  };
}

/** A probe with bucket 1 = "default" already open. */
function opened(ns: SharedMap, policy?: KeyValuePolicy, component = probe): Probe {
  const p = instance(ns, policy, component);
  expect(p.run(['open', 'default'])).toEqual(['ok\t1']);
  return p;
}

const text = (bytes: unknown) => new TextDecoder().decode(bytes as Uint8Array);

describe('store', () => {
  test('get, set, delete and exists through a guest act on the namespace, under the bucket prefix', async () => {
    map = await createMap();
    const ns = map.namespace('plugin-a');
    const p = opened(ns);
    expect(p.run(
      ['get', '1', 'greeting'], ['exists', '1', 'greeting'], ['set', '1', 'greeting', 'héllo'],
      ['get', '1', 'greeting'], ['exists', '1', 'greeting'],
    )).toEqual(['none', 'false', 'ok', 'some\théllo', 'true']);
    expect(text(ns.get(bucketKey('default', 'greeting')))).toBe('héllo');
    expect(ns.get('greeting')).toBeUndefined(); // keys live behind the bucket prefix
    ns.set(bucketKey('default', 'from-host'), 'a string');
    expect(p.run(['get', '1', 'from-host'], ['delete', '1', 'greeting'], ['get', '1', 'greeting'], ['delete', '1', 'greeting']))
      .toEqual(['some\ta string', 'ok', 'none', 'ok']);
    expect(ns.size).toBe(1);
  });

  test('two instances of one component never see each other\'s data', async () => {
    map = await createMap();
    const a = opened(map.namespace('plugin-a'));
    const b = opened(map.namespace('plugin-b'));
    expect(a.run(['set', '1', 'k', 'from a'], ['incr', '1', 'n', '5'])).toEqual(['ok', 'ok\t5']);
    expect(b.run(['get', '1', 'k'], ['incr', '1', 'n', '1'], ['set', '1', 'k', 'from b'])).toEqual(['none', 'ok\t1', 'ok']);
    expect(a.run(['get', '1', 'k'], ['get', '1', 'n'])).toEqual(['some\tfrom a', 'some\t5']);
    expect(b.run(['get', '1', 'k'], ['get', '1', 'n'])).toEqual(['some\tfrom b', 'some\t1']);
  });

  test('buckets of one instance are key spaces of their own', async () => {
    map = await createMap();
    const p = instance(map.namespace('plugin'), { buckets: ['default', 'cache', 'default\u00ff'] });
    expect(p.run(['open', 'default'], ['open', 'cache'], ['open', 'default\u00ff'])).toEqual(['ok\t1', 'ok\t2', 'ok\t3']);
    expect(p.run(['set', '1', 'k', 'one'], ['set', '2', 'k', 'two'], ['get', '3', 'k'], ['get', '1', 'k'], ['get', '2', 'k']))
      .toEqual(['ok', 'ok', 'none', 'some\tone', 'some\ttwo']);
  });

  test.each([['secret'], ['Default'], ['default '], ['']])('open(%j) outside the policy is access-denied', async (id) => {
    map = await createMap();
    const p = instance(map.namespace('plugin'), { buckets: ['default'] });
    expect(p.run(['open', id], ['open', 'default'])).toEqual(['err\taccess-denied', 'ok\t1']);
  });

  test('list-keys pages through the bucket\'s own keys with a cursor, and refuses a bad cursor', async () => {
    map = await createMap({ initialCapacity: 1 });
    const ns = map.namespace('plugin');
    const p = instance(ns, { buckets: ['a', 'b'] });
    const commands: string[][] = [['open', 'a'], ['open', 'b']];
    for (let i = 0; i < 3000; i++) commands.push(['set', '1', `key ${i}`, 'v'], ['set', '2', `other ${i}`, 'w']);
    expect(p.run(...commands).every((line) => line.startsWith('ok'))).toBe(true);
    ns.set(bucketKey('a', 'from the host'), 'x');
    map.set(bucketKey('a', 'outside the namespace'), 'y');
    const listed: string[] = [];
    let cursor = '-';
    let pages = 0;
    for (;;) {
      const [line] = p.run(['list', '1', cursor]);
      const [status, next, ...keys] = line.split('\t');
      expect(status).toBe('ok');
      listed.push(...keys);
      pages++;
      if (next === '-') break;
      cursor = next;
    }
    expect(pages).toBeGreaterThan(1);
    const expected = [...Array.from({ length: 3000 }, (_, i) => `key ${i}`), 'from the host'];
    expect(new Set(listed)).toEqual(new Set(expected));
    expect(listed.length).toBe(expected.length); // no table growth while listing: each once
    expect(p.run(['list', '1', 'nope'], ['list', '1', '99999999999'])).toEqual([
      expect.stringMatching(/^err\tother\tERR_INVALID_CURSOR: /), expect.stringMatching(/^err\tother\tERR_INVALID_CURSOR: /),
    ]);
  });
});

describe('key rules and quotas through the interface', () => {
  // Each refusal is the interface's `other` error, and the next command of the
  // same call still runs: nothing trapped.
  test.each<[string, KeyValuePolicy, Record<string, unknown>, string[], string]>([
    ['an empty key', {}, {}, ['set', '1', '', 'v'], 'ERR_INVALID_KEY: a key must not be empty'],
    ['a key over the policy\'s maxKeyBytes', { maxKeyBytes: 4 }, {}, ['set', '1', 'é123', 'v'], 'ERR_KEY_TOO_LARGE: the key has 5 bytes'],
    ['a key over the namespace\'s maxKeyBytes with the prefix', {}, { maxKeyBytes: 16 }, ['get', '1', 'k'.repeat(9)], 'ERR_KEY_TOO_LARGE: the key has 9 bytes, and with the bucket prefix (8 bytes)'],
    ['the same key given to cas.new', {}, { maxKeyBytes: 16 }, ['cas', '1', 'k'.repeat(9), 'v'], 'ERR_KEY_TOO_LARGE: the key has 9 bytes, and with the bucket prefix (8 bytes)'],
    ['a key the policy refuses', { validateKey: (k) => !k.startsWith('sys:') || 'sys: is reserved' }, {}, ['exists', '1', 'sys:x'], 'ERR_INVALID_KEY: the key was refused: sys: is reserved'],
    ['a key the namespace refuses', {}, { validateKey: (k: Uint8Array) => !k.includes(0x21) }, ['delete', '1', 'a!'], 'ERR_INVALID_KEY'],
    ['a value over the policy\'s maxValueBytes', { maxValueBytes: 3 }, {}, ['set', '1', 'k', 'abcd'], 'ERR_VALUE_TOO_LARGE: the value has 4 bytes'],
    ['a value over the namespace\'s maxValueBytes', {}, { maxValueBytes: 3 }, ['set', '1', 'k', 'abcd'], 'ERR_VALUE_TOO_LARGE'],
    ['an increment past 2^53 - 1', {}, {}, ['incr', '1', 'k', String(2 ** 60)], 'ERR_INVALID_VALUE: increment: delta must be within'],
    ['a ttl of 0', {}, {}, ['set-ttl', '1', 'k', 'v', '0'], 'ERR_INVALID_TTL'],
    ['a batch over maxBatchKeys', { maxBatchKeys: 2 }, {}, ['get-many', '1', 'a', 'b', 'c'], 'ERR_BATCH_TOO_LARGE'],
  ])('%s is an other error, and the instance goes on', async (_, policy, nsOptions, command, message) => {
    map = await createMap();
    const ns = map.namespace('plugin', nsOptions as never);
    const p = opened(ns, policy);
    const [refused, next] = p.run(command, ['set', '1', 'ok', 'y']);
    expect(refused.startsWith(`err\tother\t${message}`), refused).toBe(true);
    expect(next).toBe('ok');
    expect(ns.size).toBe(1); // the refused command wrote nothing
  });

  test('a set past the namespace\'s maxEntries is ERR_QUOTA and changes nothing; overwrites still work', async () => {
    map = await createMap();
    const ns = map.namespace('plugin', { maxEntries: 3 });
    const p = opened(ns);
    expect(p.run(
      ['set', '1', 'a', '1'], ['set', '1', 'b', '2'], ['incr', '1', 'c', '1'], ['set', '1', 'd', '4'],
      ['incr', '1', 'e', '1'], ['set-many', '1', 'x', '1', 'y', '2'], ['set', '1', 'a', 'again'], ['get', '1', 'd'],
    )).toEqual([
      'ok', 'ok', 'ok\t1',
      expect.stringMatching(/^err\tother\tERR_QUOTA: /), expect.stringMatching(/^err\tother\tERR_QUOTA: /),
      expect.stringMatching(/^err\tother\tERR_QUOTA: /), 'ok', 'none',
    ]);
    expect(ns.size).toBe(3);
  });

  test('a set past the namespace\'s maxMemoryBytes is ERR_QUOTA', async () => {
    map = await createMap();
    const ns = map.namespace('plugin', { maxMemoryBytes: 1024 });
    const p = opened(ns);
    const answers = p.run(...Array.from({ length: 40 }, (_, i) => ['set', '1', `key${i}`, 'v'.repeat(40)]));
    const first = answers.findIndex((a) => a !== 'ok');
    expect(first).toBeGreaterThan(0);
    expect(answers.slice(first).every((a) => a.startsWith('err\tother\tERR_QUOTA: '))).toBe(true);
    expect(ns.size).toBe(first);
  });
});

describe('atomics', () => {
  test('increment creates at delta, adds, reads back as decimal, and refuses a non-counter', async () => {
    map = await createMap();
    const ns = map.namespace('plugin');
    const p = opened(ns);
    expect(p.run(
      ['incr', '1', 'n', '5'], ['incr', '1', 'n', '-7'], ['get', '1', 'n'], ['set', '1', 's', 'text'], ['incr', '1', 's', '1'],
      ['incr', '1', 'big', String(Number.MAX_SAFE_INTEGER)], ['incr', '1', 'big', '1'],
    )).toEqual([
      'ok\t5', 'ok\t-2', 'some\t-2', 'ok', expect.stringMatching(/^err\tother\tERR_NOT_A_COUNTER: /),
      `ok\t${Number.MAX_SAFE_INTEGER}`, expect.stringMatching(/^err\tother\tERR_COUNTER_OVERFLOW: /),
    ]);
    expect(ns.get(bucketKey('default', 'n'))).toBe(-2);
  });

  test('swap of a cas stores only if the key still holds what the cas read', async () => {
    map = await createMap();
    const p = opened(map.namespace('plugin'));
    // An absent key: the swap creates it. Present and unchanged: it replaces.
    expect(p.run(['cas', '1', 'k', 'first'], ['cas', '1', 'k', 'second'], ['get', '1', 'k']))
      .toEqual(['ok', 'ok', 'some\tsecond']);
    // cas-retry: reads k, sets it behind the cas's back, swaps: cas-failed
    // with a fresh cas that has read the new value, whose swap succeeds.
    expect(p.run(['cas-retry', '1', 'k', 'meanwhile', 'mine'], ['get', '1', 'k']))
      .toEqual(['failed\tmeanwhile\tok', 'some\tmine']);
    expect(p.run(['cas-retry', '1', 'fresh', 'meanwhile', 'mine'])).toEqual(['failed\tmeanwhile\tok']);
    expect(openResources(p.imports)).toEqual({ buckets: 1, cas: 0 });
  });

  test('a cas compares the kind it read: a counter, a host string', async () => {
    map = await createMap();
    const ns = map.namespace('plugin');
    const p = opened(ns);
    ns.set(bucketKey('default', 's'), 'host text');
    expect(p.run(['incr', '1', 'n', '3'], ['cas', '1', 'n', 'replaced'], ['cas', '1', 's', 'replaced too']))
      .toEqual(['ok\t3', 'ok', 'ok']);
    expect(text(ns.get(bucketKey('default', 'n')))).toBe('replaced');
    expect(text(ns.get(bucketKey('default', 's')))).toBe('replaced too');
  });
});

describe('batch', () => {
  test('get-many answers in order with none for absent keys; set-many and delete-many', async () => {
    map = await createMap();
    const p = opened(map.namespace('plugin'));
    expect(p.run(
      ['set-many', '1', 'a', '1', 'b', '2', 'c', '3'], ['get-many', '1', 'c', 'nope', 'a'], ['delete-many', '1', 'a', 'nope'],
      ['get-many', '1', 'a', 'b', 'c'], ['get-many', '1'],
    )).toEqual(['ok', 'ok\tc=3\t-\ta=1', 'ok', 'ok\t-\tb=2\tc=3', 'ok']);
  });

  test('a refused key in set-many or delete-many changes nothing', async () => {
    map = await createMap();
    const ns = map.namespace('plugin');
    const p = opened(ns);
    expect(p.run(['set-many', '1', 'a', '1', '', '2'], ['set', '1', 'a', 'kept'], ['delete-many', '1', 'a', '']))
      .toEqual([expect.stringMatching(/^err\tother\tERR_INVALID_KEY/), 'ok', expect.stringMatching(/^err\tother\tERR_INVALID_KEY/)]);
    expect(text(ns.get(bucketKey('default', 'a')))).toBe('kept');
    expect(ns.size).toBe(1);
  });
});

describe('ttl (wasmap:keyvalue/ttl)', () => {
  test('set-with-ttl, time-to-live, expire and persist follow the map\'s clock', async () => {
    let now = 1_000_000;
    map = await createMap({ clock: () => now });
    const p = opened(map.namespace('plugin'));
    expect(p.run(['set-ttl', '1', 't', 'v', '1000'], ['ttl', '1', 't'], ['set', '1', 'p', 'v'], ['ttl', '1', 'p'], ['ttl', '1', 'nope']))
      .toEqual(['ok', 'ms\t1000', 'ok', 'forever', 'absent']);
    now += 600;
    expect(p.run(['ttl', '1', 't'], ['expire', '1', 'p', '500'], ['expire', '1', 'nope', '500'], ['persist', '1', 't']))
      .toEqual(['ms\t400', 'true', 'false', 'true']);
    now += 501;
    expect(p.run(['get', '1', 't'], ['get', '1', 'p'], ['exists', '1', 'p'], ['get-many', '1', 'p', 't'], ['ttl', '1', 'p']))
      .toEqual(['some\tv', 'none', 'false', 'ok\t-\tt=v', 'absent']);
  });

  test('the policy\'s defaultTtl applies to set, set-many, swap and new counters', async () => {
    let now = 0;
    map = await createMap({ clock: () => now });
    const p = opened(map.namespace('plugin'), { defaultTtl: 100 });
    expect(p.run(['set', '1', 'a', '1'], ['set-many', '1', 'b', '2'], ['cas', '1', 'c', '3'], ['set-ttl', '1', 'd', '4', '1000'], ['incr', '1', 'e', '1'], ['ttl', '1', 'a'], ['ttl', '1', 'e']))
      .toEqual(['ok', 'ok', 'ok', 'ok', 'ok\t1', 'ms\t100', 'ms\t100']);
    now = 101;
    expect(p.run(['get-many', '1', 'a', 'b', 'c', 'd', 'e'])).toEqual(['ok\t-\t-\t-\td=4\t-']);
  });
});

describe('watcher', () => {
  test('changes reach the guest\'s watcher after its call returns, never during it', async () => {
    map = await createMap();
    const ns = map.namespace('plugin');
    const p = opened(ns, {}, watching);
    // Inside the call the watcher has not run yet: its counter is absent.
    expect(p.run(['set', '1', 'k', 'v'], ['incr', '1', 'n', '2'], ['delete', '1', 'k'], ['delete', '1', 'absent'], ['get', '1', 'watch:sets']))
      .toEqual(['ok', 'ok\t2', 'ok', 'ok', 'none']);
    // After it: two sets (set, incr), one delete (of a present key); the
    // watcher's own writes were not told back to it.
    expect(p.run(['get', '1', 'watch:sets'], ['get', '1', 'watch:last-set'], ['get', '1', 'watch:deletes'], ['get', '1', 'watch:last-delete']))
      .toEqual(['some\t2', 'some\tn=2', 'some\t1', 'some\tk']);
    // Each event lent the guest a bucket; it dropped them all.
    expect(openResources(p.imports)).toEqual({ buckets: 1, cas: 0 });
  });
});

describe('resources', () => {
  test('thousands of open / cas.new / drop cycles leave no resource behind', async () => {
    map = await createMap();
    const p = instance(map.namespace('plugin'), { maxOpenResources: 4 });
    for (let round = 0; round < 5; round++) {
      expect(p.run(['churn', 'default', 'k', '2000'])).toEqual(['ok']);
      expect(openResources(p.imports)).toEqual({ buckets: 0, cas: 0 });
    }
  });

  test('a guest that never drops reaches maxOpenResources and gets an other error', async () => {
    map = await createMap();
    const p = instance(map.namespace('plugin'), { maxOpenResources: 3 });
    expect(p.run(['open', 'default'], ['open', 'default'], ['open', 'default'], ['open', 'default'], ['drop', '3'], ['open', 'default']))
      .toEqual(['ok\t1', 'ok\t2', 'ok\t3', expect.stringMatching(/^err\tother\tERR_RESOURCE_LIMIT: /), 'ok', 'ok\t3']);
    expect(openResources(p.imports)).toEqual({ buckets: 3, cas: 0 });
  });

  test('handles a guest forgot are released when the host ends the instance, and a new instance starts with none', async () => {
    map = await createMap();
    const ns = map.namespace('plugin');
    const imports = keyValueImports(ns, { maxOpenResources: 3 });
    const guest = probe.instantiate(imports) as { handle(s: string): string } & Disposable;
    expect(guest.handle('open\tdefault\nopen\tdefault\nopen\tdefault\nset\t1\tk\tkept\nopen\tdefault').split('\n').at(-1))
      .toMatch(/^err\tother\tERR_RESOURCE_LIMIT: /);
    expect(openResources(imports)).toEqual({ buckets: 3, cas: 0 });
    guest[Symbol.dispose]();
    expect(openResources(imports)).toEqual({ buckets: 0, cas: 0 });
    expect(() => guest.handle('get\t1\tk')).toThrow(expect.objectContaining({ code: 'ERR_GUEST_TRAP', message: expect.stringMatching(/ended by the host/) }));
    const next = opened(ns, { maxOpenResources: 3 });
    expect(next.run(['get', '1', 'k'])).toEqual(['some\tkept']);
  });
});

describe('loading', () => {
  // Built here from source (wasi-guest.ts).
  async function sneaky(world: string, importLine: string, coreImport: string): Promise<Uint8Array> {
    const wit = `package test:sneaky;\ninterface socket { connect: func(host: string) -> u32; }\nworld ${world} {\n  ${importLine}\n  export handle: func(input: string) -> string;\n}\n`;
    return oneCallGuest(wit, world, coreImport);
  }

  test.each([
    ['an interface', 'import socket;', '"test:sneaky/socket" "connect"', 'test:sneaky/socket'],
    ['a bare function', 'import steal: func(data: string) -> u32;', '"$root" "steal"', 'steal'],
  ])('a component importing %s outside the allow-list is refused before it runs', async (_, line, coreImport, name) => {
    const bytes = await sneaky('sneaky', line, coreImport);
    const err = await loadComponent(bytes).catch((e) => e);
    expect(err).toBeInstanceOf(PluginError);
    expect(err.code).toBe('ERR_FORBIDDEN_IMPORT');
    expect(err.message).toContain(name);
    // The same component, allowed, really reaches that import when it runs.
    const allowed = await loadComponent(bytes, { allow: [name] });
    const calls: string[] = [];
    const impl = (data: string) => (calls.push(data), 0);
    map = await createMap();
    // (jco reads a bare function import as `imports[name].default`.)
    const more = name === 'steal' ? { steal: { default: impl } } : { 'test:sneaky/socket': { connect: impl } };
    const exports = allowed.instantiate(keyValueImports(map), more) as { handle(s: string): string };
    exports.handle('secrets');
    expect(calls).toEqual(['secrets']);
  });

  test('a module that is not a component is ERR_INVALID_COMPONENT', async () => {
    const core = await parse('(module)');
    await expect(loadComponent(core)).rejects.toMatchObject({ code: 'ERR_INVALID_COMPONENT' });
    await expect(loadComponent(readFileSync(new URL('../build/wasmap.wasm', import.meta.url))))
      .rejects.toMatchObject({ code: 'ERR_INVALID_COMPONENT' });
  });

  test('the probe imports exactly the key-value interfaces', () => {
    expect([...probe.imports].sort()).toEqual([
      'wasi:keyvalue/atomics@0.2.0-draft2', 'wasi:keyvalue/batch@0.2.0-draft2', 'wasi:keyvalue/store@0.2.0-draft2',
      'wasmap:keyvalue/ttl@0.1.0',
    ]);
  });
});

describe('workers', () => {
  const N = 20_000;
  const script = [['open', 'default'], ['repeat-incr', '1', 'hits', String(N)], ['set', '1', 'done', 'yes']]
    .map((c) => c.join('\t')).join('\n');

  async function run(namespaces: string[]) {
    const started = await startWorkers<{ output: string; resources: unknown }>(map, 'wasi-plugin.mjs', 2, {
      plugin: probe.handle, script, namespaces,
    });
    started.go();
    const results = await started.results;
    for (const r of results) expect(r.resources).toEqual({ buckets: 1, cas: 0 }); // the script never drops
    return results.map((r) => r.output.split('\n'));
  }

  shared('two instances in two workers, each in its own namespace of one shared map, count exactly', async () => {
    map = await createMap();
    const outputs = await run(['worker-a', 'worker-b']);
    expect(outputs).toEqual([['ok\t1', `ok\t${N}`, 'ok'], ['ok\t1', `ok\t${N}`, 'ok']]);
    for (const name of ['worker-a', 'worker-b']) {
      const ns = map.namespace(name);
      expect(ns.get(bucketKey('default', 'hits'))).toBe(N);
      expect(ns.size).toBe(2);
    }
  });

  shared('two instances in two workers sharing one namespace lose no increment', async () => {
    map = await createMap();
    const outputs = await run(['shared', 'shared']);
    const last = outputs.map((o) => Number(o[1].split('\t')[1]));
    expect(Math.max(...last)).toBe(2 * N);
    expect(map.namespace('shared').get(bucketKey('default', 'hits'))).toBe(2 * N);
  });
});
