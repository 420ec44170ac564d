// The probe plugin written in JavaScript, built into a component by
// componentize-js (StarlingMonkey) with scripts/build-guest.mjs: the same
// world and the same script language as the AssemblyScript probe
// (examples/plugins/guest/commands.ts), for the commands below. Tests run
// the same scripts through both; bench/wasi.mjs measures what a call from
// this guest costs.
//
//   open NAME             -> ok HANDLE | err CASE [MESSAGE]
//   drop B                -> ok
//   get B KEY             -> some VALUE | none
//   set B KEY VALUE       -> ok
//   delete B KEY          -> ok
//   exists B KEY          -> true | false
//   incr B KEY DELTA      -> ok VALUE
//   forget B              -> ok  (drops its reference to the bucket, not the handle)
//   repeat-get B KEY N    -> ok
//   throw MESSAGE         -> (an exception that is not an error result: a trap)
//   set-lone B VALUE      -> ok  (sets the key 'a', U+D800 alone, 'b': a string
//                            that is not well formed, made in the guest)
//   now                   -> ok MILLISECONDS (Date.now(): the host's wall clock,
//                            in the build that imports wasi:clocks)
import { open } from 'wasi:keyvalue/store@0.2.0-draft2';
import { increment } from 'wasi:keyvalue/atomics@0.2.0-draft2';

const buckets = new Map();
let next = 1;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** An `err` result (thrown by the bindings) as the probe's line. */
function failure(e) {
  const p = e?.payload ?? e;
  if (p?.tag === 'other') return `err\tother\t${p.val}`;
  if (typeof p?.tag === 'string') return `err\t${p.tag}`;
  throw e; // not an error result: let it trap
}

function command(f) {
  if (f[0] === 'throw') throw new Error(f[1]);
  if (f[0] === 'now') return `ok\t${Date.now()}`;
  if (f[0] === 'open') {
    const b = open(f[1]);
    buckets.set(next, b);
    return `ok\t${next++}`;
  }
  const b = buckets.get(Number(f[1]));
  switch (f[0]) {
    case 'drop':
      b[Symbol.dispose]?.();
      buckets.delete(Number(f[1]));
      return 'ok';
    case 'forget':
      buckets.delete(Number(f[1]));
      return 'ok';
    case 'get': {
      const v = b.get(f[2]);
      return v === undefined ? 'none' : `some\t${decoder.decode(v)}`;
    }
    case 'set':
      b.set(f[2], encoder.encode(f[3]));
      return 'ok';
    case 'set-lone':
      b.set(`a${String.fromCharCode(0xd800)}b`, encoder.encode(f[2]));
      return 'ok';
    case 'delete':
      b.delete(f[2]);
      return 'ok';
    case 'exists':
      return b.exists(f[2]) ? 'true' : 'false';
    case 'incr':
      // (componentize-js 0.23 traps on a negative s64 result: keep counters
      // at 0 or above.)
      return `ok\t${increment(b, f[2], BigInt(f[3]))}`;
    case 'repeat-get': {
      const n = Number(f[3]);
      for (let i = 0; i < n; i++) b.get(f[2]);
      return 'ok';
    }
    default:
      return `err\tunknown command ${f[0]}`;
  }
}

export function handle(input) {
  return input.split('\n').map((line) => {
    try {
      return command(line.split('\t'));
    } catch (e) {
      return failure(e);
    }
  }).join('\n');
}
