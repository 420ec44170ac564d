// TTL on the hosts' clock: run on fake clocks, with no sleeps.
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, test } from 'vitest';
import { SharedMap } from '../dist/index.js';
import { codeOf, createMap, scale, shared } from './helpers.js';

let map: SharedMap;
afterEach(() => map?.close());

/** A fake clock every thread can read: ms in shared memory. */
function fakeClock() {
  const time = new Int32Array(new SharedArrayBuffer(4));
  return {
    time,
    clock: () => 1_000_000 + Atomics.load(time, 0),
    advance: (ms: number) => Atomics.add(time, 0, ms),
  };
}


describe('expiry', () => {
  test('an expired entry is absent for every operation and not counted', async () => {
    const t = fakeClock();
    map = await createMap({ clock: t.clock });
    for (const k of ['get', 'has', 'gos', 'swap', 'cas', 'gad', 'inc', 'del', 'cad']) map.set(k, 'old', { ttl: 100 });
    map.increment('n', 5);
    map.expire('n', 100);
    map.set('forever', 'x');
    expect(map.size).toBe(11);
    t.advance(99);
    expect(map.get('get')).toBe('old');
    t.advance(1); // expiry is inclusive: at exactly set + ttl it is gone
    expect(map.get('get')).toBeUndefined();
    expect(map.has('has')).toBe(false);
    expect(map.getOrSet('gos', 'new')).toEqual({ value: 'new', loaded: false });
    expect(map.swap('swap', 'new')).toBeUndefined();
    expect(map.compareAndSwap('cas', 'old', 'new')).toBe(false);
    expect(map.getAndDelete('gad')).toBeUndefined();
    expect(map.increment('inc')).toBe(1); // an expired string is absent, so a counter starts
    expect(map.increment('n')).toBe(1);
    expect(map.delete('del')).toBe(false);
    expect(map.compareAndDelete('cad', 'old')).toBe(false);
    expect(map.get('forever')).toBe('x');
    // Left: forever, gos, swap, inc, n.
    expect(map.size).toBe(5);
    // All 10 entries with an expiry expired: 4 were replaced by a write
    // (gos, swap, inc, n) and 6 swept as `size` was read.
    expect(map.stats().expirations).toBe(10);
  });

  shared('expiry is seen the same from several workers on a shared clock', async () => {
    const t = fakeClock();
    map = await createMap({ clock: t.clock });
    const readers = await Promise.all(
      [0, 1].map(async () => {
        const w = new Worker(new URL('./workers/ttl-reader.mjs', import.meta.url), {
          workerData: { handle: map.handle, time: t.time.buffer },
        });
        map.releaseOnExit(w);
        await new Promise((r) => w.once('message', r));
        return w;
      }),
    );
    const ask = (w: Worker, keys: string[]) =>
      new Promise<{ seen: (string | null)[]; size: number }>((resolve) => {
        w.once('message', resolve);
        w.postMessage({ keys });
      });
    map.set('short', 's', { ttl: 50 });
    map.set('long', 'l', { ttl: 500 });
    map.set('none', 'n');
    for (const w of readers) expect(await ask(w, ['short', 'long', 'none'])).toEqual({ seen: ['s', 'l', 'n'], size: 3 });
    t.advance(60);
    for (const w of readers) expect(await ask(w, ['short', 'long', 'none'])).toEqual({ seen: [null, 'l', 'n'], size: 2 });
    t.advance(500);
    for (const w of readers) expect(await ask(w, ['short', 'long', 'none'])).toEqual({ seen: [null, null, 'n'], size: 1 });
    expect(map.size).toBe(1);
    await Promise.all(readers.map((w) => w.terminate()));
  });

  test('entries that expire without ever being read give their memory back', async () => {
    const t = fakeClock();
    map = await createMap({ clock: t.clock, maxMemoryBytes: 512 << 20 });
    const n = scale(200_000, 1_000_000);
    const value = 'v'.repeat(40);
    for (let i = 0; i < n; i++) map.set(`short:${i}`, value, { ttl: 100 });
    const full = map.memoryUsage().usedBytes;
    t.advance(100);
    // Writes alone sweep, a bounded step each (at most 128 removals): no
    // read, no purge. 1M expire in about 13,600 writes.
    let writes = 0;
    while (map.stats().expirations < n && writes < n / 10) map.set(`other:${writes++ % 10}`, 'x');
    expect(map.stats().expirations).toBe(n);
    expect(map.stats().entries).toBe(10);
    // The same amount again fits in the memory the expired entries held.
    for (let i = 0; i < n; i++) map.set(`again:${i}`, value, { ttl: 60_000 });
    const after = map.memoryUsage().usedBytes;
    expect(after - full).toBeLessThan(full / 4);
    expect(map.size).toBe(n + 10);
  });

  test('a write after a mass expiry removes a bounded number of entries, not a whole chunk', async () => {
    const t = fakeClock();
    map = await createMap({ clock: t.clock, initialCapacity: 50_000 });
    for (let i = 0; i < 40_000; i++) map.set(`short:${i}`, 'v', { ttl: 10 });
    t.advance(10);
    // Each write sweeps at most 128 expired entries (a chunk holds up to
    // 1,024), so no write pays for a whole chunk of removals.
    let before = map.stats().expirations;
    let most = 0;
    for (let i = 0; i < 2000 && before < 40_000; i++) {
      map.set('other', 'x');
      const after = map.stats().expirations;
      most = Math.max(most, after - before);
      before = after;
    }
    expect(most).toBeGreaterThan(0);
    expect(most).toBeLessThanOrEqual(128);
    expect(map.purgeExpired() + before).toBe(40_000);
    expect(map.size).toBe(1);
  });

  test('purgeExpired removes what has expired and says how many', async () => {
    const t = fakeClock();
    map = await createMap({ clock: t.clock, initialCapacity: 4 });
    for (let i = 0; i < 3000; i++) map.set(`k${i}`, 'v', { ttl: i < 1000 ? 10 : 1000 });
    t.advance(10);
    expect(map.purgeExpired()).toBe(1000);
    expect(map.purgeExpired()).toBe(0);
    expect(map.stats().entries).toBe(2000);
    expect(map.get('k999')).toBeUndefined();
    expect(map.get('k1000')).toBe('v');
  });
});

describe('ttl, expire, persist', () => {
  test('ttl reports the remaining time, Infinity, or undefined', async () => {
    const t = fakeClock();
    map = await createMap({ clock: t.clock });
    map.set('a', '1', { ttl: 1000 });
    map.set('b', '2');
    t.advance(250);
    expect(map.ttl('a')).toBe(750);
    expect(map.ttl('b')).toBe(Infinity);
    expect(map.ttl('missing')).toBeUndefined();
    t.advance(750);
    expect(map.ttl('a')).toBeUndefined();
  });

  test('expire sets or changes a ttl and persist removes it, keeping the value', async () => {
    const t = fakeClock();
    map = await createMap({ clock: t.clock });
    map.set('a', new Uint8Array([1, 2]));
    map.increment('n', 7);
    expect(map.expire('a', 100)).toBe(true);
    expect(map.expire('n', 100)).toBe(true);
    expect(map.expire('missing', 100)).toBe(false);
    expect(map.ttl('a')).toBe(100);
    t.advance(50);
    expect(map.expire('a', 500)).toBe(true);
    expect(map.persist('n')).toBe(true);
    expect(map.increment('n')).toBe(8);
    t.advance(100);
    expect([...(map.get('a') as Uint8Array)]).toEqual([1, 2]);
    expect(map.get('n')).toBe(8);
    expect(map.ttl('n')).toBe(Infinity);
    t.advance(500);
    expect(map.get('a')).toBeUndefined();
    expect(map.persist('a')).toBe(false);
  });

  test('defaultTtl applies to writes without a ttl, including new counters; a ttl overrides it', async () => {
    const t = fakeClock();
    map = await createMap({ clock: t.clock, defaultTtl: 100 });
    map.set('d', 'default');
    map.set('o', 'override', { ttl: 1000 });
    map.increment('c');
    t.advance(100);
    expect([map.get('d'), map.get('c')]).toEqual([undefined, undefined]);
    expect(map.get('o')).toBe('override');
  });

  shared('defaultTtl is the map\'s, in every thread', async () => {
    const t = fakeClock();
    map = await createMap({ clock: t.clock, defaultTtl: 100 });
    const other = await SharedMap.attach(map.handle, { clock: t.clock });
    other.set('from other thread', 'x');
    t.advance(99);
    expect(map.get('from other thread')).toBe('x');
    t.advance(1);
    expect(map.get('from other thread')).toBeUndefined();
    other.close();
  });

  test('increment(key, delta, { ttl }) gives a counter it creates that ttl; an existing counter keeps its own', async () => {
    const t = fakeClock();
    map = await createMap({ clock: t.clock });
    expect(map.increment('hits', 1, { ttl: 50 })).toBe(1);
    expect(map.ttl('hits')).toBe(50);
    t.advance(20);
    expect(map.increment('hits', 1, { ttl: 1000 })).toBe(2);
    expect(map.ttl('hits')).toBe(30);
    t.advance(30);
    expect(map.get('hits')).toBeUndefined();
    expect(map.increment('hits', 5)).toBe(5); // expired: a new counter, no expiry
    expect(map.ttl('hits')).toBe(Infinity);
    expect(codeOf(() => map.increment('x', 1, { ttl: -1 }))).toBe('ERR_INVALID_TTL');
    expect(map.has('x')).toBe(false);
  });

  test('a namespace has its own defaultTtl', async () => {
    const t = fakeClock();
    map = await createMap({ clock: t.clock });
    const ns = map.namespace('sessions', { defaultTtl: 30 });
    ns.set('s', '1');
    map.set('s', 'root');
    t.advance(30);
    expect(ns.get('s')).toBeUndefined();
    expect(ns.size).toBe(0);
    expect(map.get('s')).toBe('root');
  });
});

describe('ERR_INVALID_TTL', () => {
  const bad: unknown[] = [0, -1, NaN, Infinity, -Infinity, '100', null, 10n];
  test.each(bad.map((v) => [String(v), v]))('ttl %s is refused everywhere, changing nothing', async (_what, ttl) => {
    map = await createMap();
    map.set('k', 'v');
    const o = { ttl } as never;
    expect(codeOf(() => map.set('k', 'new', o))).toBe('ERR_INVALID_TTL');
    expect(codeOf(() => map.getOrSet('new', 'x', o))).toBe('ERR_INVALID_TTL');
    expect(codeOf(() => map.swap('k', 'x', o))).toBe('ERR_INVALID_TTL');
    expect(codeOf(() => map.compareAndSwap('k', 'v', 'x', o))).toBe('ERR_INVALID_TTL');
    expect(codeOf(() => map.expire('k', ttl as number))).toBe('ERR_INVALID_TTL');
    expect(map.get('k')).toBe('v');
    expect(map.ttl('k')).toBe(Infinity);
    expect(map.size).toBe(1);
    const created = await createMap({ defaultTtl: ttl as number }).catch((e) => e);
    expect(created.code).toBe('ERR_INVALID_TTL');
    expect(codeOf(() => map.namespace('n', { defaultTtl: ttl as number }))).toBe('ERR_INVALID_TTL');
  });

  test('a clock that is not a function is ERR_INVALID_OPTION', async () => {
    const created = await createMap({ clock: 5 as never }).catch((e) => e);
    expect(created.code).toBe('ERR_INVALID_OPTION');
    map = await createMap();
    const attached = await SharedMap.attach(map.handle, { clock: 'now' as never }).catch((e) => e);
    expect(attached.code).toBe('ERR_INVALID_OPTION');
  });
});
