// wasmap/redis against a real Redis 7 (Debian's redis-server, started here on
// a port of its own): one near cache for every thread of the process, never
// serving a value once its invalidation arrived, nor after the connection
// that receives invalidations was lost, the server restarted or flushed.
import { Worker } from 'node:worker_threads';
import { createClient } from 'redis';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { RedisNearCache } from '../dist/redis.js';
import { describeShared, shared } from './helpers.js';
import { type RedisServer, startRedis } from './servers.js';

let server: RedisServer;
let ext: ReturnType<typeof createClient>;
const open: { close(): Promise<unknown> }[] = [];

/** A worker thread of the near cache, driven by messages. */
class Thread {
  private next = 0;
  private readonly waiting = new Map<number, (m: { value?: unknown; error?: string }) => void>();
  readonly ready: Promise<void>;
  constructor(readonly worker: Worker) {
    let onReady!: () => void;
    this.ready = new Promise((r) => (onReady = r));
    worker.on('message', (m: { id?: number; ready?: boolean; value?: unknown; error?: string }) => {
      if (m.ready) onReady();
      else this.waiting.get(m.id!)?.(m);
    });
  }
  call(op: string, key?: string, value?: string): Promise<unknown> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, (m) => (m.error ? reject(new Error(m.error)) : resolve(m.value)));
      this.worker.postMessage({ id, op, key, value });
    });
  }
  get(key: string) {
    return this.call('get', key) as Promise<string | null>;
  }
  async close() {
    await this.call('close');
    await this.worker.terminate();
  }
}

async function threads(near: RedisNearCache, n: number): Promise<Thread[]> {
  const out: Thread[] = [];
  for (let i = 0; i < n; i++) {
    const t = new Thread(new Worker(new URL('./workers/near-redis.mjs', import.meta.url), { workerData: { near: near.handle, url: server.url } }));
    await t.ready;
    open.push(t);
    out.push(t);
  }
  return out;
}

async function leader(options: Parameters<typeof RedisNearCache.create>[0] = {}): Promise<RedisNearCache> {
  const near = await RedisNearCache.create({ url: server.url, ...options });
  open.unshift(near); // closed last
  return near;
}

const cachedIn = (near: RedisNearCache, key: string) =>
  (near as unknown as { ns: { get(k: string): unknown } }).ns.get(`d${key}`);

async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

beforeAll(async () => {
  server = await startRedis();
  ext = createClient({ url: server.url, RESP: 2 });
  ext.on('error', () => {});
  await ext.connect();
});
afterAll(async () => {
  await ext?.quit().catch(() => {});
  await server?.stop();
});
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close().catch(() => {});
  if (ext.isReady) await ext.flushAll();
});

for (const mode of ['broadcast', 'default'] as const) {
  describeShared(`${mode} mode`, () => {
    const options = mode === 'broadcast' ? { prefixes: ['user:'] } : {};

    shared('a read fills the map for every thread; a write by another client reaches every thread once invalidated', async () => {
      const near = await leader(options);
      const ts = await threads(near, 2);
      await ext.set('user:1', 'a');
      expect(await ts[0].get('user:1')).toBe('a'); // read through, filled
      expect(await ts[1].get('user:1')).toBe('a'); // a hit: another thread's fill
      expect(await near.get('user:1')).toBe('a');
      expect(((await ts[1].call('stats')) as { hits: number }).hits).toBe(1);
      expect(near.stats().hits).toBe(1);
      await ext.set('user:1', 'b');
      await until('the invalidation dropped the near copy', () => cachedIn(near, 'user:1') === undefined);
      for (const t of [...ts, near]) expect(await t.get('user:1')).toBe('b');
      // Writes through the cache drop the copy at once.
      await ts[0].call('set', 'user:1', 'c');
      for (const t of [...ts, near]) expect(await t.get('user:1')).toBe('c');
      expect(await near.get('user:none')).toBeNull();
    });

    shared('an invalidation that lands while a read is in flight keeps its stale answer out of the map', async () => {
      const near = await leader(options);
      await ext.set('user:r', 'old');
      // Hold the read in flight: the reply is delayed by a MULTI the test
      // controls, and an invalidation is delivered meanwhile.
      const client = near.redis;
      const multi = client.multi.bind(client);
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      (client as unknown as { multi: () => unknown }).multi = () => {
        const m = multi();
        const exec = m.exec.bind(m);
        (m as unknown as { exec: () => unknown }).exec = async () => {
          const r = await exec();
          await gate;
          return r;
        };
        return m;
      };
      const read = near.get('user:r');
      await new Promise((r) => setTimeout(r, 20));
      await ext.set('user:r', 'new');
      await until('the invalidation arrived', () => near.stats().invalidations > 0);
      release();
      expect(await read).toBe('old'); // the read's own answer, from before the write
      (client as unknown as { multi: unknown }).multi = multi;
      expect(cachedIn(near, 'user:r')).toBeUndefined(); // but not kept
      expect(await near.get('user:r')).toBe('new');
    });

    shared("entries expire with Redis's TTL", async () => {
      const near = await leader(options);
      const [t] = await threads(near, 1);
      await ext.set('user:t', 'x', { expiration: { type: 'PX', value: 300 } });
      expect(await t.get('user:t')).toBe('x');
      const ttl = (near as unknown as { ns: { ttl(k: string): number } }).ns.ttl('duser:t');
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(300);
      await new Promise((r) => setTimeout(r, 350));
      expect(await t.get('user:t')).toBeNull();
      expect(await near.get('user:t')).toBeNull();
    });

    shared('FLUSHALL empties the near cache', async () => {
      const near = await leader(options);
      const [t] = await threads(near, 1);
      for (let i = 0; i < 20; i++) await ext.set(`user:${i}`, `v${i}`);
      for (let i = 0; i < 20; i++) expect(await t.get(`user:${i}`)).toBe(`v${i}`);
      const before = near.stats().flushes;
      await ext.flushAll();
      await until('the flush arrived', () => near.stats().flushes > before);
      for (let i = 0; i < 20; i++) expect(cachedIn(near, `user:${i}`)).toBeUndefined();
      for (let i = 0; i < 20; i++) expect(await t.get(`user:${i}`)).toBeNull();
    });

    shared("a lost invalidation connection flushes the cache, and writes made meanwhile are read, never the old value; it comes back up tracking (a thread's redirect to the old connection is renewed)", async () => {
      const near = await leader(options);
      const ts = await threads(near, 2);
      // Each thread reads (and fills) a key of its own, so that each one's
      // connection tracks for the leader's.
      const keys = ['user:k0', 'user:k1'];
      for (const k of keys) await ext.set(k, 'before');
      for (let i = 0; i < 2; i++) expect(await ts[i].get(keys[i])).toBe('before');
      const id = Number(await near.redis.sendCommand(['CLIENT', 'ID']));
      await ext.sendCommand(['CLIENT', 'KILL', 'ID', String(id)]);
      for (const k of keys) await ext.set(k, 'during');
      await until('the loss was seen', () => near.stats().disconnects > 0);
      for (let i = 0; i < 2; i++) expect(await ts[i].get(keys[i])).not.toBe('before');
      await until('the cache serves again', () => near.serving);
      expect(Number(await near.redis.sendCommand(['CLIENT', 'ID']))).not.toBe(id);
      for (let i = 0; i < 2; i++) expect(await ts[i].get(keys[i])).toBe('during');
      for (const k of keys) expect(cachedIn(near, k)).toBe('during');
      // Invalidations reach the new connection, whichever thread read the key.
      for (const k of keys) await ext.set(k, 'after');
      await until('the invalidations dropped the near copies', () => keys.every((k) => cachedIn(near, k) === undefined));
      for (const t of ts) for (const k of keys) expect(await t.get(k)).toBe('after');
    });

    shared('a server that crashes and restarts empty never has its old values served', async () => {
      const near = await leader(options);
      const [t] = await threads(near, 1);
      await ext.set('user:p', 'persisted?');
      expect(await t.get('user:p')).toBe('persisted?');
      await server.kill();
      await until('the loss was seen', () => near.stats().disconnects > 0);
      expect(cachedIn(near, 'user:p')).toBeUndefined();
      await server.start();
      await until('the cache serves again', () => near.serving, 15_000);
      expect(await t.get('user:p')).toBeNull(); // the restarted server has no data
      await until('the test client is back', () => ext.isReady, 15_000);
    });
  });
}

describeShared('limits', () => {
  shared("a value the map cannot hold is read, not kept, and the read does not fail", async () => {
    const { SharedMap } = await import('../dist/index.js');
    const map = await SharedMap.create({ maxValueBytes: 64 });
    const near = await leader({ map, prefixes: [''] });
    await ext.set('big', 'x'.repeat(100));
    await ext.set('small', 'y');
    expect(await near.get('big')).toBe('x'.repeat(100));
    expect(cachedIn(near, 'big')).toBeUndefined();
    expect(await near.get('small')).toBe('y');
    expect(cachedIn(near, 'small')).toBe('y');
    expect(near.stats().fills).toBe(1);
    await near.close();
    map.close();
  });
});

describeShared('flush', () => {
  shared('while a FLUSHALL empties a large cache, no thread serves a value from before it', async () => {
    const near = await leader({ prefixes: ['user:'] });
    const keys = 20_000;
    for (let i = 0; i < keys; i += 1_000) {
      const m = ext.multi();
      for (let j = i; j < i + 1_000; j++) m.set(`user:${j}`, `v${j}`);
      await m.exec();
    }
    for (let i = 0; i < keys; i += 500) {
      await Promise.all(Array.from({ length: 500 }, (_, j) => near.get(`user:${i + j}`)));
    }
    expect(near.stats().fills).toBe(keys);
    const w = new Worker(new URL('./workers/near-flush-reader.mjs', import.meta.url), { workerData: { near: near.handle, url: server.url, keys } });
    const messages: { ready?: boolean; reads?: number; afterFlush?: number; violations?: number }[] = [];
    const next = () => new Promise<(typeof messages)[number]>((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    await next(); // ready
    await new Promise((r) => setTimeout(r, 50));
    const before = near.stats().flushes;
    await ext.flushAll();
    await until('the flush arrived', () => near.stats().flushes > before);
    await until('the cache is back up', () => near.serving);
    await new Promise((r) => setTimeout(r, 50));
    const done = next();
    w.postMessage('stop');
    const r = await done;
    await w.terminate();
    expect(r.afterFlush).toBeGreaterThan(0);
    expect(r.violations).toBe(0);
  });
});

describeShared('leader', () => {
  shared("a leader whose thread dies takes the cache down for the other threads within leaseMs: its invalidations go nowhere after", async () => {
    const w = new Worker(new URL('./workers/near-leader.mjs', import.meta.url), { workerData: { url: server.url, leaseMs: 300 } });
    const handle = await new Promise<RedisNearCache['handle']>((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    const near = await RedisNearCache.attach(handle, { url: server.url });
    open.push(near);
    await ext.set('user:d', 'old');
    // Filled, then served from the map (a lease that lapsed on a busy
    // machine flushes: read until a hit).
    await until('a read is served from the map', async () => (await near.get('user:d')) === 'old' && near.stats().hits > 0);
    await until('the lease is renewed past its first term', async () => {
      await new Promise((r) => setTimeout(r, 400));
      return near.serving;
    });
    await w.terminate();
    const dead = Date.now();
    await ext.set('user:d', 'new'); // no leader receives its invalidation
    await until('the cache went down', () => !near.serving, 3_000);
    expect(Date.now() - dead).toBeLessThan(300 + 700); // the lease, and slack for a busy machine
    expect(await near.get('user:d')).toBe('new');
  });
});

describeShared('staleness bound', () => {
  shared('with maxStaleMs, cached values are served while the connection is down, for that long at most, then flushed', async () => {
    const near = await leader({ prefixes: [''], maxStaleMs: 300 });
    await ext.set('s', 'v');
    expect(await near.get('s')).toBe('v');
    await server.kill();
    await until('the loss was seen', () => near.stats().disconnects > 0);
    const lost = Date.now();
    expect(await near.get('s')).toBe('v'); // within the bound
    expect(near.stats().staleServes).toBe(1);
    await until('the stale copy is gone', () => cachedIn(near, 's') === undefined, 2_000);
    expect(Date.now() - lost).toBeLessThan(1_000);
    await server.start();
    await until('the cache serves again', () => near.serving, 15_000);
    expect(await near.get('s')).toBeNull();
    await until('the test client is back', () => ext.isReady, 15_000);
  });
});
