// Example plugin "notes" (world `plugin`): keeps numbered notes.
//   handle(TEXT) -> "note #N saved; index: 1,2,...,N"
// The number from atomics.increment; the note and "latest" in one
// batch.set-many; the index grown with a compare-and-swap loop (atomics.cas,
// retried with the fresh cas a failed swap returns); both read back with
// batch.get-many.
import * as kv from './abi';
import { concat, lit, outResult, outStart, put, putBytes, putError, putI64 } from './text';

export { cabi_realloc } from './abi';

/** The status of the last call. */
let status: i32 = 0;

/** The bucket this call opened (0: none), dropped on every way out. */
let bucket: i32 = 0;

function failed(what: string, status: i32): usize {
  if (bucket != 0) kv.dropBucket(bucket);
  bucket = 0;
  put('error: ');
  put(what);
  put(': ');
  putError(status);
  return outResult();
}

/** The decimal digits of n, in memory; their count in `digits`. */
let digits: usize = 0;
function decimal(n: i64): usize {
  digits = 1;
  for (let t = n; t >= 10; t /= 10) digits++;
  const p = kv.alloc(digits, 1);
  for (let j = digits; j > 0; j--) {
    store<u8>(p + j - 1, <u8>(48 + n % 10));
    n /= 10;
  }
  return p;
}

export function handle(text: usize, textLen: usize): usize {
  outStart();
  if ((status = kv.open(lit('notes'), 5)) != kv.OK) return failed('open', status);
  const b = (bucket = kv.outHandle);
  if ((status = kv.increment(b, lit('count'), 5, 1)) != kv.OK) return failed('increment', status);
  const n = kv.outI64;
  const num = decimal(n);
  const numLen = digits;

  // set-many: [("note:N", TEXT), ("latest", TEXT)]: 16 bytes a pair.
  const noteKey = concat(lit('note:'), 5, num, numLen);
  const pairs = kv.alloc(32, 4);
  store<u32>(pairs, noteKey);
  store<u32>(pairs + 4, <u32>(5 + numLen));
  store<u32>(pairs + 8, text);
  store<u32>(pairs + 12, textLen);
  store<u32>(pairs + 16, lit('latest'));
  store<u32>(pairs + 20, 6);
  store<u32>(pairs + 24, text);
  store<u32>(pairs + 28, textLen);
  if ((status = kv.setMany(b, pairs, 2)) != kv.OK) return failed('set-many', status);

  // index = index + "," + N, by compare-and-swap.
  const index = lit('index');
  if ((status = kv.casNew(b, index, 5)) != kv.OK) return failed('cas.new', status);
  let cas = kv.outHandle;
  while (true) {
    if ((status = kv.casCurrent(cas)) != kv.OK) {
      kv.dropCas(cas);
      return failed('cas.current', status);
    }
    let next = num;
    let nextLen = numLen;
    if (kv.outHandle != 0) {
      next = concat(concat(kv.outPtr, kv.outLen, lit(','), 1), kv.outLen + 1, num, numLen);
      nextLen = kv.outLen + 1 + numLen;
    }
    const s = kv.swap(cas, next, nextLen);
    if (s == kv.OK) break;
    if (s != kv.E_CAS_FAILED) return failed('swap', s);
    cas = kv.outHandle; // a fresh cas: retry with it
  }

  // get-many: ["latest", "index"]
  const keys = kv.alloc(16, 4);
  store<u32>(keys, lit('latest'));
  store<u32>(keys + 4, 6);
  store<u32>(keys + 8, index);
  store<u32>(keys + 12, 5);
  if ((status = kv.getMany(b, keys, 2)) != kv.OK) return failed('get-many', status);
  const got = kv.outPtr; // 20 bytes an entry: case, key, value
  kv.dropBucket(b);
  bucket = 0;
  put('note #');
  putI64(n);
  put(' saved; index: ');
  if (load<u8>(got + 20) != 0) putBytes(load<u32>(got + 20 + 12), load<u32>(got + 20 + 16));
  return outResult();
}

export function cabi_post_handle(_r: usize): void {
  kv.resetArea();
  kv.resetHeap();
}
