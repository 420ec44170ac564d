// Statistics are exact across threads, and metrics() is valid Prometheus text.
import { createRequire } from 'node:module';
import { afterEach, expect, test } from 'vitest';
import { SharedMap } from '../dist/index.js';
import { createMap, scale, shared, startWorkers } from './helpers.js';
// @ts-expect-error: plain JS module shared with the workers
import { roles } from './workers/roles.mjs';

const parsePrometheus = createRequire(import.meta.url)('parse-prometheus-text-format') as (text: string) => {
  name: string;
  help: string;
  type: string;
  metrics: { value: string; labels?: Record<string, string> }[];
}[];

let map: SharedMap;
afterEach(() => map?.close());

shared('statistics from three threads add up exactly, after the workers are gone too', async () => {
  map = await createMap({ initialCapacity: 4 });
  const count = scale(3_000, 50_000);
  const started = await startWorkers<number>(map, 'stress.mjs', 2, { role: 'stats', params: { count } });
  started.go();
  roles(map).stats({ count, writer: 0 });
  await started.results; // the workers have closed: their counts were folded
  const s = map.stats();
  const threads = 3;
  const incs = threads * Math.ceil(count / 5);
  expect(s.sets).toBe(threads * count + incs);
  expect(s.hits).toBe(threads * count);
  expect(s.misses).toBe(threads * count);
  expect(s.casFailures).toBe(threads * count);
  expect(s.deletes).toBe(threads * Math.ceil(count / 2));
  expect(s.entries).toBe(map.size);
  expect(map.get('st:count')).toBe(incs);
  // Bytes of what is live: every odd i of every thread, plus the counter.
  let keyBytes = 'st:count'.length;
  let valueBytes = 8;
  for (let w = 0; w < threads; w++) {
    for (let i = 1; i < count; i += 2) {
      keyBytes += `st:${w}:${i}`.length;
      valueBytes += i % 10;
    }
  }
  expect(s.keyBytes).toBe(keyBytes);
  expect(s.valueBytes).toBe(valueBytes);
  expect(s.memoryUsedBytes).toBeGreaterThan(s.keyBytes + s.valueBytes);
  expect(s.memoryReservedBytes).toBeGreaterThanOrEqual(s.memoryUsedBytes);
});

test('metrics() is Prometheus text a real parser reads back as stats()', async () => {
  map = await createMap();
  map.set('a', 'xyz').set('b', new Uint8Array(5));
  map.get('a');
  map.get('nope');
  map.increment('n', 3);
  map.compareAndDelete('a', 'other');
  map.delete('b');
  const stats = map.stats();
  const families = parsePrometheus(map.metrics());
  const byName = new Map(families.map((f) => [f.name, f]));
  const expected: [string, string, number][] = [
    ['wasmap_hits_total', 'COUNTER', stats.hits],
    ['wasmap_misses_total', 'COUNTER', stats.misses],
    ['wasmap_sets_total', 'COUNTER', stats.sets],
    ['wasmap_deletes_total', 'COUNTER', stats.deletes],
    ['wasmap_expirations_total', 'COUNTER', 0],
    ['wasmap_evictions_total', 'COUNTER', 0],
    ['wasmap_moves_total', 'COUNTER', 0],
    ['wasmap_cas_failures_total', 'COUNTER', stats.casFailures],
    ['wasmap_contention_total', 'COUNTER', stats.contention],
    ['wasmap_entries', 'GAUGE', 2],
    ['wasmap_key_bytes', 'GAUGE', 2],
    ['wasmap_value_bytes', 'GAUGE', 3 + 8],
    ['wasmap_memory_used_bytes', 'GAUGE', stats.memoryUsedBytes],
    ['wasmap_memory_reserved_bytes', 'GAUGE', stats.memoryReservedBytes],
    ['wasmap_memory_limit_bytes', 'GAUGE', 256 * 2 ** 20],
    ['wasmap_memory_free_bytes', 'GAUGE', stats.memoryFreeBytes],
  ];
  expect(families.length).toBe(expected.length + 4);
  for (const [name, type, value] of expected) {
    const family = byName.get(name);
    expect(family, name).toBeDefined();
    expect(family!.type).toBe(type);
    expect(family!.help.length).toBeGreaterThan(5);
    expect(family!.metrics).toEqual([{ value: String(value) }]);
  }
  // The default namespace's gauges, labelled.
  expect(byName.get('wasmap_namespace_entries')!.metrics).toEqual([{ value: '2', labels: { namespace: 'default' } }]);
  // A namespace view exposes its own gauges only.
  const ns = map.namespace('plugin "a"', { maxEntries: 7 });
  ns.set('x', 'y');
  ns.get('x');
  ns.get('nope');
  const nsFamilies = new Map(parsePrometheus(ns.metrics()).map((f) => [f.name, f]));
  expect([...nsFamilies.keys()].sort()).toEqual([
    'wasmap_namespace_bytes', 'wasmap_namespace_deletes_total', 'wasmap_namespace_entries',
    'wasmap_namespace_evictions_total', 'wasmap_namespace_expirations_total', 'wasmap_namespace_hits_total',
    'wasmap_namespace_max_entries', 'wasmap_namespace_max_memory_bytes', 'wasmap_namespace_misses_total',
    'wasmap_namespace_sets_total',
  ]);
  const label = { namespace: 'plugin "a"' };
  expect(nsFamilies.get('wasmap_namespace_entries')!.metrics).toEqual([{ value: '1', labels: label }]);
  expect(nsFamilies.get('wasmap_namespace_max_entries')!.metrics[0].value).toBe('7');
  expect(nsFamilies.get('wasmap_namespace_hits_total')!.type).toBe('COUNTER');
  for (const [name, value] of [['hits', '1'], ['misses', '1'], ['sets', '1'], ['deletes', '0']]) {
    expect(nsFamilies.get(`wasmap_namespace_${name}_total`)!.metrics).toEqual([{ value, labels: label }]);
  }
  expect([stats.hits, stats.misses, stats.sets, stats.deletes, stats.casFailures]).toEqual([1, 1, 3, 1, 1]);
});

test("the map's metrics() hold every live namespace's series, one scrape for all; a view's only its own", async () => {
  map = await createMap();
  map.set('k', 'v');
  const a = map.namespace('tenant-a', { maxEntries: 9 });
  const b = map.namespace('tenant-b');
  a.set('x', '1').set('y', '2');
  a.get('x');
  b.set('z', '3');
  map.namespace('gone').set('w', '4');
  map.dropNamespace('gone');
  const byName = new Map(parsePrometheus(map.metrics()).map((f) => [f.name, f]));
  expect(byName.get('wasmap_namespace_entries')!.metrics).toEqual([
    { value: '1', labels: { namespace: 'default' } },
    { value: '2', labels: { namespace: 'tenant-a' } },
    { value: '1', labels: { namespace: 'tenant-b' } },
  ]);
  expect(byName.get('wasmap_namespace_max_entries')!.metrics[1]).toEqual({ value: '9', labels: { namespace: 'tenant-a' } });
  // Per-namespace counters exist for namespaces only (the map's own traffic is the map's).
  expect(byName.get('wasmap_namespace_hits_total')!.metrics).toEqual([
    { value: '1', labels: { namespace: 'tenant-a' } },
    { value: '0', labels: { namespace: 'tenant-b' } },
  ]);
  expect(byName.get('wasmap_entries')!.metrics).toEqual([{ value: '4' }]);
  const own = parsePrometheus(a.metrics());
  expect(new Set(own.flatMap((f) => f.metrics.map((m) => m.labels?.namespace)))).toEqual(new Set(['tenant-a']));
  expect(() => map.namespace('default')).toThrow(/"default" is the map's own/);
});
