// One thread's attachment to a map: its core instance, its scratch buffer in
// shared memory and its views of that memory. Every SharedMap view a thread
// holds of one map (the map itself and its namespaces) shares one Session.
import {
  type CoreExports, KIND_BYTES, KIND_COUNTER, OUT_ASCII, ST_BAD_MEMORY, ST_CAPACITY, ST_CONTENTION,
  ST_NOT_ATTACHED, ST_NOT_COUNTER, ST_NS_DROPPED, ST_OVERFLOW, ST_QUOTA,
} from './core.js';
import { type NodeUtf8Writer, decodeString } from './codec.js';
import { MapError } from './errors.js';

export const SCRATCH_BYTES = 65536;
/** Bytes at the start of the scratch block the host never writes: its first
 *  word is the block's free-list link, which a thread popping with a stale
 *  head may still read (assembly/alloc.ts popAt), so only the core writes
 *  it, atomically. */
const SCRATCH_HEAD = 8;
/** Room kept for an output value after the inputs in the scratch buffer. */
export const MIN_OUT = 256;
/** Every key starts with its namespace's 4-byte tag (assembly/layout.ts). */
export const TAG_BYTES = 4;

export const align8 = (n: number) => (n + 7) & ~7;

/** Byte copies V8 keeps inside the array object; larger ones come from a slab (Session.bytes). */
const ON_HEAP_BYTES = 64;
const POOL_BYTES = 32768;
const POOLED_MAX = 4096;

/** The part of Node's Buffer used here: native UTF-8 decoding of a range. */
interface NodeBufferView extends NodeUtf8Writer {
  utf8Slice(start: number, end: number): string;
  latin1Slice(start: number, end: number): string;
  latin1Write(s: string, offset: number, length: number): number;
}

/** A Node Buffer over `sab` (no copy), where Buffer exists; else null. */
function bufferView(sab: ArrayBufferLike): NodeBufferView | null {
  const B = (globalThis as unknown as { Buffer?: { from(b: ArrayBufferLike): NodeBufferView } }).Buffer;
  if (B === undefined) return null;
  const view = B.from(sab);
  return typeof view.utf8Slice === 'function' && typeof view.latin1Slice === 'function' &&
    typeof view.utf8Write === 'function' && typeof view.latin1Write === 'function' ? view : null;
}

export class Session {
  core: CoreExports | null;
  readonly memory: WebAssembly.Memory;
  readonly module: WebAssembly.Module;
  readonly owner: number;
  /** The map's own limits (a namespace may have lower ones). */
  readonly maxKey: number;
  readonly maxValue: number;
  /** Scratch layout: tag + key at sp (keyArea bytes), then inputs, then output. */
  readonly keyArea: number;
  /** The views' table of decoded strings (BaseMap.decoded), made by the first view. */
  decoded: import('./base-map.js').Decoded | null = null;
  sp = 0;
  scap = 0;
  u8: Uint8Array;
  i32: Int32Array;
  f64: Float64Array;
  /** Whether the memory can grow (a LocalMap's), detaching the views above. A
   *  SharedMap's memory is all there from the start, so its views never need
   *  the check (a typed array's byteLength is a builtin call, not free). */
  readonly growable: boolean;
  /** Node's Buffer over the same memory (fast native UTF-8 decoding), or null. */
  buf: NodeBufferView | null;
  readonly clock: () => number;
  /** getOrCompute flights this attachment holds open now (base-map.ts
   *  MAX_FLIGHTS bounds them). */
  flights = 0;
  /** Index (in i32) of the map's "some entry has an expiry" flag. */
  private readonly ttlFlag: number;

  constructor(
    memory: WebAssembly.Memory, module: WebAssembly.Module, core: CoreExports, owner: number, clock: () => number,
  ) {
    this.clock = clock;
    this.ttlFlag = core.ttlFlagAddress() >> 2;
    this.memory = memory;
    this.module = module;
    this.core = core;
    this.owner = owner;
    this.maxKey = core.maxKeyBytes();
    this.maxValue = core.maxValueBytes();
    this.keyArea = align8(TAG_BYTES + this.maxKey) + 8;
    this.growable = !(typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer);
    this.u8 = new Uint8Array(memory.buffer);
    this.i32 = new Int32Array(memory.buffer);
    this.f64 = new Float64Array(memory.buffer);
    this.buf = bufferView(memory.buffer);
    // Room for the largest key and an output after it, whatever the
    // operation: reads write their key with no check of the buffer's size.
    const size = Math.max(SCRATCH_BYTES, this.keyArea + MIN_OUT + SCRATCH_HEAD);
    this.useScratch(core.scratch(size), size);
  }

  /** The clock for an operation; 0 (never read) until some entry has an expiry. */
  now(): number {
    // Atomically, as the core writes it (a plain read of a word another
    // thread writes is a data race).
    return Atomics.load(this.i32, this.ttlFlag) === 0 ? 0 : this.clock();
  }

  live(): CoreExports {
    if (this.core === null) throw new MapError('ERR_CLOSED', 'this map was closed in this thread');
    return this.core;
  }

  /** Takes the scratch block at `ptr` of `size` bytes (its head left alone). */
  useScratch(ptr: number, size: number): void {
    if (ptr === 0) throw this.error(ST_CAPACITY, false);
    this.sp = ptr + SCRATCH_HEAD;
    this.scap = size - SCRATCH_HEAD;
    if (ptr + size > this.u8.length) this.refreshViews();
  }

  refreshViews(): void {
    this.u8 = new Uint8Array(this.memory.buffer);
    this.i32 = new Int32Array(this.memory.buffer);
    this.f64 = new Float64Array(this.memory.buffer);
    this.buf = bufferView(this.memory.buffer);
  }

  /** Grows the scratch buffer to at least `need` bytes (moves it: call before writing inputs). */
  ensure(need: number): void {
    if (need <= this.scap) return;
    const size = (need > this.scap * 2 ? need : this.scap * 2) + SCRATCH_HEAD;
    this.useScratch(this.live().scratch(size), size);
  }

  /**
   * A copy of the `len` bytes at `at`, as a Uint8Array of its own. V8 keeps
   * the bytes of an array of up to 64 in the array itself; a larger one
   * needs an ArrayBuffer of its own, whose allocation costs 1-3 µs (Node
   * 20-24), ten to thirty times a get. So copies of 65 bytes to 4 KiB are
   * views into a slab of POOL_BYTES, handed out once each (Node's
   * Buffer.allocUnsafe does the same): their `.buffer` is the slab, shared
   * with other values read in this thread; nothing is ever written to a
   * part handed out.
   */
  bytes(at: number, len: number): Uint8Array {
    if (len <= ON_HEAP_BYTES || len > POOLED_MAX) return this.u8.slice(at, at + len);
    let off = this.poolAt;
    if (this.pool === null || off + len > POOL_BYTES) {
      this.pool = new ArrayBuffer(POOL_BYTES);
      off = 0;
    }
    const out = new Uint8Array(this.pool, off, len);
    out.set(this.u8.subarray(at, at + len));
    this.poolAt = align8(off + len);
    return out;
  }

  private pool: ArrayBuffer | null = null;
  private poolAt = 0;

  text(at: number, len: number): string {
    return this.buf !== null ? this.buf.utf8Slice(at, at + len) : decodeString(this.u8, at, len);
  }

  /** Decodes an output: (len << 3) | kind (or OUT_ASCII), at `out` or pending in the core. */
  readValue(r: number, out: number): string | Uint8Array | number {
    if (this.growable && this.u8.byteLength === 0) this.refreshViews(); // a LocalMap's memory grew
    const kind = r & 7;
    const len = r >>> 3;
    if (kind === KIND_COUNTER) {
      const i = out >> 2;
      return this.i32[i + 1] * 4294967296 + (this.i32[i] >>> 0);
    }
    if (len > this.scap - (out - this.sp)) {
      // Too big for the scratch buffer: read it in place, still protected
      // by the core's operation, then end that operation.
      const core = this.live();
      const at = core.pendingValue();
      try {
        if (at + len > this.u8.length) this.refreshViews();
        return kind === KIND_BYTES ? this.bytes(at, len) : this.text(at, len);
      } finally {
        core.endPending();
      }
    }
    if (kind === OUT_ASCII) {
      // All ASCII (the core checked while copying): Latin-1 decoding gives
      // the same string, without UTF-8's validation (about half the cost).
      return this.buf !== null ? this.buf.latin1Slice(out, out + len) : decodeString(this.u8, out, len);
    }
    return kind === KIND_BYTES ? this.bytes(out, len) : this.text(out, len);
  }

  /** The MapError for a core status (`ofThisOperation`: of the core's last
   *  data operation, whose cause the core may tell). */
  error(status: number, ofThisOperation = true): MapError {
    switch (status) {
      case ST_CAPACITY:
        if (ofThisOperation && this.core?.capacityCause() === 1) {
          return new MapError(
            'ERR_CAPACITY',
            `the map is full (maxMemoryBytes ${this.core.memoryLimit()}) and evicting made no block of this ` +
            "entry's size: the entries beside the coldest ones were evicted and their memory merged, but blocks " +
            "that eviction cannot free (tables, threads' buffers) lay in the way, or nothing was left to evict; " +
            'give the map more memory, or store values this large elsewhere',
          );
        }
        if (ofThisOperation && this.core?.capacityCause() === 2) {
          return new MapError(
            'ERR_CAPACITY',
            `the map is full: it holds maxEntries (${this.core.entryLimit()}) entries; delete entries, create the map ` +
            "with a larger maxEntries, or with eviction: 'lru' so that inserts evict",
          );
        }
        return new MapError(
          'ERR_CAPACITY',
          `the map is full: maxMemoryBytes (${this.core?.memoryLimit()}) reached; delete entries or create a larger map`,
        );
      case ST_QUOTA:
        return new MapError('ERR_QUOTA', 'the namespace is at its quota (maxEntries or maxMemoryBytes); nothing was changed');
      case ST_NS_DROPPED:
        return new MapError('ERR_NAMESPACE_DROPPED', 'this namespace was dropped');
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
}
