// A guest driven with random calls and random malformed inputs (keys that
// are not UTF-8, handles it never had, values over the limit, bad ttls)
// while two workers' plugins count in the same map: only documented
// outcomes (an answer line, or ERR_GUEST_TRAP and a fresh instance), the
// namespace always equal to a model of the calls that succeeded (so no two
// distinct keys ever met in one entry), the workers' counts exact, the host
// running throughout. Small in CI; STRESS=1 runs it long.
import { afterEach, beforeAll, expect, test } from 'vitest';
import { SharedMap } from '../dist/index.js';
import { PluginComponent, bucketKey, keyValueImports, loadComponent, openResources } from '../dist/wasi.js';
import { createMap, scale, shared, startWorkers, randomInt } from './helpers.js';

let probe: PluginComponent;
beforeAll(async () => {
  probe = await loadComponent(new URL('../build/plugins/probe.wasm', import.meta.url), { name: 'probe' });
});

let map: SharedMap;
afterEach(() => map?.close());


const hex = (bytes: number[]) => `%x${bytes.map((b) => b.toString(16).padStart(2, '0')).join('')}`;
const utf8 = (s: string) => [...new TextEncoder().encode(s)];
const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const isUtf8 = (bytes: number[]) => {
  try {
    strict.decode(new Uint8Array(bytes));
    return true;
  } catch {
    return false;
  }
};

const VALID = ['a', 'b', 'key:1', 'é', 'e\u0301', '\uFEFFa', '\uFFFD', 'a\uFFFDb', '\u{1F600}', 'x'.repeat(40)];
const BAD = [[0xff], [0xfe], [0x80], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82], [0xf8, 0x88, 0x80, 0x80, 0x80]];

shared('random calls with malformed inputs beside two counting workers: documented outcomes only, the namespace always its model', async () => {
  map = await createMap();
  const N = scale(5_000, 200_000);
  const script = [['open', 'default'], ['repeat-incr', '1', 'hits', String(N)]].map((c) => c.join('\t')).join('\n');
  const started = await startWorkers<{ output: string }>(map, 'wasi-plugin.mjs', 2, {
    plugin: probe.handle, script, namespaces: ['counted', 'counted'],
  });
  started.go();

  const ns = map.namespace('fuzz');
  const policy = { maxKeyBytes: 40, maxValueBytes: 64 };
  const rand = randomInt(2026);
  const model = new Map<string, string>(); // hex of the key's bytes -> value
  let imports = keyValueImports(ns, policy);
  let guest = probe.instantiate(imports) as { handle(s: string): string };
  const open = () => expect(guest.handle('open\tdefault')).toBe('ok\t1');
  open();
  let traps = 0;
  const calls = scale(3_000, 300_000);
  for (let i = 0; i < calls; i++) {
    // jco's bindings keep each instance (and each call's task) until the
    // microtask queue drains, as an event loop does between tasks: a loop
    // that never yields runs out of WebAssembly memory after ~10,000 instances.
    if (i % 256 === 0) await new Promise((resolve) => setImmediate(resolve));
    const key: number[] = rand(4) === 0
      ? [0x61, ...BAD[rand(BAD.length)], 0x62]
      : utf8(VALID[rand(VALID.length)]);
    const k = hex(key);
    const handle = rand(20) === 0 ? String(2 + rand(5)) : '1';
    const value = rand(10) === 0 ? 'v'.repeat(65) : `v${i}`;
    const op = rand(5);
    const line = op === 0 ? ['set', handle, k, value]
      : op === 1 ? ['get', handle, k]
        : op === 2 ? ['delete', handle, k]
          : op === 3 ? ['exists', handle, k]
            : ['set-ttl', handle, k, value, rand(3) === 0 ? '0' : '600000'];
    let out: string;
    try {
      out = guest.handle(line.join('\t'));
    } catch (err) {
      // The one documented way a call ends without an answer.
      expect(err, `${line.join(' ')}`).toMatchObject({ name: 'PluginError', code: 'ERR_GUEST_TRAP' });
      expect(isUtf8(key) && handle === '1', `${line.join(' ')} trapped`).toBe(false);
      expect(openResources(imports)).toEqual({ buckets: 0, cas: 0 });
      traps++;
      imports = keyValueImports(ns, policy);
      guest = probe.instantiate(imports) as { handle(s: string): string };
      open();
      continue;
    }
    const id = k.slice(2);
    if (out.startsWith('err\t')) {
      expect(out, line.join(' ')).toMatch(/^err\t(other\tERR_[A-Z_]+: |access-denied)/);
      continue;
    }
    if (line[0] === 'set' || line[0] === 'set-ttl') {
      expect(out).toBe('ok');
      model.set(id, value);
    } else if (line[0] === 'delete') {
      expect(out).toBe('ok');
      model.delete(id);
    } else if (line[0] === 'get') {
      expect(out, line.join(' ')).toBe(model.has(id) ? `some\t${model.get(id)}` : 'none');
    } else {
      expect(out, line.join(' ')).toBe(model.has(id) ? 'true' : 'false');
    }
  }
  expect(traps).toBeGreaterThan(0);
  // The namespace holds exactly the model's entries, each under its own bytes.
  const held = [...ns.entries()].map(([key, v]) => {
    const bytes = typeof key === 'string' ? utf8(key) : [...key];
    return [hex(bytes.slice(8)).slice(2), new TextDecoder().decode(v as Uint8Array)];
  }).sort();
  expect(held).toEqual([...model].sort());

  const results = await started.results;
  expect(results.map((r) => r.output.split('\n')[1])).toContain(`ok\t${2 * N}`);
  expect(map.namespace('counted').get(bucketKey('default', 'hits'))).toBe(2 * N);
  expect(map.__verify()).toBe(0);
}, scale(60_000, 1_800_000));
