// Canonical-ABI glue for an AssemblyScript guest of wasi:keyvalue@0.2.0-draft2
// (+ wasmap:keyvalue/ttl): what a bindings generator would write, by hand.
//
// - Memory: a bump allocator over the guest's own memory. The host lowers
//   strings and lists into it through `cabi_realloc`; everything is dropped
//   at once after each export call (`resetHeap`, from the export's
//   `cabi_post_*`). No AssemblyScript runtime objects are used at all.
// - Imports: one `@external` per WIT function, named as wit-component expects
//   (`[method]bucket.get`, `[resource-drop]cas`, ...). A result with more
//   than one flat value comes back through a return area (`RET`): byte 0 is
//   the result's case, the payload follows at the payload's alignment.
// - Each wrapper returns a status (OK or E_*) and leaves its payload in the
//   `out*` globals; an error's text is in errPtr/errLen.

// --- memory ---------------------------------------------------------------

let heapTop: usize = 0;

export function alloc(size: usize, align: usize): usize {
  if (heapTop == 0) heapTop = __heap_base;
  const p = (heapTop + align - 1) & ~(align - 1);
  const end = p + size;
  const have = (<usize>memory.size()) << 16;
  if (end > have) {
    if (memory.grow(<i32>((end - have + 0xffff) >> 16)) < 0) unreachable();
  }
  heapTop = end;
  return p;
}

/**
 * Where the heap is now: `release(mark())` later drops what came after (the
 * return area is placed first, so that it stays below the mark).
 */
export function mark(): usize {
  area();
  return heapTop;
}

export function release(at: usize): void {
  heapTop = at;
}

export function resetHeap(): void {
  heapTop = __heap_base;
}

export function cabi_realloc(old: usize, oldSize: usize, align: usize, newSize: usize): usize {
  const p = alloc(newSize, align);
  if (old != 0) memory.copy(p, old, min(oldSize, newSize));
  return p;
}

// --- imports --------------------------------------------------------------

// @ts-ignore: decorator
@external("wasi:keyvalue/store@0.2.0-draft2", "open")
declare function _open(id: usize, idLen: usize, ret: usize): void;
// @ts-ignore: decorator
@external("wasi:keyvalue/store@0.2.0-draft2", "[method]bucket.get")
declare function _get(b: i32, k: usize, kl: usize, ret: usize): void;
// @ts-ignore: decorator
@external("wasi:keyvalue/store@0.2.0-draft2", "[method]bucket.set")
declare function _set(b: i32, k: usize, kl: usize, v: usize, vl: usize, ret: usize): void;
// @ts-ignore: decorator
@external("wasi:keyvalue/store@0.2.0-draft2", "[method]bucket.delete")
declare function _delete(b: i32, k: usize, kl: usize, ret: usize): void;
// @ts-ignore: decorator
@external("wasi:keyvalue/store@0.2.0-draft2", "[method]bucket.exists")
declare function _exists(b: i32, k: usize, kl: usize, ret: usize): void;
// @ts-ignore: decorator
@external("wasi:keyvalue/store@0.2.0-draft2", "[method]bucket.list-keys")
declare function _listKeys(b: i32, hasCursor: i32, c: usize, cl: usize, ret: usize): void;
// @ts-ignore: decorator
@external("wasi:keyvalue/store@0.2.0-draft2", "[resource-drop]bucket")
declare function _dropBucket(b: i32): void;

// @ts-ignore: decorator
@external("wasi:keyvalue/atomics@0.2.0-draft2", "[static]cas.new")
declare function _casNew(b: i32, k: usize, kl: usize, ret: usize): void;
// @ts-ignore: decorator
@external("wasi:keyvalue/atomics@0.2.0-draft2", "[method]cas.current")
declare function _casCurrent(c: i32, ret: usize): void;
// @ts-ignore: decorator
@external("wasi:keyvalue/atomics@0.2.0-draft2", "[resource-drop]cas")
declare function _dropCas(c: i32): void;
// @ts-ignore: decorator
@external("wasi:keyvalue/atomics@0.2.0-draft2", "increment")
declare function _increment(b: i32, k: usize, kl: usize, delta: i64, ret: usize): void;
// @ts-ignore: decorator
@external("wasi:keyvalue/atomics@0.2.0-draft2", "swap")
declare function _swap(c: i32, v: usize, vl: usize, ret: usize): void;

// @ts-ignore: decorator
@external("wasi:keyvalue/batch@0.2.0-draft2", "get-many")
declare function _getMany(b: i32, keys: usize, n: usize, ret: usize): void;
// @ts-ignore: decorator
@external("wasi:keyvalue/batch@0.2.0-draft2", "set-many")
declare function _setMany(b: i32, kvs: usize, n: usize, ret: usize): void;
// @ts-ignore: decorator
@external("wasi:keyvalue/batch@0.2.0-draft2", "delete-many")
declare function _deleteMany(b: i32, keys: usize, n: usize, ret: usize): void;

// @ts-ignore: decorator
@external("wasmap:keyvalue/ttl@0.1.0", "set-with-ttl")
declare function _setWithTtl(b: i32, k: usize, kl: usize, v: usize, vl: usize, ms: i64, ret: usize): void;
// @ts-ignore: decorator
@external("wasmap:keyvalue/ttl@0.1.0", "time-to-live")
declare function _timeToLive(b: i32, k: usize, kl: usize, ret: usize): void;
// @ts-ignore: decorator
@external("wasmap:keyvalue/ttl@0.1.0", "expire")
declare function _expire(b: i32, k: usize, kl: usize, ms: i64, ret: usize): void;
// @ts-ignore: decorator
@external("wasmap:keyvalue/ttl@0.1.0", "persist")
declare function _persist(b: i32, k: usize, kl: usize, ret: usize): void;

// --- results --------------------------------------------------------------

export const OK: i32 = 0;
export const E_NO_SUCH_STORE: i32 = 1; // store.error cases, + 1
export const E_ACCESS_DENIED: i32 = 2;
export const E_OTHER: i32 = 3; // errPtr/errLen: the message
export const E_CAS_FAILED: i32 = 4; // outHandle: the fresh cas

/** A handle, a bool (0/1), an option's case (0/1) or a lifetime's case. */
export let outHandle: i32 = 0;
export let outPtr: usize = 0;
export let outLen: usize = 0;
export let outI64: i64 = 0;
export let errPtr: usize = 0;
export let errLen: usize = 0;

let ret: usize = 0;

/** The return area: 24 bytes, 8-aligned (the largest result below). */
function area(): usize {
  if (ret == 0) ret = alloc(24, 8);
  return ret;
}

/** Forgets the return area (the heap under it is about to be reset). */
export function resetArea(): void {
  ret = 0;
}

/** Reads a store.error at `at` (case byte, string at +4). */
function storeError(at: usize): i32 {
  const tag = <i32>load<u8>(at);
  if (tag == 2) {
    errPtr = load<u32>(at + 4);
    errLen = load<u32>(at + 8);
  }
  return tag + 1;
}

/** result<_, error> */
function unit(r: usize): i32 {
  return load<u8>(r) == 0 ? OK : storeError(r + 4);
}

/** result<own<T>, error> */
function handleResult(r: usize): i32 {
  if (load<u8>(r) != 0) return storeError(r + 4);
  outHandle = load<i32>(r + 4);
  return OK;
}

/** result<option<list<u8>>, error>: outHandle = 1 if some. */
function optionBytes(r: usize): i32 {
  if (load<u8>(r) != 0) return storeError(r + 4);
  outHandle = <i32>load<u8>(r + 4);
  outPtr = load<u32>(r + 8);
  outLen = load<u32>(r + 12);
  return OK;
}

/** result<bool, error> */
function boolResult(r: usize): i32 {
  if (load<u8>(r) != 0) return storeError(r + 4);
  outHandle = <i32>load<u8>(r + 4);
  return OK;
}

// --- wrappers -------------------------------------------------------------

export function open(id: usize, idLen: usize): i32 {
  const r = area();
  _open(id, idLen, r);
  return handleResult(r);
}

export function dropBucket(b: i32): void {
  _dropBucket(b);
}

export function get(b: i32, k: usize, kl: usize): i32 {
  const r = area();
  _get(b, k, kl, r);
  return optionBytes(r);
}

export function set(b: i32, k: usize, kl: usize, v: usize, vl: usize): i32 {
  const r = area();
  _set(b, k, kl, v, vl, r);
  return unit(r);
}

export function del(b: i32, k: usize, kl: usize): i32 {
  const r = area();
  _delete(b, k, kl, r);
  return unit(r);
}

export function exists(b: i32, k: usize, kl: usize): i32 {
  const r = area();
  _exists(b, k, kl, r);
  return boolResult(r);
}

/**
 * list-keys: outPtr/outLen = list<string> (8 bytes per key: ptr, len);
 * outHandle = 1 if there is a next cursor, at errPtr/errLen.
 */
export function listKeys(b: i32, hasCursor: i32, c: usize, cl: usize): i32 {
  const r = area();
  _listKeys(b, hasCursor, c, cl, r);
  if (load<u8>(r) != 0) return storeError(r + 4);
  outPtr = load<u32>(r + 4);
  outLen = load<u32>(r + 8);
  outHandle = <i32>load<u8>(r + 12);
  errPtr = load<u32>(r + 16);
  errLen = load<u32>(r + 20);
  return OK;
}

export function casNew(b: i32, k: usize, kl: usize): i32 {
  const r = area();
  _casNew(b, k, kl, r);
  return handleResult(r);
}

export function casCurrent(c: i32): i32 {
  const r = area();
  _casCurrent(c, r);
  return optionBytes(r);
}

export function dropCas(c: i32): void {
  _dropCas(c);
}

/** result<s64, error>: the payload is 8-aligned. */
export function increment(b: i32, k: usize, kl: usize, delta: i64): i32 {
  const r = area();
  _increment(b, k, kl, delta, r);
  if (load<u8>(r) != 0) return storeError(r + 8);
  outI64 = load<i64>(r + 8);
  return OK;
}

/** result<_, cas-error>: cas-error's case at +4, its payload at +8. */
export function swap(c: i32, v: usize, vl: usize): i32 {
  const r = area();
  _swap(c, v, vl, r);
  if (load<u8>(r) == 0) return OK;
  if (load<u8>(r + 4) == 0) return storeError(r + 8);
  outHandle = load<i32>(r + 8);
  return E_CAS_FAILED;
}

/**
 * get-many: `keys` is a list<string> (ptr, len per key). outPtr/outLen =
 * list<option<tuple<string, list<u8>>>>, 20 bytes an element: case byte,
 * key ptr/len at +4/+8, value ptr/len at +12/+16.
 */
export function getMany(b: i32, keys: usize, n: usize): i32 {
  const r = area();
  _getMany(b, keys, n, r);
  if (load<u8>(r) != 0) return storeError(r + 4);
  outPtr = load<u32>(r + 4);
  outLen = load<u32>(r + 8);
  return OK;
}

/** set-many: `kvs` holds 16 bytes a pair: key ptr, key len, value ptr, value len. */
export function setMany(b: i32, kvs: usize, n: usize): i32 {
  const r = area();
  _setMany(b, kvs, n, r);
  return unit(r);
}

export function deleteMany(b: i32, keys: usize, n: usize): i32 {
  const r = area();
  _deleteMany(b, keys, n, r);
  return unit(r);
}

export function setWithTtl(b: i32, k: usize, kl: usize, v: usize, vl: usize, ms: i64): i32 {
  const r = area();
  _setWithTtl(b, k, kl, v, vl, ms, r);
  return unit(r);
}

/** time-to-live: outHandle = the lifetime's case (0 absent, 1 forever, 2 millis in outI64). */
export function timeToLive(b: i32, k: usize, kl: usize): i32 {
  const r = area();
  _timeToLive(b, k, kl, r);
  if (load<u8>(r) != 0) return storeError(r + 8);
  outHandle = <i32>load<u8>(r + 8);
  outI64 = load<i64>(r + 16);
  return OK;
}

export function expire(b: i32, k: usize, kl: usize, ms: i64): i32 {
  const r = area();
  _expire(b, k, kl, ms, r);
  return boolResult(r);
}

export function persist(b: i32, k: usize, kl: usize): i32 {
  const r = area();
  _persist(b, k, kl, r);
  return boolResult(r);
}
