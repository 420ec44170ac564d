// Example plugin "visits" (world `plugin`): counts visitors.
//   handle(NAME) -> "NAME: visit #K of N"
// Counters with atomics.increment; the last visitor with ttl.set-with-ttl
// (forgotten after a minute).
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

export function handle(name: usize, nameLen: usize): usize {
  outStart();
  if ((status = kv.open(lit('default'), 7)) != kv.OK) return failed('open', status);
  const b = (bucket = kv.outHandle);
  if ((status = kv.increment(b, lit('visits'), 6, 1)) != kv.OK) return failed('increment', status);
  const total = kv.outI64;
  const mineKey = concat(lit('visits:'), 7, name, nameLen);
  if ((status = kv.increment(b, mineKey, 7 + nameLen, 1)) != kv.OK) return failed('increment', status);
  const mine = kv.outI64;
  status = kv.setWithTtl(b, lit('last-visitor'), 12, name, nameLen, 60_000);
  if (status != kv.OK) return failed('set-with-ttl', status);
  kv.dropBucket(b);
  bucket = 0;
  putBytes(name, nameLen);
  put(': visit #');
  putI64(mine);
  put(' of ');
  putI64(total);
  return outResult();
}

export function cabi_post_handle(_r: usize): void {
  kv.resetArea();
  kv.resetHeap();
}
