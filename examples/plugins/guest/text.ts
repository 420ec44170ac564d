// Byte-level text helpers for guests: tab-separated input lines, an output
// buffer, decimal numbers. No AssemblyScript strings are allocated: literals
// are compared and copied character by character (they are ASCII).
import { E_ACCESS_DENIED, E_NO_SUCH_STORE, alloc, errLen, errPtr } from './abi';

// --- input: lines of tab-separated fields -----------------------------------

const MAX_FIELDS: i32 = 512;
let fields: usize = 0; // MAX_FIELDS × (ptr u32, len u32)
export let fieldCount: i32 = 0;

/** Splits the line at [p, end) into fields; returns where the next line starts. */
export function splitLine(p: usize, end: usize): usize {
  if (fields == 0) fields = alloc(<usize>MAX_FIELDS * 8, 4);
  fieldCount = 0;
  let start = p;
  while (true) {
    const atEnd = p == end || load<u8>(p) == 10;
    if (atEnd || load<u8>(p) == 9) {
      if (fieldCount < MAX_FIELDS) {
        store<u32>(fields + <usize>fieldCount * 8, start);
        store<u32>(fields + <usize>fieldCount * 8 + 4, p - start);
        fieldCount++;
      }
      if (atEnd) return p == end ? end : p + 1;
      start = p + 1;
    }
    p++;
  }
}

function hexDigit(c: u32): i32 {
  if (c >= 0x30 && c <= 0x39) return <i32>(c - 0x30);
  if (c >= 0x61 && c <= 0x66) return <i32>(c - 0x61 + 10);
  if (c >= 0x41 && c <= 0x46) return <i32>(c - 0x41 + 10);
  return -1;
}

/**
 * A field written `%x` and hex digits (`%x61ff62`) stands for those bytes,
 * any bytes (not UTF-8 ones only, as the script's text is): decoded in
 * place, the field then names them. Tests send malformed keys this way.
 */
export function unhexFields(): void {
  for (let i = 1; i < fieldCount; i++) {
    const p = fieldPtr(i);
    const n = fieldLen(i);
    if (n < 2 || load<u8>(p) != 0x25 || load<u8>(p + 1) != 0x78 || (n & 1) != 0) continue;
    let ok = true;
    for (let j: usize = 2; j < n; j++) ok = ok && hexDigit(load<u8>(p + j)) >= 0;
    if (!ok) continue;
    const m = (n - 2) >> 1;
    for (let j: usize = 0; j < m; j++) {
      store<u8>(p + j, <u8>((hexDigit(load<u8>(p + 2 + 2 * j)) << 4) | hexDigit(load<u8>(p + 3 + 2 * j))));
    }
    store<u32>(fields + <usize>i * 8 + 4, <u32>m);
  }
}

/** Forgets the field table (the heap under it is about to be reset). */
export function resetFields(): void {
  fields = 0;
}

export function fieldPtr(i: i32): usize {
  return load<u32>(fields + <usize>i * 8);
}

export function fieldLen(i: i32): usize {
  return load<u32>(fields + <usize>i * 8 + 4);
}

/** Where the (ptr, len) pairs of fields from..fieldCount are: a list<string>. */
export function fieldList(from: i32): usize {
  return fields + <usize>from * 8;
}

export function fieldIs(i: i32, literal: string): bool {
  if (i >= fieldCount) return false;
  const n = literal.length;
  if (fieldLen(i) != <usize>n) return false;
  const p = fieldPtr(i);
  for (let j = 0; j < n; j++) {
    if (<i32>load<u8>(p + j) != literal.charCodeAt(j)) return false;
  }
  return true;
}

export function fieldI64(i: i32): i64 {
  const p = fieldPtr(i);
  const n = fieldLen(i);
  let neg = false;
  let j: usize = 0;
  if (n > 0 && load<u8>(p) == 45) {
    neg = true;
    j = 1;
  }
  let v: i64 = 0;
  for (; j < n; j++) v = v * 10 + <i64>(load<u8>(p + j) - 48);
  return neg ? -v : v;
}

// --- output -----------------------------------------------------------------

let outBuf: usize = 0;
let outCap: usize = 0;
export let outSize: usize = 0;

/** Starts a fresh output buffer. */
export function outStart(): void {
  outCap = 4096;
  outBuf = alloc(outCap, 1);
  outSize = 0;
}

/** The output as a returned `string`: the address of its (ptr, len). */
export function outResult(): usize {
  const r = alloc(8, 4);
  store<u32>(r, outBuf);
  store<u32>(r + 4, outSize);
  return r;
}

/** A copy of an ASCII literal in memory (its length is literal.length). */
export function lit(literal: string): usize {
  const p = alloc(<usize>literal.length, 1);
  for (let j = 0; j < literal.length; j++) store<u8>(p + j, <u8>literal.charCodeAt(j));
  return p;
}

/** Bytes a then b, in a new place: its length is al + bl. */
export function concat(a: usize, al: usize, b: usize, bl: usize): usize {
  const p = alloc(al + bl, 1);
  memory.copy(p, a, al);
  memory.copy(p + al, b, bl);
  return p;
}

function room(n: usize): void {
  if (outSize + n <= outCap) return;
  let cap = outCap * 2;
  while (cap < outSize + n) cap *= 2;
  const p = alloc(cap, 1);
  memory.copy(p, outBuf, outSize);
  outBuf = p;
  outCap = cap;
}

export function put(literal: string): void {
  const n = literal.length;
  room(<usize>n);
  for (let j = 0; j < n; j++) store<u8>(outBuf + outSize + j, <u8>literal.charCodeAt(j));
  outSize += n;
}

export function putBytes(p: usize, n: usize): void {
  room(n);
  memory.copy(outBuf + outSize, p, n);
  outSize += n;
}

export function putI64(v: i64): void {
  if (v < 0) {
    put('-');
    putU64(<u64>(-v));
  } else {
    putU64(<u64>v);
  }
}

export function putU64(v: u64): void {
  room(20);
  let digits: usize = 1;
  for (let t = v; t >= 10; t /= 10) digits++;
  for (let j = digits; j > 0; j--) {
    store<u8>(outBuf + outSize + j - 1, <u8>(48 + v % 10));
    v /= 10;
  }
  outSize += digits;
}

/** A failed call's error: its case, or for `other` its message. */
export function putError(status: i32): void {
  if (status == E_NO_SUCH_STORE) put('no-such-store');
  else if (status == E_ACCESS_DENIED) put('access-denied');
  else putBytes(errPtr, errLen);
}
