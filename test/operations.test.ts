import { afterEach, describe, expect, test } from 'vitest';
import { SharedMap } from '../dist/index.js';
import { codeOf, createMap, LOCAL, PRESETS, shared, startWorkers } from './helpers.js';

const open: SharedMap[] = [];
afterEach(() => {
  while (open.length) open.pop()!.close();
});
async function make(options: object) {
  const map = await createMap(options);
  open.push(map);
  return map;
}

describe.each(PRESETS)('on %s', (_name, options) => {
  test('get after set returns the value of the kind that was stored', async () => {
    const map = await make(options);
    map.set('s', 'text');
    map.set('b', new Uint8Array([1, 2, 3]));
    map.set('empty', '');
    map.set('emoji', 'héllo 🌍');
    expect(map.get('s')).toBe('text');
    const bytes = map.get('b');
    expect(bytes).toBeInstanceOf(Uint8Array);
    expect([...(bytes as Uint8Array)]).toEqual([1, 2, 3]);
    expect(map.get('empty')).toBe('');
    expect(map.get('emoji')).toBe('héllo 🌍');
    expect(map.get('missing')).toBeUndefined();
  });

  test('get returns string values of every length exactly, with a non-ASCII character anywhere or nowhere', async () => {
    // The core tells the host when a value is all ASCII (it then decodes it
    // as Latin-1): a non-ASCII character in any byte of any word, including
    // the last, partial one, must still decode as UTF-8.
    const map = await make(options);
    const lengths = [...Array.from({ length: 20 }, (_, i) => i), 31, 32, 33, 55, 63, 64, 65, 255, 256, 257, 300, 1000];
    for (const n of lengths) {
      const ascii = Array.from({ length: n }, (_, i) => String.fromCharCode(32 + ((i * 7) % 95))).join('');
      map.set(`a${n}`, ascii);
      expect(map.get(`a${n}`)).toBe(ascii);
      for (const at of new Set([0, n >> 1, n - 1].filter((i) => i >= 0))) {
        for (const ch of ['é', '\u0080', '\u00ff', '🌍']) {
          const s = ascii.slice(0, at) + ch + ascii.slice(at + 1);
          map.set('mixed', s);
          expect(map.get('mixed')).toBe(s);
          expect(map.swap('mixed', ascii)).toBe(s);
        }
      }
    }
    // Keys and values are written by Node's Buffer past 32 characters: a
    // lone surrogate anywhere is still refused, and keys of any length with
    // a non-ASCII character are still their UTF-8 bytes.
    for (const n of [31, 32, 33, 40, 64, 65, 100]) {
      const base = 'k'.repeat(n);
      for (const at of [0, n >> 1, n - 1]) {
        const lone = base.slice(0, at) + '\ud800' + base.slice(at + 1);
        expect(codeOf(() => map.set('lone', lone))).toBe('ERR_INVALID_VALUE');
        expect(codeOf(() => map.set(lone, 'v'))).toBe('ERR_INVALID_KEY');
        const key = base.slice(0, at) + 'é' + base.slice(at + 1);
        map.set(key, key);
        expect(map.get(new TextEncoder().encode(key))).toBe(key);
      }
    }
    expect(map.has('lone')).toBe(false);
    const bytes = map.getOrSet('ascii-bytes', new TextEncoder().encode('plain'));
    expect(bytes.loaded).toBe(false);
    expect(map.get('ascii-bytes')).toBeInstanceOf(Uint8Array);
  });

  test('a Uint8Array value comes back as a copy, never a view of shared memory', async () => {
    const map = await make(options);
    const input = new Uint8Array([9, 9]);
    map.set('k', input);
    input[0] = 1;
    const a = map.get('k') as Uint8Array;
    const b = map.get('k') as Uint8Array;
    expect([...a]).toEqual([9, 9]);
    expect(a.buffer).not.toBeInstanceOf(SharedArrayBuffer);
    a[0] = 5;
    expect([...b]).toEqual([9, 9]);
  });

  test('a string key is its UTF-8 bytes: the same key as the equal Uint8Array', async () => {
    const map = await make(options);
    map.set('é', 'from string');
    expect(map.get(new Uint8Array([0xc3, 0xa9]))).toBe('from string');
    map.set(new Uint8Array([0xc3, 0xa9]), 'from bytes');
    expect(map.get('é')).toBe('from bytes');
    expect(map.size).toBe(1);
  });

  test('Uint8Array keys may hold any bytes, including zeros and invalid UTF-8', async () => {
    const map = await make(options);
    map.set(new Uint8Array([0]), 'zero');
    map.set(new Uint8Array([0, 0]), 'two zeros');
    map.set(new Uint8Array([0xff, 0xfe]), 'invalid utf-8');
    expect(map.get(new Uint8Array([0]))).toBe('zero');
    expect(map.get(new Uint8Array([0, 0]))).toBe('two zeros');
    expect(map.get(new Uint8Array([0xff, 0xfe]))).toBe('invalid utf-8');
    expect(map.size).toBe(3);
  });

  test('set returns the map, overwrites, and size counts keys exactly', async () => {
    const map = await make(options);
    expect(map.set('a', '1').set('b', '2')).toBe(map);
    map.set('a', '3');
    expect(map.size).toBe(2);
    expect(map.get('a')).toBe('3');
    expect(map.has('a')).toBe(true);
    expect(map.has('zz')).toBe(false);
  });

  test('delete removes a present key once and reports it', async () => {
    const map = await make(options);
    map.set('a', '1');
    expect(map.delete('a')).toBe(true);
    expect(map.delete('a')).toBe(false);
    expect(map.get('a')).toBeUndefined();
    expect(map.size).toBe(0);
    map.set('a', 'again');
    expect(map.get('a')).toBe('again');
    expect(map.size).toBe(1);
  });

  test('getOrSet stores when absent and loads when present', async () => {
    const map = await make(options);
    expect(map.getOrSet('k', 'first')).toEqual({ value: 'first', loaded: false });
    expect(map.getOrSet('k', 'second')).toEqual({ value: 'first', loaded: true });
    expect(map.get('k')).toBe('first');
    map.increment('n', 4);
    expect(map.getOrSet('n', 'x')).toEqual({ value: 4, loaded: true });
  });

  test('getAndDelete returns the value it removed, then undefined', async () => {
    const map = await make(options);
    map.set('k', new Uint8Array([7]));
    expect([...(map.getAndDelete('k') as Uint8Array)]).toEqual([7]);
    expect(map.getAndDelete('k')).toBeUndefined();
    expect(map.size).toBe(0);
  });

  test('swap stores and returns the previous value', async () => {
    const map = await make(options);
    expect(map.swap('k', 'a')).toBeUndefined();
    expect(map.swap('k', 'b')).toBe('a');
    expect(map.get('k')).toBe('b');
    expect(map.size).toBe(1);
  });

  test('compareAndSwap compares kind and bytes', async () => {
    const map = await make(options);
    expect(map.compareAndSwap('k', 'a', 'b')).toBe(false); // absent
    expect(map.has('k')).toBe(false);
    map.set('k', 'a');
    expect(map.compareAndSwap('k', new Uint8Array([97]), 'b')).toBe(false); // same bytes, other kind
    expect(map.compareAndSwap('k', 'x', 'b')).toBe(false);
    expect(map.compareAndSwap('k', 'a', 'b')).toBe(true);
    expect(map.get('k')).toBe('b');
    map.increment('n', 5);
    expect(map.compareAndSwap('n', 4, 'no')).toBe(false);
    expect(map.compareAndSwap('n', 5, 'done')).toBe(true);
    expect(map.get('n')).toBe('done');
  });

  test('compareAndDelete deletes only an equal value', async () => {
    const map = await make(options);
    map.set('k', 'a');
    expect(map.compareAndDelete('k', 'b')).toBe(false);
    expect(map.get('k')).toBe('a');
    expect(map.compareAndDelete('k', 'a')).toBe(true);
    expect(map.has('k')).toBe(false);
    expect(map.compareAndDelete('k', 'a')).toBe(false);
    expect(map.size).toBe(0);
  });

  test('increment creates a counter at 0 and get returns it as a number', async () => {
    const map = await make(options);
    expect(map.increment('c')).toBe(1);
    expect(map.increment('c', 10)).toBe(11);
    expect(map.increment('c', -20)).toBe(-9);
    expect(map.get('c')).toBe(-9);
    expect(map.increment('big', 2 ** 40)).toBe(2 ** 40);
    expect(map.increment('big', -(2 ** 41))).toBe(-(2 ** 40));
    expect(map.size).toBe(2);
  });

  test('increment after delete starts again from 0', async () => {
    const map = await make(options);
    map.increment('c', 3);
    map.delete('c');
    expect(map.increment('c')).toBe(1);
    map.set('c', 'text');
    map.delete('c');
    expect(map.increment('c', 2)).toBe(2);
  });

  test('values larger than the scratch buffer round-trip through every operation', async () => {
    const map = await make(options);
    const big = new Uint8Array(300_000).map((_, i) => i & 255);
    const text = 'x'.repeat(100_000) + 'é';
    map.set('big', big);
    expect(map.get('big')).toEqual(big);
    expect(map.swap('big', text)).toEqual(big);
    expect(map.getOrSet('big', 'other')).toEqual({ value: text, loaded: true });
    expect(map.compareAndSwap('big', text, big)).toBe(true);
    expect(map.getAndDelete('big')).toEqual(big);
  });

  test('clear removes every entry and the map stays usable', async () => {
    const map = await make(options);
    for (let i = 0; i < 2000; i++) map.set(`k${i}`, `v${i}`);
    map.increment('c');
    map.clear();
    expect(map.size).toBe(0);
    expect(map.get('k5')).toBeUndefined();
    expect(map.get('c')).toBeUndefined();
    for (let i = 0; i < 2000; i++) map.set(`k${i}`, `w${i}`);
    expect(map.size).toBe(2000);
    expect(map.get('k1999')).toBe('w1999');
  });

  test('many keys survive the table growing, with exact size', async () => {
    const map = await make(options);
    const n = 50_000;
    for (let i = 0; i < n; i++) map.set(`key:${i}`, `value:${i}`);
    expect(map.size).toBe(n);
    for (let i = 0; i < n; i += 3) expect(map.delete(`key:${i}`)).toBe(true);
    let present = 0;
    for (let i = 0; i < n; i++) {
      const v = map.get(`key:${i}`);
      if (i % 3 === 0) expect(v).toBeUndefined();
      else {
        expect(v).toBe(`value:${i}`);
        present++;
      }
    }
    expect(map.size).toBe(present);
  });
});

describe('the core module', () => {
  const wasmExport = LOCAL ? 'wasmap/wasmap-local.wasm' : 'wasmap/wasmap.wasm';
  test(`a precompiled WebAssembly.Module (the package export ${wasmExport}) can be passed in`, async () => {
    const { readFileSync } = await import('node:fs');
    const { createRequire } = await import('node:module');
    const module = await WebAssembly.compile(readFileSync(createRequire(import.meta.url).resolve(wasmExport)));
    const map = await createMap({ module });
    map.set('k', 'v');
    expect(map.get('k')).toBe('v');
    if (!LOCAL) {
      const other = await SharedMap.attach(map.handle);
      expect(other.get('k')).toBe('v');
      other.close();
    }
    map.close();
  });

  test('the other build\'s module is refused: a shared memory needs wasmap.wasm, a local one wasmap-local.wasm', async () => {
    const { readFileSync } = await import('node:fs');
    const { createRequire } = await import('node:module');
    const other = LOCAL ? 'wasmap/wasmap.wasm' : 'wasmap/wasmap-local.wasm';
    const module = await WebAssembly.compile(readFileSync(createRequire(import.meta.url).resolve(other)));
    const error = await createMap({ module }).catch((e) => e);
    expect(error.code).toBe('ERR_INVALID_OPTION');
  });

  test('a module that is not the core is refused with ERR_INVALID_OPTION', async () => {
    const notCore = await WebAssembly.compile(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]));
    for (const module of [notCore, 'wasm', {}]) {
      const error = await createMap({ module: module as never }).catch((e) => e);
      expect(error.code).toBe('ERR_INVALID_OPTION');
    }
  });
});

test('values decode the same without Node\'s Buffer (the path of browsers, Deno and workerd)', async () => {
  const { decodeString } = await import('../dist/codec.js');
  const u8 = new Uint8Array(new SharedArrayBuffer(16384));
  const encoder = new TextEncoder();
  for (const text of ['', 'ascii value', 'é 中文 🎉 mixed', 'x'.repeat(4096), 'ü'.repeat(3000)]) {
    const bytes = encoder.encode(text);
    u8.set(bytes, 8);
    expect(decodeString(u8, 8, bytes.length)).toBe(text);
  }
});

test('the UTF-8 length the host reserves for a long string is exact, with and without Node\'s Buffer', async () => {
  const { nativeUtf8Length, utf8Length } = await import('../dist/codec.js');
  const encoder = new TextEncoder();
  const texts = ['', 'ascii', 'é', '中文', '🎉', 'a🎉b', '\ud83c', '\udf89x', 'x\ud83c', '\udf89\ud83c', 'ü'.repeat(3000) + '🎉'.repeat(100)];
  for (const text of texts) {
    const expected = encoder.encode(text).length; // a lone surrogate is U+FFFD: 3 bytes
    expect(utf8Length(text, null)).toBe(expected);
    expect(utf8Length(text, nativeUtf8Length)).toBe(expected);
  }
});

shared('a thread whose first operation reads a key of maxKeyBytes (65,536) gets its value, and writes nothing past its buffer', async () => {
  // The buffer a thread attaches with (64 KiB) is smaller than such a key
  // and an output; before, a read wrote the value past the buffer's end and
  // returned something else.
  const map = await createMap({ maxMemoryBytes: 8 << 20, maxKeyBytes: 65_536 });
  try {
    const value = 'w'.repeat(30_000);
    map.set('q'.repeat(65_536), value);
    for (let i = 0; i < 2000; i++) map.set(`k${i}`, `v${i}`);
    const started = await startWorkers<{ right: number }>(map, 'stress.mjs', 1, {
      role: 'longKey', params: { keyBytes: 65_536, valueLength: 30_000, rounds: 10 },
    });
    started.go();
    expect(await started.results).toEqual([{ right: 10 }]);
    for (let i = 0; i < 2000; i++) if (map.get(`k${i}`) !== `v${i}`) expect(map.get(`k${i}`)).toBe(`v${i}`);
    expect(map.get('q'.repeat(65_536))).toBe(value);
    expect(map.__verify()).toBe(0);
  } finally {
    map.close();
  }
});
