// Per-call cost of a key-value operation made by a WebAssembly component
// through wasmap/wasi (wasi:keyvalue via jco), against the same operation
// made from JS. Run after `npm run build`:
//
//   node bench/wasi.mjs            # WASI_BENCH_N=200000 by default
//
// Rows, from the guest down to the map:
//   guest        the probe plugin loops in Wasm: get / set / increment imports
//                (canonical ABI lowering and lifting, jco's bindings, then the
//                layer below)
//   host layer   JS calling the import object's functions as jco would
//                (bucket.get(key) ...): key prefixing and checks, conversions
//   namespace    JS calling the namespace directly with the stored key
//   string key   JS calling the namespace with a plain string key
// Each figure is the median of 7 rounds, in ns per operation. The guest
// runs twice: through the package's own bindings of its hot calls (the
// default) and through jco's generated bindings (`bindings: 'jco'`); then
// the same get from the JavaScript guest (build/plugins/js-probe.wasm).
// Part of `npm run bench` (in a process of its own: wasiRows).
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SharedMap } from 'wasmap';
import { bucketKey, keyValueImports, loadComponent } from 'wasmap/wasi';

const N = Number(process.env.WASI_BENCH_N ?? 200_000);
const ROUNDS = 7;

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
function time(f, n = N) {
  const runs = [];
  f(); // warm-up
  for (let r = 0; r < ROUNDS; r++) {
    const t = performance.now();
    f();
    runs.push(((performance.now() - t) * 1e6) / n);
  }
  return median(runs);
}

/** Gets a JavaScript guest makes (fewer: each costs tens of µs in its engine). */
const JS_N = Math.max(1, Math.floor(N / 20));

async function measure() {
const probe = await loadComponent(new URL('../build/plugins/probe.wasm', import.meta.url), { name: 'probe' });
const probeJco = await loadComponent(new URL('../build/plugins/probe.wasm', import.meta.url), { name: 'probe', bindings: 'jco' });
const map = await SharedMap.create({ maxMemoryBytes: 64 << 20 });
const results = [];

for (const size of [16, 1024]) {
  const value = 'v'.repeat(size);
  const bytes = new TextEncoder().encode(value);
  const ns = map.namespace(`bench-${size}`);
  const imports = keyValueImports(ns);
  const guest = probe.instantiate(imports);
  const guestJco = probeJco.instantiate(keyValueImports(ns));
  for (const g of [guest, guestJco]) if (g.handle('open\tdefault') !== 'ok\t1') throw new Error('open failed');
  const runIn = (g, script) => {
    const out = g.handle(script);
    if (!out.startsWith('ok')) throw new Error(`${script.slice(0, 40)}: ${out}`);
  };
  const run = (script) => runIn(guest, script);
  const jco = (script) => runIn(guestJco, script);
  run(`set\t1\tkey:0001\t${value}`);
  ns.set("key:0001", bytes); // the string-key rows read a present key too

  // The host layer as jco calls it: a bucket resource, methods by name.
  const store = imports['wasi:keyvalue/store@0.2.0-draft2'];
  const atomics = imports['wasi:keyvalue/atomics@0.2.0-draft2'];
  const bucket = store.open('default');
  const stored = bucketKey('default', 'key:0001');
  const counter = bucketKey('default', 'count:0001');

  const row = (op, jcoNs, guestNs, layerNs, nsNs, stringNs) => results.push({
    op, value: `${size} B`, jco: jcoNs, guest: guestNs, 'host layer': layerNs, namespace: nsNs, 'string key': stringNs,
  });
  row(
    'get',
    time(() => jco(`repeat-get\t1\tkey:0001\t${N}`)),
    time(() => run(`repeat-get\t1\tkey:0001\t${N}`)),
    time(() => { for (let i = 0; i < N; i++) bucket.get('key:0001'); }),
    time(() => { for (let i = 0; i < N; i++) ns.get(stored); }),
    time(() => { for (let i = 0; i < N; i++) ns.get('key:0001'); }),
  );
  row(
    'set',
    time(() => jco(`repeat-set\t1\tkey:0001\t${value}\t${N}`)),
    time(() => run(`repeat-set\t1\tkey:0001\t${value}\t${N}`)),
    time(() => { for (let i = 0; i < N; i++) bucket.set('key:0001', bytes); }),
    time(() => { for (let i = 0; i < N; i++) ns.set(stored, bytes); }),
    time(() => { for (let i = 0; i < N; i++) ns.set('key:0001', bytes); }),
  );
  if (size === 16) {
    row(
      'increment',
      time(() => jco(`repeat-incr\t1\tcount:0001\t${N}`)),
      time(() => run(`repeat-incr\t1\tcount:0001\t${N}`)),
      time(() => { for (let i = 0; i < N; i++) atomics.increment(bucket, 'count:0001', 1n); }),
      time(() => { for (let i = 0; i < N; i++) ns.increment(counter, 1); }),
      time(() => { for (let i = 0; i < N; i++) ns.increment('count:0001', 1); }),
    );
  }
}

// The same get from the JavaScript guest (componentize-js), both bindings.
{
  const ns = map.namespace('bench-js');
  const value = 'v'.repeat(16);
  const jsGet = [];
  for (const bindings of ['jco', 'wasmap']) {
    const c = await loadComponent(new URL('../build/plugins/js-probe.wasm', import.meta.url), { name: 'jsprobe', bindings });
    const g = c.instantiate(keyValueImports(ns));
    if (!g.handle(`open\tdefault\nset\t1\tkey:0001\t${value}`).startsWith('ok')) throw new Error('js guest failed');
    jsGet.push(time(() => g.handle(`repeat-get\t1\tkey:0001\t${JS_N}`), JS_N));
  }
  results.push({ op: 'get', value: '16 B', guestLanguage: 'JavaScript', jco: jsGet[0], guest: jsGet[1], 'string key': results[0]['string key'] });
}
map.close();
return results;
}

/** The rows, measured in a process of their own. */
export function wasiRows() {
  return JSON.parse(execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--json'], { encoding: 'utf8' }));
}

/** The table `npm run bench` prints. */
export function wasiTable(rows) {
  const fmt = (x) => `${x.toFixed(0)} ns`;
  const lines = [`wasmap/wasi per-call cost, ${N} calls a round, median of ${ROUNDS} rounds (node ${process.version})`, ''];
  lines.push('| op | value | guest, jco\'s bindings | guest, own bindings | host layer (JS → import object) | namespace (JS, stored key) | namespace (JS, string key) | guest / JS string key |');
  lines.push('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) {
    if (r.guestLanguage !== undefined) {
      lines.push('');
      lines.push(`${r.op} of ${r.value} from a ${r.guestLanguage} guest (componentize-js, its own engine in Wasm): ${fmt(r.jco)} through jco's bindings, ${fmt(r.guest)} through the package's own; ${(r.guest / r['string key']).toFixed(0)}× the same get from JS`);
      continue;
    }
    const ratio = r.guest / r['string key'];
    const goal = r.op === 'get' && r.value === '16 B' ? ` (goal <= 3x: ${ratio <= 3 ? 'yes' : 'NO'})` : '';
    lines.push(`| ${r.op} | ${r.value} | ${fmt(r.jco)} | ${fmt(r.guest)} | ${fmt(r['host layer'])} | ${fmt(r.namespace)} | ${fmt(r['string key'])} | ${ratio.toFixed(1)}×${goal} |`);
  }
  return lines.join('\n');
}

if (process.argv[2] === '--json') console.log(JSON.stringify(await measure()));
else if (import.meta.url === `file://${process.argv[1]}`) console.log(wasiTable(wasiRows()));
