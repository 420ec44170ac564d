import { MapError } from './errors.js';

/** Options of `SharedMap.create`. Every field is optional. */
export interface SharedMapOptions {
  /**
   * Upper bound, in bytes, on the shared memory the map may use: entries,
   * tables, and every thread's 64 KiB scratch buffer. A set that would go past
   * it fails with `ERR_CAPACITY` (or evicts, see `eviction`); deleting frees
   * room for later sets. The whole `WebAssembly.Memory` is this size from the
   * start (address space: the OS backs pages with RAM only as they are
   * used), because a shared memory that grows is not safely visible to other
   * threads at once.
   * Between 1 MiB and 4 GiB − 64 KiB.
   * @default 268435456 (256 MiB)
   */
  maxMemoryBytes?: number;
  /**
   * Largest key, in bytes (a string key counts its UTF-8 bytes). Longer keys
   * fail with `ERR_KEY_TOO_LARGE`. Between 1 and 65536.
   * @default 1024
   */
  maxKeyBytes?: number;
  /**
   * Largest value, in bytes (a string value counts its UTF-8 bytes). Larger
   * values fail with `ERR_VALUE_TOO_LARGE`. Between 0 and 64 MiB.
   * @default 1048576 (1 MiB)
   */
  maxValueBytes?: number;
  /**
   * Entries the first table holds before it grows (it grows by itself; this
   * only saves the first few migrations). Between 1 and 2^26.
   * @default 512
   */
  initialCapacity?: number;
  /**
   * Most entries the whole map holds (every namespace together); 0 or
   * absent: no bound but memory. What happens at the bound is `eviction`'s.
   * Threads inserting at the same instant may each pass it by one.
   */
  maxEntries?: number;
  /**
   * At `maxEntries`, or when memory is full: `'none'` fails the insert with
   * `ERR_CAPACITY`; `'lru'` evicts the entry read or written least recently
   * among a few sampled at random (expired ones first), from any thread,
   * without a global lock. Counted in `stats().evictions`.
   * @default 'none'
   */
  eviction?: 'none' | 'lru';
  /**
   * Time to live, in milliseconds, of every entry written without a `ttl` of
   * its own (see `set(key, value, { ttl })`). A positive finite number;
   * absent: entries live until deleted. Counters created by `increment` get
   * it too.
   */
  defaultTtl?: number;
  /**
   * This thread's clock, in milliseconds on a time base every thread shares
   * (expiry times are absolute). A function cannot travel to another thread:
   * `attach` takes its own. Tests pass a fake one.
   * @default () => performance.timeOrigin + performance.now()
   */
  clock?: () => number;
  /**
   * Values this thread keeps a copy of, for `get`s of string keys on the map
   * itself: a copy is returned only once two loads of shared memory prove it
   * current. It pays only for a small set of hot keys (measured: a get of
   * one of 1,000 keys read over and over, 51 ns instead of 204); over a
   * large working set it saves nothing (docs/performance.md).
   * Per thread: `attach` takes its own.
   * @default 0 (off)
   */
  readCache?: number;
  /**
   * The core, compiled already: for runtimes that compile no WebAssembly
   * from bytes (edge runtimes import it: `import wasm from 'wasmap/wasmap.wasm'`).
   * Absent: the core embedded in the package is compiled (once per thread).
   */
  module?: WebAssembly.Module;
  /**
   * Backs every page of the map's memory with RAM at creation, as the JVM's
   * `-XX:+AlwaysPreTouch` does for its heap: later operations then never
   * wait for the OS to fault in a fresh page. A fault costs about 2 µs, but
   * a few take a millisecond or more (in a VM especially), and a set that
   * meets several at once (a growing table's first writes) stalls for
   * milliseconds. Costs all of `maxMemoryBytes` in RAM from the start, and
   * creation time: about 0.5 ms per MiB on a 2-core VM (256 MiB: ~0.13 s).
   * A LocalMap then takes all of `maxMemoryBytes` at creation instead of
   * growing. A page size (4 KiB) apart, nothing is written but zeros.
   * @default false
   */
  preTouch?: boolean;
}

/** Options of `SharedMap.attach`. */
export interface AttachOptions {
  /** This thread's clock (see SharedMapOptions.clock). */
  clock?: () => number;
  /** This thread's read cache (see SharedMapOptions.readCache). */
  readCache?: number;
}

/** The read cache's capacity an option asks for. */
export function checkReadCache(n: unknown): number {
  if (n === undefined) return 0;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0 || n > 1 << 20) {
    throw new MapError('ERR_INVALID_OPTION', `option "readCache" must be an integer from 0 to ${1 << 20}, got ${describe(n)}`);
  }
  return n;
}

/** @internal A write option of restore's (export.ts): the absolute expiry itself, not a ttl. */
export const EXPIRES_AT = Symbol('wasmap.expiresAt');

/** Options of a single write. */
export interface WriteOptions {
  /** Milliseconds this entry lives; a positive finite number. @default the namespace's or map's defaultTtl */
  ttl?: number;
}

/** Options of `getOrCompute`. */
export interface ComputeOptions extends WriteOptions {
  /**
   * Milliseconds other callers wait for one computation before one of them
   * computes instead (its thread may be stuck). A computation whose thread
   * closes, is released or dies, or that throws, is given up at once.
   * @default 10000
   */
  lease?: number;
}

export const defaultClock = (): number => performance.timeOrigin + performance.now();

/** Throws ERR_INVALID_TTL unless `ttl` is a positive finite number. */
export function checkTtl(ttl: unknown, what = 'ttl'): number {
  if (typeof ttl !== 'number' || !(ttl > 0) || ttl === Infinity) {
    throw new MapError('ERR_INVALID_TTL', `${what} must be a positive finite number of milliseconds, got ${describe(ttl)}`);
  }
  return ttl;
}

export function checkClock(clock: unknown): () => number {
  if (clock === undefined) return defaultClock;
  if (typeof clock !== 'function') {
    throw new MapError('ERR_INVALID_OPTION', `option "clock" must be a function returning milliseconds, got ${describe(clock)}`);
  }
  return clock as () => number;
}

export interface ResolvedOptions {
  maxEntries: number;
  eviction: 'none' | 'lru';
  maxMemoryBytes: number;
  maxKeyBytes: number;
  maxValueBytes: number;
  initialCapacity: number;
  preTouch: boolean;
}

const MIB = 1 << 20;
export const DEFAULTS: ResolvedOptions = {
  maxEntries: 0,
  eviction: 'none',
  maxMemoryBytes: 256 * MIB,
  maxKeyBytes: 1024,
  maxValueBytes: MIB,
  initialCapacity: 512,
  preTouch: false,
};

const RANGES: Record<Exclude<keyof ResolvedOptions, 'eviction' | 'preTouch'>, [number, number]> = {
  maxEntries: [0, 2 ** 32 - 1],
  maxMemoryBytes: [MIB, 4 * 1024 * MIB - 65536],
  maxKeyBytes: [1, 65536],
  maxValueBytes: [0, 64 * MIB],
  initialCapacity: [1, 1 << 26],
};

/** Validates options up front; throws ERR_INVALID_OPTION naming the option. */
export function resolveOptions(options: SharedMapOptions | undefined): ResolvedOptions {
  if (options === undefined) return { ...DEFAULTS };
  if (options === null || typeof options !== 'object') {
    throw new MapError('ERR_INVALID_OPTION', `options must be an object, got ${describe(options)}`);
  }
  const out = { ...DEFAULTS };
  for (const name of Object.keys(options)) {
    if (name === 'defaultTtl' || name === 'clock' || name === 'module' || name === 'readCache') continue; // checked by SharedMap.create
    if (name === 'eviction') {
      const v = (options as Record<string, unknown>).eviction;
      if (v !== undefined && v !== 'none' && v !== 'lru') {
        throw new MapError('ERR_INVALID_OPTION', `option "eviction" must be 'none' or 'lru', got ${describe(v)}`);
      }
      if (v !== undefined) out.eviction = v;
      continue;
    }
    if (name === 'preTouch') {
      const v = (options as Record<string, unknown>).preTouch;
      if (v !== undefined && typeof v !== 'boolean') {
        throw new MapError('ERR_INVALID_OPTION', `option "preTouch" must be true or false, got ${describe(v)}`);
      }
      if (v !== undefined) out.preTouch = v;
      continue;
    }
    if (!(name in RANGES)) {
      throw new MapError('ERR_INVALID_OPTION', `unknown option "${name}"`);
    }
  }
  for (const name of Object.keys(RANGES) as (keyof typeof RANGES)[]) {
    const value = (options as Record<string, unknown>)[name];
    if (value === undefined) continue;
    const [min, max] = RANGES[name];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      throw new MapError(
        'ERR_INVALID_OPTION',
        `option "${name}" must be an integer from ${min} to ${max}, got ${describe(value)}`,
      );
    }
    out[name] = value;
  }
  return out;
}

export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (value === null || typeof value !== 'object') return String(value);
  return Object.prototype.toString.call(value);
}

/** Options of `map.namespace(name, options)`. Every field is optional. */
export interface NamespaceOptions {
  /** As the map's `defaultTtl`, for this namespace's entries. @default none */
  defaultTtl?: number;
  /**
   * Most entries the namespace may hold; a set of a new key past it fails
   * with `ERR_QUOTA` (never exceeded, even by threads inserting at once).
   * 0 or absent: no quota.
   */
  maxEntries?: number;
  /**
   * Most bytes its entries may take as stored (a 32-byte header, the key and
   * the value, each padded to 8); past it a set fails with `ERR_QUOTA`.
   * 0 or absent: no quota (the map's own maxMemoryBytes still applies).
   */
  maxMemoryBytes?: number;
  /** Largest key in this namespace; at most the map's. @default the map's maxKeyBytes */
  maxKeyBytes?: number;
  /** Largest value in this namespace; at most the map's. @default the map's maxValueBytes */
  maxValueBytes?: number;
  /**
   * A policy on top of the key rules: called with the key's bytes (a copy)
   * before every operation of this view; return `true` to accept, or `false`
   * or a reason (string) to refuse with `ERR_INVALID_KEY`. Functions cannot
   * travel between threads: each thread passes its own. It runs outside the
   * core (no lock is ever held while user code runs).
   */
  validateKey?: (key: Uint8Array) => boolean | string;
}

export interface ResolvedNamespaceOptions {
  defaultTtl: number;
  maxEntries: number;
  maxMemoryBytes: number;
  maxKeyBytes: number;
  maxValueBytes: number;
  validateKey: ((key: Uint8Array) => boolean | string) | undefined;
}

/** Validates namespace options against the map's limits. */
export function resolveNamespaceOptions(
  options: NamespaceOptions | undefined, mapMaxKey: number, mapMaxValue: number,
): ResolvedNamespaceOptions {
  const out: ResolvedNamespaceOptions = {
    defaultTtl: 0,
    maxEntries: 0, maxMemoryBytes: 0, maxKeyBytes: mapMaxKey, maxValueBytes: mapMaxValue, validateKey: undefined,
  };
  if (options === undefined) return out;
  if (options === null || typeof options !== 'object') {
    throw new MapError('ERR_INVALID_OPTION', `namespace options must be an object, got ${describe(options)}`);
  }
  const ranges: Record<string, [number, number]> = {
    maxEntries: [0, 2 ** 32 - 1],
    maxMemoryBytes: [0, 2 ** 32 - 1],
    maxKeyBytes: [1, mapMaxKey],
    maxValueBytes: [0, mapMaxValue],
  };
  for (const [name, value] of Object.entries(options)) {
    if (name === 'defaultTtl') {
      if (value !== undefined) out.defaultTtl = checkTtl(value, 'option "defaultTtl"');
      continue;
    }
    if (name === 'validateKey') {
      if (value !== undefined && typeof value !== 'function') {
        throw new MapError('ERR_INVALID_OPTION', `option "validateKey" must be a function, got ${describe(value)}`);
      }
      out.validateKey = value as ResolvedNamespaceOptions['validateKey'];
      continue;
    }
    const range = ranges[name];
    if (range === undefined) throw new MapError('ERR_INVALID_OPTION', `unknown namespace option "${name}"`);
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < range[0] || value > range[1]) {
      throw new MapError(
        'ERR_INVALID_OPTION',
        `option "${name}" must be an integer from ${range[0]} to ${range[1]}, got ${describe(value)}`,
      );
    }
    (out as unknown as Record<string, number>)[name] = value;
  }
  return out;
}
