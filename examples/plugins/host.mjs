// A plugin host: two WebAssembly components (built from examples/plugins/guest/
// by `npm run build`), each given its own namespace of one wasmap map through
// the WASI key-value interface, then what each stored, read by the host.
//
//   npm run build && node examples/plugins/host.mjs
//
// Expected output:
//
//   visits> ann: visit #1 of 1
//   visits> bob: visit #1 of 2
//   visits> ann: visit #2 of 3
//   notes> note #1 saved; index: 1
//   notes> note #2 saved; index: 1,2
//   visits, a second instance in a namespace of its own> cat: visit #1 of 1
//
//   plugin-visits holds 4 entries:
//     default/visits = 3
//     default/visits:ann = 2
//     default/visits:bob = 1
//     default/last-visitor = "ann" (expires in 60 s)
//   plugin-notes holds 5 entries:
//     notes/count = 2
//     notes/note:1 = "buy milk"
//     notes/note:2 = "call bob"
//     notes/latest = "call bob"
//     notes/index = "1,2"
//   plugin-visits-2 holds 3 entries
//   a notes instance whose policy lacks "notes"> error: open: access-denied
import { SharedMap } from 'wasmap';
import { bucketKey, keyValueImports, loadComponent } from 'wasmap/wasi';

const built = (name) => new URL(`../../build/plugins/${name}.wasm`, import.meta.url);

// Loaded once each: imports checked against the allow-list (the key-value
// interfaces), transpiled with jco, core modules compiled.
const visits = await loadComponent(built('visits'), { name: 'visits' });
const notes = await loadComponent(built('notes'), { name: 'notes' });

const map = await SharedMap.create({ maxMemoryBytes: 16 << 20 });
const quotas = { maxEntries: 100, maxMemoryBytes: 64 << 10, maxKeyBytes: 64, maxValueBytes: 1024 };

// One import object per instance: its namespace, and the buckets it may open.
const visitsNs = map.namespace('plugin-visits', quotas);
const notesNs = map.namespace('plugin-notes', quotas);
const a = visits.instantiate(keyValueImports(visitsNs, { buckets: ['default'] }));
const b = notes.instantiate(keyValueImports(notesNs, { buckets: ['notes'] }));

for (const who of ['ann', 'bob', 'ann']) console.log(`visits> ${a.handle(who)}`);
for (const note of ['buy milk', 'call bob']) console.log(`notes> ${b.handle(note)}`);
// Another instance of the same component, in another namespace: it starts from nothing.
const visits2Ns = map.namespace('plugin-visits-2', quotas);
const a2 = visits.instantiate(keyValueImports(visits2Ns));
console.log(`visits, a second instance in a namespace of its own> ${a2.handle('cat')}`);

// What each stored. The host reads a plugin's entries under their bucket
// prefix (bucketKey); values are bytes, counters numbers.
const show = (value) => (typeof value === 'number' ? String(value) : JSON.stringify(new TextDecoder().decode(value)));
function report(name, ns, bucket, keys) {
  console.log(`${name} holds ${ns.size} entries:`);
  for (const key of keys) {
    const k = bucketKey(bucket, key);
    const ttl = ns.ttl(k);
    console.log(`  ${bucket}/${key} = ${show(ns.get(k))}${ttl === Infinity ? '' : ` (expires in ${Math.round(ttl / 1000)} s)`}`);
  }
}
console.log();
report('plugin-visits', visitsNs, 'default', ['visits', 'visits:ann', 'visits:bob', 'last-visitor']);
report('plugin-notes', notesNs, 'notes', ['count', 'note:1', 'note:2', 'latest', 'index']);
console.log(`plugin-visits-2 holds ${visits2Ns.size} entries`);

// The host decides which buckets `open` accepts: without "notes", it is refused.
const c = notes.instantiate(keyValueImports(notesNs, { buckets: ['elsewhere'] }));
console.log(`a notes instance whose policy lacks "notes"> ${c.handle('x')}`);
map.close();
