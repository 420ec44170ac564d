// The map API, over one core instance: everything a SharedMap and a LocalMap
// have in common.
import {
  type CoreExports, type CoreKind, KIND_BYTES, KIND_COUNTER, KIND_STRING, MODE_CAD, MODE_CAS, MODE_DELETE,
  MODE_GET_AND_DELETE, MODE_GET_OR_SET, MODE_SET, MODE_SWAP, NS_DEFAULT, NS_REGISTRY, R_DONE, R_REFUSED,
  ST_CAPACITY, ST_CONTENTION, ST_NOT_FOUND, ST_SCAN_TOO_SMALL, coreModule, instantiate,
} from './core.js';
import { MISS, ReadCache } from './read-cache.js';
import { ATOMIC_MAX_BYTES, type AtomicKeyOp, AtomicOperation, type AtomicResult } from './atomic.js';
import { encodeString, isBytes, keyFromBytes, keyError, nativeUtf8Length, utf8Length, valueError } from './codec.js';
import { MapError } from './errors.js';
import { ExportWriter } from './export.js';
import { CORE_STATS, type MapStats, type NamespaceGauges, formatMetrics } from './metrics.js';
import {
  EXPIRES_AT, type ComputeOptions, type NamespaceOptions, type SharedMapOptions, type WriteOptions, checkClock, checkTtl,
  describe, resolveNamespaceOptions, resolveOptions,
} from './options.js';
import { MIN_OUT, SCRATCH_BYTES, Session, TAG_BYTES, align8 } from './session.js';

/** A key: a string (its UTF-8 bytes) or raw bytes. */
export type Key = string | Uint8Array;
/** A value comes back as the kind that was stored; counters come back as numbers. */
export type Value = string | Uint8Array;

/** Memory figures of the whole map, the same from every thread. */
export interface MemoryUsage {
  /** Bytes the allocator has carved out so far (entries, tables, free blocks, scratch). */
  usedBytes: number;
  /** Bytes of the map's memory as grown so far (a SharedMap's is all of maxMemoryBytes from the start). */
  reservedBytes: number;
  /** `maxMemoryBytes`: the bound on both. */
  limitBytes: number;
  /** Of `usedBytes`, bytes freed and not used again yet (free blocks of every size). */
  freeBytes: number;
  /**
   * Given an entry's size (`memoryUsage({ valueBytes })`): the bytes a new
   * entry of that size could take, of the freed memory (blocks it fits in)
   * and of the room never used below the limit. Freed blocks of other sizes
   * are fragmentation: `freeBytes` minus what `usableBytes` takes of them.
   */
  usableBytes?: number;
}

/** The size of an entry, for `memoryUsage(entry)`: the user's key and
 *  value, in bytes, and whether it has a TTL. */
export interface EntrySize {
  keyBytes?: number;
  valueBytes: number;
  ttl?: boolean;
}

/** What a namespace holds against its quotas, and its own traffic. */
export interface NamespaceUsage extends NamespaceGauges {
  name: string;
}

/** Methods of the map itself that a namespace view does not have. */
export type RootOnly = 'namespace' | 'dropNamespace' | 'memoryUsage' | 'stats' | 'releaseThread' | 'releaseOnExit';

/**
 * A namespace view of a map of class `M` (`map.namespace(name)`, or
 * `SharedMap.attach` of a view's handle): the map API scoped to one
 * namespace, and nothing that reaches past it.
 */
export type MapView<M> = Omit<M, RootOnly> & {
  /** What the namespace holds against its quotas, and its own traffic. */
  stats(): { namespace: NamespaceUsage };
};

const PAGE = 65536;

function nextPow2(n: number): number {
  let p = 16;
  while (p < n) p *= 2;
  return p;
}

/** A namespace's token: the secret its handles carry (assembly/layout.ts
 *  N_TOKEN), 128 random bits, never all zero (no namespace has that one). */
export type Token = readonly [number, number, number, number];

/** Writes a new token for the namespace of `tag` and returns it. */
export function newToken(memory: WebAssembly.Memory, core: CoreExports, tag: number): Token {
  const words = new Uint32Array(4);
  do crypto.getRandomValues(words); while (words.every((w) => w === 0));
  const at = core.nsTokenAddress(tag) >> 2;
  const i32 = new Int32Array(memory.buffer);
  for (let k = 0; k < 4; k++) Atomics.store(i32, at + k, words[k] | 0);
  return [words[0], words[1], words[2], words[3]];
}

/** The token of the namespace of `tag` (all zero: none written yet). */
export function tokenOf(memory: WebAssembly.Memory, core: CoreExports, tag: number): Token {
  const at = core.nsTokenAddress(tag) >> 2;
  const i32 = new Int32Array(memory.buffer);
  const w = (k: number) => Atomics.load(i32, at + k) >>> 0;
  return [w(0), w(1), w(2), w(3)];
}

/** Whether an instance's exports are this version's core (its layout's magic). */
export const isCore = (core: CoreExports) =>
  typeof core.layout === 'function' && core.layout(0) === 0x50414d57 && typeof core.init === 'function';

const tagBytes = (tag: number) => new Uint8Array(new Uint32Array([tag]).buffer);
const tagOf = (bytes: Uint8Array) => new Uint32Array(bytes.slice(0, 4).buffer)[0];

/** One page of keys from `scan`. */
/** An entry with its revisions (getEntry). */
export interface EntryInfo {
  value: Value | number;
  /** The revision of the change that created the key (its first value since it was last absent). */
  createRevision: number;
  /** The revision of the entry's last change. */
  modRevision: number;
  /** Changes since the key was created: 1 for its first value. */
  version: number;
  /** When it expires (ms on the map's clock), or `undefined` if never. */
  expiresAt: number | undefined;
}

/** Options of update(): those of a write, and how many times to try. */
export interface UpdateOptions extends WriteOptions {
  /** Reads, calls and tries to write at most this many times before ERR_CONFLICT. @default 16 */
  retries?: number;
}

const UPDATE_RETRIES = 16;
/** The table of decoded strings: slots, and the longest value kept. */
const DECODED_SLOTS = 1024;
const DECODED_SHIFT = 22; // 32 - log2(DECODED_SLOTS)
const DECODED_MAX_BYTES = 1024;
/** See BaseMap.decoded. */
export interface Decoded {
  entries: Int32Array;
  revs: Int32Array;
  values: (string | undefined)[];
}
/** getMany's batches: keys per call into the core, and bytes of their records. */
const BATCH_KEYS = 64;
const BATCH_BYTES = 16384;
/** Bytes of an atomic commit record's header (assembly/commit.ts). */
const ATOMIC_RECORD = 64;
const textEncoder = new TextEncoder();
const keyId = (b: Uint8Array) => {
  let id = '';
  for (let i = 0; i < b.length; i += 8192) id += String.fromCharCode(...b.subarray(i, i + 8192));
  return id;
};

export interface ScanPage {
  /** Keys found (a key that is not valid UTF-8 comes back as a Uint8Array). */
  keys: Key[];
  /** Pass it to the next `scan` call. */
  cursor: number;
  /** Whether every key has been visited (`cursor` is then 0). */
  done: boolean;
}

/** What `scan(options)` takes. */
export interface ScanOptions {
  /** Only keys that start with these bytes (a string: its UTF-8 bytes). */
  prefix?: Key;
  /** Where to go on from: a `cursor` a scan returned, or 0 (the default). */
  cursor?: number;
  /** About how many entries a page holds at most (default 256; keys that
   *  share a hash home come in one page, which may pass it by a few). */
  limit?: number;
}

/** One page of entries from `scan(options)`. */
export interface EntryPage {
  /** [key, value] of each key found, the value it holds when read (a key
   *  deleted by then is left out). */
  entries: [Key, Value | number][];
  /** Pass it to the next `scan` call. */
  cursor: number;
  /** Whether every key has been visited (`cursor` is then 0). A page before
   *  that may hold fewer entries than `limit`, even none. */
  done: boolean;
}

/** What `iterate(options)` takes. */
export interface IterateOptions {
  /** Only keys that start with these bytes (a string: its UTF-8 bytes). */
  prefix?: Key;
  /** About how many entries a batch holds at most (default 256). */
  batchSize?: number;
  /** Stops the iteration: the pending (or next) step rejects with its reason. */
  signal?: AbortSignal;
}

function checkCursor(cursor: unknown): void {
  if (!Number.isInteger(cursor) || (cursor as number) < 0 || (cursor as number) > 0xffffffff) {
    throw new MapError('ERR_INVALID_OPTION', `scan: the cursor must be one a scan returned (or 0), got ${describe(cursor)}`);
  }
}

function checkLimit(limit: unknown, what: string): void {
  if (!Number.isInteger(limit) || (limit as number) < 1 || (limit as number) > 1 << 20) {
    throw new MapError('ERR_INVALID_OPTION', `${what} must be an integer from 1 to 2^20, got ${describe(limit)}`);
  }
}

/** A scan's prefix as bytes (a string: its UTF-8 bytes; may be empty). */
function prefixBytes(prefix: unknown): Uint8Array {
  if (typeof prefix === 'string') {
    if (!prefix.isWellFormed()) throw new MapError('ERR_INVALID_OPTION', 'scan: option "prefix" has a lone surrogate');
    return new TextEncoder().encode(prefix);
  }
  if (isBytes(prefix)) return prefix as Uint8Array;
  throw new MapError('ERR_INVALID_OPTION', `scan: option "prefix" must be a string or a Uint8Array, got ${describe(prefix)}`);
}

/** Whether the `len` bytes of u8 at `at` start with `prefix`. */
function startsWith(u8: Uint8Array, at: number, len: number, prefix: Uint8Array): boolean {
  if (len < prefix.length) return false;
  for (let k = 0; k < prefix.length; k++) if (u8[at + k] !== prefix[k]) return false;
  return true;
}

/** A turn of the event loop (a macrotask), or the signal's reason as soon
 *  as it aborts. */
function turn(signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, 0);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Home slots a scan page visits at most (each: a few slots per table). */
const SCAN_STEPS = 1024;
/** Home slots one scan(options) call visits at most, however few of their
 *  keys match its prefix: a page's work stays bounded. */
const SCAN_PAGE_STEPS = 16 * SCAN_STEPS;
/** getOrCompute flights one attachment (thread) holds open at once. Each is
 *  an entry in the map's registry, outside every namespace's quota: past
 *  this, a caller computes without one, so that a view cannot fill the map
 *  with computations that never end (a thread's flights stay bounded, and
 *  threads are: MAX_THREADS). */
export const MAX_FLIGHTS = 1024;

/** A view's constructor arguments (see BaseMap's constructor). */
type ViewArgs = [
  s: Session, tag: number, maxKey: number, maxValue: number, defaultTtl: number,
  validateKey?: (key: Uint8Array) => boolean | string, ns?: string,
];
/** The constructor of a view class (protected: reached through a cast). */
export type ViewClass<M> = new (...args: ViewArgs) => M;

/** A new map's core: its memory, module and this thread's instance, formatted as an empty map. */
export interface NewCore {
  memory: WebAssembly.Memory;
  module: WebAssembly.Module;
  core: CoreExports;
  clock: () => number;
}

/**
 * Checks `options`, makes the memory (`kind` 'shared': all of maxMemoryBytes
 * at once; 'local': a page, growing up to it) and formats an empty map in it.
 */
export async function newCore(options: SharedMapOptions | undefined, kind: CoreKind): Promise<NewCore> {
  const opts = resolveOptions(options);
  const clock = checkClock(options?.clock);
  const defaultTtl = options?.defaultTtl === undefined ? 0 : checkTtl(options.defaultTtl, 'option "defaultTtl"');
  if (kind === 'shared' && typeof SharedArrayBuffer === 'undefined') {
    throw new MapError(
      'ERR_NO_SHARED_MEMORY',
      'shared memory is not available here (in a browser, serve the page with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp); LocalMap works without it, in one thread',
    );
  }
  const given = options?.module;
  const file = kind === 'shared' ? 'wasmap.wasm' : 'wasmap-local.wasm';
  if (given !== undefined && (typeof given !== 'object' || given === null || !(given instanceof WebAssembly.Module))) {
    throw new MapError('ERR_INVALID_OPTION', `option "module" must be a WebAssembly.Module of ${file}, got ${describe(given)}`);
  }
  const maxPages = Math.floor(opts.maxMemoryBytes / PAGE);
  // A shared memory takes the whole bound up front (address space; the OS
  // backs pages only as they are touched). A shared memory that grows is not
  // safe to use: V8 updates another thread's instance to the new size only at
  // its next interrupt check, and until then that thread traps ("memory
  // access out of bounds") on blocks another thread placed in the new pages.
  // A local memory has one instance, so it grows as the core needs (unless
  // pre-touched: then it is all there from the start).
  const memory = kind === 'shared'
    ? new WebAssembly.Memory({ initial: maxPages, maximum: maxPages, shared: true })
    : new WebAssembly.Memory({ initial: opts.preTouch ? maxPages : 1, maximum: maxPages });
  if (opts.preTouch) preTouch(memory);
  const module = given ?? (await coreModule(kind));
  let core: CoreExports;
  try {
    core = instantiate(module, memory);
    if (!isCore(core)) throw new Error('its exports are not the core\'s');
  } catch (err) {
    throw new MapError('ERR_INVALID_OPTION', `option "module" is not wasmap's ${file}: ${(err as Error).message}`);
  }
  const seed = crypto.getRandomValues(new Uint32Array(1))[0];
  const minCap = nextPow2(opts.initialCapacity * 2);
  const status = core.init(
    maxPages * PAGE, seed, opts.maxKeyBytes, opts.maxValueBytes, minCap, clock(), defaultTtl,
    opts.maxEntries, opts.eviction === 'lru' ? 1 : 0, kind === 'shared' ? 1 : 0,
  );
  if (status !== 0) {
    throw new MapError('ERR_INVALID_OPTION', `option "initialCapacity" (${opts.initialCapacity}) does not fit in maxMemoryBytes`);
  }
  newToken(memory, core, NS_DEFAULT); // the map's own handle's
  return { memory, module, core, clock };
}

/** OS pages are 4 KiB here; where they are larger, every 4 KiB still touches each. */
const OS_PAGE = 4096;

/**
 * Writes a zero to every OS page of a fresh (all-zero) memory, so that the
 * OS backs them all now rather than on first use by an operation.
 */
function preTouch(memory: WebAssembly.Memory): void {
  const u8 = new Uint8Array(memory.buffer);
  for (let at = 0; at < u8.length; at += OS_PAGE) u8[at] = 0;
}

/** Claims a thread slot for `owner` in the map and opens this thread's session. */
export function openSession(
  memory: WebAssembly.Memory, module: WebAssembly.Module, core: CoreExports, owner: number, clock: () => number,
): Session {
  const r = core.attach(owner, SCRATCH_BYTES);
  if (r === ST_CAPACITY) {
    throw new MapError('ERR_CAPACITY', 'no room to attach this thread (too many threads, or the map is full)');
  }
  if (r < 0) throw new MapError('ERR_INVALID_HANDLE', 'the memory does not hold a wasmap map of this version');
  return new Session(memory, module, core, owner, clock);
}

/**
 * The map API, the same on a `SharedMap` (one map shared by every thread
 * that attaches to it) and a `LocalMap` (one instance's own map, where
 * shared memory is unavailable). Every operation is synchronous and atomic.
 */
export abstract class BaseMap {
  protected readonly s: Session;
  /** The namespace tag every key of this view starts with. */
  protected readonly tag: number;
  /** This view's limits (a namespace's may be lower than the map's). */
  private readonly maxKey: number;
  private readonly maxValue: number;
  private readonly validateKey: ((key: Uint8Array) => boolean | string) | undefined;
  /** Milliseconds new entries live without a ttl of their own; 0 = forever. */
  private readonly defaultTtl: number;
  /** The modRevision the next compare-and-swap or -delete expects instead
   *  of a value (update's), or -1. */
  private expectRev = -1;
  /** This thread's read cache (the map itself only; read-cache.ts), or null. */
  private cache: ReadCache | null = null;
  /** Strings this thread decoded lately, by the entry they came from (its
   *  address and revision), one per slot of a direct-mapped table: a get
   *  that finds the same entry again returns the same string, without
   *  decoding it. Shared by the views of a session; null on a memory that
   *  may grow (LocalMap: views of it go stale). */
  private readonly decoded: Decoded | null;
  /** The namespace's name, or undefined for the map itself. */
  protected readonly ns: string | undefined;
  private viewClosed = false;
  /** Where the last write put its output. */
  private outAt = 0;

  protected constructor(
    s: Session, tag: number, maxKey: number, maxValue: number, defaultTtl: number,
    validateKey?: (key: Uint8Array) => boolean | string, ns?: string,
  ) {
    this.s = s;
    this.tag = tag;
    this.maxKey = maxKey;
    this.maxValue = maxValue;
    this.defaultTtl = defaultTtl;
    this.validateKey = validateKey;
    this.ns = ns;
    this.decoded = s.growable ? null : (s.decoded ??= {
      entries: new Int32Array(DECODED_SLOTS), revs: new Int32Array(DECODED_SLOTS),
      values: new Array<string | undefined>(DECODED_SLOTS).fill(undefined),
    });
  }

  /** Exact number of entries (of this namespace), the same from every thread. */
  get size(): number {
    return this.live().nsSize(this.tag, this.s.now());
  }

  get(key: Key): Value | number | undefined {
    const cache = this.cache;
    if (cache !== null && typeof key === 'string') {
      if (this.s.core === null) throw new MapError('ERR_CLOSED', 'this map was closed in this thread');
      const v = cache.lookup(key);
      if (v !== MISS) return v;
    }
    const core = this.live();
    const s = this.s;
    const kl = this.putKey(key);
    const out = s.sp + s.keyArea;
    const r = core.get(s.sp, kl, out, s.scap - s.keyArea, s.now());
    if (r < 0) {
      if (r === ST_NOT_FOUND) return undefined;
      throw s.error(r);
    }
    const v = this.decode(r, out);
    if (cache !== null && typeof key === 'string' && typeof v !== 'object') cache.fill(key, v);
    return v;
  }

  /** get's value at `out` (its code `r`): a string decoded before from this
   *  very entry (same address, same revision: entries never change, see
   *  `decoded`) is that string again; else it is decoded and kept. */
  private decode(r: number, out: number): Value | number {
    const d = this.decoded;
    const kind = r & 7;
    if (d === null || kind === KIND_BYTES || kind === KIND_COUNTER || r >>> 3 > DECODED_MAX_BYTES) return this.s.readValue(r, out);
    const i32 = this.s.i32;
    const e = i32[(out - 8) >> 2];
    const rev = i32[(out - 4) >> 2];
    const at = Math.imul(e, 0x9e3779b1) >>> DECODED_SHIFT; // entries lie at multiples of their size
    if (d.entries[at] === e && d.revs[at] === rev) return d.values[at]!;
    const v = this.s.readValue(r, out) as string;
    d.entries[at] = e;
    d.revs[at] = rev;
    d.values[at] = v;
    return v;
  }

  /**
   * The values of `keys` (each as `get` gives it: `undefined` if absent), in
   * their order. Each read is atomic on its own, as a get; the batch is not
   * one snapshot (`atomic()` gives one). Faster than as many gets over a
   * large map: the core loads every key's slot, then every entry, before it
   * looks any up, so that their cache misses overlap.
   */
  getMany(keys: readonly Key[]): (Value | number | undefined)[] {
    const core = this.live();
    const s = this.s;
    if (!Array.isArray(keys)) throw keyError(keys as unknown as Key);
    const results = new Array<Value | number | undefined>(keys.length);
    s.ensure(s.keyArea + 2 * BATCH_BYTES + MIN_OUT);
    let i = 0;
    while (i < keys.length) {
      // A batch of records after the key area: u32 length, u32 (the core's),
      // the key's bytes padded to 8.
      const recs = s.sp + s.keyArea;
      let at = recs;
      let n = 0;
      while (i + n < keys.length && n < BATCH_KEYS && at - recs < BATCH_BYTES) {
        const kl = this.putKey(keys[i + n]);
        s.i32[at >> 2] = kl;
        s.u8.copyWithin(at + 8, s.sp, s.sp + kl);
        at += 8 + align8(kl);
        n++;
      }
      const out = at;
      const r = core.getMany(recs, n, out, s.scap - (out - s.sp), s.now());
      if (r < 0) throw s.error(r);
      if (r === 0) {
        // The first value does not fit the buffer: a get of its own.
        results[i] = this.get(keys[i]);
        i++;
        continue;
      }
      let o = out;
      for (let k = 0; k < r; k++) {
        const code = s.i32[o >> 2];
        if (code === ST_NOT_FOUND) {
          results[i + k] = undefined;
          o += 8;
        } else {
          results[i + k] = s.readValue(code, o + 8);
          o += 8 + align8((code & 7) === KIND_COUNTER ? 8 : code >>> 3);
        }
      }
      i += r;
    }
    return results;
  }

  /**
   * The map's revision: the number of the last change (set, delete,
   * increment, eviction, expiry's removal...) that took effect, in any
   * thread. Changes are numbered in the order they take effect; numbers may
   * be skipped.
   */
  get revision(): number {
    return this.live().revision();
  }

  /**
   * The entry at `key` with its revisions (etcd's): the revision that
   * created the key, that of its last change, how many times it changed
   * since it was created (1 for its first value), and its expiry (ms on the
   * map's clock, `undefined` if none); `undefined` if absent.
   */
  getEntry(key: Key): EntryInfo | undefined {
    const core = this.live();
    const s = this.s;
    const kl = this.putKey(key);
    const out = s.sp + s.keyArea;
    const r = core.getEntry(s.sp, kl, out, s.scap - s.keyArea, s.now());
    if (r < 0) {
      if (r === ST_NOT_FOUND) return undefined;
      throw s.error(r);
    }
    const modRevision = core.entryModRevision.value as number;
    const createRevision = core.entryCreateRevision.value as number;
    const version = core.entryVersion.value as number;
    const x = core.entryExpiresAt.value as number;
    return { value: s.readValue(r, out), createRevision, modRevision, version, expiresAt: x === 0 ? undefined : x };
  }

  /**
   * Optimistic read-modify-write: reads the entry, calls `fn(current)`
   * (`undefined` if absent) with nothing held, and writes what it returns
   * (deletes the key if it returns `undefined`) only if the entry did not
   * change meanwhile (its modRevision, so a change back to the same value
   * counts too); else reads again and calls `fn` again, up to
   * `options.retries` (default 16) times, then throws ERR_CONFLICT, having
   * written nothing. Returns the value written (`undefined` if deleted or
   * left absent). `options.ttl` applies to the value written, as for set.
   */
  update(key: Key, fn: (current: Value | number | undefined) => Value | undefined, options?: UpdateOptions): Value | undefined {
    const retries = options?.retries ?? UPDATE_RETRIES;
    if (!Number.isSafeInteger(retries) || retries < 1) {
      throw new MapError('ERR_INVALID_OPTION', `retries must be a positive integer, not ${String(retries)}`);
    }
    if (typeof fn !== 'function') throw new MapError('ERR_INVALID_OPTION', 'update needs a function');
    for (let attempt = 0; attempt < retries; attempt++) {
      const entry = this.getEntry(key);
      const next = fn(entry?.value);
      if (next === undefined && entry === undefined) return undefined;
      this.expectRev = entry === undefined ? 0 : entry.modRevision;
      let r: number;
      try {
        r = next === undefined
          ? this.write(MODE_CAD, key, undefined, undefined, undefined)
          : this.write(MODE_CAS, key, next, undefined, options);
      } finally {
        this.expectRev = -1;
      }
      if (r === R_DONE) return next;
    }
    throw new MapError('ERR_CONFLICT', `the entry kept changing: update gave up after ${retries} tries`);
  }

  /**
   * A commit of several keys' checks and writes as one change, at one
   * revision, seen by every thread all at once or not at all (Deno KV's
   * `atomic()`): `map.atomic().check(k, rev).set(k, v).commit()`.
   */
  atomic(): AtomicOperation {
    this.live();
    return new AtomicOperation((ops) => this.commitOps(ops));
  }

  has(key: Key): boolean {
    const core = this.live();
    const kl = this.putKey(key);
    return core.has(this.s.sp, kl, this.s.now()) === 1;
  }

  /** Stores `value`; `options.ttl` (ms) makes it expire (default: defaultTtl). */
  set(key: Key, value: Value, options?: WriteOptions): this {
    const core = this.live();
    const s = this.s;
    const expires = this.expiresFor(options);
    const vcap = this.reserve(value, undefined);
    if (vcap < 0) {
      const r = this.writeInPlace(MODE_SET, key, value, undefined, expires);
      if (r !== R_DONE) throw s.error(r);
      return this;
    }
    const kl = this.putKey(key);
    const vp = s.sp + s.keyArea;
    const vl = this.putValue(value, vp, vcap);
    const vkind = this.putKind;
    const r = core.set(s.sp, kl, vp, vl, vkind, expires === 0 ? s.now() : this.clockAt, expires);
    if (r !== R_DONE) throw s.error(r);
    return this;
  }

  delete(key: Key): boolean {
    return this.write(MODE_DELETE, key, undefined, undefined, undefined) === R_DONE;
  }

  /** Go's LoadOrStore: the present value (`loaded: true`), or stores `value`. */
  getOrSet(key: Key, value: Value, options?: WriteOptions): { value: Value | number; loaded: boolean } {
    const r = this.write(MODE_GET_OR_SET, key, value, undefined, options);
    if (r === R_DONE) return { value: typeof value === 'string' ? value : value.slice(), loaded: false };
    return { value: this.s.readValue(r, this.outAt), loaded: true };
  }

  /**
   * The value at `key`, or, if there is none, `compute(key)`'s, stored
   * (with `options.ttl`) and returned: computed once for every caller at
   * once in every thread of the process (a single flight). The others wait
   * without blocking their thread (`Atomics.waitAsync` where it exists, a
   * poll elsewhere) and get the stored value. If the computing caller
   * throws, its own call rejects and a waiting caller computes instead; so
   * it does if the computing thread closes, is released or dies, or after
   * `options.lease` ms (default 10 s). A value whose TTL runs out before a
   * waiter reads it is computed again. A thread holds at most MAX_FLIGHTS
   * (1,024) computations open at once; past that, a caller for a key no
   * one computes computes without a flight.
   */
  async getOrCompute(
    key: Key, compute: (key: Key) => Value | Promise<Value>, options?: ComputeOptions,
  ): Promise<Value | number> {
    if (typeof compute !== 'function') {
      throw new MapError('ERR_INVALID_OPTION', `getOrCompute needs a function to compute the value, got ${describe(compute)}`);
    }
    const { lease = 10_000, ...write } = options ?? {};
    checkTtl(lease, 'option "lease"');
    if (write.ttl !== undefined) checkTtl(write.ttl);
    const flight = this.flightKey(key);
    const mine = `${this.s.owner}:${Math.random().toString(36).slice(2)}`;
    const word = this.live().flightWordAddress() >> 2;
    for (let wait = 1; ; wait = Math.min(wait * 2, 100)) {
      const seen = Atomics.load(this.s.i32, word);
      const present = this.get(key);
      if (present !== undefined) return present;
      if (this.s.flights >= MAX_FLIGHTS && this.registry().get(flight) === undefined) {
        // This thread holds as many flights open as it may: computed
        // without one (the value is right; other callers may compute it too).
        const value = await compute(key);
        this.set(key, value, write);
        return value;
      }
      const { value: holder, loaded } = this.registry().getOrSet(flight, mine, { ttl: lease });
      if (!loaded) return this.computeFlight(key, compute, write, flight, mine, word);
      // Another caller computes: unless its thread is gone, wait for it.
      const owner = Number(String(holder).split(':')[0]);
      if (this.live().ownerAttached(owner) === 0) {
        this.registry().compareAndDelete(flight, holder);
        continue;
      }
      await this.flightWait(word, seen, wait);
    }
  }

  /** Computes and stores the value of a flight this caller holds, then
   *  ends the flight and wakes its waiters, whatever happened. */
  private async computeFlight(
    key: Key, compute: (key: Key) => Value | Promise<Value>, write: WriteOptions, flight: Uint8Array, mine: string, word: number,
  ): Promise<Value | number> {
    this.s.flights++;
    try {
      // Stored between this caller's read and its claim: nothing to compute.
      const present = this.get(key);
      if (present !== undefined) return present;
      const value = await compute(key);
      this.set(key, value, write);
      return value;
    } finally {
      this.s.flights--;
      if (!this.closed) this.registry().compareAndDelete(flight, mine);
      Atomics.add(this.s.i32, word, 1);
      if (!this.s.growable) Atomics.notify(this.s.i32, word);
    }
  }

  /** Waits until a flight ends (the word moves past `seen`), at most `ms`. */
  private async flightWait(word: number, seen: number, ms: number): Promise<void> {
    const i32 = this.s.i32;
    const waitAsync = (Atomics as { waitAsync?: (a: Int32Array, i: number, v: number, t: number) => { async: boolean; value: Promise<string> | string } }).waitAsync;
    if (!this.s.growable && typeof waitAsync === 'function') {
      const r = waitAsync(i32, word, seen, ms * 5);
      if (!r.async) return;
      // With a timer beside it: in a Node worker whose event loop has
      // nothing else to do, a waitAsync's promise was seen never to settle,
      // even past its timeout.
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([r.value, new Promise((resolve) => (timer = setTimeout(resolve, ms * 5)))]);
      clearTimeout(timer);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, ms));
  }

  /** The registry key of a getOrCompute flight for `key` in this view:
   *  0xFF (never in a namespace's name, which is UTF-8), the view's tag,
   *  then the key's bytes, or (0xFE) a 128-bit digest of them if too long
   *  (two keys sharing a flight only wait for each other once). */
  private flightKey(key: Key): Uint8Array {
    const bytes = typeof key === 'string' ? new TextEncoder().encode(key) : key;
    if (!isBytes(bytes)) throw keyError(key);
    const head = [0xff, this.tag & 255, (this.tag >>> 8) & 255, (this.tag >>> 16) & 255, this.tag >>> 24];
    if (bytes.length + head.length <= this.s.maxKey) return new Uint8Array([...head, ...bytes]);
    head[0] = 0xfe;
    let h = [0x811c9dc5, 0x01000193, 0x050c5d1f, 0x2f2b7c1d];
    for (const b of bytes) h = h.map((x, k) => Math.imul(x ^ b ^ k, 0x01000193) >>> 0);
    return new Uint8Array([...head, ...new Uint8Array(new Uint32Array(h).buffer)]);
  }

  /** Go's LoadAndDelete: removes the key, returning its value (or undefined). */
  getAndDelete(key: Key): Value | number | undefined {
    const r = this.write(MODE_GET_AND_DELETE, key, undefined, undefined, undefined);
    return r === ST_NOT_FOUND ? undefined : this.s.readValue(r, this.outAt);
  }

  /** Stores `value`, returning the previous value (or undefined). */
  swap(key: Key, value: Value, options?: WriteOptions): Value | number | undefined {
    const r = this.write(MODE_SWAP, key, value, undefined, options);
    return r === ST_NOT_FOUND ? undefined : this.s.readValue(r, this.outAt);
  }

  /**
   * Stores `next` only if the present value equals `expected` (same kind and
   * bytes; a number matches a counter of that value).
   */
  compareAndSwap(key: Key, expected: Value | number, next: Value, options?: WriteOptions): boolean {
    return this.write(MODE_CAS, key, next, expected, options) === R_DONE;
  }

  /** Deletes the key only if its value equals `expected` (as compareAndSwap). */
  compareAndDelete(key: Key, expected: Value | number): boolean {
    return this.write(MODE_CAD, key, undefined, expected, undefined) === R_DONE;
  }

  /**
   * Adds `delta` (a safe integer) to the counter at `key`, creating it at 0,
   * and returns the new value. Counters are 64-bit words kept within
   * ±Number.MAX_SAFE_INTEGER, so every value is exact as a number; an
   * increment past that fails with ERR_COUNTER_OVERFLOW and changes nothing.
   * `options.ttl` (default: defaultTtl) is the expiry of a counter this call
   * creates; an existing counter keeps its own.
   */
  increment(key: Key, delta = 1, options?: WriteOptions): number {
    const core = this.live();
    if (!Number.isSafeInteger(delta)) {
      throw new MapError('ERR_INVALID_VALUE', `increment: delta must be a safe integer, got ${describe(delta)}`);
    }
    const expires = this.expiresFor(options);
    const kl = this.putKey(key);
    const v = core.increment(this.s.sp, kl, delta, expires === 0 ? this.s.now() : this.clockAt, expires);
    if (v !== v) throw this.s.error(core.lastStatus());
    return v;
  }

  /**
   * Deletes every entry (of this namespace) present when it starts, each
   * delete atomic; entries set concurrently by other threads may survive, as
   * with any concurrent map.
   */
  clear(): void {
    this.live().clear(this.tag, this.s.now());
  }

  /**
   * One page of this map's (or namespace's) keys, from `cursor` (0 to
   * start). Pass the returned cursor back until `done`. Like Redis's SCAN,
   * it holds nothing between calls and any thread may write meanwhile: a key
   * present from the first call to the last is returned at least once; one
   * added or deleted meanwhile may or may not be; a key may come twice if
   * the table grows under way. Expired entries are skipped.
   */
  scan(cursor?: number): ScanPage;
  /**
   * One page of this map's (or namespace's) entries whose keys start with
   * `prefix` (all of them without), from `cursor` (0 to start): about
   * `limit` of them at most, each with the value it holds when read. Pass
   * the returned cursor back until `done`. The same guarantee as
   * `scan(cursor)`: a key present from the first call to the last is
   * returned at least once, and may come twice if the table grows or
   * shrinks under way. A prefix scan visits every key of the map (a hash
   * map has no order to seek in), a bounded number per call: a page may
   * hold fewer entries than `limit`, even none, before `done`.
   */
  scan(options: ScanOptions): EntryPage;
  scan(arg: number | ScanOptions = 0): ScanPage | EntryPage {
    if (typeof arg === 'object' && arg !== null) return this.scanEntries(arg);
    const cursor = arg;
    this.live();
    checkCursor(cursor);
    const keys: Key[] = [];
    const page = this.scanPage(cursor, SCAN_STEPS, undefined, keys);
    return { keys, cursor: page.cursor, done: page.done };
  }

  /** scan(options): pages of the core's scan until `limit` entries match,
   *  SCAN_PAGE_STEPS homes are visited, or the walk is done. */
  private scanEntries(options: ScanOptions): EntryPage {
    this.live();
    const { prefix, cursor = 0, limit = 256 } = options;
    checkCursor(cursor);
    checkLimit(limit, 'scan: option "limit"');
    const want = prefix === undefined ? undefined : prefixBytes(prefix);
    const keys: Key[] = [];
    let at = cursor;
    let done = false;
    for (let visited = 0; keys.length < limit && visited < SCAN_PAGE_STEPS && !done;) {
      // As many homes as entries are still wanted: a home holds fewer than
      // one key on average, so a page passes `limit` by the keys of one
      // home at most.
      const steps = Math.min(SCAN_STEPS, Math.max(1, limit - keys.length), SCAN_PAGE_STEPS - visited);
      const page = this.scanPage(at, steps, want, keys);
      visited += steps;
      at = page.cursor;
      done = page.done;
    }
    const entries: [Key, Value | number][] = [];
    for (const key of keys) {
      const value = this.get(key);
      if (value !== undefined) entries.push([key, value]);
    }
    return { entries, cursor: done ? 0 : at, done };
  }

  /** One call of the core's scan from `cursor`, over `steps` homes: the keys
   *  found (those that start with `prefix`, if given) go to `keys`. */
  private scanPage(cursor: number, steps: number, prefix: Uint8Array | undefined, keys: Key[]): { cursor: number; done: boolean } {
    const core = this.live();
    const s = this.s;
    for (;;) {
      const out = s.sp + s.keyArea;
      const cap = s.scap - s.keyArea;
      const r = core.scan(this.tag, cursor, out, cap, steps, s.now());
      if (r === ST_SCAN_TOO_SMALL) {
        s.ensure(s.scap * 2); // one home's keys did not fit: a bigger buffer
        continue;
      }
      if (r < 0) throw s.error(r);
      if (s.growable && s.u8.byteLength === 0) s.refreshViews();
      const i = out >> 2;
      const count = s.i32[i + 1];
      const u8 = s.u8;
      let at = out + 16;
      for (let k = 0; k < count; k++) {
        const len = s.i32[at >> 2];
        if (prefix === undefined || startsWith(u8, at + 4, len, prefix)) keys.push(keyFromBytes(u8, at + 4, len));
        at += 4 + ((len + 3) & ~3);
      }
      return { cursor: s.i32[i] >>> 0, done: s.i32[i + 2] === 1 };
    }
  }

  /**
   * This map's (or namespace's) entries whose keys start with `prefix`, as
   * an async iterable of batches of about `batchSize` [key, value] pairs
   * (see `scan(options)` for what writes meanwhile do). It reads a batch
   * only when the consumer asks for it (never ahead of a slow one), gives
   * the event loop a turn between batches, and holds nothing between them:
   * a `break` ends it, and `signal` aborting rejects the pending step with
   * the signal's reason at once.
   */
  async *iterate(options: IterateOptions = {}): AsyncGenerator<[Key, Value | number][], void, undefined> {
    this.live();
    const { prefix, batchSize = 256, signal } = options;
    if (signal !== undefined && !(signal instanceof AbortSignal)) {
      throw new MapError('ERR_INVALID_OPTION', `iterate: option "signal" must be an AbortSignal, got ${describe(signal)}`);
    }
    checkLimit(batchSize, 'iterate: option "batchSize"');
    if (prefix !== undefined) prefixBytes(prefix);
    let cursor = 0;
    for (;;) {
      signal?.throwIfAborted();
      const page = this.scanEntries({ prefix, cursor, limit: batchSize });
      if (page.entries.length > 0) yield page.entries;
      if (page.done) return;
      cursor = page.cursor;
      await turn(signal);
    }
  }

  /**
   * Every key of this map (or namespace), a page at a time (see `scan` for
   * what a key written or deleted meanwhile does). Lazy: stop iterating (a
   * `break`) and nothing more is read.
   */
  *keys(): IterableIterator<Key> {
    let cursor = 0;
    for (;;) {
      const page = this.scan(cursor);
      yield* page.keys;
      if (page.done) return;
      cursor = page.cursor;
    }
  }

  /**
   * Every [key, value] of this map (or namespace): each key from `keys()`
   * with the value it holds when reached (a key deleted by then is skipped).
   * Go's `Range`, as an iterator: `break` stops it.
   */
  *entries(): IterableIterator<[Key, Value | number]> {
    for (const key of this.keys()) {
      const value = this.get(key);
      if (value !== undefined) yield [key, value];
    }
  }

  [Symbol.iterator](): IterableIterator<[Key, Value | number]> {
    return this.entries();
  }

  /**
   * This map's (or namespace's) entries as a byte stream (a web
   * `ReadableStream`; the format: docs/export.md), for
   * `SharedMap.restore` / `LocalMap.restore`: values, counters and absolute
   * expiries, with the map's options. It reads the live map, so it needs
   * every thread to leave the map unchanged until it ends (a service's
   * shutdown): if any write lands meanwhile the stream fails with
   * `ERR_CONCURRENT_WRITE` and never sends its end block, so what it sent
   * cannot be restored. Entries go out as the stream is read.
   */
  export(): ReadableStream<Uint8Array> {
    const core = this.live();
    const revision = core.revision();
    let header: Uint8Array | null = ExportWriter.header({
      format: 'wasmap',
      revision,
      exportedAt: this.s.clock(),
      options: {
        maxKeyBytes: this.maxKey,
        maxValueBytes: this.maxValue,
        maxMemoryBytes: core.memoryLimit(),
        ...(this.defaultTtl > 0 ? { defaultTtl: this.defaultTtl } : {}),
      },
    });
    const writer = new ExportWriter();
    let cursor = 0;
    let done = false;
    const changed = () => new MapError(
      'ERR_CONCURRENT_WRITE',
      `the map changed while it was exported (revision ${revision}, now ${this.s.core?.revision()}); export reads the live map: ` +
      'let no thread write until the stream ends',
    );
    return new ReadableStream<Uint8Array>({
      pull: (controller) => {
        if (header !== null) {
          controller.enqueue(header);
          header = null;
          return;
        }
        for (;;) {
          if (done) {
            const last = writer.flush();
            if (last !== null) controller.enqueue(last);
            controller.enqueue(writer.end(revision));
            controller.close();
            return;
          }
          const page = this.scan(cursor);
          const blocks: Uint8Array[] = [];
          for (const key of page.keys) {
            const e = this.getEntry(key);
            if (e === undefined) continue; // expired meanwhile: not a change
            const block = writer.add({ key, value: e.value, expiresAt: e.expiresAt });
            if (block !== null) blocks.push(block);
          }
          // What was read is the map at `revision` only if nothing changed since.
          if (this.live().revision() !== revision) throw changed();
          cursor = page.cursor;
          done = page.done;
          for (const b of blocks) controller.enqueue(b);
          if (blocks.length > 0) return;
        }
      },
    }, { highWaterMark: 0 });
  }

  /**
   * Milliseconds until the entry at `key` expires: `Infinity` if it has no
   * expiry, `undefined` if it is absent (or already expired).
   */
  ttl(key: Key): number | undefined {
    const core = this.live();
    const kl = this.putKey(key);
    const now = this.s.clock();
    const x = core.expiresAt(this.s.sp, kl, now);
    if (x < 0) return undefined;
    return x === 0 ? Infinity : Math.max(0, x - now);
  }

  /** Gives the entry at `key` a new time to live (ms from now). Returns whether it was present. */
  expire(key: Key, ttl: number): boolean {
    const core = this.live();
    checkTtl(ttl);
    const kl = this.putKey(key);
    const now = this.s.clock();
    const r = core.retime(this.s.sp, kl, now, now + ttl);
    if (r !== R_DONE && r !== R_REFUSED) throw this.s.error(r);
    return r === R_DONE;
  }

  /** Removes the expiry of the entry at `key`. Returns whether it was present. */
  persist(key: Key): boolean {
    const core = this.live();
    const kl = this.putKey(key);
    const r = core.retime(this.s.sp, kl, this.s.now(), 0);
    if (r !== R_DONE && r !== R_REFUSED) throw this.s.error(r);
    return r === R_DONE;
  }

  /**
   * Removes every expired entry now (their memory goes back to the map).
   * Expired entries are never returned or counted anyway, and are also
   * removed as `size` is read and, a little at a time, by every write.
   * Returns how many this call removed (on a view, of its namespace).
   */
  purgeExpired(): number {
    const core = this.live();
    if (this.ns === undefined) return core.purge(this.s.clock());
    // A view counts its own namespace's only (see stats()).
    const before = core.nsSize(this.tag, 0);
    core.purge(this.s.clock());
    return Math.max(0, before - core.nsSize(this.tag, 0));
  }

  /**
   * A view of the namespace `name`, with the whole map API scoped to it: its
   * keys never collide with another namespace's, and `size`, `clear()` and
   * `stats().namespace` see only its own entries. A view is a capability: it
   * cannot reach other namespaces. The namespace is created on first use,
   * with `options` as its quotas, and is found by name from every thread that
   * holds the map. Only the map itself (not a namespace view) has namespaces.
   */
  namespace(name: string, options?: NamespaceOptions): MapView<this> {
    this.rootOnly('namespace');
    const s = this.s;
    const core = this.live();
    const opts = resolveNamespaceOptions(options, s.maxKey, s.maxValue);
    const registry = this.registry();
    const nameKey = this.namespaceKey(name);
    for (let attempt = 0; attempt < 100; attempt++) {
      const found = registry.get(nameKey);
      if (found instanceof Uint8Array) {
        const tag = tagOf(found);
        const info = this.nsInfo(tag);
        if (info.live) {
          for (const [option, have] of [
            ['maxEntries', info.maxEntries], ['maxMemoryBytes', info.maxMemoryBytes],
            ['maxKeyBytes', info.maxKey], ['maxValueBytes', info.maxValue], ['defaultTtl', info.defaultTtl],
          ] as const) {
            const want = (options as Record<string, unknown> | undefined)?.[option];
            if (want !== undefined && want !== have) {
              throw new MapError(
                'ERR_INVALID_OPTION',
                `namespace "${name}" exists with option "${option}" ${have}, not ${describe(want)}`,
              );
            }
          }
          return this.view(tag, info.maxKey, info.maxValue, info.defaultTtl, opts.validateKey, name) as unknown as MapView<this>;
        }
        registry.compareAndDelete(nameKey, found); // dropped meanwhile: forget it
        continue;
      }
      const tag = core.nsNew(opts.maxEntries, opts.maxMemoryBytes, opts.maxKeyBytes, opts.maxValueBytes, opts.defaultTtl);
      if (tag < 0) throw new MapError('ERR_CAPACITY', 'too many namespaces (1022 at most per map)');
      newToken(s.memory, core, tag); // before the name makes it known
      const r = registry.getOrSet(nameKey, tagBytes(tag));
      if (r.loaded) {
        core.nsDrop(tag); // another thread created it first: use theirs
        continue;
      }
      return this.view(tag, opts.maxKeyBytes, opts.maxValueBytes, opts.defaultTtl, opts.validateKey, name) as unknown as MapView<this>;
    }
    throw new MapError('ERR_CONTENTION', `namespace "${name}" kept being created and dropped by other threads`);
  }

  /**
   * Removes the namespace `name` and everything it holds. Views of it in any
   * thread then fail with ERR_NAMESPACE_DROPPED; a later `namespace(name)`
   * creates a new, empty one. Returns whether it existed.
   */
  dropNamespace(name: string): boolean {
    this.rootOnly('dropNamespace');
    const found = this.registry().getAndDelete(this.namespaceKey(name));
    if (!(found instanceof Uint8Array)) return false;
    return this.live().nsDrop(tagOf(found)) === 1;
  }

  /**
   * Counters and gauges of the whole map, summed over every thread (the
   * counters are striped per thread in shared memory, so counting never
   * contends). Exact when no other thread is writing. On a namespace view,
   * only `namespace`: what that namespace holds against its quotas, and its
   * own traffic (nothing of the map's or of other namespaces).
   */
  stats(): MapStats & { namespace?: NamespaceUsage } {
    const core = this.live();
    const s = this.s;
    if (this.ns !== undefined) {
      // A view sees its own namespace only: nothing of the map's or of
      // other namespaces (a view is a capability).
      return { namespace: this.usage() } as MapStats & { namespace: NamespaceUsage };
    }
    this.cache?.flush();
    const out = s.sp + s.keyArea;
    core.statsInto(out);
    const stats = {} as MapStats & { namespace?: NamespaceUsage };
    CORE_STATS.forEach((name, k) => (stats[name] = s.f64[(out >> 3) + k]));
    const memory = this.memoryUsage();
    stats.entries = core.size();
    stats.memoryUsedBytes = memory.usedBytes;
    stats.memoryReservedBytes = memory.reservedBytes;
    stats.memoryLimitBytes = memory.limitBytes;
    stats.memoryFreeBytes = memory.freeBytes;
    return stats;
  }

  /** What this view's namespace holds against its quotas, and its traffic. */
  private usage(): NamespaceUsage {
    const info = this.nsInfo(this.tag);
    return {
      name: this.ns ?? 'default', entries: info.entries, bytes: info.bytes,
      maxEntries: info.maxEntries, maxMemoryBytes: info.maxMemoryBytes,
      hits: info.hits, misses: info.misses, sets: info.sets, deletes: info.deletes,
      expirations: info.expirations, evictions: info.evictions,
    };
  }

  /**
   * The Prometheus text exposition format (`wasmap_` prefix): on the map
   * itself, the whole map's `stats()`, then the gauges and counters of every
   * namespace (label `namespace`; the map's own is "default"); on a
   * namespace view, only that namespace's.
   */
  metrics(): string {
    if (this.ns !== undefined) return formatMetrics(undefined, [[this.ns, this.usage()]]);
    const own: NamespaceGauges = this.usage();
    // Counted map-wide only (see NamespaceUsage): no per-namespace counters here.
    for (const k of ['hits', 'misses', 'sets', 'deletes', 'expirations', 'evictions'] as const) own[k] = NaN;
    const rows: [string, NamespaceGauges][] = [];
    for (const [name, found] of this.registry().entries()) {
      if (typeof name !== 'string' || !(found instanceof Uint8Array)) continue; // (getOrCompute's flights)
      const tag = tagOf(found);
      if (!this.nsInfo(tag).live) continue; // dropped meanwhile
      const { name: _, ...gauges } = this.viewOf(tag, String(name)).usage();
      rows.push([String(name), gauges]);
    }
    rows.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return formatMetrics(this.stats(), [['default', own], ...rows]);
  }

  memoryUsage(entry?: EntrySize): MemoryUsage {
    this.rootOnly('memoryUsage');
    const core = this.live();
    const usage: MemoryUsage = {
      usedBytes: core.memoryUsed(),
      reservedBytes: this.s.memory.buffer.byteLength,
      limitBytes: core.memoryLimit(),
      freeBytes: core.memoryFree(),
    };
    if (entry !== undefined) {
      const { keyBytes = 16, valueBytes, ttl = false } = entry;
      for (const [name, v] of [['keyBytes', keyBytes], ['valueBytes', valueBytes]] as const) {
        if (!Number.isInteger(v) || v < 0 || v > 0x7fffffff) {
          throw new MapError('ERR_INVALID_OPTION', `memoryUsage: ${name} must be a non-negative integer, got ${String(v)}`);
        }
      }
      usage.usableBytes = core.memoryUsableFor(keyBytes, valueBytes, ttl ? 1 : 0);
    }
    return usage;
  }

  /**
   * Detaches this thread (on the map itself: every view of it in this thread
   * closes too), or closes just this namespace view. Later calls throw
   * ERR_CLOSED; other threads go on.
   */
  close(): void {
    if (this.ns !== undefined) {
      this.viewClosed = true;
      return;
    }
    if (this.s.core === null) return;
    this.cache?.flush();
    this.s.core.detach();
    this.s.core = null;
  }

  /**
   * @internal Walks the shared memory and checks the invariants the core's
   * overview states (tests only; call when no thread is writing). Returns 0
   * when they hold, else the number of the first broken one (see verifyMap
   * in assembly/verify.ts).
   */
  __verify(): number {
    return this.live().verify();
  }

  /**
   * @internal Tests only: makes this thread's core trap at the n-th fault
   * point it passes (an operation cut short, as by a bug or an engine
   * stopping the thread), so tests can show nothing is left half visible.
   */
  __injectFault(n: number, atDefrag = false): void {
    this.live().injectFault(n, atDefrag ? 1 : 0);
  }

  /**
   * @internal Tests only: makes this thread's core stop at the n-th fault
   * point it passes, as if the OS had descheduled it there, for at most
   * `spins` rounds of a spin or (0) until another thread lets it go by
   * storing 0 in the i32 at byte offset `__holdWord` of the map's memory
   * (1 while it is held). Shows what other threads may do meanwhile.
   * `every`: hold again at every fault point after it (until the next
   * __hold call), so that another thread lets this one go a step at a time.
   * `untilMigration`: also let go as soon as a migration of the map's table
   * starts or ends (so that the held step meets a table that changed).
   * `atDefrag`: the n-th step of this thread's next merge of free memory;
   * 'move': the n-th step from the next entry it moves, copied and not yet
   * swapped in (without eviction, to join free memory: evacuate.ts).
   */
  __hold(n: number, spins = 0, every = false, untilMigration = false, atDefrag: boolean | 'move' = false): void {
    const site = atDefrag === 'move' ? 2 : atDefrag ? 1 : 0;
    this.live().injectHold(n, spins, (every ? 1 : 0) | (untilMigration ? 2 : 0) | (site << 2));
  }

  /** @internal Tests only: see __hold. */
  get __holdWord(): number {
    return this.live().holdWord();
  }

  /** @internal Tests only: the map's memory (to corrupt it on purpose). */
  get __memory(): WebAssembly.Memory {
    return this.s.memory;
  }

  /** @internal After a trap in this thread: lets the thread go on. */
  __recover(): void {
    this.live().recover();
  }

  /** A line for logs: the class, the namespace, the size (no internals). */
  toString(): string {
    const what = this.ns === undefined ? this.constructor.name : `${this.constructor.name} namespace ${JSON.stringify(this.ns)}`;
    if (this.closed) return `${what} (closed)`;
    try {
      const n = this.size;
      return `${what} (${n} ${n === 1 ? 'entry' : 'entries'})`;
    } catch (err) {
      return `${what} (${(err as MapError).code === 'ERR_NAMESPACE_DROPPED' ? 'dropped' : 'unreadable'})`;
    }
  }

  /** What JSON.stringify writes: toString() (the internals hold the whole memory). */
  toJSON(): string {
    return this.toString();
  }

  /** What `console.log` and the REPL show: toString(), not the internals. */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }

  get closed(): boolean {
    return this.viewClosed || this.s.core === null;
  }

  // -------------------------------------------------------------------------

  protected live(): CoreExports {
    const core = this.s.core;
    if (core === null || this.viewClosed) throw new MapError('ERR_CLOSED', 'this map was closed in this thread');
    // A view of a dropped namespace fails at every operation, reads too (a
    // read that raced the drop is ordered before it).
    if (this.tag > NS_REGISTRY && core.nsLive(this.tag) === 0) {
      throw new MapError('ERR_NAMESPACE_DROPPED', `namespace "${this.ns}" was dropped`);
    }
    // A LocalMap's memory grows, which detaches the views of its old buffer.
    if (this.s.growable && this.s.u8.byteLength === 0) this.s.refreshViews();
    return core;
  }

  /** The view of the map itself, with its default namespace's defaultTtl. */
  /** @internal Gives this thread's root view a read cache of `capacity` values (0: none). */
  useReadCache(capacity: number): void {
    const s = this.s;
    this.cache = capacity > 0 && !s.growable && this.ns === undefined && s.core !== null
      ? new ReadCache(s, s.core, capacity) : null;
  }

  protected static rootView<M extends BaseMap>(
    View: ViewClass<M>, s: Session,
  ): M {
    const bare = new View(s, NS_DEFAULT, s.maxKey, s.maxValue, 0);
    return new View(s, NS_DEFAULT, s.maxKey, s.maxValue, bare.nsInfo(NS_DEFAULT).defaultTtl);
  }

  /** The view of namespace `tag` (named `name`), as its handle opens it in
   *  another thread: with its limits and defaultTtl, no validateKey. */
  protected static namespaceView<M extends BaseMap>(View: ViewClass<M>, s: Session, tag: number, name: string): M | undefined {
    const root = BaseMap.rootView(View, s);
    // The name is the namespace's own (a handle with another name put in
    // would label its view, metrics included, as that namespace).
    const found = typeof name === 'string' && name.length > 0 ? root.registry().get(name) : undefined;
    if (!(found instanceof Uint8Array) || tagOf(found) !== tag) return undefined;
    const info = root.nsInfo(tag);
    return new View(s, tag, info.maxKey, info.maxValue, info.defaultTtl, undefined, name);
  }

  /** A bare view of namespace `tag` (for its figures). */
  private viewOf(tag: number, name: string): this {
    return this.view(tag, this.s.maxKey, this.s.maxValue, 0, undefined, name);
  }

  /** Another view (a namespace, the registry) over the same session, of this class. */
  private view(
    tag: number, maxKey: number, maxValue: number, defaultTtl: number,
    validateKey?: (key: Uint8Array) => boolean | string, ns?: string,
  ): this {
    const View = this.constructor as ViewClass<this>;
    return new View(this.s, tag, maxKey, maxValue, defaultTtl, validateKey, ns);
  }

  /** The clock reading expiresFor took (the `now` of that operation). */
  private clockAt = 0;

  /** The absolute expiry of a write (0: none), reading the clock if needed. */
  private expiresFor(options: WriteOptions | undefined): number {
    let ttl = this.defaultTtl;
    if (options !== undefined) {
      if (options === null || typeof options !== 'object') {
        throw new MapError('ERR_INVALID_OPTION', `write options must be an object, got ${describe(options)}`);
      }
      if (options.ttl !== undefined) ttl = checkTtl(options.ttl);
      else {
        const at = (options as { [EXPIRES_AT]?: number })[EXPIRES_AT];
        if (at !== undefined) return at;
      }
    }
    if (ttl === 0) return 0;
    this.clockAt = this.s.clock();
    return this.clockAt + ttl;
  }

  protected rootOnly(what: string): void {
    if (this.ns !== undefined) {
      throw new MapError('ERR_INVALID_OPTION', `${what}() is an operation of the map itself, not of a namespace view`);
    }
  }

  /** The view of the names registry (an internal namespace). */
  private registry(): this {
    return this.view(NS_REGISTRY, this.s.maxKey, this.s.maxValue, 0, undefined, '');
  }

  private namespaceKey(name: unknown): string {
    if (typeof name !== 'string' || name.length === 0 || !name.isWellFormed() || name.length > 256) {
      throw new MapError('ERR_INVALID_OPTION', `a namespace name must be a non-empty well-formed string of at most 256 characters, got ${describe(name)}`);
    }
    if (name === 'default') {
      throw new MapError('ERR_INVALID_OPTION', 'the namespace name "default" is the map\'s own (its label in metrics()); choose another');
    }
    return name;
  }

  protected nsInfo(tag: number) {
    const s = this.s;
    const out = s.sp + s.keyArea;
    this.live().nsInfo(tag, out);
    const f = s.f64;
    const o = out >> 3;
    return {
      entries: f[o], bytes: f[o + 1], maxEntries: f[o + 2], maxMemoryBytes: f[o + 3],
      maxKey: f[o + 4], maxValue: f[o + 5], live: f[o + 6] === 1, defaultTtl: f[o + 7],
      hits: f[o + 8], misses: f[o + 9], sets: f[o + 10], deletes: f[o + 11], expirations: f[o + 12], evictions: f[o + 13],
    };
  }

  /**
   * Makes the scratch buffer big enough for a write's inputs; returns the
   * room for the value's bytes, or -1 for a value the buffer has no room
   * for: it goes straight into its entry instead (writeInPlace), so that no
   * buffer has to grow for it (a full map may have no block for that). Must
   * run before putKey (growing moves the buffer).
   */
  private reserve(value: unknown, expected: unknown): number {
    const vcap = typeof value === 'string' ? this.stringRoom(value) : isBytes(value) ? value.length : 8;
    const ecap = typeof expected === 'string' ? this.stringRoom(expected) : isBytes(expected) ? expected.length : 8;
    const rest = this.s.keyArea + 8 + align8(ecap) + 8 + MIN_OUT;
    if (rest + align8(vcap) > this.s.scap && (typeof value === 'string' || isBytes(value))) return -1;
    this.s.ensure(rest + align8(vcap));
    return vcap;
  }

  /**
   * A write whose value has no room in the scratch buffer (reserve): the
   * core makes its entry, the value's bytes are written into it, and then
   * the write goes on as any other (core prepareWrite, writePrepared). The
   * key and the expected value still pass through the buffer.
   */
  private writeInPlace(mode: number, key: Key, value: Value, expected: unknown, expires: number): number {
    const core = this.live();
    const s = this.s;
    const string = typeof value === 'string';
    if (string && !value.isWellFormed()) throw valueError(value);
    const vl = string ? utf8Length(value, nativeUtf8Length) : value.length;
    if (vl > this.maxValue) this.tooLargeValue(value);
    const ecap = typeof expected === 'string' ? this.stringRoom(expected) : isBytes(expected) ? expected.length : 8;
    s.ensure(s.keyArea + 8 + align8(ecap) + 8 + MIN_OUT);
    const kl = this.putKey(key);
    const ep = s.sp + s.keyArea;
    const el = this.putExpectedAt(expected, ep);
    const ekind = this.putKind;
    const out = this.outAt;
    const now = expires === 0 ? s.now() : this.clockAt;
    const at = core.prepareWrite(s.sp, kl, vl, string ? KIND_STRING : KIND_BYTES, now, expires);
    if (at === 0) throw s.error(ST_CAPACITY);
    try {
      if (at + vl > s.u8.length) s.refreshViews(); // a LocalMap's memory grew for the entry
      if (string) {
        // Node's Buffer writes long strings fastest: Latin-1 for an all-ASCII
        // one (as many bytes as characters: a plain copy), else UTF-8.
        const b = s.buf;
        const written = b === null ? encodeString(s.u8, at, value, vl, null)
          : vl === value.length ? b.latin1Write(value, at, vl) : b.utf8Write(value, at, vl);
        if (written !== vl) throw new Error('wasmap: a string value changed length while written');
      } else {
        s.u8.set(value, at);
      }
    } catch (e) {
      core.dropPrepared();
      throw e;
    }
    if (this.expectRev >= 0) core.expectRevision(this.expectRev);
    return this.writeResult(core.writePrepared(mode, s.sp, kl, ep, el, ekind, out, s.scap - (out - s.sp)));
  }

  /** Room for a string's UTF-8 bytes: at most 3 per UTF-16 unit, capped. */
  private stringRoom(s: string): number {
    const n = 3 * s.length;
    return n < this.maxValue ? n : this.maxValue;
  }

  /** Writes the namespace tag and the key at the scratch buffer; returns their length. */
  private putKey(key: Key): number {
    const s = this.s;
    const at = s.sp + TAG_BYTES;
    s.i32[s.sp >> 2] = this.tag;
    let n: number;
    if (typeof key === 'string') {
      n = encodeString(s.u8, at, key, this.maxKey, s.buf);
      if (n === -1) throw keyError(key);
    } else if (isBytes(key)) {
      n = key.length > this.maxKey ? -2 : key.length;
      if (n > 0) s.u8.set(key, at);
    } else {
      throw keyError(key);
    }
    if (n === 0) throw keyError(key);
    if (n === -2) this.tooLargeKey(key);
    if (this.validateKey !== undefined) this.checkKey(at, n);
    return n + TAG_BYTES;
  }

  private checkKey(at: number, n: number): void {
    let verdict: boolean | string;
    try {
      verdict = this.validateKey!(this.s.u8.slice(at, at + n));
    } catch (err) {
      verdict = `validateKey threw: ${(err as Error)?.message ?? String(err)}`;
    }
    if (verdict !== true) {
      const reason = typeof verdict === 'string' ? verdict : 'refused by the namespace\'s validateKey';
      throw new MapError('ERR_INVALID_KEY', `the key was refused: ${reason}`);
    }
  }

  private tooLargeKey(key: Key): never {
    if (typeof key === 'string' && !key.isWellFormed()) throw keyError(key);
    const n = typeof key === 'string' ? new TextEncoder().encode(key).length : key.length;
    throw new MapError('ERR_KEY_TOO_LARGE', `the key has ${n} bytes; maxKeyBytes is ${this.maxKey}`);
  }

  /** The kind of what putValue or putExpected wrote last (no tuple: set allocates nothing). */
  private putKind = 0;

  /** Writes a value at `at` (room for `cap` bytes); returns its length, its kind in putKind. */
  private putValue(value: unknown, at: number, cap: number): number {
    if (typeof value === 'string') {
      const n = encodeString(this.s.u8, at, value, cap, this.s.buf);
      if (n === -1) throw valueError(value);
      if (n === -2) this.tooLargeValue(value);
      this.putKind = KIND_STRING;
      return n;
    }
    if (isBytes(value)) {
      if (value.length > this.maxValue) this.tooLargeValue(value);
      this.s.u8.set(value, at);
      this.putKind = KIND_BYTES;
      return value.length;
    }
    throw valueError(value);
  }

  private tooLargeValue(value: string | Uint8Array): never {
    if (typeof value === 'string' && !value.isWellFormed()) throw valueError(value);
    const n = typeof value === 'string' ? new TextEncoder().encode(value).length : value.length;
    throw new MapError('ERR_VALUE_TOO_LARGE', `the value has ${n} bytes; maxValueBytes is ${this.maxValue}`);
  }

  /** Writes an expected value (a number means a counter). */
  private putExpected(expected: unknown, at: number, cap: number): number {
    if (typeof expected === 'number') {
      if (!Number.isSafeInteger(expected)) {
        throw new MapError('ERR_INVALID_VALUE', `an expected counter value must be a safe integer, got ${describe(expected)}`);
      }
      const hi = Math.floor(expected / 4294967296);
      this.s.i32[at >> 2] = (expected - hi * 4294967296) | 0; // two's complement, low word
      this.s.i32[(at >> 2) + 1] = hi;
      this.putKind = KIND_COUNTER;
      return 8;
    }
    return this.putValue(expected, at, cap);
  }

  /** Every write but set and increment; returns the core's result. */
  private write(
    mode: number, key: Key, value: Value | undefined, expected: unknown, options: WriteOptions | undefined,
  ): number {
    const core = this.live();
    if (mode < MODE_DELETE && typeof value !== 'string' && !isBytes(value)) throw valueError(value);
    const expires = mode < MODE_DELETE ? this.expiresFor(options) : 0;
    const vcap = this.reserve(value, expected);
    if (vcap < 0) return this.writeInPlace(mode, key, value as Value, expected, expires);
    const s = this.s;
    const kl = this.putKey(key);
    const vp = s.sp + s.keyArea;
    let vkind = 0;
    let vl = 0;
    if (value !== undefined) {
      vl = this.putValue(value, vp, vcap);
      vkind = this.putKind;
    }
    const ep = vp + align8(vl) + 8;
    const el = this.putExpectedAt(expected, ep);
    const ekind = this.putKind;
    const out = this.outAt;
    const now = expires === 0 ? s.now() : this.clockAt;
    if (this.expectRev >= 0) core.expectRevision(this.expectRev);
    return this.writeResult(core.write(mode, s.sp, kl, vp, vl, vkind, ep, el, ekind, out, s.scap - (out - s.sp), now, expires));
  }

  /** Writes a write's expected value (if any) at `ep`, and puts the output
   *  after it (outAt); returns its length, its kind in putKind (0: none). */
  private putExpectedAt(expected: unknown, ep: number): number {
    const s = this.s;
    let el = 0;
    this.putKind = 0;
    if (expected !== undefined) el = this.putExpected(expected, ep, s.scap - (ep - s.sp) - MIN_OUT);
    this.outAt = ep + align8(el) + 8;
    return el;
  }

  /** Encodes an atomic commit's operations (assembly/commit.ts records)
   *  into the scratch buffer and commits them. */
  private commitOps(ops: AtomicKeyOp[]): AtomicResult {
    const core = this.live();
    const s = this.s;
    const keys: Uint8Array[] = [];
    const values: (Uint8Array | undefined)[] = [];
    const expires: number[] = [];
    // The builder merged equal keys of one form (AtomicOperation); a string
    // and bytes may still be one key: compared by their bytes, if both forms
    // are in the commit.
    let strings = 0;
    for (const op of ops) if (typeof op.key === 'string') strings++;
    const seen = strings > 0 && strings < ops.length ? new Set<string>() : null;
    let total = 0;
    let timed = false;
    for (const op of ops) {
      const kl = this.putKey(op.key);
      const kb = s.u8.slice(s.sp, s.sp + kl);
      if (seen !== null) {
        const id = keyId(kb);
        if (seen.has(id)) throw new MapError('ERR_DUPLICATE_KEY', 'a key is checked or written twice in one commit (as a string and as bytes)');
        seen.add(id);
      }
      keys.push(kb);
      let vb: Uint8Array | undefined;
      let x = 0;
      const w = op.write;
      if (w?.kind === 'set') {
        const v = w.value;
        if (typeof v === 'string') {
          if (!v.isWellFormed()) throw valueError(v);
          vb = textEncoder.encode(v);
        } else if (isBytes(v)) {
          vb = v;
        } else {
          throw valueError(v);
        }
        if (vb.length > this.maxValue) this.tooLargeValue(v);
        x = this.expiresFor(w.options);
      } else if (w?.kind === 'increment') {
        x = this.expiresFor(undefined);
      }
      if (x !== 0) timed = true;
      values.push(vb);
      expires.push(x);
      total += ATOMIC_RECORD + align8(kl) + align8(vb?.length ?? 0);
    }
    if (total > ATOMIC_MAX_BYTES) {
      throw new MapError('ERR_ATOMIC_TOO_LARGE', `a commit carries at most ${ATOMIC_MAX_BYTES} bytes of keys and values, not ${total}`);
    }
    if (ops.length === 0) return { ok: true, revision: core.revision() };
    s.ensure(total + 8);
    const view = new DataView(s.u8.buffer);
    let at = s.sp;
    ops.forEach((op, k) => {
      const kb = keys[k];
      const vb = values[k];
      const size = ATOMIC_RECORD + align8(kb.length) + align8(vb?.length ?? 0);
      const w = op.write;
      const code = w === undefined ? 0 : w.kind === 'set' ? 1 : w.kind === 'delete' ? 2 : 3;
      view.setUint32(at, code, true);
      view.setUint32(at + 4, kb.length, true);
      view.setUint32(at + 8, vb?.length ?? 0, true);
      view.setUint32(at + 12, w?.kind === 'set' ? (typeof w.value === 'string' ? KIND_STRING : KIND_BYTES) : 0, true);
      view.setFloat64(at + 16, expires[k], true);
      view.setFloat64(at + 24, op.check ?? -1, true);
      view.setFloat64(at + 32, w?.kind === 'increment' ? w.delta : 0, true);
      view.setUint32(at + 52, size, true);
      s.u8.set(kb, at + ATOMIC_RECORD);
      if (vb !== undefined) s.u8.set(vb, at + ATOMIC_RECORD + align8(kb.length));
      at += size;
    });
    const r = core.commit(s.sp, ops.length, timed ? this.clockAt : s.now());
    if (r > 0) return { ok: true, revision: r };
    if (r === 0) return { ok: false };
    if (r === ST_CONTENTION) {
      throw new MapError('ERR_CONFLICT', 'other threads kept writing the keys of this commit: it gave up, having changed nothing');
    }
    throw s.error(r);
  }

  /** A write's result, or its error thrown. */
  private writeResult(r: number): number {
    if (r < 0 && r !== R_DONE && r !== R_REFUSED && r !== ST_NOT_FOUND) throw this.s.error(r);
    return r;
  }
}
