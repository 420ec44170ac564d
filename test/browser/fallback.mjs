// Page side of the no-isolation test (test/browser.test.ts imports this into a
// page served WITHOUT the COOP/COEP headers): SharedMap.create must refuse
// with ERR_NO_SHARED_MEMORY, and the page falls back to a LocalMap, as the
// README tells applications to do.
import { LocalMap, MapError, SharedMap } from '/dist/index.js';

export async function run() {
  const out = {
    crossOriginIsolated: self.crossOriginIsolated,
    sharedArrayBuffer: typeof SharedArrayBuffer !== 'undefined',
    created: false,
    error: null,
    localMap: null,
  };
  try {
    const map = await SharedMap.create();
    out.created = true;
    map.close();
  } catch (err) {
    out.error = {
      name: err?.name, code: err?.code, message: err?.message ?? String(err),
      isMapError: err instanceof MapError,
    };
  }
  out.localMap = await useLocalMap();
  return out;
}

/** The fallback: the same API on this thread only. Returns what each call gave. */
async function useLocalMap() {
  let now = 1_000_000;
  const map = await LocalMap.create({ clock: () => now });
  const r = {};
  r.setReturnsMap = map.set('greeting', 'hello') === map;
  r.get = map.get('greeting');
  r.has = map.has('greeting');
  r.getMissing = map.get('nope') ?? null;
  r.increments = [map.increment('hits'), map.increment('hits', 41)];
  r.getOrSetFirst = map.getOrSet('token', 'a');
  r.getOrSetSecond = map.getOrSet('token', 'b');
  r.casWrong = map.compareAndSwap('token', 'zzz', 'c');
  r.casRight = map.compareAndSwap('token', 'a', 'c');
  r.swap = map.swap('token', 'd');
  map.set('short', 'lived', { ttl: 50 });
  r.ttl = map.ttl('short');
  r.sizeWithShort = map.size;
  now += 51;
  r.afterTtl = map.get('short') ?? null;
  r.sizeAfterTtl = map.size;
  r.deleteOnce = map.delete('greeting');
  r.deleteTwice = map.delete('greeting');
  r.getAndDelete = map.getAndDelete('token') ?? null;
  const ns = map.namespace('cache');
  ns.set('greeting', 'namespaced');
  r.namespaceGet = ns.get('greeting');
  r.rootGetAfterNamespace = map.get('greeting') ?? null;
  r.size = map.size;
  r.stats = map.stats();
  r.memoryUsage = map.memoryUsage();
  map.close();

  const small = await LocalMap.create({ maxEntries: 2, eviction: 'lru' });
  for (const k of ['a', 'b', 'c']) small.set(k, k);
  r.evictingSize = small.size;
  r.evictions = small.stats().evictions;
  small.close();
  return r;
}
