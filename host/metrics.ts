// Statistics of a map, and their Prometheus text exposition.

/** Counters and gauges of a whole map, exact across every thread (at rest). */
export interface MapStats {
  /** Lookups (get, has, getOrSet, getAndDelete) that found a live entry. */
  hits: number;
  /** Lookups that found nothing. */
  misses: number;
  /** Writes that stored a value: set, swap, stored getOrSet, successful compareAndSwap, increment. */
  sets: number;
  /** Deletes that removed an entry (delete, getAndDelete, compareAndDelete, clear). */
  deletes: number;
  /** Entries removed because their TTL ran out (swept, or replaced by a write). */
  expirations: number;
  /** Entries evicted to stay within maxEntries or maxMemoryBytes (eviction: 'lru'). */
  evictions: number;
  /** Live entries moved (copied, then swapped in by one CAS) so that free
   *  memory around them joins into a block a larger entry needed (without
   *  eviction; with 'lru' such entries are evicted). */
  moves: number;
  /** compareAndSwap / compareAndDelete calls that found another value (or none). */
  casFailures: number;
  /** Retries after losing a race with another thread (the core never waits). */
  contention: number;
  /** Live entries (`size`). */
  entries: number;
  /** Bytes of the live entries' keys. */
  keyBytes: number;
  /** Bytes of the live entries' values (8 per counter). */
  valueBytes: number;
  /** Bytes the allocator has carved out of the shared memory. */
  memoryUsedBytes: number;
  /** Bytes of shared memory grown so far. */
  memoryReservedBytes: number;
  /** `maxMemoryBytes`. */
  memoryLimitBytes: number;
  /** Of `memoryUsedBytes`, bytes freed and not used again yet (by deletes,
   *  expiry, eviction, `clear()`, tables the map outgrew). How much of it a
   *  new entry of a given size could take: `memoryUsage(entry)`. */
  memoryFreeBytes: number;
}

/** Order of the core's statistics (assembly/layout.ts STAT_*). */
export const CORE_STATS = [
  'hits', 'misses', 'sets', 'deletes', 'casFailures', 'contention', 'keyBytes', 'valueBytes',
  'expirations', 'evictions', 'moves',
] as const;

const METRICS: [keyof MapStats, string, 'counter' | 'gauge', string][] = [
  ['hits', 'hits_total', 'counter', 'Lookups that found a live entry.'],
  ['misses', 'misses_total', 'counter', 'Lookups that found nothing.'],
  ['sets', 'sets_total', 'counter', 'Writes that stored a value.'],
  ['deletes', 'deletes_total', 'counter', 'Deletes that removed an entry.'],
  ['expirations', 'expirations_total', 'counter', 'Entries removed because their TTL ran out.'],
  ['evictions', 'evictions_total', 'counter', 'Entries removed to stay within the memory bound.'],
  ['moves', 'moves_total', 'counter', 'Live entries moved so that the free memory around them joins into a larger block.'],
  ['casFailures', 'cas_failures_total', 'counter', 'Compare-and-swap or compare-and-delete calls that found another value.'],
  ['contention', 'contention_total', 'counter', 'Retries after losing a race with another thread.'],
  ['entries', 'entries', 'gauge', 'Live entries.'],
  ['keyBytes', 'key_bytes', 'gauge', 'Bytes of the live entries\' keys.'],
  ['valueBytes', 'value_bytes', 'gauge', 'Bytes of the live entries\' values.'],
  ['memoryUsedBytes', 'memory_used_bytes', 'gauge', 'Bytes the allocator has carved out of the shared memory.'],
  ['memoryReservedBytes', 'memory_reserved_bytes', 'gauge', 'Bytes of shared memory grown so far.'],
  ['memoryLimitBytes', 'memory_limit_bytes', 'gauge', 'The bound on the shared memory (maxMemoryBytes).'],
  ['memoryFreeBytes', 'memory_free_bytes', 'gauge', 'Bytes the allocator carved out that were freed and not used again yet.'],
];

const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

/** What a namespace holds against its quotas, and its own operations
 *  (counted per namespace; see MapStats for what each one counts). */
export interface NamespaceGauges {
  /** Live entries. */
  entries: number;
  /** Bytes of its entries as stored (header, key and value, each padded to 8). */
  bytes: number;
  /** Quotas; 0 = none. */
  maxEntries: number;
  maxMemoryBytes: number;
  hits: number;
  misses: number;
  sets: number;
  deletes: number;
  expirations: number;
  evictions: number;
}

const NAMESPACE_METRICS: [keyof NamespaceGauges, string, 'counter' | 'gauge', string][] = [
  ['entries', 'namespace_entries', 'gauge', 'Live entries of the namespace.'],
  ['bytes', 'namespace_bytes', 'gauge', 'Bytes of the namespace\'s entries as stored.'],
  ['maxEntries', 'namespace_max_entries', 'gauge', 'The namespace\'s entry quota (0: none).'],
  ['maxMemoryBytes', 'namespace_max_memory_bytes', 'gauge', 'The namespace\'s byte quota (0: none).'],
  ['hits', 'namespace_hits_total', 'counter', 'Lookups in the namespace that found a live entry.'],
  ['misses', 'namespace_misses_total', 'counter', 'Lookups in the namespace that found nothing.'],
  ['sets', 'namespace_sets_total', 'counter', 'Writes in the namespace that stored a value.'],
  ['deletes', 'namespace_deletes_total', 'counter', 'Deletes in the namespace that removed an entry.'],
  ['expirations', 'namespace_expirations_total', 'counter', 'Entries of the namespace removed because their TTL ran out.'],
  ['evictions', 'namespace_evictions_total', 'counter', 'Entries of the namespace evicted.'],
];

/**
 * The Prometheus text exposition format (version 0.0.4): the whole map's
 * metrics (when given), then each namespace's gauges with a `namespace`
 * label. Every name is prefixed `wasmap_`.
 */
export function formatMetrics(map: MapStats | undefined, namespaces: [string, NamespaceGauges][]): string {
  let out = '';
  if (map !== undefined) {
    for (const [field, name, type, help] of METRICS) {
      out += `# HELP wasmap_${name} ${help}\n# TYPE wasmap_${name} ${type}\nwasmap_${name} ${map[field]}\n`;
    }
  }
  for (const [field, name, type, help] of NAMESPACE_METRICS) {
    // The map's own namespace has no counters of its own: its traffic is
    // the whole map's, above.
    const rows = namespaces.filter(([, g]) => type === 'gauge' || !Number.isNaN(g[field]));
    if (rows.length === 0) continue;
    out += `# HELP wasmap_${name} ${help}\n# TYPE wasmap_${name} ${type}\n`;
    for (const [namespace, gauges] of rows) {
      out += `wasmap_${name}{namespace="${escapeLabel(namespace)}"} ${gauges[field]}\n`;
    }
  }
  return out;
}
