// A guest in another language: the probe written in JavaScript
// (examples/plugins/js-guest/probe.js, built by componentize-js), loaded
// through wasmap/wasi exactly as the AssemblyScript one. It imports the
// key-value interfaces only; it answers the same scripts with the same
// results; its traps are ERR_GUEST_TRAP; the handles its garbage-collected
// language forgets to drop are released when the host ends the instance.
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { cli, clocks, io } from '@bytecodealliance/preview2-shim';
import { SharedMap } from '../dist/index.js';
import { KEY_VALUE_INTERFACES, PluginComponent, keyValueImports, loadComponent, openResources } from '../dist/wasi.js';
import { createMap, randomInt } from './helpers.js';

const plugin = (name: string) => new URL(`../build/plugins/${name}.wasm`, import.meta.url);

let js: PluginComponent;
let as: PluginComponent;
beforeAll(async () => {
  js = await loadComponent(plugin('js-probe'), { name: 'jsprobe' });
  as = await loadComponent(plugin('probe'), { name: 'probe' });
}, 60_000);

let map: SharedMap;
afterEach(() => map?.close());

type Guest = { handle(s: string): string } & Disposable;


describe('a JavaScript guest', () => {
  test('imports the key-value interfaces only, and its hot calls go through the package\'s own bindings', () => {
    expect(js.imports.every((i) => KEY_VALUE_INTERFACES.includes(i))).toBe(true);
    expect(js.bound).toContain('wasi:keyvalue/store@0.2.0-draft2#get');
    expect(js.bound).toContain('wasi:keyvalue/atomics@0.2.0-draft2#increment');
  });

  test('answers random scripts as the AssemblyScript guest does, and leaves the same entries', async () => {
    map = await createMap();
    const rand = randomInt(7);
    const keys = ['a', 'b', 'user:1', 'ключ', 'x'.repeat(300), ''];
    const lines = ['open\tdefault'];
    for (let i = 0; i < 300; i++) {
      const k = keys[rand(keys.length)];
      const op = rand(6);
      if (op === 0) lines.push(`get\t1\t${k}`);
      else if (op === 1) lines.push(`set\t1\t${k}\tv${i}`);
      else if (op === 2) lines.push(`delete\t1\t${k}`);
      else if (op === 3) lines.push(`exists\t1\t${k}`);
      else lines.push(`incr\t1\tn-${k}\t${rand(5)}`); // never below 0 (componentize-js traps on a negative s64)
    }
    const policy = { maxKeyBytes: 256 };
    const a = map.namespace('js');
    const b = map.namespace('as');
    const fromJs = (js.instantiate(keyValueImports(a, policy)) as Guest).handle(lines.join('\n')).split('\n');
    const fromAs = (as.instantiate(keyValueImports(b, policy)) as Guest).handle(lines.join('\n')).split('\n');
    for (let i = 0; i < lines.length; i++) expect(`${lines[i]} -> ${fromJs[i]}`).toBe(`${lines[i]} -> ${fromAs[i]}`);
    const entries = (ns: SharedMap) => JSON.stringify([...ns.entries()].map(([k, v]) => [String(k), String(v)]).sort());
    expect(entries(a)).toBe(entries(b));
  });

  test('a trap is ERR_GUEST_TRAP, ends the instance and releases its handles; a new instance finds the data', async () => {
    map = await createMap();
    const ns = map.namespace('js');
    const imports = keyValueImports(ns);
    const guest = js.instantiate(imports) as Guest;
    expect(guest.handle('open\tdefault\nset\t1\tk\tkept')).toBe('ok\t1\nok');
    expect(() => guest.handle('throw\tboom')).toThrow(expect.objectContaining({ name: 'PluginError', code: 'ERR_GUEST_TRAP' }));
    expect(openResources(imports)).toEqual({ buckets: 0, cas: 0 });
    expect(() => guest.handle('get\t1\tk')).toThrow(expect.objectContaining({ code: 'ERR_GUEST_TRAP' }));
    expect((js.instantiate(keyValueImports(ns)) as Guest).handle('open\tdefault\nget\t1\tk')).toBe('ok\t1\nsome\tkept');
  });

  test('buckets it forgets (never dropped in the component model) count against its limit until the host ends the instance', async () => {
    map = await createMap();
    const imports = keyValueImports(map.namespace('js'), { maxOpenResources: 3 });
    const guest = js.instantiate(imports) as Guest;
    const script = Array.from({ length: 4 }, (_, i) => `open\tdefault\nforget\t${i + 1}`).join('\n');
    expect(guest.handle(script).split('\n').at(-2)).toMatch(/^err\tother\tERR_RESOURCE_LIMIT: /);
    expect(openResources(imports)).toEqual({ buckets: 3, cas: 0 });
    guest[Symbol.dispose]();
    expect(openResources(imports)).toEqual({ buckets: 0, cas: 0 });
  });

  test('a build that imports wasi:clocks loads only when the host allows them, and reads the clock the host gives it', async () => {
    const bytes = plugin('js-probe-clock');
    await expect(loadComponent(bytes)).rejects.toMatchObject({ code: 'ERR_FORBIDDEN_IMPORT' });
    const others = [
      'wasi:clocks/wall-clock@0.2.12', 'wasi:clocks/monotonic-clock@0.2.12', 'wasi:io/poll@0.2.12',
      'wasi:io/error@0.2.12', 'wasi:io/streams@0.2.12', 'wasi:cli/stderr@0.2.12',
    ];
    const withClock = await loadComponent(bytes, { name: 'jsclock', allow: [...KEY_VALUE_INTERFACES, ...others] });
    expect([...withClock.imports].sort()).toEqual([...KEY_VALUE_INTERFACES, ...others].sort());
    map = await createMap();
    // The host's own wall clock (fixed here), the shim's for the rest.
    const wallClock = { now: () => ({ seconds: 1_700_000_000n, nanoseconds: 250_000_000 }), resolution: () => ({ seconds: 0n, nanoseconds: 1_000_000 }) };
    const more = {
      'wasi:clocks/wall-clock@0.2.12': wallClock,
      'wasi:clocks/monotonic-clock@0.2.12': clocks.monotonicClock,
      'wasi:io/poll@0.2.12': io.poll,
      'wasi:io/error@0.2.12': io.error,
      'wasi:io/streams@0.2.12': io.streams,
      'wasi:cli/stderr@0.2.12': cli.stderr,
    };
    const guest = withClock.instantiate(keyValueImports(map.namespace('js')), more) as Guest;
    expect(guest.handle('now\nopen\tdefault\nset\t1\tk\tv\nget\t1\tk')).toBe('ok\t1700000000250\nok\t1\nok\nsome\tv');
  });

  test('a string the guest makes with a lone surrogate reaches the host as its runtime encodes it (U+FFFD), valid UTF-8', async () => {
    // The replacement is StarlingMonkey's, inside the guest: what crosses is
    // well formed, so the host has nothing to refuse. A JavaScript plugin's
    // keys 'a\uD800b' and 'a\uFFFDb' are one key (docs/plugins.md).
    map = await createMap();
    const ns = map.namespace('js');
    const guest = js.instantiate(keyValueImports(ns)) as Guest;
    expect(guest.handle('open\tdefault\nset-lone\t1\tone')).toBe('ok\t1\nok');
    expect([...ns.keys()].map((k) => [...(k as Uint8Array).subarray(8)])).toEqual([[0x61, 0xef, 0xbf, 0xbd, 0x62]]);
  });
});
