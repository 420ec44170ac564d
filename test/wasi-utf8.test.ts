// Keys cross the component boundary exactly or not at all. A guest's string
// that is not UTF-8 is a trap in the canonical ABI: the host sees
// ERR_GUEST_TRAP, the instance is ended with its resources released, and
// nothing is written; jco alone would have made U+FFFD of the bytes (two
// keys, one entry). And distinct valid keys never share an entry (jco alone
// dropped a leading BOM). Through the package's own bindings and through
// jco's. The probe plugin sends raw bytes as `%x` + hex (commands.ts).
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { SharedMap } from '../dist/index.js';
import { PluginComponent, keyValueImports, loadComponent, openResources } from '../dist/wasi.js';
import { createMap } from './helpers.js';

const plugin = (name: string) => new URL(`../build/plugins/${name}.wasm`, import.meta.url);

const components: Record<string, PluginComponent> = {};
beforeAll(async () => {
  components.wasmap = await loadComponent(plugin('probe'), { name: 'probe' });
  components.jco = await loadComponent(plugin('probe'), { name: 'probe', bindings: 'jco' });
});

let map: SharedMap;
afterEach(() => map?.close());

const hex = (bytes: number[]) => `%x${bytes.map((b) => b.toString(16).padStart(2, '0')).join('')}`;
const utf8 = (s: string) => [...new TextEncoder().encode(s)];

/** Every class of malformed UTF-8, each between an 'a' and a 'b'. */
const MALFORMED: [string, number[]][] = [
  ['a stray continuation byte', [0x80]],
  ['a stray continuation byte 0xBF', [0xbf]],
  ['two-byte lead cut short', [0xc3]],
  ['three-byte sequence cut short', [0xe2, 0x82]],
  ['four-byte sequence cut short', [0xf0, 0x9f, 0x98]],
  ['overlong "/" (C0 AF)', [0xc0, 0xaf]],
  ['overlong 0x7F (C1 BF)', [0xc1, 0xbf]],
  ['overlong three-byte (E0 80 AF)', [0xe0, 0x80, 0xaf]],
  ['overlong four-byte (F0 80 80 AF)', [0xf0, 0x80, 0x80, 0xaf]],
  ['a high surrogate in CESU-8 (ED A0 80)', [0xed, 0xa0, 0x80]],
  ['a low surrogate (ED BF BF)', [0xed, 0xbf, 0xbf]],
  ['past U+10FFFF (F4 90 80 80)', [0xf4, 0x90, 0x80, 0x80]],
  ['a byte above F4 (F5 80 80 80)', [0xf5, 0x80, 0x80, 0x80]],
  ['a five-byte form (F8 88 80 80 80)', [0xf8, 0x88, 0x80, 0x80, 0x80]],
  ['0xFE', [0xfe]],
  ['0xFF', [0xff]],
];

/** Commands that pass the key (field 2) to each import that takes one. */
const COMMANDS: [string, (key: string) => string[][]][] = [
  ['set', (k) => [['set', '1', k, 'v']]],
  ['get', (k) => [['get', '1', k]]],
  ['delete', (k) => [['delete', '1', k]]],
  ['exists', (k) => [['exists', '1', k]]],
  ['increment', (k) => [['incr', '1', k, '1']]],
  ['set-with-ttl', (k) => [['set-ttl', '1', k, 'v', '60000']]],
  ['cas.new', (k) => [['cas', '1', k, 'v']]],
  ['get-many', (k) => [['get-many', '1', 'ok', k]]],
  ['set-many', (k) => [['set-many', '1', 'ok', 'v', k, 'v']]],
  ['expire', (k) => [['expire', '1', k, '5']]],
  ['a bucket name', (k) => [['open', k]]],
  ['a list-keys cursor', (k) => [['list', '1', k]]],
];

function entries(ns: SharedMap): string {
  return JSON.stringify([...ns.entries()].map(([k, v]) => [[...(typeof k === 'string' ? utf8(k) : k)], String(v)]).sort());
}

describe.each(['wasmap', 'jco'])('strings from a guest, through %s bindings', (bindings) => {
  test.each(MALFORMED)('a key with %s traps the instance, writes nothing, releases its buckets, and every other instance goes on', async (_name, bad) => {
    map = await createMap();
    const ns = map.namespace('plugin');
    const other = components[bindings].instantiate(keyValueImports(map.namespace('other'))) as { handle(s: string): string };
    expect(other.handle('open\tdefault\nset\t1\tk\tv')).toBe('ok\t1\nok');
    for (const [what, script] of COMMANDS) {
      const imports = keyValueImports(ns);
      const guest = components[bindings].instantiate(imports) as { handle(s: string): string };
      expect(guest.handle('open\tdefault\nset\t1\tok\tkept'), what).toBe('ok\t1\nok');
      const before = entries(ns);
      const key = hex([0x61, ...bad, 0x62]);
      const lines = script(key).map((c) => c.join('\t')).join('\n');
      expect(() => guest.handle(lines), what).toThrow(expect.objectContaining({ name: 'PluginError', code: 'ERR_GUEST_TRAP' }));
      expect(entries(ns), what).toBe(before);
      expect(openResources(imports), what).toEqual({ buckets: 0, cas: 0 });
      expect(() => guest.handle('get\t1\tok'), what).toThrow(expect.objectContaining({ code: 'ERR_GUEST_TRAP' }));
      expect(other.handle('get\t1\tk'), what).toBe('some\tv');
    }
    expect(map.__verify()).toBe(0);
  });

  test('distinct keys never share an entry: a leading BOM, normalization forms, U+FFFD itself', async () => {
    map = await createMap();
    const ns = map.namespace('plugin');
    const guest = components[bindings].instantiate(keyValueImports(ns)) as { handle(s: string): string };
    const keys = ['a', '\uFEFFa', 'a\uFEFF', 'é', 'e\u0301', '\uFFFD', 'a\uFFFDb', 'a', '\u0000', 'ÿ', '\u{10FFFF}'];
    const distinct = [...new Set(keys)];
    const script = distinct.map((k, i) => `set\t1\t${hex(utf8(k))}\tvalue-${i}`).join('\n');
    expect(guest.handle(`open\tdefault\n${script}`).split('\n').slice(1)).toEqual(distinct.map(() => 'ok'));
    expect(ns.size).toBe(distinct.length);
    const reads = distinct.map((k) => `get\t1\t${hex(utf8(k))}`).join('\n');
    expect(guest.handle(reads).split('\n')).toEqual(distinct.map((_, i) => `some\tvalue-${i}`));
  });
});
