// A hostile plugin (world `plugin`, built by scripts/build-guest.mjs into
// build/plugins/hostile.wasm; test/wasi-hostile.test.ts runs it). Through
// the key-value interface only, it tries every way out of its namespace and
// of the buckets its policy gives it, and reports what it could read that it
// did not write.
//
// Input, one line each, tab-separated:
//   mode MODE      attack (everything below), probe (only list-keys and
//                  get-many of every key, in its first bucket: a quick
//                  check that an instance works), or one of the trap modes
//                  (swap-consumed, drop-twice, drop-forged-cas, bad-pointer,
//                  trap-holding): an action the canonical ABI answers with a
//                  trap, to show that only this instance dies
//   bucket NAME    a bucket its policy allows (opened as it should be)
//   word BYTES     a name it aims at: another namespace's, a bucket id the
//                  host uses, a root key (an attacker may know them)
//   tag N          a namespace tag to forge into keys (as 4 LE bytes)
// Output, one line each:
//   found HOW KEY# [WHAT]   something read that it did not write, or a way
//                           out that worked (the test expects none)
//   err HOW KEY# MESSAGE    an error result (the interface's error variant)
//   count WHAT N            how far an exhaustion went
//   done FOUND CALLS        it got to the end
//
// It writes only values starting "mine", so anything else it reads came from
// outside. Keys are built as raw bytes; those that are not UTF-8 (0xFF, a
// surrogate, an overlong NUL) are left out, as the canonical ABI traps on
// them (the host turns that into ERR_GUEST_TRAP: wasi-utf8.test.ts).
import * as kv from '../../examples/plugins/guest/abi';
import { fieldCount, fieldI64, fieldIs, fieldLen, fieldPtr, resetFields, splitLine } from '../../examples/plugins/guest/text';

export { cabi_realloc } from '../../examples/plugins/guest/abi';

// --- output: one buffer, allocated first, so that mark/release never frees it

const OUT_CAP: usize = 8 << 20;
let out: usize = 0;
let outSize: usize = 0;
let truncated = false;

function put(literal: string): void {
  const n = <usize>literal.length;
  if (outSize + n > OUT_CAP) {
    truncated = true;
    return;
  }
  for (let j: usize = 0; j < n; j++) store<u8>(out + outSize + j, <u8>literal.charCodeAt(<i32>j));
  outSize += n;
}

function putBytes(p: usize, n: usize): void {
  if (n > 240) n = 240; // enough to tell what it was
  if (outSize + n > OUT_CAP) {
    truncated = true;
    return;
  }
  memory.copy(out + outSize, p, n);
  // Keep the line structure: tabs and newlines of the bytes as spaces.
  for (let j: usize = 0; j < n; j++) {
    const c = load<u8>(out + outSize + j);
    if (c == 9 || c == 10) store<u8>(out + outSize + j, 32);
  }
  outSize += n;
}

function putI64(v: i64): void {
  if (v < 0) {
    put('-');
    v = -v;
  }
  let digits: i32 = 1;
  for (let t = <u64>v; t >= 10; t /= 10) digits++;
  if (outSize + <usize>digits > OUT_CAP) {
    truncated = true;
    return;
  }
  let u = <u64>v;
  for (let j = digits; j > 0; j--) {
    store<u8>(out + outSize + <usize>j - 1, <u8>(48 + u % 10));
    u /= 10;
  }
  outSize += <usize>digits;
}

let founds: i32 = 0;
let calls: i32 = 0;

/** A way out that worked: `what` (bytes) is what it got. */
function found(how: string, key: i32, what: usize, whatLen: usize): void {
  founds++;
  put('found\t');
  put(how);
  put('\t');
  putI64(key);
  put('\t');
  putBytes(what, whatLen);
  put('\n');
}

function putNumber(how: string, key: i32, v: i64): void {
  const d = decimal(<u64>v);
  found(how, key, d, <usize>load<u8>(d + 20));
}

function foundText(how: string, key: i32): void {
  found(how, key, 0, 0);
}

/** Records an error result (any status but OK). */
function err(how: string, key: i32, status: i32): void {
  put('err\t');
  put(how);
  put('\t');
  putI64(key);
  put('\t');
  if (status == kv.E_NO_SUCH_STORE) put('no-such-store');
  else if (status == kv.E_ACCESS_DENIED) put('access-denied');
  else if (status == kv.E_CAS_FAILED) put('cas-failed');
  else putBytes(kv.errPtr, kv.errLen);
  put('\n');
}

function count(what: string, n: i32): void {
  put('count\t');
  put(what);
  put('\t');
  putI64(n);
  put('\n');
}

/** Whether bytes start with "mine" (everything it writes does). */
function mine(p: usize, n: usize): bool {
  return n >= 4 && load<u8>(p) == 109 && load<u8>(p + 1) == 105 && load<u8>(p + 2) == 110 && load<u8>(p + 3) == 101;
}

// --- byte strings ----------------------------------------------------------

/**
 * A list of (ptr u32, len u32) pairs, the layout of a WIT list<string>,
 * behind a header (at, n, cap): no AssemblyScript arrays (no runtime heap).
 */
function listNew(cap: i32): usize {
  const l = alloc16();
  store<u32>(l, <u32>kv.alloc(<usize>cap * 8, 4));
  store<i32>(l + 4, 0);
  store<i32>(l + 8, cap);
  return l;
}

function alloc16(): usize {
  return kv.alloc(16, 4);
}

function listAt(l: usize): usize {
  return load<u32>(l);
}

function listN(l: usize): i32 {
  return load<i32>(l + 4);
}

/**
 * Whether n bytes at p are UTF-8 (no stray continuation byte, overlong
 * form, surrogate, code point past U+10FFFF or cut sequence). A string that
 * is not traps the instance (the canonical ABI; wasi-utf8.test.ts sends
 * every such class), so the attack lists keep only strings that are.
 */
function validUtf8(p: usize, n: usize): bool {
  let i: usize = 0;
  while (i < n) {
    const c = <u32>load<u8>(p + i);
    if (c < 0x80) {
      i++;
      continue;
    }
    let len: usize = 0;
    let min: u32 = 0;
    let cp: u32 = 0;
    if (c >= 0xc2 && c <= 0xdf) { len = 2; min = 0x80; cp = c & 0x1f; }
    else if (c >= 0xe0 && c <= 0xef) { len = 3; min = 0x800; cp = c & 0x0f; }
    else if (c >= 0xf0 && c <= 0xf4) { len = 4; min = 0x10000; cp = c & 0x07; }
    else return false;
    if (i + len > n) return false;
    for (let j: usize = 1; j < len; j++) {
      const d = <u32>load<u8>(p + i + j);
      if ((d & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += len;
  }
  return true;
}

function listPush(l: usize, p: usize, n: usize): void {
  if (!validUtf8(p, n)) return;
  const i = load<i32>(l + 4);
  if (i >= load<i32>(l + 8)) return;
  store<u32>(listAt(l) + <usize>i * 8, <u32>p);
  store<u32>(listAt(l) + <usize>i * 8 + 4, <u32>n);
  store<i32>(l + 4, i + 1);
}

function ptrOf(l: usize, i: i32): usize {
  return load<u32>(listAt(l) + <usize>i * 8);
}

function lenOf(l: usize, i: i32): usize {
  return load<u32>(listAt(l) + <usize>i * 8 + 4);
}

/** A literal's characters as bytes (each below 256: '\xFF' is the byte 0xFF). */
function lit(s: string): usize {
  const p = kv.alloc(<usize>s.length + 1, 1);
  for (let j = 0; j < s.length; j++) store<u8>(p + <usize>j, <u8>s.charCodeAt(j));
  return p;
}

function pushLit(l: usize, s: string): void {
  listPush(l, lit(s), <usize>s.length);
}

/** a + s + b as new bytes. */
function cat3(a: usize, al: usize, s: string, b: usize, bl: usize): usize {
  const sl = <usize>s.length;
  const p = kv.alloc(al + sl + bl + 1, 1);
  memory.copy(p, a, al);
  for (let j: usize = 0; j < sl; j++) store<u8>(p + al + j, <u8>s.charCodeAt(<i32>j));
  memory.copy(p + al + sl, b, bl);
  return p;
}

function pushCat(l: usize, a: usize, al: usize, s: string, b: usize, bl: usize): void {
  listPush(l, cat3(a, al, s, b, bl), al + <usize>s.length + bl);
}

function filled(c: u8, n: usize): usize {
  const p = kv.alloc(n, 1);
  memory.fill(p, c, n);
  return p;
}

function same(a: usize, al: usize, b: usize, bl: usize): bool {
  if (al != bl) return false;
  return memory.compare(a, b, al) == 0;
}

/** A decimal number as new bytes. */
function decimal(v: u64): usize {
  const p = kv.alloc(21, 1);
  let digits: usize = 1;
  for (let t = v; t >= 10; t /= 10) digits++;
  for (let j = digits; j > 0; j--) {
    store<u8>(p + j - 1, <u8>(48 + v % 10));
    v /= 10;
  }
  store<u8>(p + 20, <u8>digits);
  return p;
}

// --- what the input gave -------------------------------------------------------

let buckets: usize = 0; // the policy's bucket names
let handles: usize = 0; // i32 each: their open handles
let words: usize = 0;
let tags: usize = 0; // i32 each
let tagCount: i32 = 0;

const MINE = 'mine';
let minePtr: usize = 0;

function keySize(i: i32): i32 {
  if (i < 3) return 63 + i;
  if (i < 6) return 255 + i - 3;
  if (i < 9) return 1023 + i - 6;
  if (i == 9) return 4096;
  if (i < 13) return 65535 + i - 10;
  return 70000; // past any map's largest key
}

/** Every key (and bucket name) it tries: the seams of the bucket prefix and of names. */
function candidates(): usize {
  const l = listNew(4096);
  // The seams of "bucket id, 0xFF, key" and of paths, separators and encodings.
  pushLit(l, '');
  pushLit(l, '/');
  pushLit(l, '//');
  pushLit(l, '..');
  pushLit(l, '../');
  pushLit(l, '../..');
  pushLit(l, './');
  pushLit(l, ':');
  pushLit(l, '::');
  pushLit(l, '*');
  pushLit(l, '%');
  pushLit(l, '%FF');
  pushLit(l, '\\');
  pushLit(l, ' ');
  pushLit(l, '\t');
  pushLit(l, '\n');
  pushLit(l, '\x00');
  pushLit(l, '\x00\x00\x00\x00');
  pushLit(l, '\xFF'); // the bucket separator itself
  pushLit(l, '\xFF\xFF\xFF\xFF');
  pushLit(l, '\xFE');
  pushLit(l, '\x80');
  pushLit(l, '\xC3\xBF'); // U+00FF, whose code is 0xFF
  pushLit(l, '\xEF\xBF\xBD'); // U+FFFD, what jco makes of a byte that is not UTF-8
  pushLit(l, '\xEF\xBF\xBF');
  pushLit(l, '\xED\xA0\x80'); // a surrogate
  pushLit(l, '\xC0\x80'); // an overlong NUL
  pushLit(l, '\xC1\xBF'); // an overlong 0x7F
  pushLit(l, '\xF4\x90\x80\x80'); // past U+10FFFF
  pushLit(l, '\xF8\x88\x80\x80\x80');
  // Keys around the sizes that matter: a bucket id's 256 bytes, the key rules.
  for (let i = 0; i < 14; i++) {
    const size = <usize>keySize(i);
    listPush(l, filled(97, size), size);
  }
  listPush(l, filled(0xff, 257), 257);
  // Names it aims at, and the ways to write them next to a separator.
  const w = words;
  const nw = listN(w);
  const ff = lit('\xFF');
  for (let i = 0; i < nw; i++) {
    const p = ptrOf(w, i);
    const n = lenOf(w, i);
    listPush(l, p, n);
    pushCat(l, 0, 0, '/', p, n);
    pushCat(l, 0, 0, '../', p, n);
    pushCat(l, 0, 0, '../../', p, n);
    pushCat(l, p, n, '/', 0, 0);
    pushCat(l, p, n, ':', 0, 0);
    pushCat(l, 0, 0, ':', p, n);
    pushCat(l, p, n, '\xFF', 0, 0);
    pushCat(l, 0, 0, '\xFF', p, n);
    pushCat(l, p, n, '\x00', 0, 0);
    pushCat(l, 0, 0, '\x00', p, n);
    pushCat(l, p, n, '\xC3\xBF', 0, 0);
    pushCat(l, 0, 0, '\xEF\xBF\xBD', p, n);
    pushCat(l, p, n, '\xEF\xBF\xBD', 0, 0);
    // Another bucket's key: "ID 0xFF KEY", and the look-alikes of the 0xFF.
    for (let j = 0; j < nw; j++) {
      const q = ptrOf(w, j);
      const m = lenOf(w, j);
      pushCat(l, p, n, '\xFF', q, m);
      pushCat(l, p, n, '\xFF\xFF', q, m);
      pushCat(l, p, n, '\xEF\xBF\xBD', q, m);
      pushCat(l, p, n, '\xC3\xBF', q, m);
      pushCat(l, p, n, '\x00', q, m);
      pushCat(l, p, n, '/', q, m);
      pushCat(l, p, n, ':', q, m);
      pushCat(l, p, n, '.', q, m);
      pushCat(l, ff, 1, '', cat3(p, n, '\xFF', q, m), n + 1 + m);
    }
    // A namespace's tag in front (the layout of the tenant test's forged keys).
    for (let t = 0; t < tagCount; t++) {
      const tag = load<i32>(tags + <usize>t * 4);
      const b = kv.alloc(4, 1);
      store<u8>(b, <u8>(tag & 255));
      store<u8>(b + 1, <u8>((tag >> 8) & 255));
      store<u8>(b + 2, <u8>((tag >> 16) & 255));
      store<u8>(b + 3, <u8>((tag >> 24) & 255));
      pushCat(l, b, 4, '', p, n);
      pushCat(l, b, 2, '', p, n);
      pushCat(l, b, 1, '', p, n);
    }
  }
  return l;
}

// --- probes: reads of keys it never wrote ------------------------------------------

/** Every read of one key; before any write of it, each must find nothing. */
function probe(b: i32, keys: usize, i: i32): void {
  const p = ptrOf(keys, i);
  const n = lenOf(keys, i);
  const m = kv.mark();
  let s = kv.get(b, p, n);
  calls++;
  if (s != kv.OK) err('get', i, s);
  else if (kv.outHandle != 0) found('get', i, kv.outPtr, kv.outLen);
  s = kv.exists(b, p, n);
  calls++;
  if (s != kv.OK) err('exists', i, s);
  else if (kv.outHandle != 0) foundText('exists', i);
  s = kv.casNew(b, p, n);
  calls++;
  if (s != kv.OK) err('cas.new', i, s);
  else {
    const c = kv.outHandle;
    s = kv.casCurrent(c);
    calls++;
    if (s != kv.OK) err('cas.current', i, s);
    else if (kv.outHandle != 0) found('cas.current', i, kv.outPtr, kv.outLen);
    kv.dropCas(c);
  }
  s = kv.timeToLive(b, p, n);
  calls++;
  if (s != kv.OK) err('time-to-live', i, s);
  else if (kv.outHandle != 0) foundText('time-to-live', i);
  s = kv.expire(b, p, n, 3600000);
  calls++;
  if (s != kv.OK) err('expire', i, s);
  else if (kv.outHandle != 0) foundText('expire', i);
  s = kv.persist(b, p, n);
  calls++;
  if (s != kv.OK) err('persist', i, s);
  else if (kv.outHandle != 0) foundText('persist', i);
  s = kv.increment(b, p, n, 0);
  calls++;
  if (s != kv.OK) err('increment', i, s);
  else {
    if (kv.outI64 != 0) putNumber('increment', i, kv.outI64);
    kv.del(b, p, n); // the counter it just made
  }
  kv.release(m);
}

/** get-many of keys from..to: each must be absent (or, after writes, its own). */
function probeMany(b: i32, keys: usize, from: i32, to: i32, written: bool): void {
  const m = kv.mark();
  const s = kv.getMany(b, listAt(keys) + <usize>from * 8, <usize>(to - from));
  calls++;
  if (s != kv.OK) err('get-many', from, s);
  else {
    for (let i: usize = 0; i < kv.outLen; i++) {
      const e = kv.outPtr + i * 20;
      if (load<u8>(e) == 0) continue;
      const v = load<u32>(e + 12);
      const vl = load<u32>(e + 16);
      if (!written || !mine(v, vl)) found('get-many', from + <i32>i, v, vl);
    }
  }
  kv.release(m);
}

let nextPtr: usize = 0;
let nextLen: usize = 0;

/**
 * One page of list-keys: every key must be its own (none before it wrote;
 * after, each reads back as "mine..."). Returns whether a next cursor came
 * (left at nextPtr/nextLen).
 */
function listPage(b: i32, how: string, cursor: usize, cursorLen: usize, has: bool, written: bool): bool {
  const s = kv.listKeys(b, has ? 1 : 0, cursor, cursorLen);
  calls++;
  if (s != kv.OK) {
    err(how, -1, s);
    return false;
  }
  const next = kv.outHandle != 0;
  nextPtr = kv.errPtr;
  nextLen = kv.errLen;
  const keys = kv.outPtr;
  const n = kv.outLen;
  if (!written) {
    for (let i: usize = 0; i < n; i++) found(how, <i32>i, load<u32>(keys + i * 8), load<u32>(keys + i * 8 + 4));
    return next;
  }
  // The page's keys are a list<string> already: read back 64 at a time.
  for (let i: usize = 0; i < n; i += 64) {
    const chunk = n - i < 64 ? n - i : 64;
    const g = kv.getMany(b, keys + i * 8, chunk);
    calls++;
    if (g != kv.OK) {
      err(how, <i32>i, g);
      continue;
    }
    for (let j: usize = 0; j < kv.outLen; j++) {
      const e = kv.outPtr + j * 20;
      const k = load<u32>(keys + (i + j) * 8);
      const kl = load<u32>(keys + (i + j) * 8 + 4);
      if (load<u8>(e) == 0 || !mine(load<u32>(e + 12), load<u32>(e + 16))) found(how, <i32>(i + j), k, kl);
    }
  }
  return next;
}

/** Every page, from the start. */
function listAll(b: i32, how: string, written: bool): void {
  let has = false;
  let cp: usize = 0;
  let cl: usize = 0;
  for (let page = 0; page < 1000000; page++) {
    const m = kv.mark();
    if (!listPage(b, how, cp, cl, has, written)) return;
    // The cursor, kept below the mark of the next page.
    kv.release(m);
    const keep = kv.alloc(nextLen, 1);
    memory.copy(keep, nextPtr, nextLen);
    cp = keep;
    cl = nextLen;
    has = true;
  }
}

/** Cursors it never got from list-keys: one page each. */
function forgedCursors(b: i32, written: bool): void {
  const c = listNew(128);
  pushLit(c, '');
  pushLit(c, '-1');
  pushLit(c, '-0');
  pushLit(c, '+1');
  pushLit(c, ' 1');
  pushLit(c, '1 ');
  pushLit(c, '1e3');
  pushLit(c, '0x10');
  pushLit(c, '0.5');
  pushLit(c, '00000000001');
  pushLit(c, '0000000000');
  pushLit(c, '4294967295');
  pushLit(c, '4294967296');
  pushLit(c, '9999999999');
  pushLit(c, '99999999999');
  pushLit(c, '18446744073709551615');
  pushLit(c, '\xEF\xBC\x91'); // a fullwidth 1
  pushLit(c, '\xD9\xA1'); // an Arabic-Indic 1
  pushLit(c, '\xFF');
  pushLit(c, '1\x00');
  pushLit(c, 'NaN');
  pushLit(c, 'Infinity');
  for (let k = 0; k < 32; k++) {
    const v = decimal(<u64>1 << <u64>k);
    listPush(c, v, <usize>load<u8>(v + 20));
    const w = decimal((<u64>1 << <u64>k) - 1 + (<u64>1 << <u64>31));
    listPush(c, w, <usize>load<u8>(w + 20));
  }
  for (let i = 0; i < listN(c); i++) {
    const m = kv.mark();
    listPage(b, 'list-keys (forged cursor)', ptrOf(c, i), lenOf(c, i), true, written);
    kv.release(m);
  }
}

// --- writes: what it writes must stay in its buckets ----------------------------------

const WRITE_SET = 0;
const WRITE_SET_MANY = 1;
const WRITE_TTL = 2;
const WRITE_SWAP = 3;
const WRITE_INCREMENT = 4;

/** Writes every key one way, reads them all back, deletes them. */
function writeAll(b: i32, keys: usize, how: i32): void {
  const n = listN(keys);
  const value = lit('mine:written');
  const vl: usize = 12;
  const pairs = kv.alloc(16 * 8, 4);
  for (let i = 0; i < n; i++) {
    const p = ptrOf(keys, i);
    const pl = lenOf(keys, i);
    const m = kv.mark();
    let s = kv.OK;
    if (how == WRITE_SET) s = kv.set(b, p, pl, value, vl);
    else if (how == WRITE_TTL) s = kv.setWithTtl(b, p, pl, value, vl, 3600000);
    else if (how == WRITE_SET_MANY) {
      // Pairs of one key each, and of this key with the next.
      store<u32>(pairs, <u32>p);
      store<u32>(pairs + 4, <u32>pl);
      store<u32>(pairs + 8, <u32>value);
      store<u32>(pairs + 12, <u32>vl);
      const j = i + 1 < n ? i + 1 : 0;
      store<u32>(pairs + 16, <u32>ptrOf(keys, j));
      store<u32>(pairs + 20, <u32>lenOf(keys, j));
      store<u32>(pairs + 24, <u32>value);
      store<u32>(pairs + 28, <u32>vl);
      s = kv.setMany(b, pairs, 2);
    } else if (how == WRITE_SWAP) {
      s = kv.casNew(b, p, pl);
      if (s == kv.OK) {
        const c = kv.outHandle;
        s = kv.casCurrent(c);
        if (s == kv.OK && kv.outHandle != 0 && !mine(kv.outPtr, kv.outLen)) found('cas.current (write)', i, kv.outPtr, kv.outLen);
        s = kv.swap(c, value, vl);
        if (s == kv.E_CAS_FAILED) kv.dropCas(kv.outHandle);
      }
    } else if (how == WRITE_INCREMENT) {
      s = kv.increment(b, p, pl, 7);
      if (s == kv.OK) {
        if (kv.outI64 != 7) putNumber('increment (write)', i, kv.outI64);
        kv.del(b, p, pl);
      }
    }
    calls++;
    if (s != kv.OK) err('write', i, s);
    kv.release(m);
  }
  if (how == WRITE_INCREMENT) {
    listAll(b, 'list-keys (after increments)', false);
    return;
  }
  // Every key listed reads back as its own; so does every key by get-many.
  listAll(b, 'list-keys (after writes)', true);
  if (how == WRITE_SET) forgedCursors(b, true);
  for (let i = 0; i < n; i += 8) probeMany(b, keys, i, i + 8 < n ? i + 8 : n, true);
  // Gone again: delete-many in eights, then delete, then nothing is listed.
  for (let i = 0; i < n; i += 8) {
    const m = kv.mark();
    const s = kv.deleteMany(b, listAt(keys) + <usize>i * 8, <usize>(i + 8 < n ? 8 : n - i));
    calls++;
    if (s != kv.OK) err('delete-many', i, s);
    kv.release(m);
  }
  for (let i = 0; i < n; i++) {
    const m = kv.mark();
    const s = kv.del(b, ptrOf(keys, i), lenOf(keys, i));
    calls++;
    if (s != kv.OK) err('delete', i, s);
    kv.release(m);
  }
  listAll(b, 'list-keys (after deletes)', false);
}

// --- handles ---------------------------------------------------------------------

/** Every bucket operation on a handle that is no bucket of its own: each must fail. */
function badHandle(b: i32, how: string): void {
  const m = kv.mark();
  const k = lit('k');
  const list = kv.alloc(8, 4);
  store<u32>(list, <u32>k);
  store<u32>(list + 4, 1);
  const pair = kv.alloc(16, 4);
  store<u32>(pair, <u32>k);
  store<u32>(pair + 4, 1);
  store<u32>(pair + 8, <u32>minePtr);
  store<u32>(pair + 12, 4);
  for (let op = 0; op < 14; op++) {
    let s = kv.OK;
    if (op == 0) s = kv.get(b, k, 1);
    else if (op == 1) s = kv.set(b, k, 1, minePtr, 4);
    else if (op == 2) s = kv.del(b, k, 1);
    else if (op == 3) s = kv.exists(b, k, 1);
    else if (op == 4) s = kv.listKeys(b, 0, 0, 0);
    else if (op == 5) {
      s = kv.casNew(b, k, 1);
      if (s == kv.OK) kv.dropCas(kv.outHandle);
    } else if (op == 6) s = kv.increment(b, k, 1, 1);
    else if (op == 7) s = kv.getMany(b, list, 1);
    else if (op == 8) s = kv.setMany(b, pair, 1);
    else if (op == 9) s = kv.deleteMany(b, list, 1);
    else if (op == 10) s = kv.setWithTtl(b, k, 1, minePtr, 4, 1000);
    else if (op == 11) s = kv.timeToLive(b, k, 1);
    else if (op == 12) s = kv.expire(b, k, 1, 1000);
    else s = kv.persist(b, k, 1);
    calls++;
    if (s == kv.OK) foundText(how, op);
    else err(how, op, s);
  }
  kv.release(m);
}

function handlesAttack(b: i32, bucket: usize, bucketLen: usize): void {
  // A handle it never got, and one it dropped.
  badHandle(12345, 'forged bucket handle');
  badHandle(-1, 'bucket handle -1');
  let s = kv.open(bucket, bucketLen);
  if (s == kv.OK) {
    const d = kv.outHandle;
    kv.dropBucket(d);
    badHandle(d, 'dropped bucket handle');
  }
  // A cas it never got (reading it is a borrow jco does not check).
  s = kv.casCurrent(12345);
  calls++;
  if (s == kv.OK && kv.outHandle != 0) found('forged cas current', 0, kv.outPtr, kv.outLen);
  else if (s != kv.OK) err('forged cas current', 0, s);
  // A cas whose bucket was dropped: reads and swaps in that same bucket.
  const k = lit('cas-across-drop');
  s = kv.open(bucket, bucketLen);
  if (s == kv.OK) {
    const other = kv.outHandle;
    s = kv.casNew(other, k, 15);
    kv.dropBucket(other);
    calls++;
    if (s != kv.OK) err('cas after its bucket dropped', 0, s);
    else {
      const c = kv.outHandle;
      s = kv.casCurrent(c);
      if (s == kv.OK && kv.outHandle != 0) found('cas after its bucket dropped: current', 0, kv.outPtr, kv.outLen);
      s = kv.swap(c, minePtr, 4);
      if (s == kv.E_CAS_FAILED) kv.dropCas(kv.outHandle);
      if (s != kv.OK) err('cas after its bucket dropped: swap', 0, s);
      s = kv.get(b, k, 15);
      if (s == kv.OK && kv.outHandle != 0 && !mine(kv.outPtr, kv.outLen)) found('cas after its bucket dropped: get', 0, kv.outPtr, kv.outLen);
      kv.del(b, k, 15);
    }
  }
  // A cas that fails and its retry, on a key the host never had.
  s = kv.casNew(b, k, 15);
  if (s == kv.OK) {
    const c = kv.outHandle;
    kv.set(b, k, 15, lit('mine:meanwhile'), 14);
    s = kv.swap(c, minePtr, 4);
    if (s == kv.E_CAS_FAILED) {
      const fresh = kv.outHandle;
      s = kv.casCurrent(fresh);
      if (s == kv.OK && kv.outHandle != 0 && !mine(kv.outPtr, kv.outLen)) found('cas retry current', 0, kv.outPtr, kv.outLen);
      kv.dropCas(fresh);
    } else foundText('cas swap after a change did not fail', 0);
    kv.del(b, k, 15);
  }
}

// --- exhaustion ---------------------------------------------------------------------------

/** Numbers at the bounds of an s64, of 2^53 and of a ttl. */
function bound(i: i32): i64 {
  const safe: i64 = (<i64>1 << 53) - 1;
  if (i == 0) return i64.MAX_VALUE;
  if (i == 1) return i64.MIN_VALUE;
  if (i == 2) return safe + 1;
  if (i == 3) return -safe - 1;
  if (i == 4) return safe;
  if (i == 5) return -safe;
  if (i == 6) return 0;
  if (i == 7) return -1; // u64 max as a ttl
  return 1;
}

function exhaustion(b: i32, bucket: usize, bucketLen: usize): void {
  // Buckets, then cas handles, until the policy refuses.
  const held = kv.alloc(70000 * 4, 4);
  let n = 0;
  let s = kv.OK;
  for (; n < 70000; n++) {
    s = kv.open(bucket, bucketLen);
    calls++;
    if (s != kv.OK) break;
    store<i32>(held + <usize>n * 4, kv.outHandle);
  }
  count('open', n);
  if (s != kv.OK) err('open (exhaustion)', n, s);
  for (let i = 0; i < n; i++) kv.dropBucket(load<i32>(held + <usize>i * 4));
  const k = lit('exhaust');
  n = 0;
  for (; n < 70000; n++) {
    s = kv.casNew(b, k, 7);
    calls++;
    if (s != kv.OK) break;
    store<i32>(held + <usize>n * 4, kv.outHandle);
  }
  count('cas.new', n);
  if (s != kv.OK) err('cas.new (exhaustion)', n, s);
  // At the limit, a swap that fails owes a fresh cas.
  if (n > 0) {
    kv.set(b, k, 7, minePtr, 4);
    s = kv.swap(load<i32>(held + <usize>(n - 1) * 4), minePtr, 4);
    calls++;
    if (s == kv.E_CAS_FAILED) kv.dropCas(kv.outHandle);
    else if (s != kv.OK) err('swap at the limit', n, s);
    n--;
  }
  for (let i = 0; i < n; i++) kv.dropCas(load<i32>(held + <usize>i * 4));
  kv.del(b, k, 7);

  // The namespace's quota: 4 KiB values until refused, then all deleted.
  const big = filled(109, 4096); // "mmmm..."
  n = 0;
  for (; n < 100000; n++) {
    const m = kv.mark();
    const key = decimal(<u64>n);
    s = kv.set(b, key, <usize>load<u8>(key + 20), big, 4096);
    calls++;
    kv.release(m);
    if (s != kv.OK) break;
  }
  count('4 KiB values', n);
  if (s != kv.OK) err('set (exhaustion)', n, s);
  for (let i = 0; i <= n; i++) {
    const m = kv.mark();
    const key = decimal(<u64>i);
    kv.del(b, key, <usize>load<u8>(key + 20));
    kv.release(m);
  }

  // One huge key, one huge value.
  const m = kv.mark();
  s = kv.set(b, filled(97, 4 << 20), 4 << 20, minePtr, 4);
  calls++;
  if (s != kv.OK) err('set of a 4 MiB key', 0, s);
  s = kv.set(b, k, 7, filled(109, 16 << 20), 16 << 20);
  calls++;
  if (s != kv.OK) err('set of a 16 MiB value', 0, s);
  kv.del(b, k, 7);
  kv.release(m);

  // Batches past any bound; a set-many with a bad key in the middle.
  for (let i = 0; i < 3; i++) {
    const size = i == 0 ? 1001 : i == 1 ? 10000 : 20000;
    const mk = kv.mark();
    const keys = kv.alloc(<usize>size * 16, 4);
    for (let j = 0; j < size; j++) {
      store<u32>(keys + <usize>j * 16, <u32>k);
      store<u32>(keys + <usize>j * 16 + 4, 7);
      store<u32>(keys + <usize>j * 16 + 8, <u32>minePtr);
      store<u32>(keys + <usize>j * 16 + 12, 4);
    }
    s = kv.getMany(b, keys, <usize>size * 2); // (the pairs read as key, key)
    calls++;
    if (s != kv.OK) err('get-many (too many)', size, s);
    s = kv.setMany(b, keys, <usize>size);
    calls++;
    if (s != kv.OK) err('set-many (too many)', size, s);
    s = kv.deleteMany(b, keys, <usize>size * 2);
    calls++;
    if (s != kv.OK) err('delete-many (too many)', size, s);
    kv.release(mk);
  }
  const mk = kv.mark();
  const pairs = kv.alloc(48, 4);
  const a = lit('set-many-a');
  const z = lit('set-many-z');
  store<u32>(pairs, <u32>a);
  store<u32>(pairs + 4, 10);
  store<u32>(pairs + 8, <u32>minePtr);
  store<u32>(pairs + 12, 4);
  store<u32>(pairs + 16, <u32>a);
  store<u32>(pairs + 20, 0); // the empty key
  store<u32>(pairs + 24, <u32>minePtr);
  store<u32>(pairs + 28, 4);
  store<u32>(pairs + 32, <u32>z);
  store<u32>(pairs + 36, 10);
  store<u32>(pairs + 40, <u32>minePtr);
  store<u32>(pairs + 44, 4);
  s = kv.setMany(b, pairs, 3);
  calls++;
  if (s != kv.OK) err('set-many with an empty key', 0, s);
  else foundText('set-many with an empty key', 0);
  s = kv.exists(b, a, 10);
  if (s == kv.OK && kv.outHandle != 0) foundText('set-many wrote before its refused key', 0);
  kv.del(b, a, 10);
  kv.del(b, z, 10);
  kv.release(mk);

  // Numbers at their bounds: deltas, times to live.
  for (let i = 0; i < 6; i++) {
    s = kv.increment(b, k, 7, bound(i));
    calls++;
    if (s != kv.OK) err('increment (bound)', i, s);
  }
  kv.del(b, k, 7);
  for (let i = 0; i < 9; i++) {
    s = kv.setWithTtl(b, k, 7, minePtr, 4, bound(i));
    calls++;
    if (s != kv.OK) err('set-with-ttl (bound)', i, s);
    s = kv.expire(b, k, 7, bound(i));
    calls++;
    if (s != kv.OK) err('expire (bound)', i, s);
  }
  kv.del(b, k, 7);
}

// --- the attack -----------------------------------------------------------------

function bucketNames(keys: usize): usize {
  // Every candidate, and the policy's own names bent every way.
  const l = listNew(listN(keys) + 64);
  for (let i = 0; i < listN(keys); i++) listPush(l, ptrOf(keys, i), lenOf(keys, i));
  for (let i = 0; i < listN(buckets); i++) {
    const p = ptrOf(buckets, i);
    const n = lenOf(buckets, i);
    pushCat(l, p, n, '\xFF', 0, 0);
    pushCat(l, p, n, '\x00', 0, 0);
    pushCat(l, p, n, ' ', 0, 0);
    pushCat(l, 0, 0, ' ', p, n);
    pushCat(l, p, n, '/', 0, 0);
    pushCat(l, 0, 0, '/', p, n);
    pushCat(l, 0, 0, '../', p, n);
    pushCat(l, p, n, ':', 0, 0);
    pushCat(l, p, n, '\xEF\xBF\xBD', 0, 0);
    pushCat(l, p, n, '\xC3\xBF', 0, 0);
    if (n > 0) {
      listPush(l, p, n - 1); // a prefix of it
      const upper = cat3(p, n, '', 0, 0);
      const c = load<u8>(upper);
      store<u8>(upper, c >= 97 && c <= 122 ? c - 32 : c + 32);
      listPush(l, upper, n);
    }
  }
  return l;
}

function isPolicyBucket(p: usize, n: usize): bool {
  for (let i = 0; i < listN(buckets); i++) if (same(p, n, ptrOf(buckets, i), lenOf(buckets, i))) return true;
  return false;
}

/** Everything (all), or only list-keys and get-many of every key in its first bucket (mode probe). */
function attack(all: bool): void {
  const nb = listN(buckets);
  // Its own buckets, as it should.
  for (let i = 0; i < nb; i++) {
    const s = kv.open(ptrOf(buckets, i), lenOf(buckets, i));
    calls++;
    if (s != kv.OK) err('open (policy)', i, s);
    store<i32>(handles + <usize>i * 4, s == kv.OK ? kv.outHandle : -1);
  }
  const keys = candidates();
  count('candidate keys', listN(keys));
  if (!all) {
    const b = load<i32>(handles);
    listAll(b, 'list-keys', false);
    for (let i = 0; i < listN(keys); i += 16) probeMany(b, keys, i, i + 16 < listN(keys) ? i + 16 : listN(keys), false);
    for (let i = 0; i < nb; i++) kv.dropBucket(load<i32>(handles + <usize>i * 4));
    return;
  }

  // Bucket names outside the policy.
  const names = bucketNames(keys);
  for (let i = 0; i < listN(names); i++) {
    const m = kv.mark();
    const p = ptrOf(names, i);
    const n = lenOf(names, i);
    const s = kv.open(p, n);
    calls++;
    if (s == kv.OK) {
      if (!isPolicyBucket(p, n)) found('open', i, p, n);
      kv.dropBucket(kv.outHandle);
    } else if (s != kv.E_ACCESS_DENIED) err('open', i, s);
    kv.release(m);
  }

  for (let bi = 0; bi < nb; bi++) {
    const b = load<i32>(handles + <usize>bi * 4);
    if (b < 0) continue;
    // Before it writes anything, there is nothing to read.
    listAll(b, 'list-keys', false);
    forgedCursors(b, false);
    for (let i = 0; i < listN(keys); i++) probe(b, keys, i);
    for (let i = 0; i < listN(keys); i++) probeMany(b, keys, i, i + 1, false);
    for (let i = 0; i < listN(keys); i += 16) probeMany(b, keys, i, i + 16 < listN(keys) ? i + 16 : listN(keys), false);
    // Every way to write: what it wrote and nothing else comes back.
    writeAll(b, keys, WRITE_SET);
    writeAll(b, keys, WRITE_SET_MANY);
    writeAll(b, keys, WRITE_TTL);
    writeAll(b, keys, WRITE_SWAP);
    writeAll(b, keys, WRITE_INCREMENT);
    // And the reads again, now that it has written and deleted.
    for (let i = 0; i < listN(keys); i++) probe(b, keys, i);
  }

  const b0 = load<i32>(handles);
  if (b0 >= 0) {
    handlesAttack(b0, ptrOf(buckets, 0), lenOf(buckets, 0));
    exhaustion(b0, ptrOf(buckets, 0), lenOf(buckets, 0));
    listAll(b0, 'list-keys (at the end)', false);
  }
  for (let i = 0; i < nb; i++) {
    const b = load<i32>(handles + <usize>i * 4);
    if (b >= 0) kv.dropBucket(b);
  }
}

// --- trap modes: what the canonical ABI answers with a trap ------------------------

function trap(mode: usize, modeLen: usize): void {
  const b = load<i32>(handles);
  const k = lit('k');
  if (same(mode, modeLen, lit('swap-consumed'), 13)) {
    // swap consumes its cas: a second swap names a handle that is gone.
    kv.casNew(b, k, 1);
    const c = kv.outHandle;
    kv.swap(c, minePtr, 4);
    kv.swap(c, minePtr, 4);
  } else if (same(mode, modeLen, lit('drop-twice'), 10)) {
    kv.dropBucket(b);
    kv.dropBucket(b);
  } else if (same(mode, modeLen, lit('drop-forged-cas'), 15)) {
    kv.dropCas(12345);
  } else if (same(mode, modeLen, lit('bad-pointer'), 11)) {
    kv.get(b, 0xfffffff0, 64); // a key outside its memory
  } else if (same(mode, modeLen, lit('trap-holding'), 12)) {
    // It traps itself while holding a cas and having written.
    kv.set(b, k, 1, minePtr, 4);
    kv.casNew(b, k, 1);
    unreachable();
  }
  put('not trapped\n');
}

/** WIT `handle: func(input: string) -> string`. */
export function handle(input: usize, len: usize): usize {
  out = kv.alloc(OUT_CAP, 1);
  outSize = 0;
  truncated = false;
  founds = 0;
  calls = 0;
  minePtr = lit(MINE);
  buckets = listNew(64);
  handles = kv.alloc(64 * 4, 4);
  words = listNew(256);
  tags = kv.alloc(256 * 4, 4);
  tagCount = 0;
  let modePtr: usize = 0;
  let modeLen: usize = 0;
  const end = input + len;
  let p = input;
  while (p < end) {
    p = splitLine(p, end);
    if (fieldCount < 2) continue;
    if (fieldIs(0, 'mode')) {
      modePtr = fieldPtr(1);
      modeLen = fieldLen(1);
    } else if (fieldIs(0, 'bucket')) listPush(buckets, fieldPtr(1), fieldLen(1));
    else if (fieldIs(0, 'word')) listPush(words, fieldPtr(1), fieldLen(1));
    else if (fieldIs(0, 'tag') && tagCount < 256) {
      store<i32>(tags + <usize>tagCount * 4, <i32>fieldI64(1));
      tagCount++;
    }
  }
  if (same(modePtr, modeLen, lit('attack'), 6)) attack(true);
  else if (same(modePtr, modeLen, lit('probe'), 5)) attack(false);
  else {
    const s = kv.open(ptrOf(buckets, 0), lenOf(buckets, 0));
    store<i32>(handles, s == kv.OK ? kv.outHandle : -1);
    trap(modePtr, modeLen);
  }
  if (truncated) put('truncated\n');
  put('done\t');
  putI64(founds);
  put('\t');
  putI64(calls);
  const r = kv.alloc(8, 4);
  store<u32>(r, <u32>out);
  store<u32>(r + 4, <u32>outSize);
  return r;
}

/** After the host has read the result: everything of this call is dropped. */
export function cabi_post_handle(_r: usize): void {
  resetFields();
  kv.resetArea();
  kv.resetHeap();
}
