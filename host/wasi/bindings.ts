// The package's own canonical-ABI bindings for its hottest imports: a
// guest's bucket get, set, delete and exists, atomics increment, ttl
// set-with-ttl and batch set-many (whose values are then refused over the
// limit before any is copied). jco 1.35's generated bindings make a task and a subtask of
// the component model's async machinery for every call, even a synchronous
// one: 3.5-5.5 µs a call, 35-60 times the same call from JS. The bindings
// here lift the arguments, call the bucket and lower the result directly.
//
// They replace a jco binding only where it can be proven to do the same:
// - the binding jco generated is, but for its numbering, exactly the one
//   these were written against (a fingerprint of its text per function), so
//   a guest built against another shape of the function, or another jco,
//   keeps jco's own binding (only slower);
// - the bucket is one of this package's (keyValueImports): a host's own
//   implementation of the interfaces is called through jco's bindings;
// - the handle is one the guest holds (checked the way jco's resource
//   table marks live handles), and the key is 1 to maxKeyBytes bytes of
//   ASCII with no validateKey policy. Anything else (a dropped handle, a key
//   with other bytes, which jco's UTF-8 decoding decides) goes through jco's
//   binding, unchanged.
// - errors are lowered as jco lowers them: the interface's `error` variant,
//   `other` with the same message.
//
// The component model's rules kept: the key is read from the guest's
// memory and the result written to it with bounds checked by the typed
// views; a value goes into the guest through its own cabi_realloc, during
// which the guest may not call back into its imports (a call then traps,
// as the canonical ABI's may_leave flag makes it).
import { BucketResource, type StoreError } from './imports.js';

/** A binding of a core function import, as jco's instantiate holds it. */
type CoreFn = (...args: any[]) => unknown; // eslint-disable-line @typescript-eslint/no-explicit-any
type Realloc = (old: number, oldSize: number, align: number, size: number) => number;

const GET = 'wasi:keyvalue/store@0.2.0-draft2#get';
const SET = 'wasi:keyvalue/store@0.2.0-draft2#set';
const DELETE = 'wasi:keyvalue/store@0.2.0-draft2#delete';
const EXISTS = 'wasi:keyvalue/store@0.2.0-draft2#exists';
const INCREMENT = 'wasi:keyvalue/atomics@0.2.0-draft2#increment';
const SET_WITH_TTL = 'wasmap:keyvalue/ttl@0.1.0#setWithTtl';
const SET_MANY = 'wasi:keyvalue/batch@0.2.0-draft2#setMany';

/**
 * The fingerprint (FNV-1a of the text, numbering removed: see `normalize`)
 * of jco 1.35.0's binding of each function these bindings stand in for.
 * `npm run fingerprints` prints them for the jco installed.
 */
export const JCO_FINGERPRINTS: Readonly<Record<string, number>> = Object.freeze({
  [GET]: 0x507a2c1d,
  [SET]: 0x88a30695,
  [DELETE]: 0xbfd06417,
  [EXISTS]: 0xacc6b470,
  [INCREMENT]: 0x6af345c1,
  [SET_WITH_TTL]: 0xb6e9dd64,
  [SET_MANY]: 0x391b32a7,
});

/** A binding's text with what varies between components (numbering) taken out. */
function normalize(text: string): string {
  return text.replace(/\b(_?trampoline|handleTable|captureTable|captureCnt|memory|realloc|exports)\d+/g, '$1#');
}

function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** One of jco's bindings found in its output. */
export interface JcoBinding {
  /** jco's name for it: `interface#function`. */
  name: string;
  index: number;
  fingerprint: number;
  handleTable: string;
  captureTable: string;
  memory: string;
  realloc: string;
}

/** Every import binding in jco's output with the names it uses. */
export function jcoBindings(js: string): JcoBinding[] {
  const found: JcoBinding[] = [];
  for (const m of js.matchAll(/^ {2}_trampoline(\d+)\.fnName = '([^']+)';$/gm)) {
    const index = Number(m[1]);
    const start = js.indexOf(`\n  const _trampoline${index} = function(`);
    if (start < 0 || start > m.index!) continue;
    const body = js.slice(start, m.index);
    const lower = js.slice(js.indexOf(`\n  let trampoline${index} = `), js.indexOf(`importFn: _trampoline${index},\n  },\n  );`));
    found.push({
      name: m[2],
      index,
      fingerprint: fnv1a(normalize(body)),
      handleTable: /\bvar rep2 = (handleTable\d+)\[\(handle1 << 1\) \+ 1\] & ~T_FLAG;/.exec(body)?.[1] ?? '',
      captureTable: /\bvar rsc0 = (captureTable\d+)\.get\(rep2\);/.exec(body)?.[1] ?? '',
      memory: /\bgetMemoryFn: \(\) => (memory\d+),/.exec(lower)?.[1] ?? '',
      realloc: /\bgetReallocFn: \(\) => (realloc\d+),/.exec(lower)?.[1] ?? '',
    });
  }
  return found;
}

/** Where jco's instantiate has made every binding and not yet used one. */
const BEFORE_INSTANCES = /^ {2}Promise\.all\(\[module\d+/m;

/**
 * jco's output with its bindings of the functions above replaced by this
 * package's (through `__wasmapBind`, a parameter of the code's function:
 * see loader.ts), where their fingerprints match. Returns the names bound.
 */
export function rebind(js: string, fingerprints: Readonly<Record<string, number>> = JCO_FINGERPRINTS): { js: string; bound: string[] } {
  const at = BEFORE_INSTANCES.exec(js);
  if (at === null) return { js, bound: [] };
  const bound: string[] = [];
  const lines: string[] = [];
  for (const b of jcoBindings(js)) {
    if (!(b.name in fingerprints) || fingerprints[b.name] !== b.fingerprint) continue;
    if (!b.handleTable || !b.captureTable || !b.memory || !b.realloc) continue;
    const t = b.handleTable;
    lines.push(
      `  trampoline${b.index} = __wasmapBind('${b.name}', trampoline${b.index}, () => ${b.memory}, () => ${b.realloc}, `
      + `(h) => { const s = ${t}[h << 1], v = ${t}[(h << 1) + 1]; `
      + `return h > 0 && typeof v === 'number' && v !== 0 && (s & T_FLAG) === 0 ? ${b.captureTable}.get(v & ~T_FLAG) : undefined; });`,
    );
    bound.push(b.name);
  }
  if (lines.length === 0) return { js, bound };
  return { js: `${js.slice(0, at.index)}${lines.join('\n')}\n${js.slice(at.index)}`, bound };
}

// --- the bindings ------------------------------------------------------------

/** The guest's memory, viewed again only when it grew (its buffer changed). */
class GuestMemory {
  private buffer: ArrayBuffer | null = null;
  u8 = new Uint8Array(0);
  dv = new DataView(new ArrayBuffer(0));

  constructor(private readonly memory: () => WebAssembly.Memory) {}

  /** The stored key of the call `enter` last took. */
  key: Uint8Array = new Uint8Array(0);

  /**
   * The start of every binding: the bucket of handle `h`, with the stored
   * key for the `kl` bytes at `kp` in `key`, when this package's binding
   * takes the call; undefined when jco's must (see BucketResource.guestKey).
   */
  enter(resource: (h: number) => unknown, h: number, kp: number, kl: number): BucketResource | undefined {
    mayLeave();
    const b = bucketOf(resource(h));
    this.refresh();
    const key = b?.guestKey(this.u8, kp, kl);
    if (key === undefined) return undefined;
    this.key = key;
    return b;
  }

  /** A value outside the memory and within the limit: jco's binding decides (one over the limit is refused without a copy). */
  outside(b: BucketResource, vp: number, vl: number): boolean {
    return vp + vl > this.u8.length && vl <= b.ctx.policy.maxValueBytes;
  }

  refresh(): void {
    const buffer = this.memory().buffer;
    if (buffer !== this.buffer) {
      this.buffer = buffer as ArrayBuffer;
      this.u8 = new Uint8Array(buffer);
      this.dv = new DataView(buffer);
    }
  }
}

/** Set while a binding calls the guest's cabi_realloc: the guest may not call out then. */
let inRealloc = false;

function mayLeave(): void {
  if (inRealloc) throw new WebAssembly.RuntimeError('cannot leave a component instance during cabi_realloc');
}

const encoder = new TextEncoder();

/** Bytes into the guest: a block of its own allocator, filled; returns its address. */
function lowerBytes(mem: GuestMemory, realloc: () => Realloc, bytes: Uint8Array): number {
  if (bytes.length === 0) return 1; // a list of nothing: any aligned non-null address, as jco does
  let ptr: number;
  inRealloc = true;
  try {
    ptr = realloc()(0, 0, 1, bytes.length);
  } finally {
    inRealloc = false;
  }
  mem.refresh(); // the allocator may have grown the memory
  mem.u8.set(bytes, ptr);
  return ptr;
}

/** The `err` case of a result whose error variant is at `at`: `error` as jco lowers it. */
function lowerError(mem: GuestMemory, realloc: () => Realloc, ret: number, at: number, e: StoreError): void {
  let ptr = 0;
  let len = 0;
  if (e.tag === 'other') {
    const bytes = encoder.encode(e.val);
    ptr = lowerBytes(mem, realloc, bytes);
    len = bytes.length;
  }
  const dv = mem.dv;
  dv.setInt8(ret, 1);
  dv.setInt8(ret + at, e.tag === 'no-such-store' ? 0 : e.tag === 'access-denied' ? 1 : 2);
  if (e.tag === 'other') {
    dv.setUint32(ret + at + 8, len, true);
    dv.setUint32(ret + at + 4, ptr, true);
  }
}

/** A bucket of this package's, or undefined (then jco's binding runs). */
function bucketOf(rsc: unknown): BucketResource | undefined {
  return rsc instanceof BucketResource && rsc.ctx !== undefined ? rsc : undefined;
}

type Maker = (original: CoreFn, mem: GuestMemory, realloc: () => Realloc, resource: (h: number) => unknown) => CoreFn;

const MAKERS: Record<string, Maker> = {
  // get(self, key) -> result<option<list<u8>>, error>: (handle, key ptr, key len, ret)
  [GET]: (original, mem, realloc, resource) => function get(h: number, kp: number, kl: number, ret: number) {
    kp >>>= 0; kl >>>= 0; ret >>>= 0; // i32s arrive signed
    const b = mem.enter(resource, h, kp, kl);
    if (b === undefined) return original(h, kp, kl, ret);
    const key = mem.key;
    let v: Uint8Array | undefined;
    try {
      v = b.getBytes(key);
    } catch (err) {
      return lowerError(mem, realloc, ret, 4, b.failure(err, mem.u8, kp, kl));
    }
    if (v === undefined) {
      const dv = mem.dv;
      dv.setInt8(ret, 0);
      dv.setInt8(ret + 4, 0);
      return;
    }
    const ptr = lowerBytes(mem, realloc, v);
    const dv = mem.dv;
    dv.setInt8(ret, 0);
    dv.setInt8(ret + 4, 1);
    dv.setUint32(ret + 12, v.length, true);
    dv.setUint32(ret + 8, ptr, true);
  },

  // set(self, key, value) -> result<_, error>: (handle, key ptr, key len, value ptr, value len, ret)
  [SET]: (original, mem, realloc, resource) => function set(h: number, kp: number, kl: number, vp: number, vl: number, ret: number) {
    kp >>>= 0; kl >>>= 0; vp >>>= 0; vl >>>= 0; ret >>>= 0; // i32s arrive signed
    const b = mem.enter(resource, h, kp, kl);
    if (b === undefined || mem.outside(b, vp, vl)) return original(h, kp, kl, vp, vl, ret);
    const key = mem.key;
    try {
      b.setBytes(key, mem.u8, vp, vl, undefined, kp, kl);
    } catch (err) {
      return lowerError(mem, realloc, ret, 4, b.failure(err, mem.u8, kp, kl));
    }
    mem.dv.setInt8(ret, 0);
  },

  // delete(self, key) -> result<_, error>: (handle, key ptr, key len, ret)
  [DELETE]: (original, mem, realloc, resource) => function del(h: number, kp: number, kl: number, ret: number) {
    kp >>>= 0; kl >>>= 0; ret >>>= 0; // i32s arrive signed
    const b = mem.enter(resource, h, kp, kl);
    if (b === undefined) return original(h, kp, kl, ret);
    const key = mem.key;
    try {
      b.deleteBytes(key, mem.u8, kp, kl);
    } catch (err) {
      return lowerError(mem, realloc, ret, 4, b.failure(err, mem.u8, kp, kl));
    }
    mem.dv.setInt8(ret, 0);
  },

  // exists(self, key) -> result<bool, error>: (handle, key ptr, key len, ret)
  [EXISTS]: (original, mem, realloc, resource) => function exists(h: number, kp: number, kl: number, ret: number) {
    kp >>>= 0; kl >>>= 0; ret >>>= 0; // i32s arrive signed
    const b = mem.enter(resource, h, kp, kl);
    if (b === undefined) return original(h, kp, kl, ret);
    const key = mem.key;
    let found: boolean;
    try {
      found = b.ctx.ns.has(key);
    } catch (err) {
      return lowerError(mem, realloc, ret, 4, b.failure(err, mem.u8, kp, kl));
    }
    const dv = mem.dv;
    dv.setInt8(ret, 0);
    dv.setInt8(ret + 4, found ? 1 : 0);
  },

  // increment(bucket, key, delta: s64) -> result<s64, error>: (handle, key ptr, key len, delta, ret)
  [INCREMENT]: (original, mem, realloc, resource) => function increment(h: number, kp: number, kl: number, delta: bigint, ret: number) {
    kp >>>= 0; kl >>>= 0; ret >>>= 0; // i32s arrive signed
    const b = mem.enter(resource, h, kp, kl);
    if (b === undefined) return original(h, kp, kl, delta, ret);
    const key = mem.key;
    let n: bigint;
    try {
      n = b.incrementBytes(key, delta, mem.u8, kp, kl);
    } catch (err) {
      return lowerError(mem, realloc, ret, 8, b.failure(err, mem.u8, kp, kl));
    }
    const dv = mem.dv;
    dv.setInt8(ret, 0);
    dv.setBigInt64(ret + 8, n, true);
  },

  // set-with-ttl(bucket, key, value, ttl-ms: u64) -> result<_, error>: (handle, key ptr, key len, value ptr, value len, ttl, ret)
  [SET_WITH_TTL]: (original, mem, realloc, resource) => function setWithTtl(
    h: number, kp: number, kl: number, vp: number, vl: number, ttl: bigint, ret: number,
  ) {
    kp >>>= 0; kl >>>= 0; vp >>>= 0; vl >>>= 0; ret >>>= 0; // i32s arrive signed
    const b = mem.enter(resource, h, kp, kl);
    if (b === undefined || mem.outside(b, vp, vl)) return original(h, kp, kl, vp, vl, ttl, ret);
    const key = mem.key;
    try {
      b.setBytes(key, mem.u8, vp, vl, BigInt.asUintN(64, ttl), kp, kl);
    } catch (err) {
      return lowerError(mem, realloc, ret, 4, b.failure(err, mem.u8, kp, kl));
    }
    mem.dv.setInt8(ret, 0);
  },
};

MAKERS[SET_MANY] = (original, mem, realloc, resource) => function setMany(h: number, base: number, n: number, ret: number) {
  // set-many(bucket, key-values: list<tuple<string, list<u8>>>) -> result<_, error>:
  // (handle, list ptr, list len, ret); each tuple 16 bytes: key ptr, key len, value ptr, value len.
  mayLeave();
  base >>>= 0; n >>>= 0; ret >>>= 0; // i32s arrive signed
  const b = bucketOf(resource(h));
  mem.refresh();
  if (b === undefined || base % 4 !== 0 || base + 16 * n > mem.u8.length) return original(h, base, n, ret);
  // Every key one the fast path takes and every value inside the memory
  // (or over the limit: refused below without a copy), before any write.
  const dv = mem.dv;
  const u8 = mem.u8;
  for (let i = 0; i < n; i++) {
    const at = base + 16 * i;
    const kp = dv.getUint32(at, true);
    const kl = dv.getUint32(at + 4, true);
    const vp = dv.getUint32(at + 8, true);
    const vl = dv.getUint32(at + 12, true);
    if (b.guestKey(u8, kp, kl) === undefined || mem.outside(b, vp, vl)) return original(h, base, n, ret);
  }
  try {
    b.setManyBytes(u8, dv, base, n);
  } catch (err) {
    return lowerError(mem, realloc, ret, 4, b.failure(err, u8, 0, 0));
  }
  mem.dv.setInt8(ret, 0);
};

/**
 * `__wasmapBind` of the rewritten code: this package's binding of `name`
 * (jco's `original` when it has none).
 */
export function bind(
  name: string, original: CoreFn, memory: () => WebAssembly.Memory, realloc: () => Realloc, resource: (h: number) => unknown,
): CoreFn {
  const make = MAKERS[name];
  return make === undefined ? original : make(original, new GuestMemory(memory), realloc, resource);
}
