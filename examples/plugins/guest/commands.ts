// The probe plugins' command interpreter: runs a script of key-value
// commands through the wasi:keyvalue imports (and wasmap:keyvalue/ttl), one
// command a line, fields separated by tabs, and answers one line per
// command. Tests and the benchmark drive the host through it, so every
// import is exercised by a real component.
//
//   open NAME               -> ok HANDLE | err CASE [MESSAGE]
//   drop B                  -> ok
//   get B KEY               -> some VALUE | none
//   set B KEY VALUE         -> ok
//   delete B KEY            -> ok
//   exists B KEY            -> true | false
//   list B [CURSOR]         -> ok NEXT-CURSOR|- KEY...
//   incr B KEY DELTA        -> ok VALUE
//   cas B KEY VALUE         -> ok (swapped) | failed CURRENT|-  (one attempt)
//   cas-retry B KEY V1 V2   -> reads KEY, sets it to V1 behind the cas's back,
//                              swaps V2: "failed CURRENT ok" when the retry
//                              with the returned cas succeeds
//   get-many B KEY...       -> ok (KEY=VALUE | -)...
//   set-many B KEY VALUE... -> ok
//   delete-many B KEY...    -> ok
//   set-ttl B KEY VALUE MS  -> ok
//   ttl B KEY               -> absent | forever | ms N
//   expire B KEY MS         -> true | false
//   persist B KEY           -> true | false
//   repeat-incr B KEY N     -> ok VALUE     (N increments by 1)
//   repeat-get B KEY N      -> ok           (N gets)
//   repeat-set B KEY VALUE N -> ok          (N sets)
//   churn NAME KEY N        -> ok           (N × open, cas.new, drop, drop)
//
// Any field but the command's name written %x and hex digits (%x61ff62)
// stands for those bytes: a key that is not UTF-8 can be sent so.
import * as kv from './abi';
import {
  fieldCount, fieldI64, fieldIs, fieldLen, fieldList, fieldPtr, outResult, outStart, put, putBytes, putError, putI64,
  putU64, resetFields, splitLine, unhexFields,
} from './text';

function handleOf(i: i32): i32 {
  return <i32>fieldI64(i);
}

/** Writes the error line for a failed call. */
function fail(status: i32): void {
  put('err\t');
  if (status == kv.E_OTHER) put('other\t');
  putError(status);
}

function okOr(status: i32): void {
  if (status == kv.OK) put('ok');
  else fail(status);
}

function boolOr(status: i32): void {
  if (status != kv.OK) fail(status);
  else put(kv.outHandle != 0 ? 'true' : 'false');
}

function casOnce(b: i32): void {
  let s = kv.casNew(b, fieldPtr(2), fieldLen(2));
  if (s != kv.OK) return fail(s);
  const cas = kv.outHandle;
  s = kv.swap(cas, fieldPtr(3), fieldLen(3)); // consumes cas
  if (s == kv.E_CAS_FAILED) {
    const fresh = kv.outHandle;
    put('failed\t');
    s = kv.casCurrent(fresh);
    if (s == kv.OK && kv.outHandle != 0) putBytes(kv.outPtr, kv.outLen);
    else put('-');
    kv.dropCas(fresh);
    return;
  }
  okOr(s);
}

function casRetry(b: i32): void {
  let s = kv.casNew(b, fieldPtr(2), fieldLen(2));
  if (s != kv.OK) return fail(s);
  const cas = kv.outHandle;
  s = kv.set(b, fieldPtr(2), fieldLen(2), fieldPtr(3), fieldLen(3));
  if (s != kv.OK) {
    kv.dropCas(cas);
    return fail(s);
  }
  s = kv.swap(cas, fieldPtr(4), fieldLen(4));
  if (s != kv.E_CAS_FAILED) {
    put('not-failed\t');
    return okOr(s);
  }
  const fresh = kv.outHandle;
  put('failed\t');
  s = kv.casCurrent(fresh);
  if (s != kv.OK) {
    kv.dropCas(fresh);
    return fail(s);
  }
  if (kv.outHandle != 0) putBytes(kv.outPtr, kv.outLen);
  else put('-');
  put('\t');
  okOr(kv.swap(fresh, fieldPtr(4), fieldLen(4)));
}

function list(b: i32): void {
  const has = fieldCount > 2 && !fieldIs(2, '-');
  const s = kv.listKeys(b, has ? 1 : 0, has ? fieldPtr(2) : 0, has ? fieldLen(2) : 0);
  if (s != kv.OK) return fail(s);
  put('ok\t');
  if (kv.outHandle != 0) putBytes(kv.errPtr, kv.errLen);
  else put('-');
  const keys = kv.outPtr;
  for (let i: usize = 0; i < kv.outLen; i++) {
    put('\t');
    putBytes(load<u32>(keys + i * 8), load<u32>(keys + i * 8 + 4));
  }
}

function getMany(b: i32): void {
  const n = <usize>(fieldCount - 2);
  const s = kv.getMany(b, fieldList(2), n);
  if (s != kv.OK) return fail(s);
  put('ok');
  const at = kv.outPtr;
  for (let i: usize = 0; i < kv.outLen; i++) {
    const e = at + i * 20;
    put('\t');
    if (load<u8>(e) == 0) {
      put('-');
      continue;
    }
    putBytes(load<u32>(e + 4), load<u32>(e + 8));
    put('=');
    putBytes(load<u32>(e + 12), load<u32>(e + 16));
  }
}

function setMany(b: i32): void {
  // The fields from 2 on are key, value, key, value...: as (ptr, len) pairs
  // they already are a list<tuple<string, list<u8>>>.
  okOr(kv.setMany(b, fieldList(2), <usize>((fieldCount - 2) >> 1)));
}

function ttl(b: i32): void {
  const s = kv.timeToLive(b, fieldPtr(2), fieldLen(2));
  if (s != kv.OK) return fail(s);
  if (kv.outHandle == 0) put('absent');
  else if (kv.outHandle == 1) put('forever');
  else {
    put('ms\t');
    putU64(<u64>kv.outI64);
  }
}

function repeatIncr(b: i32): void {
  const n = fieldI64(3);
  let last: i64 = 0;
  for (let i: i64 = 0; i < n; i++) {
    const s = kv.increment(b, fieldPtr(2), fieldLen(2), 1);
    if (s != kv.OK) return fail(s);
    last = kv.outI64;
  }
  put('ok\t');
  putI64(last);
}

function repeatGet(b: i32): void {
  const n = fieldI64(3);
  const m = kv.mark();
  for (let i: i64 = 0; i < n; i++) {
    const s = kv.get(b, fieldPtr(2), fieldLen(2));
    if (s != kv.OK) return fail(s);
    kv.release(m); // the value the host wrote is not needed
  }
  put('ok');
}

function repeatSet(b: i32): void {
  const n = fieldI64(4);
  for (let i: i64 = 0; i < n; i++) {
    const s = kv.set(b, fieldPtr(2), fieldLen(2), fieldPtr(3), fieldLen(3));
    if (s != kv.OK) return fail(s);
  }
  put('ok');
}

function churn(): void {
  const n = fieldI64(3);
  const m = kv.mark();
  for (let i: i64 = 0; i < n; i++) {
    let s = kv.open(fieldPtr(1), fieldLen(1));
    if (s != kv.OK) return fail(s);
    const b = kv.outHandle;
    s = kv.casNew(b, fieldPtr(2), fieldLen(2));
    if (s != kv.OK) return fail(s);
    kv.dropCas(kv.outHandle);
    kv.dropBucket(b);
    kv.release(m);
  }
  put('ok');
}

function command(): void {
  unhexFields();
  if (fieldIs(0, 'open')) {
    const s = kv.open(fieldPtr(1), fieldLen(1));
    if (s != kv.OK) return fail(s);
    put('ok\t');
    putI64(kv.outHandle);
    return;
  }
  if (fieldIs(0, 'churn')) return churn();
  const b = handleOf(1);
  if (fieldIs(0, 'drop')) {
    kv.dropBucket(b);
    put('ok');
  } else if (fieldIs(0, 'get')) {
    const s = kv.get(b, fieldPtr(2), fieldLen(2));
    if (s != kv.OK) return fail(s);
    if (kv.outHandle == 0) return put('none');
    put('some\t');
    putBytes(kv.outPtr, kv.outLen);
  } else if (fieldIs(0, 'set')) okOr(kv.set(b, fieldPtr(2), fieldLen(2), fieldPtr(3), fieldLen(3)));
  else if (fieldIs(0, 'delete')) okOr(kv.del(b, fieldPtr(2), fieldLen(2)));
  else if (fieldIs(0, 'exists')) boolOr(kv.exists(b, fieldPtr(2), fieldLen(2)));
  else if (fieldIs(0, 'list')) list(b);
  else if (fieldIs(0, 'incr')) {
    const s = kv.increment(b, fieldPtr(2), fieldLen(2), fieldI64(3));
    if (s != kv.OK) return fail(s);
    put('ok\t');
    putI64(kv.outI64);
  } else if (fieldIs(0, 'cas')) casOnce(b);
  else if (fieldIs(0, 'cas-retry')) casRetry(b);
  else if (fieldIs(0, 'get-many')) getMany(b);
  else if (fieldIs(0, 'set-many')) setMany(b);
  else if (fieldIs(0, 'delete-many')) okOr(kv.deleteMany(b, fieldList(2), <usize>(fieldCount - 2)));
  else if (fieldIs(0, 'set-ttl')) {
    okOr(kv.setWithTtl(b, fieldPtr(2), fieldLen(2), fieldPtr(3), fieldLen(3), fieldI64(4)));
  } else if (fieldIs(0, 'ttl')) ttl(b);
  else if (fieldIs(0, 'expire')) boolOr(kv.expire(b, fieldPtr(2), fieldLen(2), fieldI64(3)));
  else if (fieldIs(0, 'persist')) boolOr(kv.persist(b, fieldPtr(2), fieldLen(2)));
  else if (fieldIs(0, 'repeat-incr')) repeatIncr(b);
  else if (fieldIs(0, 'repeat-get')) repeatGet(b);
  else if (fieldIs(0, 'repeat-set')) repeatSet(b);
  else put('err\tunknown-command');
}

/** WIT `handle: func(input: string) -> string`: the string's (ptr, len) at the returned address. */
export function handle(input: usize, len: usize): usize {
  outStart();
  const end = input + len;
  let p = input;
  let first = true;
  while (p < end) {
    p = splitLine(p, end);
    if (!first) put('\n');
    first = false;
    command();
  }
  return outResult();
}

/** After the host has read the result: everything of this call is dropped. */
export function cabi_post_handle(_r: usize): void {
  resetFields();
  kv.resetArea();
  kv.resetHeap();
}
