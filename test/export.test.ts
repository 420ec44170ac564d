// export() and restore(): a map's entries as a checked byte stream, and a
// map rebuilt from one, or refused whole.
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterEach, expect, test } from 'vitest';
import { LocalMap, MapError, SharedMap } from '../dist/index.js';
import { LOCAL, createMap, randomInt, scale, shared } from './helpers.js';

type AnyMap = SharedMap | LocalMap;
const Map_ = (LOCAL ? LocalMap : SharedMap) as unknown as {
  restore(s: unknown, o?: object): Promise<AnyMap>;
  create(o?: object): Promise<AnyMap>;
};

const open: AnyMap[] = [];
afterEach(() => {
  for (const m of open.splice(0)) if (!m.closed) m.close();
});
const track = <M extends AnyMap>(m: M): M => {
  open.push(m);
  return m;
};

async function bytesOf(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const c of stream as unknown as AsyncIterable<Uint8Array>) chunks.push(c);
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

const keyId = (k: string | Uint8Array) => (typeof k === 'string' ? `s:${k}` : `b:${Array.from(k).join(',')}`);

/** Every entry as [key id, value, kind, expiresAt], sorted. */
function contents(map: AnyMap): [string, unknown, string, number | undefined][] {
  const rows: [string, unknown, string, number | undefined][] = [];
  for (const key of map.keys()) {
    const e = map.getEntry(key)!;
    const kind = typeof e.value === 'number' ? 'counter' : typeof e.value === 'string' ? 'string' : 'bytes';
    rows.push([keyId(key), typeof e.value === 'object' ? Buffer.from(e.value).toString('base64') : e.value, kind, e.expiresAt]);
  }
  return rows.sort((a, b) => (a[0] < b[0] ? -1 : 1));
}

/** A map of every kind of entry: strings (non-ASCII, empty), bytes values small and past the scratch buffer, counters, keys that are not UTF-8, expiries. */
async function mixedMap(n: number, clock: () => number, seed = 1): Promise<AnyMap> {
  const map = track(await createMap({ maxMemoryBytes: 512 << 20, clock } as never) as AnyMap);
  const rnd = randomInt(seed);
  for (let i = 0; i < n; i++) {
    const ttl = i % 3 === 0 ? { ttl: 60_000 + rnd(1_000_000) } : undefined;
    switch (i % 6) {
      case 0: map.set(`k${i}`, `v${i}`, ttl); break;
      case 1: map.set(`ключ-${i}-🙂`, i % 12 === 1 ? '' : `значение ${i} ✓`, ttl); break;
      case 2: map.set(`b${i}`, Uint8Array.from({ length: rnd(100) }, () => rnd(256)), ttl); break;
      case 3: map.increment(`c${i}`, rnd(2_000_000) - 1_000_000, ttl); break;
      case 4: map.set(Uint8Array.of(0xff, 0xfe, i & 255, (i >> 8) & 255, (i >> 16) & 255), `raw ${i}`, ttl); break;
      default: map.set(`big${i}`, i % 600 === 5 ? new Uint8Array(70_000).fill(i & 255) : 'x'.repeat(rnd(300)), ttl);
    }
  }
  return map;
}

test('a map of every kind of entry comes back whole: values, kinds, counters, byte keys, absolute expiries, options', { timeout: scale(120_000, 900_000) }, async () => {
  const now = 1_700_000_000_000;
  const map = await mixedMap(scale(20_000, 1_000_000), () => now);
  const bytes = await bytesOf(map.export());
  const back = track(await Map_.restore(bytes, { clock: () => now }));
  expect(contents(back)).toEqual(contents(map));
  expect(back.size).toBe(map.size);
  expect(back.memoryUsage().limitBytes).toBe(map.memoryUsage().limitBytes);
  // The other kind of map restores it too.
  const other = track(await (LOCAL ? SharedMap : LocalMap).restore([bytes], { clock: () => now }) as AnyMap);
  expect(contents(other)).toEqual(contents(map));
});

test('entries that expired since the export are left out; the others keep their absolute expiry', async () => {
  let now = 1_000_000;
  const clock = () => now;
  const map = track(await createMap({ clock } as never) as AnyMap);
  map.set('short', 'a', { ttl: 1_000 });
  map.set('long', 'b', { ttl: 100_000 });
  map.set('forever', 'c');
  const bytes = await bytesOf(map.export());
  now += 10_000;
  const back = track(await Map_.restore(bytes, { clock }));
  expect(back.get('short')).toBeUndefined();
  expect(back.get('long')).toBe('b');
  expect(back.getEntry('long')!.expiresAt).toBe(1_100_000);
  expect(back.ttl('forever')).toBe(Infinity);
});

test("under a defaultTtl an entry exported without an expiry stays without one, and the export carries the map's defaultTtl", async () => {
  const map = track(await createMap({ defaultTtl: 5_000 }) as AnyMap);
  map.set('d', 'x'); // takes the default
  map.set('p', 'y');
  map.persist('p');
  map.increment('n', 3);
  map.persist('n');
  const back = track(await Map_.restore(map.export()));
  expect(back.ttl('p')).toBe(Infinity);
  expect(back.ttl('n')).toBe(Infinity);
  expect(back.get('n')).toBe(3);
  expect(back.ttl('d')).toBeLessThanOrEqual(5_000);
  back.set('new', 'z');
  expect(back.ttl('new')).toBeLessThanOrEqual(5_000); // the defaultTtl came back
  // Options given to restore win over the export's.
  const other = track(await Map_.restore(map.export(), { defaultTtl: 100_000, maxMemoryBytes: 96 << 20 }));
  other.set('new', 'z');
  expect(other.ttl('new')).toBeGreaterThan(5_000);
  expect(other.memoryUsage().limitBytes).toBe(96 << 20);
});

test("a namespace view exports its own entries only", async () => {
  const map = track(await createMap() as AnyMap);
  map.set('root', 'r');
  const ns = map.namespace('users');
  ns.set('u1', 'alice');
  ns.increment('hits', 7);
  const back = track(await Map_.restore(ns.export()));
  expect(contents(back)).toEqual([['s:hits', 7, 'counter', undefined], ['s:u1', 'alice', 'string', undefined]]);
});

test('a write while the export runs fails the stream with ERR_CONCURRENT_WRITE, and what it sent is refused', async () => {
  const map = track(await createMap() as AnyMap);
  for (let i = 0; i < 5_000; i++) map.set(`k${i}`, 'v'.repeat(100));
  const reader = map.export().getReader();
  const sent: Uint8Array[] = [];
  sent.push((await reader.read()).value!); // the header
  sent.push((await reader.read()).value!); // a first block
  map.set('late', 'x');
  const err = await reader.read().then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(MapError);
  expect((err as MapError).code).toBe('ERR_CONCURRENT_WRITE');
  await expect(Map_.restore(sent)).rejects.toMatchObject({ code: 'ERR_CORRUPT' });
  // A map left alone exports fine afterwards.
  expect((await Map_.restore(map.export())).size).toBe(5_001);
});

test('through a file: a Node stream writes it, another reads it back', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'wasmap-export-'));
  try {
    const map = await mixedMap(3_000, () => Date.now(), 7);
    const file = join(dir, 'map.wasmap');
    await pipeline(Readable.fromWeb(map.export() as never), createWriteStream(file));
    const back = track(await Map_.restore(createReadStream(file)));
    expect(contents(back)).toEqual(contents(map));
    // And as a web stream of the file's bytes.
    const web = Readable.toWeb(createReadStream(file)) as unknown as ReadableStream<Uint8Array>;
    expect(contents(track(await Map_.restore(web)))).toEqual(contents(map));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  expect(Writable).toBeDefined();
});

/** The maps restore made, and whether each is closed: a refused stream must leave none open. */
async function refused(bytes: Uint8Array | Uint8Array[]): Promise<string> {
  const made: AnyMap[] = [];
  const create = (o: object) => Map_.create(o).then((m) => {
    made.push(m);
    return m;
  });
  const Restoring = { ...Map_, create };
  let code = 'restored';
  try {
    const { restoreMap } = await import('../dist/export.js');
    track(await restoreMap(bytes, undefined, Restoring.create as never) as AnyMap);
  } catch (err) {
    code = (err as MapError).code;
  }
  for (const m of made) if (code !== 'restored') expect(m.closed).toBe(true);
  return code;
}

test('a foreign, cut or altered stream is refused with ERR_CORRUPT, and no map is left behind (fuzzed)', async () => {
  const map = track(await createMap() as AnyMap);
  for (let i = 0; i < 300; i++) {
    if (i % 3 === 0) map.increment(`c${i}`, i);
    else map.set(`k${i}`, i % 3 === 1 ? `v${i}` : Uint8Array.of(i & 255, 1, 2), i % 5 === 0 ? { ttl: 600_000 } : undefined);
  }
  for (let i = 0; i < 1_500; i++) map.set(`fill${i}`, 'f'.repeat(60)); // more than one block
  const good = await bytesOf(map.export());
  expect(await refused(good)).toBe('restored');

  // Foreign streams.
  expect(await refused(new Uint8Array(0))).toBe('ERR_CORRUPT');
  expect(await refused(new TextEncoder().encode('{"format":"wasmap"}'))).toBe('ERR_CORRUPT');
  expect(await refused(Uint8Array.from({ length: 4096 }, (_, i) => (i * 131) & 255))).toBe('ERR_CORRUPT');
  // A later format version.
  const newer = good.slice();
  newer[8] = 2;
  expect(await refused(newer)).toBe('ERR_CORRUPT');
  // Bytes after the end.
  const longer = new Uint8Array(good.length + 1);
  longer.set(good);
  expect(await refused(longer)).toBe('ERR_CORRUPT');

  // Cut short anywhere: every header length, then places all over.
  const rnd = randomInt(99);
  const cuts = [...Array.from({ length: 200 }, (_, i) => i), ...Array.from({ length: scale(300, 5_000) }, () => rnd(good.length))];
  for (const n of cuts) expect(await refused(good.subarray(0, n)), `cut at ${n}`).toBe('ERR_CORRUPT');

  // One byte changed anywhere, one bit or the whole byte; and a few at once.
  for (let t = 0; t < scale(600, 20_000); t++) {
    const bad = good.slice();
    const flips = t % 10 === 9 ? 1 + rnd(8) : 1;
    for (let f = 0; f < flips; f++) {
      const at = rnd(bad.length);
      bad[at] ^= t % 2 === 0 ? 1 << rnd(8) : 1 + rnd(255);
    }
    expect(await refused(bad), `trial ${t}`).toBe('ERR_CORRUPT');
  }

  // The same bytes in chunks of any size restore the same map.
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < good.length;) {
    const n = 1 + rnd(700);
    chunks.push(good.subarray(at, at + n));
    at += n;
  }
  expect(await refused(chunks)).toBe('restored');
});

test('restore refuses what is not a stream with ERR_INVALID_OPTION', async () => {
  await expect(Map_.restore(42)).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION' });
  await expect(Map_.restore(null)).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION' });
  await expect(Map_.restore(new Uint8Array(0), 'x')).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION' });
  await expect(Map_.restore(['not bytes'])).rejects.toMatchObject({ code: 'ERR_CORRUPT' });
});

shared('examples/warm-restart.mjs starts cold, then warm from the file its first run wrote', async () => {
  const { execFileSync } = await import('node:child_process');
  const dir = await mkdtemp(join(tmpdir(), 'wasmap-warm-'));
  try {
    const run = () => execFileSync(process.execPath, [new URL('../examples/warm-restart.mjs', import.meta.url).pathname, join(dir, 'state.bin')], { encoding: 'utf8', timeout: 30_000 }).trim();
    expect(run()).toBe('run 1: 2 entries, started cold');
    expect(run()).toBe('run 2: 3 entries, started warm');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
