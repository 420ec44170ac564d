// A Worker for workerd (see scripts/workerd-serve.mjs) that keeps ONE map for
// the life of the isolate, in module scope, and serves it over HTTP:
//
//   GET /set?key=K&value=V[&ttl=MS]   map.set
//   GET /get?key=K                    {"value": ... | null}
//   GET /incr?key=K[&by=D]            map.increment
//   GET /delete?key=K                 map.delete
//   GET /ttl?key=K                    map.ttl (Infinity as "Infinity", absent as null)
//   GET /size, /stats                 map.size, map.stats()
//   GET /info                         the map's thread id and what this isolate has
//
// The map is created on the first request, not at module evaluation:
// workerd refuses random values (the map's hash seed) in global scope.
import { SharedMap } from 'wasmap';
import wasm from 'wasmap/wasmap.wasm';

let created;
/** The isolate's map, created once (concurrent first requests share one promise). */
const theMap = () => (created ??= SharedMap.create({ module: wasm, maxMemoryBytes: 16 << 20 }));

const json = (body, status = 200) =>
  new Response(JSON.stringify(body, (_k, v) => (v === Infinity ? 'Infinity' : v)), {
    status, headers: { 'content-type': 'application/json' },
  });

export default {
  async fetch(request) {
    const url = new URL(request.url);
    const q = url.searchParams;
    const key = q.get('key') ?? '';
    try {
      const map = await theMap();
      switch (url.pathname) {
        case '/set': {
          const ttl = q.get('ttl');
          map.set(key, q.get('value') ?? '', ttl === null ? undefined : { ttl: Number(ttl) });
          return json({ ok: true, now: Date.now() });
        }
        case '/get':
          return json({ value: map.get(key) ?? null, now: Date.now() });
        case '/incr':
          return json({ value: map.increment(key, Number(q.get('by') ?? 1)) });
        case '/delete':
          return json({ deleted: map.delete(key) });
        case '/ttl':
          return json({ ttl: map.ttl(key) ?? null });
        case '/size':
          return json({ size: map.size });
        case '/stats':
          return json(map.stats());
        case '/info':
          return json({
            threadId: map.threadId,
            process: typeof globalThis.process,
            node: globalThis.process?.versions?.node ?? null,
            worker: typeof globalThis.Worker,
            now: Date.now(),
          });
        default:
          return json({ error: `no route ${url.pathname}` }, 404);
      }
    } catch (err) {
      return json({ error: String(err?.stack ?? err), code: err?.code ?? null }, 500);
    }
  },
};
