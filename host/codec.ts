// Keys and values to and from bytes in shared memory.
//
// Key rules (the same everywhere keys are accepted): a key is a non-empty
// byte string of at most maxKeyBytes. A string key is its UTF-8 bytes and
// must be well-formed Unicode (a lone surrogate is refused, never replaced);
// a Uint8Array key may hold any bytes. So 'é' and Uint8Array [0xc3, 0xa9]
// are the same key.
import { MapError } from './errors.js';
import { describe } from './options.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: false });

/** Strings up to this length take the hand-written ASCII paths. */
const SHORT = 64;
/** Strings longer than this are written by Node's Buffer, where there is
 *  one: a native call costs about what 30 characters cost through
 *  charCodeAt (measured: 55 characters 90 ns against 150-200 ns). */
const NATIVE_FROM = 32;

/** The part of Node's Buffer used here: native UTF-8 encoding into a range. */
export interface NodeUtf8Writer {
  utf8Write(s: string, offset: number, length: number): number;
}

/**
 * Writes `s` as UTF-8 at u8[at, at + cap); returns the byte length, -1 if
 * `s` is not well-formed, or -2 if its bytes do not fit in `cap`. Nothing
 * is ever written past at + cap. `buf`, Node's Buffer over the same memory
 * (or null), writes long strings.
 */
export function encodeString(u8: Uint8Array, at: number, s: string, cap: number, buf: NodeUtf8Writer | null = null): number {
  const n = s.length;
  if (buf !== null && n > NATIVE_FROM && 3 * n <= cap) {
    // Room for any n characters (3 bytes at most each), so nothing is cut
    // short: n bytes written means every character took one (ASCII); a lone
    // surrogate takes three (written as U+FFFD), so it never passes as such.
    const written = buf.utf8Write(s, at, 3 * n);
    if (written === n) return n;
    return s.isWellFormed() ? written : -1;
  }
  if (n <= SHORT && n <= cap) {
    let i = 0;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      u8[at + i] = c;
    }
    if (i === n) return n;
  }
  if (!s.isWellFormed()) return -1;
  // encodeInto accepts views of shared memory ([AllowShared] in the spec).
  const { read, written } = encoder.encodeInto(s, u8.subarray(at, at + Math.min(cap, 3 * n)));
  return read < n ? -2 : written;
}

/**
 * The UTF-8 length of `s` (a lone surrogate counts as U+FFFD's 3 bytes, as
 * encoders write it): one pass over the characters, for a string whose
 * 3-bytes-per-unit bound is too much room to ask for. `byteLength`, Node's
 * Buffer.byteLength where there is one, counts natively.
 */
export function utf8Length(s: string, byteLength: ((s: string) => number) | null = null): number {
  if (byteLength !== null) return byteLength(s);
  const n = s.length;
  let bytes = n;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) {
      bytes += 1;
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < n && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 2; // a pair: 4 bytes for 2 units
      i++;
    } else {
      bytes += 2;
    }
  }
  return bytes;
}

/** Node's native UTF-8 length of a string (Buffer.byteLength), or null where there is no Buffer. */
export const nativeUtf8Length: ((s: string) => number) | null = (() => {
  const B = (globalThis as unknown as { Buffer?: { byteLength?(s: string, enc: string): number } }).Buffer;
  const f = B?.byteLength;
  return typeof f === 'function' ? (s: string) => f.call(B, s, 'utf8') : null;
})();

/** Character codes of a short value, reused (a plain array of small integers). */
const codes: number[] = [];
/** A private buffer to decode from: TextDecoder refuses views of shared memory. */
const copy = new Uint8Array(4096);

/**
 * Decodes UTF-8 bytes u8[at, at + len) of shared memory into a string
 * (where Node's Buffer is missing: browsers, Deno, workerd). A short ASCII
 * value is made by one String.fromCharCode call over its codes: in Chromium
 * that measured 10-20% faster than adding a character at a time, and 50%
 * faster than TextDecoder, whose call costs more than the decoding.
 */
export function decodeString(u8: Uint8Array, at: number, len: number): string {
  if (len <= SHORT) {
    let bits = 0;
    for (let i = 0; i < len; i++) {
      const c = u8[at + i];
      bits |= c;
      codes[i] = c;
    }
    codes.length = len;
    if (bits < 0x80) return String.fromCharCode.apply(null, codes);
  }
  if (len > copy.length) return decoder.decode(u8.slice(at, at + len));
  copy.set(u8.subarray(at, at + len));
  return decoder.decode(copy.subarray(0, len));
}

const strictDecoder = new TextDecoder('utf-8', { fatal: true });

/**
 * A key read back from shared memory: a string if its bytes are UTF-8 (as
 * every string key's are), else a copy of the bytes.
 */
export function keyFromBytes(u8: Uint8Array, at: number, len: number): string | Uint8Array {
  let bits = 0;
  for (let i = 0; i < len; i++) bits |= u8[at + i];
  if (bits < 0x80) return decodeString(u8, at, len);
  const bytes = u8.slice(at, at + len);
  try {
    return strictDecoder.decode(bytes);
  } catch {
    return bytes;
  }
}

/**
 * `x instanceof Uint8Array`, safe for any input. The typeof test comes first
 * on purpose: Node 20's optimizing compiler crashed (segfault) on a hot
 * `instanceof Uint8Array` that met a small integer.
 */
export function isBytes(x: unknown): x is Uint8Array {
  return typeof x === 'object' && x !== null && x instanceof Uint8Array;
}

export function keyError(key: unknown): MapError {
  if (key === '' || (isBytes(key) && key.length === 0)) {
    return new MapError('ERR_INVALID_KEY', 'a key must not be empty');
  }
  if (typeof key === 'string') {
    return new MapError('ERR_INVALID_KEY', 'a string key must be well-formed Unicode (it has a lone surrogate)');
  }
  return new MapError('ERR_INVALID_KEY', `a key must be a string or a Uint8Array, got ${describe(key)}`);
}

export function valueError(value: unknown): MapError {
  if (typeof value === 'string') {
    return new MapError('ERR_INVALID_VALUE', 'a string value must be well-formed Unicode (it has a lone surrogate)');
  }
  return new MapError('ERR_INVALID_VALUE', `a value must be a string or a Uint8Array, got ${describe(value)}`);
}
