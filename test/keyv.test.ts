// wasmap/keyv: the official Keyv adapter suite, cache-manager 7 over it, and
// a value set through one adapter read through another in another thread.
// Runs on SharedMap and (WASMAP_MAP=local) on LocalMap, as every test file.
import keyvTestSuite, { keyvIteratorTests, keyvNamespaceTest, keyvValueTests } from '@keyv/test-suite';
import { createCache } from 'cache-manager';
import Keyv from 'keyv';
import Keyv6 from 'keyv6';
import * as vitest from 'vitest';
import { describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import { LocalMap, MapError, SharedMap } from '../dist/index.js';
import { KeyvWasmap, createKeyv } from '../dist/keyv.js';
import { LOCAL, codeOf, createMap, shared } from './helpers.js';

const map = await createMap();
/** One adapter per Keyv (Keyv writes its namespace onto its adapter). */
const store = () => new KeyvWasmap(map);

/** A Keyv class whose instances are createKeyv's, for the suite (a constructor may return another object). */
const CreatedKeyv = function (this: unknown, options?: { store?: KeyvWasmap; namespace?: string }) {
  const { store: adapter, ...rest } = options ?? {};
  return createKeyv(adapter ?? store(), rest);
} as unknown as typeof Keyv;

describe('@keyv/test-suite: new Keyv({ store: new KeyvWasmap(map) })', () => {
  keyvTestSuite(vitest, Keyv, store);
});

describe('@keyv/test-suite: createKeyv(map)', () => {
  keyvTestSuite(vitest, CreatedKeyv, store);
  keyvIteratorTests(vitest, CreatedKeyv, store);
});

// Keyv 6 (keyv6: npm:keyv@6) gates iterator() on what the store has, not on
// its dialect: a plain Keyv runs the iterator tests. It adapts a store of the
// Keyv 5 contract through its KeyvBridgeAdapter (keys not prefixed, the
// namespace left to the store). The suite's API tests are left out: written
// for Keyv 5 (the suite's peer is keyv ^5.5.4), one expects `delete([keys])`
// to resolve to a boolean, and Keyv 6 resolves it to one boolean per key,
// over any store (its own in-memory one included).
describe('@keyv/test-suite: Keyv 6, new Keyv({ store: new KeyvWasmap(map) })', () => {
  const Keyv6Class = Keyv6 as unknown as typeof Keyv;
  keyvValueTests(vitest, Keyv6Class, store);
  keyvNamespaceTest(vitest, Keyv6Class, store);
  keyvIteratorTests(vitest, Keyv6Class, store);
});

describe('KeyvWasmap', () => {
  it('set through Keyv stores in the wasmap namespace of the Keyv namespace, with a wasmap ttl', async () => {
    const keyv = new Keyv({ store: store(), namespace: 'kv-ns' });
    await keyv.set('a', { n: 1 }, 60_000);
    const view = map.namespace('kv-ns');
    expect(JSON.parse(view.get('kv-ns:a') as string).value).toEqual({ n: 1 });
    expect(view.ttl('kv-ns:a')).toBeGreaterThan(59_000);
    expect(view.ttl('kv-ns:a')).toBeLessThanOrEqual(60_000);
    expect(map.get('kv-ns:a')).toBeUndefined(); // not in the map's own keys
  });

  it('createKeyv stores keys as written and its iterator yields only its namespace', async () => {
    const a = createKeyv(map, { namespace: 'kv-iter-a' });
    const b = createKeyv(map, { namespace: 'kv-iter-b' });
    await a.set('x', 1);
    await b.set('x', 2);
    expect(JSON.parse(map.namespace('kv-iter-a').get('x') as string).value).toBe(1);
    const seen: unknown[] = [];
    for await (const entry of a.iterator!()) seen.push(entry);
    expect(seen).toEqual([['x', 1]]);
  });

  it('a plain Keyv 5 over the adapter has no iterator() (Keyv wires it only for its list of dialects)', () => {
    // When this fails, Keyv has stopped gating iterator() on dialect names:
    // createKeyv's wiring can then go.
    expect(new Keyv({ store: store() }).iterator).toBeUndefined();
  });

  it('an adapter over a namespace view keeps every Keyv namespace in that view', async () => {
    const view = map.namespace('kv-tenant');
    const keyv = new Keyv({ store: new KeyvWasmap(view), namespace: 'anything' });
    await keyv.set('k', 'v');
    expect(view.get('anything:k')).toBeTypeOf('string');
    map.set('kv-outside', 'stays');
    await keyv.clear();
    expect(view.size).toBe(0);
    expect(map.get('kv-outside')).toBe('stays');
  });

  it('creates its own map from options, of the kind asked for, and closes it on disconnect', async () => {
    const adapter = new KeyvWasmap({ kind: LOCAL ? 'local' : 'shared', map: { maxMemoryBytes: 8 << 20 } });
    const keyv = new Keyv({ store: adapter });
    await keyv.set('a', 'b');
    expect(await keyv.get('a')).toBe('b');
    const made = await adapter.ready();
    expect(made).toBeInstanceOf(LOCAL ? LocalMap : SharedMap);
    await keyv.disconnect();
    expect(made.closed).toBe(true);
  });

  it('a map it cannot create fails each operation with the MapError, and tells its error listeners', async () => {
    const adapter = new KeyvWasmap({ kind: LOCAL ? 'local' : 'shared', map: { maxKeyBytes: 0 } });
    const keyv = new Keyv({ store: adapter });
    const errors: unknown[] = [];
    keyv.on('error', (e: unknown) => errors.push(e));
    await expect(adapter.get('k')).rejects.toSatisfy((e) => e instanceof MapError && e.code === 'ERR_INVALID_OPTION');
    expect(await keyv.set('k', 'v')).toBe(false);
    expect(errors.length).toBeGreaterThan(0);
    expect((errors[0] as MapError).code).toBe('ERR_INVALID_OPTION');
  });

  it('disconnect leaves a map it was given open', async () => {
    const keyv = new Keyv({ store: store() });
    await keyv.disconnect();
    expect(map.closed).toBe(false);
  });

  it.each([
    ['a value that is not a string or bytes', (a: KeyvWasmap) => a.set('k', { not: 'serialized' }), 'ERR_INVALID_VALUE'],
    ['a negative ttl', (a: KeyvWasmap) => a.set('k', 'v', -5), 'ERR_INVALID_TTL'],
    ['an empty key', (a: KeyvWasmap) => a.set('', 'v'), 'ERR_INVALID_KEY'],
  ])('set with %s rejects with a MapError', async (_what, op, code) => {
    await expect(op(store())).rejects.toSatisfy((e) => e instanceof MapError && e.code === code);
  });

  it.each([
    ['an unknown option', () => new KeyvWasmap({ size: 1 } as never)],
    ['a kind that is neither shared nor local', () => new KeyvWasmap({ kind: 'remote' as never })],
    ['options to create a map beside a given map', () => new KeyvWasmap(map, { map: {} } as never)],
    ['a number', () => new KeyvWasmap(7 as never)],
    ['the namespace "default" (the map\'s own)', () => new Keyv({ store: store(), namespace: 'default' })],
  ])('construction with %s throws ERR_INVALID_OPTION', (_what, make) => {
    expect(codeOf(make)).toBe('ERR_INVALID_OPTION');
  });

  it('a Keyv whose set fails emits the MapError and resolves false', async () => {
    const keyv = new Keyv({ store: store(), serialize: undefined, deserialize: undefined });
    const errors: unknown[] = [];
    keyv.on('error', (e: unknown) => errors.push(e));
    expect(await keyv.set('k', 'v')).toBe(false);
    expect((errors[0] as MapError).code).toBe('ERR_INVALID_VALUE');
  });

  it('a namespace dropped by its map is a new, empty one at the next operation', async () => {
    const keyv = new Keyv({ store: store(), namespace: 'kv-dropped' });
    await keyv.set('k', 'v');
    map.dropNamespace('kv-dropped');
    expect(await keyv.get('k')).toBeUndefined();
    await keyv.set('k', 'w');
    expect(await keyv.get('k')).toBe('w');
  });
});

describe('cache-manager 7 over KeyvWasmap', () => {
  const cacheIn = (namespace: string) =>
    createCache({ stores: [new Keyv({ store: new KeyvWasmap(map), namespace })] });

  it('wrap computes once and returns the cached value after', async () => {
    const cache = cacheIn('cm-wrap');
    let calls = 0;
    const compute = async () => ({ n: ++calls });
    expect(await cache.wrap('k', compute)).toEqual({ n: 1 });
    expect(await cache.wrap('k', compute)).toEqual({ n: 1 });
    expect(await Promise.all([cache.wrap('k', compute), cache.wrap('k', compute)])).toEqual([{ n: 1 }, { n: 1 }]);
    expect(calls).toBe(1);
    expect(map.namespace('cm-wrap').has('cm-wrap:k')).toBe(true); // in the map, not in a cache of its own
  });

  it('a value set with a ttl expires', async () => {
    const cache = cacheIn('cm-ttl');
    await cache.set('k', 'v', 100);
    expect(await cache.get('k')).toBe('v');
    expect(map.namespace('cm-ttl').ttl('cm-ttl:k')).toBeLessThanOrEqual(100);
    await new Promise((r) => setTimeout(r, 150));
    expect(await cache.get('k')).toBeUndefined();
    expect(map.namespace('cm-ttl').has('cm-ttl:k')).toBe(false); // gone from the map too
  });

  it('del removes the key', async () => {
    const cache = cacheIn('cm-del');
    await cache.set('k', 'v');
    expect(await cache.del('k')).toBe(true);
    expect(await cache.get('k')).toBeUndefined();
    expect(map.namespace('cm-del').size).toBe(0);
  });

  it('clear clears its namespace only', async () => {
    const a = cacheIn('cm-clear-a');
    const b = cacheIn('cm-clear-b');
    await a.set('k', 'a');
    await b.set('k', 'b');
    map.set('cm-own', 'kept');
    await a.clear();
    expect(await a.get('k')).toBeUndefined();
    expect(await b.get('k')).toBe('b');
    expect(map.get('cm-own')).toBe('kept');
  });
});

shared('a value set through the adapter in this thread is read through another adapter in a worker', async () => {
  const sharedMap = map as SharedMap;
  const keyv = new Keyv({ store: new KeyvWasmap(sharedMap), namespace: 'kv-threads' });
  await keyv.set('user:1', { name: 'Ada' });
  await keyv.set('short', 'gone', 1); // expired by the time the worker reads
  await new Promise((r) => setTimeout(r, 20));
  const worker = new Worker(new URL('./workers/keyv-reader.mjs', import.meta.url), {
    workerData: { handle: sharedMap.handle, namespace: 'kv-threads' },
  });
  sharedMap.releaseOnExit(worker);
  try {
    const reply = await new Promise<{ values: unknown[] }>((resolve, reject) => {
      worker.on('message', (m: { ready?: true; values?: unknown[] }) => {
        if (m.ready) worker.postMessage({ keys: ['user:1', 'short', 'absent'] });
        else resolve(m as { values: unknown[] });
      });
      worker.on('error', reject);
    });
    expect(reply.values).toEqual([{ name: 'Ada' }, undefined, undefined]);
  } finally {
    await worker.terminate();
  }
});
