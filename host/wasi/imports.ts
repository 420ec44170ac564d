// keyValueImports: the import object of one component instance, implementing
// wasi:keyvalue@0.2.0-draft2 (store, atomics, batch) and wasmap:keyvalue/ttl
// over one wasmap namespace, as jco's `instantiate(getCoreModule, imports)`
// expects it (resources as classes, results as return values or thrown
// payloads).
//
// Rules every function here keeps:
// - It never throws anything but a `KeyValueError` (a payload jco turns into
//   the interface's `err` case): a plugin's mistake, a quota or a key rule
//   must never trap the guest.
// - A bucket is a key space inside the namespace: the stored key is the
//   bucket id's UTF-8 bytes, 0xFF, then the key's UTF-8 bytes. 0xFF never
//   occurs in UTF-8, so the id ends at the first 0xFF and no two buckets (nor
//   two keys) can meet.
// - Watch events (set, delete) are only recorded here; the loader delivers
//   them to the guest's `watcher` export after the guest call returns
//   (calling into a component from inside its own import traps).
import { MapError } from '../index.js';
import { type ResolvedPolicy, type KeyValuePolicy, MAX_BUCKET_ID_BYTES, describe, resolvePolicy } from './policy.js';

// --- the interfaces --------------------------------------------------------

export const STORE = 'wasi:keyvalue/store@0.2.0-draft2';
export const ATOMICS = 'wasi:keyvalue/atomics@0.2.0-draft2';
export const BATCH = 'wasi:keyvalue/batch@0.2.0-draft2';
export const TTL = 'wasmap:keyvalue/ttl@0.1.0';
export const WATCHER = 'wasi:keyvalue/watcher@0.2.0-draft2';

/** The interfaces `keyValueImports` provides (the loader's default allow-list). */
export const KEY_VALUE_INTERFACES: readonly string[] = Object.freeze([STORE, ATOMICS, BATCH, TTL]);

/** What the interfaces need of a namespace view (a `SharedMap`, or any map with its API). */
export interface KeyValueNamespace {
  get(key: Uint8Array): string | Uint8Array | number | undefined;
  has(key: Uint8Array): boolean;
  set(key: Uint8Array, value: Uint8Array, options?: { ttl?: number }): unknown;
  delete(key: Uint8Array): boolean;
  getOrSet(key: Uint8Array, value: Uint8Array, options?: { ttl?: number }): { value: unknown; loaded: boolean };
  compareAndSwap(key: Uint8Array, expected: string | Uint8Array | number, next: Uint8Array, options?: { ttl?: number }): boolean;
  increment(key: Uint8Array, delta: number, options?: { ttl?: number }): number;
  ttl(key: Uint8Array): number | undefined;
  expire(key: Uint8Array, ttl: number): boolean;
  persist(key: Uint8Array): boolean;
  scan(cursor: number): { keys: (string | Uint8Array)[]; cursor: number; done: boolean };
}

const NAMESPACE_METHODS = [
  'get', 'has', 'set', 'delete', 'getOrSet', 'compareAndSwap', 'increment', 'ttl', 'expire', 'persist', 'scan',
] as const;

// --- errors ----------------------------------------------------------------

/** `store.error` as jco represents it. */
export type StoreError = { tag: 'no-such-store' } | { tag: 'access-denied' } | { tag: 'other'; val: string };

/** `atomics.cas-error`. */
export type CasError = { tag: 'store-error'; val: StoreError } | { tag: 'cas-failed'; val: object };

/**
 * Thrown by an import to return the `err` case of its result: jco lowers an
 * exception's own `payload` property as the error value.
 */
export class KeyValueError extends Error {
  readonly payload: StoreError | CasError;

  constructor(payload: StoreError | CasError) {
    super(payload.tag === 'other' ? payload.val : payload.tag);
    this.name = 'KeyValueError';
    this.payload = payload;
  }
}

function other(code: string, message: string): KeyValueError {
  return new KeyValueError({ tag: 'other', val: `${code}: ${message}` });
}

/** Any failure as a store error: MapErrors by their code, anything else as internal. */
function storeError(err: unknown): StoreError {
  if (err instanceof KeyValueError && err.payload.tag !== 'store-error' && err.payload.tag !== 'cas-failed') {
    return err.payload;
  }
  const e = err as { code?: unknown; message?: unknown } | null;
  if (e !== null && typeof e === 'object' && typeof e.code === 'string' && e.code.startsWith('ERR_')) {
    return { tag: 'other', val: `${e.code}: ${String(e.message)}` };
  }
  return { tag: 'other', val: `ERR_INTERNAL: ${String(e?.message ?? err)}` };
}

function rethrow(err: unknown): never {
  if (err instanceof KeyValueError) throw err;
  throw new KeyValueError(storeError(err));
}

// --- the state of one import object ------------------------------------------

/** A change a watcher hears about; `value` undefined for a delete. */
export interface WatchEvent {
  bucket: string;
  key: string;
  value: Uint8Array | undefined;
}

/** @internal `Symbol.dispose` where the runtime has it (jco calls it to drop a resource). */
export const DISPOSE: symbol = (Symbol as unknown as { dispose?: symbol }).dispose ?? Symbol.for('dispose');
const encoder = new TextEncoder();

/** Everything one import object holds; found from the object by `contextOf`. */
export class KeyValueContext {
  readonly ns: KeyValueNamespace;
  readonly policy: ResolvedPolicy;
  /** Bucket resources and cas resources the guest holds now. */
  buckets = 0;
  cas = 0;
  /** Watch events not yet delivered; null while nobody watches. */
  events: WatchEvent[] | null = null;
  /** The bucket resources' class of this import object (for watcher deliveries). */
  Bucket!: new (ctx: KeyValueContext, id: string) => object;

  constructor(ns: KeyValueNamespace, policy: ResolvedPolicy) {
    this.ns = ns;
    this.policy = policy;
  }

  /** Every bucket and cas resource the guest holds now. */
  readonly held = new Set<{ [DISPOSE](): void }>();

  /** The instance is gone (it trapped): whatever it held is released. */
  releaseAll(): void {
    for (const r of [...this.held]) r[DISPOSE]();
  }

  reserve(what: string): void {
    if (this.buckets + this.cas >= this.policy.maxOpenResources) {
      throw other(
        'ERR_RESOURCE_LIMIT',
        `${what}: the instance holds ${this.buckets} buckets and ${this.cas} cas handles, the most its policy allows (maxOpenResources ${this.policy.maxOpenResources}); drop some first`,
      );
    }
  }

  /** Records a change for the watcher (if one listens). */
  changed(bucket: string, key: string, value: Uint8Array | undefined): void {
    this.events?.push({ bucket, key, value });
  }
}

const contexts = new WeakMap<object, KeyValueContext>();

/** @internal The state behind an import object built by keyValueImports. */
export function contextOf(imports: object): KeyValueContext | undefined {
  return contexts.get(imports);
}

/** Resources a guest holds now through this import object (for leak checks and metrics). */
export function openResources(imports: object): { buckets: number; cas: number } {
  const ctx = contexts.get(imports);
  if (ctx === undefined) throw new MapError('ERR_INVALID_OPTION', 'openResources: not an import object of keyValueImports');
  return { buckets: ctx.buckets, cas: ctx.cas };
}

// --- keys and values -------------------------------------------------------------

/** A bucket's keys are UTF-8 (they were strings): decoded back strictly. */
const strictDecoder = new TextDecoder('utf-8', { fatal: true });

/** The bytes a bucket's keys are stored behind: the id's UTF-8, then 0xFF. */
function prefixOf(bucket: string): Uint8Array {
  const id = encoder.encode(bucket);
  const prefix = new Uint8Array(id.length + 1);
  prefix.set(id);
  prefix[id.length] = 0xff;
  return prefix;
}

/**
 * The key under which the namespace stores `key` of bucket `bucket`: what a
 * host reads or writes to share an entry with a plugin
 * (`ns.get(bucketKey('default', 'visits'))`).
 */
export function bucketKey(bucket: string, key: string): Uint8Array {
  const prefix = prefixOf(bucket);
  const k = encoder.encode(key);
  const out = new Uint8Array(prefix.length + k.length);
  out.set(prefix);
  out.set(k, prefix.length);
  return out;
}

/** A value as the guest sees it: bytes (a string as UTF-8, a counter in decimal). */
function asBytes(value: unknown): Uint8Array | undefined {
  if (value === undefined) return undefined;
  if (value instanceof Uint8Array) return value;
  if (typeof value === 'string') return encoder.encode(value);
  return encoder.encode(String(value)); // a counter
}

// --- resources -------------------------------------------------------------------

/** Largest key buffer a bucket keeps between calls (a bucket id, 0xFF and 1,300 characters). */
const KEPT_SCRATCH_BYTES = 4096;

/** @internal A bucket resource (exported for bindings.ts). */
export class BucketResource {
  readonly id: string;
  readonly ctx: KeyValueContext;
  /** The prefix, then room for one key: keys are encoded in place. */
  private scratch: Uint8Array;
  private readonly prefixLength: number;
  private live = true;

  constructor(ctx: KeyValueContext, id: string) {
    this.ctx = ctx;
    this.id = id;
    const prefix = prefixOf(id);
    this.prefixLength = prefix.length;
    this.scratch = new Uint8Array(prefix.length + 64);
    this.scratch.set(prefix);
    ctx.buckets++;
    ctx.held.add(this);
  }

  [DISPOSE](): void {
    if (!this.live) return;
    this.live = false;
    this.ctx.buckets--;
    this.ctx.held.delete(this);
  }

  /**
   * Refuses a handle the guest dropped or never had: jco 1.35 does not check
   * a borrowed handle, and passes a method such a one as a bare object of
   * this class (no fields), where it would fail as ERR_INTERNAL.
   */
  protected held(what: string): void {
    if (this.ctx === undefined) throw other('ERR_INVALID_VALUE', `${what}: not a bucket of this instance (dropped, or never opened)`);
  }

  /**
   * The stored key for `key`, checked against the key rules. A view of a
   * buffer reused by the next call: the map copies it at once.
   */
  key(key: unknown): Uint8Array {
    if (typeof key !== 'string') throw other('ERR_INVALID_KEY', `a key must be a string, got ${describe(key)}`);
    const p = this.prefixLength;
    const n = key.length;
    let written = -1;
    if (p + n <= this.scratch.length) {
      // Short ASCII keys: a plain copy (encodeInto costs ~60-100 ns a call).
      let i = 0;
      for (; i < n; i++) {
        const c = key.charCodeAt(i);
        if (c >= 0x80) break;
        this.scratch[p + i] = c;
      }
      if (i === n) written = n;
    }
    let buffer = this.scratch;
    if (written < 0) {
      if (buffer.length < p + 3 * n) {
        buffer = new Uint8Array(p + 3 * n);
        buffer.set(this.scratch.subarray(0, p));
        // Kept only while small: a guest's long keys (refused or not) must
        // not pin three times their length of host memory per bucket.
        if (buffer.length <= KEPT_SCRATCH_BYTES) this.scratch = buffer;
      }
      written = encoder.encodeInto(key, buffer.subarray(p)).written;
    }
    if (written === 0) throw other('ERR_INVALID_KEY', 'a key must not be empty');
    const policy = this.ctx.policy;
    if (written > policy.maxKeyBytes) {
      throw other('ERR_KEY_TOO_LARGE', `the key has ${written} bytes; this plugin's policy allows ${policy.maxKeyBytes}`);
    }
    if (policy.validateKey !== undefined) {
      let verdict: boolean | string;
      try {
        verdict = policy.validateKey(key, this.id);
      } catch (err) {
        verdict = `validateKey threw: ${(err as Error)?.message ?? String(err)}`;
      }
      if (verdict !== true) {
        throw other('ERR_INVALID_KEY', `the key was refused: ${typeof verdict === 'string' ? verdict : 'refused by the policy\'s validateKey'}`);
      }
    }
    return buffer.subarray(0, p + written);
  }

  value(value: unknown): Uint8Array {
    if (!(value instanceof Uint8Array)) throw other('ERR_INVALID_VALUE', `a value must be bytes, got ${describe(value)}`);
    if (value.length > this.ctx.policy.maxValueBytes) throw this.tooLargeValue(value.length);
    return value;
  }

  private tooLargeValue(n: number): KeyValueError {
    return other('ERR_VALUE_TOO_LARGE', `the value has ${n} bytes; this plugin's policy allows ${this.ctx.policy.maxValueBytes}`);
  }

  /** A key as the namespace's error messages should name it (also for
   *  `cas.new`, which reads the key for its bucket). */
  tooLarge(err: unknown, key: string): never {
    const e = err as { code?: string };
    if (e?.code === 'ERR_KEY_TOO_LARGE') {
      throw other(
        'ERR_KEY_TOO_LARGE',
        `the key has ${encoder.encode(key).length} bytes, and with the bucket prefix (${this.prefixLength} bytes) it is over the namespace's maxKeyBytes`,
      );
    }
    rethrow(err);
  }

  get(key: string): Uint8Array | undefined {
    this.held('get');
    try {
      return asBytes(this.ctx.ns.get(this.key(key)));
    } catch (err) {
      this.tooLarge(err, key);
    }
  }

  set(key: string, value: Uint8Array): void {
    this.held('set');
    try {
      this.ctx.ns.set(this.key(key), this.value(value), this.ctx.policy.writeOptions);
    } catch (err) {
      this.tooLarge(err, key);
    }
    this.ctx.changed(this.id, key, value);
  }

  delete(key: string): void {
    this.held('delete');
    let existed: boolean;
    try {
      existed = this.ctx.ns.delete(this.key(key));
    } catch (err) {
      this.tooLarge(err, key);
    }
    if (existed) this.ctx.changed(this.id, key, undefined);
  }

  exists(key: string): boolean {
    this.held('exists');
    try {
      return this.ctx.ns.has(this.key(key));
    } catch (err) {
      this.tooLarge(err, key);
    }
  }

  /**
   * One page of this bucket's keys: a page of the namespace's `scan`, keeping
   * the keys behind this bucket's prefix (so a page may hold none while more
   * follow). The cursor is the scan's, as a decimal string; absent at the end.
   * A key present throughout is listed at least once (see `scan`).
   */
  listKeys(cursor: string | undefined): { keys: string[]; cursor: string | undefined } {
    this.held('list-keys');
    let from = 0;
    if (cursor !== undefined && cursor !== null) {
      if (typeof cursor !== 'string' || !/^[0-9]{1,10}$/.test(cursor) || Number(cursor) > 0xffffffff) {
        throw other('ERR_INVALID_CURSOR', `list-keys: a cursor is one list-keys returned, got ${describe(cursor)}`);
      }
      from = Number(cursor);
    }
    let page: ReturnType<KeyValueNamespace['scan']>;
    try {
      page = this.ctx.ns.scan(from);
    } catch (err) {
      throw new KeyValueError(storeError(err));
    }
    const p = this.prefixLength;
    const keys: string[] = [];
    for (const k of page.keys) {
      // Every bucket key has a 0xFF byte, so it comes back as bytes.
      if (typeof k === 'string' || k.length < p) continue;
      let mine = true;
      for (let i = 0; i < p && mine; i++) mine = k[i] === this.scratch[i];
      if (!mine) continue;
      try {
        keys.push(strictDecoder.decode(k.subarray(p)));
      } catch {
        // Not UTF-8 (bytes a host wrote there): no string key names it.
      }
    }
    return { keys, cursor: page.done ? undefined : String(page.cursor) };
  }

  // Used by the other interfaces (same checks, same errors).

  increment(key: string, delta: bigint): bigint {
    if (typeof delta !== 'bigint' || delta > BigInt(Number.MAX_SAFE_INTEGER) || delta < -BigInt(Number.MAX_SAFE_INTEGER)) {
      throw other('ERR_INVALID_VALUE', `increment: delta must be within ±(2^53 - 1), got ${describe(delta)}`);
    }
    let n: number;
    try {
      n = this.ctx.ns.increment(this.key(key), Number(delta), this.ctx.policy.writeOptions);
    } catch (err) {
      this.tooLarge(err, key);
    }
    if (this.ctx.events !== null) this.ctx.changed(this.id, key, encoder.encode(String(n)));
    return BigInt(n);
  }

  setWithTtl(key: string, value: Uint8Array, ttl: bigint): void {
    const ms = millis(ttl, 'set-with-ttl');
    try {
      this.ctx.ns.set(this.key(key), this.value(value), { ttl: ms });
    } catch (err) {
      this.tooLarge(err, key);
    }
    this.ctx.changed(this.id, key, value);
  }

  timeToLive(key: string): Lifetime {
    let left: number | undefined;
    try {
      left = this.ctx.ns.ttl(this.key(key));
    } catch (err) {
      this.tooLarge(err, key);
    }
    if (left === undefined) return { tag: 'absent' };
    if (left === Infinity) return { tag: 'forever' };
    return { tag: 'millis', val: BigInt(Math.ceil(left)) };
  }

  expire(key: string, ttl: bigint): boolean {
    const ms = millis(ttl, 'expire');
    try {
      return this.ctx.ns.expire(this.key(key), ms);
    } catch (err) {
      this.tooLarge(err, key);
    }
  }

  persist(key: string): boolean {
    try {
      return this.ctx.ns.persist(this.key(key));
    } catch (err) {
      this.tooLarge(err, key);
    }
  }

  /** The present value of a key, kind kept (for a cas to compare with later). */
  read(key: Uint8Array): string | Uint8Array | number | undefined {
    return this.ctx.ns.get(key);
  }

  // Used by this package's own bindings (bindings.ts), which read the key
  // and the value in the guest's memory: the same operations, checks and
  // errors as above, without a string made of the key on the way.

  /**
   * The stored key for the `len` bytes at `at` of the guest's memory, or
   * undefined where the string path above must decide: bytes other than
   * ASCII (jco's UTF-8 decoding of them is the reference), an empty or too
   * long key (the errors), a key policy (it is given a string), or bytes
   * outside the memory.
   */
  guestKey(u8: Uint8Array, at: number, len: number): Uint8Array | undefined {
    const policy = this.ctx.policy;
    if (len === 0 || len > policy.maxKeyBytes || policy.validateKey !== undefined || at + len > u8.length) return undefined;
    const p = this.prefixLength;
    if (p + len > this.scratch.length) {
      if (p + len > KEPT_SCRATCH_BYTES) return undefined;
      const grown = new Uint8Array(p + len);
      grown.set(this.scratch.subarray(0, p));
      this.scratch = grown;
    }
    const scratch = this.scratch;
    for (let i = 0; i < len; i++) {
      const c = u8[at + i];
      if (c >= 0x80) return undefined;
      scratch[p + i] = c;
    }
    return scratch.subarray(0, p + len);
  }

  getBytes(key: Uint8Array): Uint8Array | undefined {
    return asBytes(this.ctx.ns.get(key));
  }

  /** set (ttl undefined) or set-with-ttl of the value at `vp` (`vl` bytes, inside the memory). */
  setBytes(key: Uint8Array, u8: Uint8Array, vp: number, vl: number, ttl: bigint | undefined, kp: number, kl: number): void {
    const ms = ttl === undefined ? 0 : millis(ttl, 'set-with-ttl');
    // Refused before anything is copied.
    if (vl > this.ctx.policy.maxValueBytes) throw this.tooLargeValue(vl);
    const value = u8.subarray(vp, vp + vl);
    this.ctx.ns.set(key, value, ttl === undefined ? this.ctx.policy.writeOptions : { ttl: ms });
    if (this.ctx.events !== null) this.ctx.changed(this.id, asciiOf(u8, kp, kl), value.slice());
  }

  /**
   * set-many of `n` (key, value) tuples at `base` (16 bytes each), every key
   * one guestKey takes: as setMany, each value checked against the limit
   * before the first write (so a refused one changes nothing, and nothing
   * is copied first); a quota reached half-way leaves the first writes.
   */
  setManyBytes(u8: Uint8Array, dv: DataView, base: number, n: number): void {
    batchCount(this.ctx, 'set-many', n);
    for (let i = 0; i < n; i++) {
      const vl = dv.getUint32(base + 16 * i + 12, true);
      if (vl > this.ctx.policy.maxValueBytes) throw this.tooLargeValue(vl);
    }
    for (let i = 0; i < n; i++) {
      const at = base + 16 * i;
      const kp = dv.getUint32(at, true);
      const kl = dv.getUint32(at + 4, true);
      try {
        this.setBytes(this.guestKey(u8, kp, kl)!, u8, dv.getUint32(at + 8, true), dv.getUint32(at + 12, true), undefined, kp, kl);
      } catch (err) {
        throw new KeyValueError(this.failure(err, u8, kp, kl));
      }
    }
  }

  deleteBytes(key: Uint8Array, u8: Uint8Array, kp: number, kl: number): void {
    if (this.ctx.ns.delete(key)) this.ctx.changed(this.id, asciiOf(u8, kp, kl), undefined);
  }

  incrementBytes(key: Uint8Array, delta: bigint, u8: Uint8Array, kp: number, kl: number): bigint {
    if (delta > MAX_DELTA || delta < -MAX_DELTA) {
      throw other('ERR_INVALID_VALUE', `increment: delta must be within ±(2^53 - 1), got ${describe(delta)}`);
    }
    const n = this.ctx.ns.increment(key, Number(delta), this.ctx.policy.writeOptions);
    if (this.ctx.events !== null) this.ctx.changed(this.id, asciiOf(u8, kp, kl), encoder.encode(String(n)));
    return BigInt(n);
  }

  /** A failure of one of the above as the `error` the string path gives for it. */
  failure(err: unknown, u8: Uint8Array, kp: number, kl: number): StoreError {
    if (err instanceof KeyValueError) return storeError(err);
    try {
      this.tooLarge(err, asciiOf(u8, kp, kl));
    } catch (e) {
      return storeError(e);
    }
  }
}

const MAX_DELTA = BigInt(Number.MAX_SAFE_INTEGER);

/** An ASCII key of the guest's memory as a string. */
function asciiOf(u8: Uint8Array, at: number, len: number): string {
  let s = '';
  for (let i = 0; i < len; i++) s += String.fromCharCode(u8[at + i]);
  return s;
}

/** `ttl.lifetime` as jco represents it. */
export type Lifetime = { tag: 'absent' } | { tag: 'forever' } | { tag: 'millis'; val: bigint };

function millis(ttl: unknown, what: string): number {
  if (typeof ttl !== 'bigint' || ttl < 1n || ttl > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw other('ERR_INVALID_TTL', `${what}: a ttl must be 1 to 2^53 - 1 milliseconds, got ${describe(ttl)}`);
  }
  return Number(ttl);
}

/**
 * A compare-and-swap in progress: the key and the value it held when read
 * (kind kept, so the swap compares exactly what was read).
 */
class CasResource {
  readonly bucket: BucketResource;
  readonly guestKey: string;
  readonly key: Uint8Array;
  readonly seen: string | Uint8Array | number | undefined;
  private live = true;

  constructor(bucket: BucketResource, guestKey: string, key: Uint8Array) {
    this.bucket = bucket;
    this.guestKey = guestKey;
    this.key = key.slice(); // the bucket's scratch is reused by the next call
    this.seen = bucket.read(this.key);
    bucket.ctx.cas++;
    bucket.ctx.held.add(this);
  }

  /** Called by jco when the guest drops it, and by swap, which consumes it. */
  [DISPOSE](): void {
    if (!this.live) return;
    this.live = false;
    this.bucket.ctx.cas--;
    this.bucket.ctx.held.delete(this);
  }

  current(): Uint8Array | undefined {
    // A cas handle dropped or never had comes as a bare object (see `held`).
    if (this.bucket === undefined) throw other('ERR_INVALID_VALUE', 'cas.current: not a cas of this instance (dropped, or never made)');
    return asBytes(this.seen);
  }

  /** atomics.swap: stores `value` if the key still holds what was read. */
  swap(value: Uint8Array): void {
    const { bucket } = this;
    const ctx = bucket.ctx;
    let done: boolean;
    try {
      const v = bucket.value(value);
      done = this.seen === undefined
        ? !ctx.ns.getOrSet(this.key, v, ctx.policy.writeOptions).loaded
        : ctx.ns.compareAndSwap(this.key, this.seen, v, ctx.policy.writeOptions);
    } catch (err) {
      this[DISPOSE]();
      throw new KeyValueError({ tag: 'store-error', val: storeError(err) });
    }
    this[DISPOSE]();
    if (done) {
      ctx.changed(bucket.id, this.guestKey, value);
      return;
    }
    // The retry handle reads the key again (the spec: "updated to the latest
    // version"). It is a new resource: the guest owns it from here.
    let fresh: CasResource;
    try {
      ctx.reserve('swap');
      fresh = new (this.constructor as typeof CasResource)(bucket, this.guestKey, this.key);
    } catch (err) {
      throw new KeyValueError({ tag: 'store-error', val: storeError(err) });
    }
    throw new KeyValueError({ tag: 'cas-failed', val: fresh });
  }
}

// --- batches -----------------------------------------------------------------------

function batchSize(ctx: KeyValueContext, what: string, items: unknown): number {
  if (!Array.isArray(items)) throw other('ERR_INVALID_VALUE', `${what}: expected a list, got ${describe(items)}`);
  return batchCount(ctx, what, items.length);
}

function batchCount(ctx: KeyValueContext, what: string, n: number): number {
  if (n > ctx.policy.maxBatchKeys) {
    throw other('ERR_BATCH_TOO_LARGE', `${what}: ${n} keys; this plugin's policy allows ${ctx.policy.maxBatchKeys} per call`);
  }
  return n;
}

function getMany(bucket: BucketResource, keys: string[]): Array<[string, Uint8Array] | undefined> {
  batchSize(bucket.ctx, 'get-many', keys);
  const out: Array<[string, Uint8Array] | undefined> = new Array(keys.length);
  for (let i = 0; i < keys.length; i++) {
    const v = bucket.get(keys[i]);
    out[i] = v === undefined ? undefined : [keys[i], v];
  }
  return out;
}

function setMany(bucket: BucketResource, pairs: Array<[string, Uint8Array]>): void {
  batchSize(bucket.ctx, 'set-many', pairs);
  // Every key and value is checked before the first write: a refused key
  // changes nothing. (A quota reached half-way leaves the first writes done,
  // as the standard allows.)
  for (const [key, value] of pairs) {
    bucket.key(key);
    bucket.value(value);
  }
  for (const [key, value] of pairs) bucket.set(key, value);
}

function deleteMany(bucket: BucketResource, keys: string[]): void {
  batchSize(bucket.ctx, 'delete-many', keys);
  for (const key of keys) bucket.key(key);
  for (const key of keys) bucket.delete(key);
}

// --- the import object ---------------------------------------------------------------

/** The import object of one component instance: keys for each interface, versioned and not. */
export type KeyValueImports = Record<string, Record<string, unknown>>;

/** A guest-facing guard: a bucket argument must be one of this import object's. */
function bucketArg(ctx: KeyValueContext, bucket: unknown, what: string): BucketResource {
  if (!(bucket instanceof BucketResource) || bucket.ctx !== ctx) {
    throw other('ERR_INVALID_VALUE', `${what}: not a bucket of this instance`);
  }
  return bucket;
}

/**
 * Builds the import object for ONE component instance, over the namespace
 * `ns` (e.g. `map.namespace('plugin-a', quotas)`) and the `policy`: pass it
 * to `component.instantiate(...)` (see loadComponent), or to a jco-transpiled
 * component's `instantiate(getCoreModule, imports)`. Build a fresh one per
 * instance: two instances then share nothing but what their namespaces share.
 */
export function keyValueImports(ns: KeyValueNamespace, policy?: KeyValuePolicy): KeyValueImports {
  if (ns === null || typeof ns !== 'object' || NAMESPACE_METHODS.some((m) => typeof (ns as unknown as Record<string, unknown>)[m] !== 'function')) {
    throw new MapError('ERR_INVALID_OPTION', `keyValueImports needs a map or namespace view (map.namespace(name)), got ${describe(ns)}`);
  }
  const ctx = new KeyValueContext(ns, resolvePolicy(policy));

  // Per import object, so a resource of one instance is no resource of another.
  class Bucket extends BucketResource {}
  class Cas extends CasResource {
    /** atomics `[static]cas.new`: reads the key now. */
    static new(bucket: unknown, key: string): Cas {
      const b = bucketArg(ctx, bucket, 'cas.new');
      try {
        ctx.reserve('cas.new');
        return new Cas(b, key, b.key(key));
      } catch (err) {
        return b.tooLarge(err, key);
      }
    }
  }
  ctx.Bucket = Bucket;

  const store = {
    Bucket,
    open(identifier: string): Bucket {
      if (!ctx.policy.buckets.has(identifier)) {
        throw new KeyValueError({ tag: 'access-denied' });
      }
      try {
        ctx.reserve('open');
      } catch (err) {
        rethrow(err);
      }
      return new Bucket(ctx, identifier);
    },
  };
  const atomics = {
    Cas,
    increment(bucket: Bucket, key: string, delta: bigint): bigint {
      return bucketArg(ctx, bucket, 'increment').increment(key, delta);
    },
    swap(cas: Cas, value: Uint8Array): void {
      if (!(cas instanceof Cas)) {
        throw new KeyValueError({ tag: 'store-error', val: { tag: 'other', val: 'ERR_INVALID_VALUE: swap: not a cas of this instance' } });
      }
      cas.swap(value);
    },
  };
  const batch = {
    getMany: (bucket: Bucket, keys: string[]) => guard(() => getMany(bucketArg(ctx, bucket, 'get-many'), keys)),
    setMany: (bucket: Bucket, pairs: Array<[string, Uint8Array]>) => guard(() => setMany(bucketArg(ctx, bucket, 'set-many'), pairs)),
    deleteMany: (bucket: Bucket, keys: string[]) => guard(() => deleteMany(bucketArg(ctx, bucket, 'delete-many'), keys)),
  };
  const ttl = {
    setWithTtl: (bucket: Bucket, key: string, value: Uint8Array, ms: bigint) => bucketArg(ctx, bucket, 'set-with-ttl').setWithTtl(key, value, ms),
    timeToLive: (bucket: Bucket, key: string) => bucketArg(ctx, bucket, 'time-to-live').timeToLive(key),
    expire: (bucket: Bucket, key: string, ms: bigint) => bucketArg(ctx, bucket, 'expire').expire(key, ms),
    persist: (bucket: Bucket, key: string) => bucketArg(ctx, bucket, 'persist').persist(key),
  };
  const imports: KeyValueImports = {};
  // jco's generated code reads unversioned keys while its .d.ts names the
  // versioned ones (jco issue 708): both, the same objects.
  for (const [name, iface] of [[STORE, store], [ATOMICS, atomics], [BATCH, batch], [TTL, ttl]] as const) {
    imports[name] = iface;
    imports[name.slice(0, name.indexOf('@'))] = iface;
  }
  contexts.set(imports, ctx);
  return imports;
}

function guard<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    rethrow(err);
  }
}

export { MAX_BUCKET_ID_BYTES };
