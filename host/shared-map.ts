import {
  type CoreExports, KIND_BYTES, KIND_COUNTER, KIND_STRING, MODE_CAD, MODE_CAS, MODE_DELETE,
  MODE_GET_AND_DELETE, MODE_GET_OR_SET, MODE_SWAP, R_DONE, R_REFUSED, ST_BAD_MEMORY, ST_CAPACITY,
  ST_CONTENTION, ST_NOT_ATTACHED, ST_NOT_COUNTER, ST_NOT_FOUND, ST_OVERFLOW, coreModule, instantiate,
} from './core.js';
import { decodeString, encodeString, isBytes, keyError, valueError } from './codec.js';
import { MapError } from './errors.js';
import { CORE_STATS, type MapStats, formatMetrics } from './metrics.js';
import { type SharedMapOptions, describe, resolveOptions } from './options.js';
import { hostThreadId } from './thread-id.js';

/** A key: a string (its UTF-8 bytes) or raw bytes. */
export type Key = string | Uint8Array;
/** A value comes back as the kind that was stored; counters come back as numbers. */
export type Value = string | Uint8Array;

/**
 * What another thread needs to attach to the same map. Structured-cloneable:
 * pass it with `postMessage` or `workerData`.
 */
export interface SharedMapHandle {
  readonly wasmap: 1;
  readonly memory: WebAssembly.Memory;
  readonly module: WebAssembly.Module;
}

/** Memory figures of the whole map, the same from every thread. */
export interface MemoryUsage {
  /** Bytes the allocator has carved out so far (entries, tables, free blocks, scratch). */
  usedBytes: number;
  /** Bytes of the shared memory as grown so far. */
  reservedBytes: number;
  /** `maxMemoryBytes`: the bound on both. */
  limitBytes: number;
}

const SCRATCH_BYTES = 65536;
/** Room kept for an output value after the inputs in the scratch buffer. */
const MIN_OUT = 256;
const PAGE = 65536;

const align8 = (n: number) => (n + 7) & ~7;

/** The part of Node's Buffer used here: native UTF-8 decoding of a range. */
interface NodeBufferView {
  utf8Slice(start: number, end: number): string;
}

/** A Node Buffer over `sab` (no copy), where Buffer exists; else null. */
function bufferView(sab: ArrayBufferLike): NodeBufferView | null {
  const B = (globalThis as unknown as { Buffer?: { from(b: ArrayBufferLike): NodeBufferView } }).Buffer;
  if (B === undefined) return null;
  const view = B.from(sab);
  return typeof view.utf8Slice === 'function' ? view : null;
}

function nextPow2(n: number): number {
  let p = 16;
  while (p < n) p *= 2;
  return p;
}

function statusError(status: number, map: SharedMap): MapError {
  switch (status) {
    case ST_CAPACITY:
      return new MapError(
        'ERR_CAPACITY',
        `the map is full: maxMemoryBytes (${map.memoryUsage().limitBytes}) reached; delete entries or create a larger map`,
      );
    case ST_NOT_COUNTER:
      return new MapError('ERR_NOT_A_COUNTER', 'increment: the value at this key is not a counter');
    case ST_OVERFLOW:
      return new MapError(
        'ERR_COUNTER_OVERFLOW',
        'increment: the result would be outside ±Number.MAX_SAFE_INTEGER; the counter is unchanged',
      );
    case ST_CONTENTION:
      return new MapError('ERR_CONTENTION', 'the operation lost over a million races in a row; nothing was changed');
    case ST_NOT_ATTACHED:
      return new MapError('ERR_CLOSED', 'this map was closed in this thread');
    case ST_BAD_MEMORY:
      return new MapError('ERR_INVALID_HANDLE', 'the memory does not hold a wasmap map of this version');
  }
  return new MapError('ERR_CONTENTION', `unexpected core status ${status}`);
}

/**
 * One key-value map shared by every thread that attaches to it. All
 * operations are synchronous and atomic, and safe from any number of threads
 * at once. See the README for the guarantees.
 */
export class SharedMap {
  private readonly memory: WebAssembly.Memory;
  private readonly module: WebAssembly.Module;
  private core: CoreExports | null;
  private readonly owner: number;
  private readonly maxKey: number;
  private readonly maxValue: number;
  /** Scratch layout: key at sp (keyArea bytes), then inputs, then output. */
  private readonly keyArea: number;
  private sp = 0;
  private scap = 0;
  private u8: Uint8Array;
  private i32: Int32Array;
  private f64: Float64Array;
  /** Node's Buffer over the same memory (fast native UTF-8 decoding), or null. */
  private buf: NodeBufferView | null;

  private constructor(memory: WebAssembly.Memory, module: WebAssembly.Module, core: CoreExports, owner: number) {
    this.memory = memory;
    this.module = module;
    this.core = core;
    this.owner = owner;
    this.maxKey = core.maxKeyBytes();
    this.maxValue = core.maxValueBytes();
    this.keyArea = align8(this.maxKey) + 8;
    this.u8 = new Uint8Array(memory.buffer);
    this.i32 = new Int32Array(memory.buffer);
    this.f64 = new Float64Array(memory.buffer);
    this.buf = bufferView(memory.buffer);
    this.useScratch(core.scratch(SCRATCH_BYTES), SCRATCH_BYTES);
  }

  /** Creates a new, empty map in a new shared memory, attached to this thread. */
  static async create(options?: SharedMapOptions): Promise<SharedMap> {
    const opts = resolveOptions(options);
    if (typeof SharedArrayBuffer === 'undefined') {
      throw new MapError(
        'ERR_CAPACITY',
        'shared memory is not available here (in a browser, serve the page with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp)',
      );
    }
    const maxPages = Math.floor(opts.maxMemoryBytes / PAGE);
    const memory = new WebAssembly.Memory({ initial: 1, maximum: maxPages, shared: true });
    const module = await coreModule();
    const core = instantiate(module, memory);
    const seed = crypto.getRandomValues(new Uint32Array(1))[0];
    const minCap = nextPow2(opts.initialCapacity * 2);
    const status = core.init(maxPages * PAGE, seed, opts.maxKeyBytes, opts.maxValueBytes, minCap);
    if (status !== 0) {
      throw new MapError('ERR_INVALID_OPTION', `option "initialCapacity" (${opts.initialCapacity}) does not fit in maxMemoryBytes`);
    }
    return SharedMap.attachCore(memory, module, core);
  }

  /** Attaches this thread to the map behind `handle` (from `map.handle` in another thread). */
  static async attach(handle: SharedMapHandle): Promise<SharedMap> {
    const h = handle as Partial<SharedMapHandle> | null;
    if (
      h === null || typeof h !== 'object' || h.wasmap !== 1 ||
      typeof h.memory !== 'object' || typeof h.module !== 'object' ||
      !(h.memory instanceof WebAssembly.Memory) || !(h.module instanceof WebAssembly.Module)
    ) {
      throw new MapError('ERR_INVALID_HANDLE', `attach needs the handle of a wasmap map (map.handle), got ${describe(handle)}`);
    }
    let core: CoreExports;
    try {
      core = instantiate(h.module, h.memory);
    } catch (err) {
      throw new MapError('ERR_INVALID_HANDLE', `the handle's module and memory do not fit together: ${(err as Error).message}`);
    }
    return SharedMap.attachCore(h.memory, h.module, core);
  }

  private static async attachCore(memory: WebAssembly.Memory, module: WebAssembly.Module, core: CoreExports): Promise<SharedMap> {
    const owner = await hostThreadId();
    const r = core.attach(owner, SCRATCH_BYTES);
    if (r === ST_CAPACITY) {
      throw new MapError('ERR_CAPACITY', 'no room to attach this thread (too many threads, or the map is full)');
    }
    if (r < 0) throw new MapError('ERR_INVALID_HANDLE', 'the memory does not hold a wasmap map of this version');
    return new SharedMap(memory, module, core, owner);
  }

  /** Pass this to another thread and call `SharedMap.attach` there. */
  get handle(): SharedMapHandle {
    this.live();
    return { wasmap: 1, memory: this.memory, module: this.module };
  }

  /** The id this thread is known by in the map (see `releaseThread`). */
  get threadId(): number {
    return this.owner;
  }

  /** Exact number of entries, the same from every thread. */
  get size(): number {
    return this.live().size();
  }

  get(key: Key): Value | number | undefined {
    const core = this.live();
    const kl = this.putKey(key);
    const out = this.sp + this.keyArea;
    const r = core.get(this.sp, kl, out, this.scap - this.keyArea);
    if (r < 0) {
      if (r === ST_NOT_FOUND) return undefined;
      throw statusError(r, this);
    }
    return this.readValue(r, out);
  }

  has(key: Key): boolean {
    const core = this.live();
    const kl = this.putKey(key);
    return core.has(this.sp, kl) === 1;
  }

  set(key: Key, value: Value): this {
    const core = this.live();
    const vcap = this.reserve(value, undefined);
    const kl = this.putKey(key);
    const vp = this.sp + this.keyArea;
    const [vkind, vl] = this.putValue(value, vp, vcap);
    const r = core.set(this.sp, kl, vp, vl, vkind);
    if (r !== R_DONE) throw statusError(r, this);
    return this;
  }

  delete(key: Key): boolean {
    return this.write(MODE_DELETE, key, undefined, undefined) === R_DONE;
  }

  /** Go's LoadOrStore: the present value (`loaded: true`), or stores `value`. */
  getOrSet(key: Key, value: Value): { value: Value | number; loaded: boolean } {
    const r = this.write(MODE_GET_OR_SET, key, value, undefined);
    if (r === R_DONE) return { value: typeof value === 'string' ? value : value.slice(), loaded: false };
    return { value: this.readValue(r, this.outAt), loaded: true };
  }

  /** Go's LoadAndDelete: removes the key, returning its value (or undefined). */
  getAndDelete(key: Key): Value | number | undefined {
    const r = this.write(MODE_GET_AND_DELETE, key, undefined, undefined);
    return r === ST_NOT_FOUND ? undefined : this.readValue(r, this.outAt);
  }

  /** Stores `value`, returning the previous value (or undefined). */
  swap(key: Key, value: Value): Value | number | undefined {
    const r = this.write(MODE_SWAP, key, value, undefined);
    return r === ST_NOT_FOUND ? undefined : this.readValue(r, this.outAt);
  }

  /**
   * Stores `next` only if the present value equals `expected` (same kind and
   * bytes; a number matches a counter of that value).
   */
  compareAndSwap(key: Key, expected: Value | number, next: Value): boolean {
    return this.write(MODE_CAS, key, next, expected) === R_DONE;
  }

  /** Deletes the key only if its value equals `expected` (as compareAndSwap). */
  compareAndDelete(key: Key, expected: Value | number): boolean {
    return this.write(MODE_CAD, key, undefined, expected) === R_DONE;
  }

  /**
   * Adds `delta` (a safe integer) to the counter at `key`, creating it at 0,
   * and returns the new value. Counters are 64-bit words kept within
   * ±Number.MAX_SAFE_INTEGER, so every value is exact as a number; an
   * increment past that fails with ERR_COUNTER_OVERFLOW and changes nothing.
   */
  increment(key: Key, delta = 1): number {
    const core = this.live();
    if (!Number.isSafeInteger(delta)) {
      throw new MapError('ERR_INVALID_VALUE', `increment: delta must be a safe integer, got ${describe(delta)}`);
    }
    const kl = this.putKey(key);
    const v = core.increment(this.sp, kl, delta);
    if (v !== v) throw statusError(core.lastStatus(), this);
    return v;
  }

  /**
   * Deletes every entry present when it starts (each delete atomic); entries
   * set concurrently by other threads may survive, as with any concurrent map.
   */
  clear(): void {
    this.live().clear();
  }

  /**
   * Counters and gauges of the whole map, summed over every thread (the
   * counters are striped per thread in shared memory, so counting never
   * contends). Exact when no other thread is writing.
   */
  stats(): MapStats {
    const core = this.live();
    const out = this.sp + this.keyArea;
    core.statsInto(out);
    const stats = {} as MapStats;
    CORE_STATS.forEach((name, k) => (stats[name] = this.f64[(out >> 3) + k]));
    const memory = this.memoryUsage();
    stats.entries = core.size();
    stats.memoryUsedBytes = memory.usedBytes;
    stats.memoryReservedBytes = memory.reservedBytes;
    stats.memoryLimitBytes = memory.limitBytes;
    return stats;
  }

  /** `stats()` in the Prometheus text exposition format (`wasmap_` prefix, `namespace` label). */
  metrics(): string {
    return formatMetrics([['default', this.stats()]]);
  }

  memoryUsage(): MemoryUsage {
    const core = this.live();
    return {
      usedBytes: core.memoryUsed(),
      reservedBytes: this.memory.buffer.byteLength,
      limitBytes: core.memoryLimit(),
    };
  }

  /**
   * Releases what a dead thread held in the map (its thread slot, scratch and
   * retired memory). Call it when a worker that attached has exited; see
   * `releaseOnExit`. Returns how many attachments were released.
   */
  releaseThread(threadId: number): number {
    const r = this.live().release(threadId);
    return r < 0 ? 0 : r;
  }

  /**
   * Calls `releaseThread` for a Node `Worker` when it exits, however it ends
   * (including `worker.terminate()` in the middle of an operation).
   */
  releaseOnExit(worker: { threadId: number; once(event: 'exit', cb: () => void): unknown }): void {
    const id = worker.threadId + 1; // see thread-id.ts
    worker.once('exit', () => {
      if (this.core !== null) this.releaseThread(id);
    });
  }

  /** Detaches this thread. Later calls throw ERR_CLOSED; other threads go on. */
  close(): void {
    if (this.core === null) return;
    this.core.detach();
    this.core = null;
  }

  get closed(): boolean {
    return this.core === null;
  }

  // -------------------------------------------------------------------------

  private live(): CoreExports {
    if (this.core === null) throw new MapError('ERR_CLOSED', 'this map was closed in this thread');
    return this.core;
  }

  private useScratch(ptr: number, size: number): void {
    if (ptr === 0) throw statusError(ST_CAPACITY, this);
    this.sp = ptr;
    this.scap = size;
    if (ptr + size > this.u8.length) this.refreshViews();
  }

  private refreshViews(): void {
    this.u8 = new Uint8Array(this.memory.buffer);
    this.i32 = new Int32Array(this.memory.buffer);
    this.f64 = new Float64Array(this.memory.buffer);
    this.buf = bufferView(this.memory.buffer);
  }

  private text(at: number, len: number): string {
    return this.buf !== null ? this.buf.utf8Slice(at, at + len) : decodeString(this.u8, at, len);
  }

  /** Where the last write put its output. */
  private outAt = 0;

  /**
   * Makes the scratch buffer big enough for the inputs; returns the room for
   * the value's bytes. Must run before putKey (growing moves the buffer).
   */
  private reserve(value: unknown, expected: unknown): number {
    const vcap = typeof value === 'string' ? this.stringRoom(value) : isBytes(value) ? value.length : 8;
    const ecap = typeof expected === 'string' ? this.stringRoom(expected) : isBytes(expected) ? expected.length : 8;
    const need = this.keyArea + align8(vcap) + 8 + align8(ecap) + 8 + MIN_OUT;
    if (need > this.scap) {
      const size = need > this.scap * 2 ? need : this.scap * 2;
      this.useScratch(this.live().scratch(size), size);
    }
    return vcap;
  }

  /** Room for a string's UTF-8 bytes: at most 3 per UTF-16 unit, capped. */
  private stringRoom(s: string): number {
    const n = 3 * s.length;
    return n < this.maxValue ? n : this.maxValue;
  }

  private putKey(key: Key): number {
    let n: number;
    if (typeof key === 'string') {
      n = encodeString(this.u8, this.sp, key, this.maxKey);
      if (n === -1) throw keyError(key);
    } else if (isBytes(key)) {
      n = key.length > this.maxKey ? -2 : key.length;
      if (n > 0) this.u8.set(key, this.sp);
    } else {
      throw keyError(key);
    }
    if (n === 0) throw keyError(key);
    if (n === -2) this.tooLargeKey(key);
    return n;
  }

  private tooLargeKey(key: Key): never {
    if (typeof key === 'string' && !key.isWellFormed()) throw keyError(key);
    const n = typeof key === 'string' ? new TextEncoder().encode(key).length : key.length;
    throw new MapError('ERR_KEY_TOO_LARGE', `the key has ${n} bytes; maxKeyBytes is ${this.maxKey}`);
  }

  /** Writes a value at `at` (room for `cap` bytes); returns [kind, length]. */
  private putValue(value: unknown, at: number, cap: number): [number, number] {
    if (typeof value === 'string') {
      const n = encodeString(this.u8, at, value, cap);
      if (n === -1) throw valueError(value);
      if (n === -2) this.tooLargeValue(value);
      return [KIND_STRING, n];
    }
    if (isBytes(value)) {
      if (value.length > this.maxValue) this.tooLargeValue(value);
      this.u8.set(value, at);
      return [KIND_BYTES, value.length];
    }
    throw valueError(value);
  }

  private tooLargeValue(value: string | Uint8Array): never {
    if (typeof value === 'string' && !value.isWellFormed()) throw valueError(value);
    const n = typeof value === 'string' ? new TextEncoder().encode(value).length : value.length;
    throw new MapError('ERR_VALUE_TOO_LARGE', `the value has ${n} bytes; maxValueBytes is ${this.maxValue}`);
  }

  /** Writes an expected value (a number means a counter). */
  private putExpected(expected: unknown, at: number, cap: number): [number, number] {
    if (typeof expected === 'number') {
      if (!Number.isSafeInteger(expected)) {
        throw new MapError('ERR_INVALID_VALUE', `an expected counter value must be a safe integer, got ${describe(expected)}`);
      }
      const hi = Math.floor(expected / 4294967296);
      this.i32[at >> 2] = (expected - hi * 4294967296) | 0; // two's complement, low word
      this.i32[(at >> 2) + 1] = hi;
      return [KIND_COUNTER, 8];
    }
    return this.putValue(expected, at, cap);
  }

  /** Every write but set and increment; returns the core's result. */
  private write(mode: number, key: Key, value: Value | undefined, expected: unknown): number {
    const core = this.live();
    if (mode < MODE_DELETE && typeof value !== 'string' && !isBytes(value)) throw valueError(value);
    const vcap = this.reserve(value, expected);
    const kl = this.putKey(key);
    const vp = this.sp + this.keyArea;
    let vkind = 0;
    let vl = 0;
    if (value !== undefined) [vkind, vl] = this.putValue(value, vp, vcap);
    const ep = vp + align8(vl) + 8;
    let ekind = 0;
    let el = 0;
    if (expected !== undefined) [ekind, el] = this.putExpected(expected, ep, this.scap - (ep - this.sp) - MIN_OUT);
    const out = ep + align8(el) + 8;
    this.outAt = out;
    const r = core.write(mode, this.sp, kl, vp, vl, vkind, ep, el, ekind, out, this.scap - (out - this.sp));
    if (r < 0 && r !== R_DONE && r !== R_REFUSED && r !== ST_NOT_FOUND) throw statusError(r, this);
    return r;
  }

  /** Decodes an output: (len << 3) | kind, at `out` or pending in the core. */
  private readValue(r: number, out: number): Value | number {
    const kind = r & 7;
    const len = r >>> 3;
    if (kind === KIND_COUNTER) {
      const i = out >> 2;
      return this.i32[i + 1] * 4294967296 + (this.i32[i] >>> 0);
    }
    const room = this.scap - (out - this.sp);
    if (len > room) {
      // Too big for the scratch buffer: read it in place, still protected
      // by the core's operation, then end that operation.
      const core = this.live();
      const at = core.pendingValue();
      try {
        if (at + len > this.u8.length) this.refreshViews();
        return kind === KIND_BYTES ? this.u8.slice(at, at + len) : this.text(at, len);
      } finally {
        core.endPending();
      }
    }
    return kind === KIND_BYTES ? this.u8.slice(out, out + len) : this.text(out, len);
  }
}
