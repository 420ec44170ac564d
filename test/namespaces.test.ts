// Per-instance namespaces: isolated views with quotas, found by name from
// every thread, and the key rules applied to them.
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, test } from 'vitest';
import { MapError, SharedMap } from '../dist/index.js';
import { codeOf, createMap, scale, shared, startWorkers } from './helpers.js';
// @ts-expect-error: plain JS module shared with the workers
import { roles } from './workers/roles.mjs';

let map: SharedMap;
afterEach(() => map?.close());


describe('isolation', () => {
  test('the same key in two namespaces and the map itself are three entries', async () => {
    map = await createMap();
    const a = map.namespace('a');
    const b = map.namespace('b');
    map.set('k', 'root');
    a.set('k', 'in a');
    b.set(new TextEncoder().encode('k'), new Uint8Array([1]));
    expect(map.get('k')).toBe('root');
    expect(a.get('k')).toBe('in a');
    expect([...(b.get('k') as Uint8Array)]).toEqual([1]);
    expect([map.size, a.size, b.size]).toEqual([1, 1, 1]);
    a.increment('n');
    expect(a.size).toBe(2);
    expect(map.has('n')).toBe(false);
  });

  test('clear() of a namespace removes only its own entries', async () => {
    map = await createMap({ initialCapacity: 4 });
    const a = map.namespace('a');
    const b = map.namespace('b');
    for (let i = 0; i < 500; i++) {
      a.set(`k${i}`, 'a');
      b.set(`k${i}`, 'b');
      map.set(`k${i}`, 'root');
    }
    a.clear();
    expect([a.size, b.size, map.size]).toEqual([0, 500, 500]);
    expect(a.get('k7')).toBeUndefined();
    expect(b.get('k7')).toBe('b');
    map.clear();
    expect([a.size, b.size, map.size]).toEqual([0, 500, 0]);
  });

  test('a view is a capability: it has no way to other namespaces', async () => {
    map = await createMap();
    const a = map.namespace('a');
    map.namespace('secret').set('token', 'hunter2');
    map.set('root', 'x');
    expect(a.get('token')).toBeUndefined();
    // Methods of the map itself are not a view's (its type has none of them).
    const view = a as unknown as SharedMap;
    expect(codeOf(() => view.namespace('secret'))).toBe('ERR_INVALID_OPTION');
    expect(codeOf(() => view.dropNamespace('secret'))).toBe('ERR_INVALID_OPTION');
    expect(codeOf(() => view.memoryUsage())).toBe('ERR_INVALID_OPTION');
    // Its statistics are its namespace's alone.
    a.set('k', 'v');
    expect(Object.keys(a.stats())).toEqual(['namespace']);
    expect(a.stats().namespace).toMatchObject({ name: 'a', entries: 1, sets: 1 });
    expect(a.metrics()).not.toMatch(/secret|namespace="default"|wasmap_memory/);
  });

  test('console.log and String() show the class, namespace and size, not the internals', async () => {
    map = await createMap();
    const { inspect } = await import('node:util');
    map.set('k', 'v');
    const cls = map.constructor.name;
    expect(inspect(map)).toBe(`${cls} (1 entry)`);
    expect(inspect(map.namespace('a'))).toBe(`${cls} namespace "a" (0 entries)`);
    expect(inspect({ map })).toBe(`{ map: ${cls} (1 entry) }`);
    expect(`${map}`).toBe(`${cls} (1 entry)`);
    const view = map.namespace('a');
    view.close();
    expect(String(view)).toBe(`${cls} namespace "a" (closed)`);
  });

  shared('three threads each in their own namespace, with the same keys, never see each other', async () => {
    map = await createMap({ initialCapacity: 4 });
    const count = scale(5_000, 100_000);
    const started = await startWorkers<{ bad: number; size: number }>(map, 'stress.mjs', 2, {
      role: 'tenant', params: { count },
    });
    started.go();
    const results = [roles(map).tenant({ count, writer: 0 }), ...(await started.results)];
    expect(results.map((r) => r.bad)).toEqual([0, 0, 0]);
    for (let w = 0; w < 3; w++) {
      const ns = map.namespace(`tenant-${w}`);
      expect(ns.size).toBe(101);
      expect(ns.get('ops')).toBe(count);
      expect(ns.get('k99')).toBe(`w${w}:${count - 1}`);
    }
    expect(map.size).toBe(0);
  });

  shared("hostile tenant: a worker given only a view's handle reaches nothing outside its namespace, and the owner sees no change", async () => {
    // Before, a view's handle was the map's: attaching it gave the whole map.
    map = await createMap();
    map.set('rootkey', 'root-secret');
    const secret = map.namespace('secret-ns');
    secret.set('token', 'hunter2');
    secret.increment('n', 41);
    secret.set('short-lived', 'hunter2-expiring', { ttl: 1 });
    const other = map.namespace('other-ns');
    other.set('token', 'other-secret');
    const tenant = map.namespace('tenant');
    await new Promise((r) => setTimeout(r, 5)); // 'short-lived' expires
    const snapshot = () => JSON.stringify({
      root: [...map.entries()].map(([k, v]) => [String(k), String(v)]).sort(),
      secret: [...secret.entries()].map(([k, v]) => [String(k), String(v)]).sort(),
      other: [...other.entries()].map(([k, v]) => [String(k), String(v)]).sort(),
      sizes: [map.size, secret.size, other.size],
    });
    const before = snapshot();
    const tags = [map, secret, other].map((m) => (m as SharedMap).handle.namespace?.tag ?? 0);
    const worker = new Worker(new URL('./workers/tenant.mjs', import.meta.url), {
      workerData: {
        handle: tenant.handle,
        secrets: ['root-secret', 'hunter2', 'other-secret', 'rootkey', 'secret-ns', 'other-ns'],
        foreignTags: [...tags, 1, 5, 1023],
      },
    });
    map.releaseOnExit(worker);
    const { escapes } = await new Promise<{ escapes: string[] }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    expect(escapes).toEqual([]);
    expect(snapshot()).toBe(before);
    expect(tenant.get('mine')).toBe('tenant value');
    expect(tenant.size).toBe(1);
    expect(map.__verify()).toBe(0);
  });

  shared('a view attached from its handle in another thread is that namespace, with its limits and TTL', async () => {
    map = await createMap();
    const a = map.namespace('a', { maxEntries: 2, maxValueBytes: 10, defaultTtl: 60_000 });
    a.set('x', '1');
    const there = await SharedMap.attach(a.handle);
    expect(String(there)).toBe('SharedMap namespace "a" (1 entry)');
    expect(there.get('x')).toBe('1');
    there.set('y', '2');
    expect(codeOf(() => there.set('z', '3'))).toBe('ERR_QUOTA');
    expect(codeOf(() => there.set('y', 'x'.repeat(11)))).toBe('ERR_VALUE_TOO_LARGE');
    expect(there.ttl('y')).toBeGreaterThan(59_000);
    expect(there.handle.namespace).toEqual(a.handle.namespace);
    expect(map.size).toBe(0);
    expect(map.dropNamespace('a')).toBe(true);
    expect(codeOf(() => there.get('x'))).toBe('ERR_NAMESPACE_DROPPED');
    expect(codeOf(() => a.handle)).toBe('ERR_NAMESPACE_DROPPED');
    there.close();
  });

  shared('a dropped namespace\'s handle opens nothing, not even the namespace later made in its place', async () => {
    map = await createMap();
    const a = map.namespace('a');
    const handle = a.handle;
    map.dropNamespace('a');
    await expect(SharedMap.attach(handle)).rejects.toMatchObject({ code: 'ERR_NAMESPACE_DROPPED' });
    const again = map.namespace('a'); // the same record, the next generation
    again.set('k', 'new');
    for (let gen = 0; gen < 4; gen++) {
      const tag = (handle.namespace!.tag & 1023) | (gen << 10);
      await expect(SharedMap.attach({ ...handle, namespace: { tag, name: 'a' } })).rejects.toMatchObject({
        code: expect.stringMatching(/^ERR_(INVALID_HANDLE|NAMESPACE_DROPPED)$/),
      });
    }
    expect((await SharedMap.attach(again.handle)).get('k')).toBe('new');
  });

  shared('a namespace is found by name from another thread', async () => {
    map = await createMap();
    map.namespace('shared').set('from main', 'hello');
    const other = await SharedMap.attach(map.handle);
    expect(other.namespace('shared').get('from main')).toBe('hello');
    other.namespace('shared').set('from other', 'hi');
    expect(map.namespace('shared').size).toBe(2);
    other.close();
  });
});

describe('quotas', () => {
  test('maxEntries refuses new keys with ERR_QUOTA, still allows updates, and deleting makes room', async () => {
    map = await createMap();
    const q = map.namespace('q', { maxEntries: 3 });
    q.set('a', '1').set('b', '2');
    q.increment('c');
    expect(codeOf(() => q.set('d', '4'))).toBe('ERR_QUOTA');
    expect(codeOf(() => q.getOrSet('d', '4'))).toBe('ERR_QUOTA');
    expect(codeOf(() => q.increment('d'))).toBe('ERR_QUOTA');
    expect(q.has('d')).toBe(false);
    q.set('a', 'updated'); // not a new entry
    expect(q.swap('b', 'swapped')).toBe('2');
    expect(q.size).toBe(3);
    q.delete('c');
    q.set('d', '4');
    expect(q.get('d')).toBe('4');
    expect(q.stats().namespace).toMatchObject({ name: 'q', entries: 3, maxEntries: 3 });
    map.set('outside', 'the quota is the namespace\'s only'); // the map itself is not limited
  });

  test('maxMemoryBytes counts stored bytes and refuses growth past it', async () => {
    map = await createMap();
    const q = map.namespace('small', { maxMemoryBytes: 1000 });
    // Each entry: 36-byte header (with its revisions) + key (5+4 tag), to 48, + value (100 -> 104) = 152 bytes.
    for (let i = 0; i < 6; i++) q.set(`key:${i}`, 'x'.repeat(100));
    expect(q.stats().namespace?.bytes).toBe(6 * 152);
    expect(codeOf(() => q.set('key:6', 'x'.repeat(100)))).toBe('ERR_QUOTA');
    expect(codeOf(() => q.set('key:0', 'x'.repeat(300)))).toBe('ERR_QUOTA'); // growth of an entry
    expect(q.get('key:0')).toBe('x'.repeat(100));
    q.set('key:0', 'small'); // shrinking is always allowed
    expect(q.stats().namespace?.bytes).toBe(5 * 152 + 48 + 8);
    q.set('key:6', 'x'.repeat(100));
    expect(q.size).toBe(7);
  });

  test('an entry with an expiry takes 8 bytes more, and only while it has one', async () => {
    map = await createMap();
    const q = map.namespace('timed');
    const bytes = () => q.stats().namespace?.bytes;
    q.set('key:1', 'x'.repeat(100)); // 48 (header and key) + 104
    expect(bytes()).toBe(152);
    q.set('key:1', 'x'.repeat(100), { ttl: 60_000 }); // + the expiry word
    expect(bytes()).toBe(160);
    expect(q.persist('key:1')).toBe(true);
    expect(bytes()).toBe(152);
    expect(q.expire('key:1', 60_000)).toBe(true);
    expect(bytes()).toBe(160);
    expect(q.get('key:1')).toBe('x'.repeat(100));
    expect(q.ttl('key:1')).toBeGreaterThan(59_000);
    q.increment('n'); // a counter always has the word: 44 + 5, to 56, + 8
    expect(bytes()).toBe(160 + 64);
    expect(q.delete('key:1')).toBe(true);
    expect(bytes()).toBe(64);
  });

  test('expire refuses to take a namespace past its maxMemoryBytes, and changes nothing', async () => {
    map = await createMap();
    const q = map.namespace('full', { maxMemoryBytes: 152 });
    q.set('key:1', 'x'.repeat(100)); // 152 bytes: the whole quota
    expect(codeOf(() => q.expire('key:1', 60_000))).toBe('ERR_QUOTA');
    expect(q.ttl('key:1')).toBe(Infinity);
    expect(q.get('key:1')).toBe('x'.repeat(100));
    expect(q.stats().namespace?.bytes).toBe(152);
  });

  test('key and value limits are the namespace\'s own', async () => {
    map = await createMap();
    const q = map.namespace('tight', { maxKeyBytes: 4, maxValueBytes: 2 });
    q.set('abcd', 'xy');
    expect(codeOf(() => q.set('abcde', 'x'))).toBe('ERR_KEY_TOO_LARGE');
    expect(codeOf(() => q.set('a', 'xyz'))).toBe('ERR_VALUE_TOO_LARGE');
    expect(codeOf(() => map.namespace('wide', { maxKeyBytes: 5000 }))).toBe('ERR_INVALID_OPTION');
  });

  test('asking for an existing namespace with other quotas throws ERR_INVALID_OPTION naming the option', async () => {
    map = await createMap();
    map.namespace('n', { maxEntries: 10 });
    expect(map.namespace('n').size).toBe(0); // no options: fine
    let error: MapError | undefined;
    try {
      map.namespace('n', { maxEntries: 20 });
    } catch (e) {
      error = e as MapError;
    }
    expect(error?.code).toBe('ERR_INVALID_OPTION');
    expect(error?.message).toContain('maxEntries');
  });

  shared('an entry quota is never exceeded with three threads inserting and deleting at the limit', async () => {
    map = await createMap();
    const attempts = scale(20_000, 300_000);
    const started = await startWorkers<{ stored: number; refused: number; over: number }>(map, 'stress.mjs', 2, {
      role: 'quota', params: { attempts },
    });
    started.go();
    const mine = roles(map).quota({ attempts, writer: 0 });
    const results = [mine, ...(await started.results)];
    const ns = map.namespace('quota');
    expect(results.map((r) => r.over)).toEqual([0, 0, 0]);
    expect(results.reduce((s, r) => s + r.refused, 0)).toBeGreaterThan(attempts);
    expect(ns.size).toBe(results.reduce((s, r) => s + r.stored, 0));
    expect(ns.size).toBeLessThanOrEqual(100);
  });
});

describe('statistics', () => {
  test("a namespace counts its own operations; the map's counters include them", async () => {
    map = await createMap({ maxEntries: 3, eviction: 'lru' });
    const a = map.namespace('a');
    const b = map.namespace('b');
    a.set('1', 'x').set('2', 'x').get('1');
    a.get('missing');
    a.getOrSet('1', 'y');
    a.delete('2');
    b.set('1', 'x');
    b.set('2', 'x');
    b.set('3', 'x'); // the map holds 3: evicts one
    const sa = a.stats().namespace!;
    const sb = b.stats().namespace!;
    expect([sa.hits, sa.misses, sa.sets, sa.deletes]).toEqual([2, 1, 2, 1]);
    expect([sb.sets, sb.hits]).toEqual([3, 0]);
    expect(sa.evictions + sb.evictions).toBe(1);
    const all = map.stats();
    expect([all.hits, all.misses, all.sets, all.deletes, all.evictions]).toEqual([2, 1, 5, 1, 1]);
  });
});

describe('dropNamespace', () => {
  test('removes everything the namespace holds; stale views fail; the name can be reused', async () => {
    map = await createMap();
    const old = map.namespace('tmp', { maxEntries: 5 });
    old.set('a', '1');
    map.namespace('keep').set('a', 'kept');
    expect(map.dropNamespace('tmp')).toBe(true);
    expect(map.dropNamespace('tmp')).toBe(false);
    expect(codeOf(() => old.set('b', '2'))).toBe('ERR_NAMESPACE_DROPPED');
    // Reads too (before, they answered as if the namespace were empty).
    const every: [string, () => unknown][] = [
      ['get', () => old.get('a')], ['has', () => old.has('a')], ['size', () => old.size],
      ['keys', () => [...old.keys()]], ['entries', () => [...old.entries()]], ['scan', () => old.scan()],
      ['ttl', () => old.ttl('a')], ['getAndDelete', () => old.getAndDelete('a')], ['delete', () => old.delete('a')],
      ['compareAndDelete', () => old.compareAndDelete('a', '1')], ['expire', () => old.expire('a', 1)],
      ['persist', () => old.persist('a')], ['clear', () => old.clear()], ['stats', () => old.stats()],
      ['metrics', () => old.metrics()], ['increment', () => old.increment('n')], ['purgeExpired', () => old.purgeExpired()],
    ];
    for (const [name, op] of every) expect(codeOf(op), name).toBe('ERR_NAMESPACE_DROPPED');
    expect(String(old)).toMatch(/namespace "tmp" \(dropped\)$/);
    const fresh = map.namespace('tmp');
    expect(fresh.size).toBe(0);
    expect(fresh.get('a')).toBeUndefined();
    fresh.set('a', 'new');
    expect(codeOf(() => old.get('a'))).toBe('ERR_NAMESPACE_DROPPED'); // the old view never sees the new namespace
    expect(map.namespace('keep').get('a')).toBe('kept');
  });

  test('namespaces created and dropped many times do not run out', async () => {
    map = await createMap();
    for (let i = 0; i < 3000; i++) {
      const ns = map.namespace(`n${i % 7}`);
      ns.set('x', String(i));
      expect(map.dropNamespace(`n${i % 7}`)).toBe(true);
    }
    expect(map.size).toBe(0);
  });
});

describe('validateKey', () => {
  test('a refusal is ERR_INVALID_KEY with the policy\'s reason, and nothing changes', async () => {
    map = await createMap();
    const ns = map.namespace('tenant', {
      validateKey: (key) => (key[0] === 0x74 /* t */ ? true : 'keys must start with "t"'),
    });
    ns.set('topic', 'ok');
    let error: MapError | undefined;
    try {
      ns.set('other', 'no');
    } catch (e) {
      error = e as MapError;
    }
    expect(error?.code).toBe('ERR_INVALID_KEY');
    expect(error?.message).toContain('keys must start with "t"');
    expect(codeOf(() => ns.get('x'))).toBe('ERR_INVALID_KEY');
    expect(ns.size).toBe(1);
  });

  test('a policy that throws or returns false refuses the key', async () => {
    map = await createMap();
    const throwing = map.namespace('t1', { validateKey: () => { throw new Error('boom'); } });
    const falsy = map.namespace('t2', { validateKey: () => false });
    expect(codeOf(() => throwing.set('a', 'b'))).toBe('ERR_INVALID_KEY');
    expect(codeOf(() => falsy.set('a', 'b'))).toBe('ERR_INVALID_KEY');
    expect(codeOf(() => map.namespace('t3', { validateKey: 'no' as never }))).toBe('ERR_INVALID_OPTION');
  });
});
