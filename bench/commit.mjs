// What an atomic() commit costs against its number of keys, beside the
// single-key writes it replaces, on one thread (a SharedMap of the
// benchmark's 100,000 keys). Part of `npm run bench`; alone:
// `node bench/commit.mjs`. Each figure is the best of ROUNDS rounds, in a
// process of its own (see get-cost.mjs for why).
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { SharedMap } from '../dist/index.js';

const ROUNDS = 5;
const KEYS = 100_000;
const WRITES = 200_000; // keys written per round, whatever the commit size
const SIZES = [1, 2, 4, 8, 16, 64];

function best(fn) {
  let min = Infinity;
  for (let r = 0; r < ROUNDS; r++) min = Math.min(min, fn());
  return min;
}

function measure() {
  return SharedMap.create({ maxMemoryBytes: 256 << 20 }).then((map) => {
    const keys = [];
    const value = 'v'.repeat(55);
    for (let i = 0; i < KEYS; i++) {
      keys.push(`session:${String(i).padStart(8, '0')}:web-eu-west-1`);
      map.set(keys[i], value);
    }
    let seed = 1;
    const next = () => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % KEYS;
    };
    const time = (n, body) => {
      const t0 = process.hrtime.bigint();
      body();
      return Number(process.hrtime.bigint() - t0) / n;
    };
    const rows = [];
    rows.push({ what: 'set', keys: 1, ns: best(() => time(WRITES, () => {
      for (let i = 0; i < WRITES; i++) map.set(keys[next()], value);
    })) });
    rows.push({ what: 'update', keys: 1, ns: best(() => time(WRITES, () => {
      for (let i = 0; i < WRITES; i++) map.update(keys[next()], () => value);
    })) });
    for (const k of SIZES) {
      const commits = Math.floor(WRITES / k);
      rows.push({ what: 'atomic set', keys: k, ns: best(() => time(commits, () => {
        for (let c = 0; c < commits; c++) {
          const op = map.atomic();
          const used = new Set();
          while (used.size < k) used.add(next());
          for (const i of used) op.set(keys[i], value);
          op.commit();
        }
      })) });
      rows.push({ what: 'atomic getEntry, check, set', keys: k, ns: best(() => time(commits, () => {
        for (let c = 0; c < commits; c++) {
          const op = map.atomic();
          const used = new Set();
          while (used.size < k) used.add(next());
          for (const i of used) op.check(keys[i], map.getEntry(keys[i]).modRevision).set(keys[i], value);
          op.commit();
        }
      })) });
    }
    map.close();
    return rows;
  });
}

/** Rows { what, keys, ns per operation (a commit of `keys` keys, or one write) }, from a fresh process. */
export function commitRows() {
  const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--json'], { encoding: 'utf8' });
  return JSON.parse(out);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = await measure();
  if (process.argv.includes('--json')) console.log(JSON.stringify(rows));
  else for (const r of rows) console.log(`${r.what.padEnd(30)} ${String(r.keys).padStart(3)} keys ${r.ns.toFixed(0).padStart(8)} ns  ${(r.ns / r.keys).toFixed(0).padStart(6)} ns/key`);
}
