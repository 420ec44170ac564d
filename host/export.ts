// A map's entries as a byte stream, and a map rebuilt from one.
//
// The format (version 1; every integer little-endian):
//
//   header   "WASMAPX\n" (8 bytes), u32 version, u32 n, n bytes of JSON
//            (ExportHeader), u32 CRC-32 of all the bytes before it
//   blocks   u32 type 1, u32 payload bytes, u32 entries, the payload,
//            u32 CRC-32 of the block's bytes before it
//   end      u32 type 2, u32 16, u32 0, f64 entries in all, f64 the map's
//            revision when exported, u32 CRC-32 as for a block
//
// An entry in a payload: u8 kind (0 string, 1 bytes, 2 counter), u8 flags
// (1: it has an expiry; 2: its key comes back as bytes, not a string), u16
// 0, u32 key bytes, u32 value bytes (8 for a counter), then the expiry (f64,
// absolute, ms on the exporting host's clock) if flagged, then the key's
// bytes, then the value's (a counter's as an f64).
//
// A reader applies a block only once its checksum holds, and returns the
// map only once the end block holds and counts every entry; anything else
// (a foreign stream, a cut one, a flipped bit, bytes after the end) is
// ERR_CORRUPT, and the map it was building is closed unseen.
import { MapError } from './errors.js';
import { EXPIRES_AT, type SharedMapOptions, checkClock, describe } from './options.js';

const MAGIC = [0x57, 0x41, 0x53, 0x4d, 0x41, 0x50, 0x58, 0x0a]; // "WASMAPX\n"
export const EXPORT_VERSION = 1;
const BLOCK = 1;
const END = 2;
/** Entries go out in blocks of about this many payload bytes. */
const BLOCK_BYTES = 64 * 1024;
/** A header's JSON may not be longer (it holds a few options). */
const MAX_HEADER_JSON = 64 * 1024;

const KIND_STRING = 0;
const KIND_BYTES = 1;
const KIND_COUNTER = 2;
const F_EXPIRES = 1;
const F_BYTES_KEY = 2;

/** What the header's JSON says. */
export interface ExportHeader {
  format: 'wasmap';
  /** The map's revision when it was exported. */
  revision: number;
  /** When it was exported (ms on the exporting host's clock). */
  exportedAt: number;
  /** The exported map's options, which `restore` takes unless told others. */
  options: { maxKeyBytes: number; maxValueBytes: number; maxMemoryBytes: number; defaultTtl?: number };
}

/** An entry as exported. */
export interface ExportedEntry {
  key: string | Uint8Array;
  value: string | Uint8Array | number;
  expiresAt: number | undefined;
}

const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

let crcTable: Int32Array | null = null;

/** CRC-32 (IEEE 802.3, as zlib's) of bytes[from, to). */
export function crc32(bytes: Uint8Array, from = 0, to = bytes.length): number {
  let t = crcTable;
  if (t === null) {
    t = crcTable = new Int32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      t[n] = c;
    }
  }
  let c = -1;
  for (let i = from; i < to; i++) c = t[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

/** Writes the stream's parts: one header, then blocks of entries, then the end. */
export class ExportWriter {
  private buf = new Uint8Array(BLOCK_BYTES + 1024);
  private view = new DataView(this.buf.buffer);
  private at = 12;
  private count = 0;
  private total = 0;

  static header(h: ExportHeader): Uint8Array {
    const json = utf8.encode(JSON.stringify(h));
    const out = new Uint8Array(16 + json.length + 4);
    const v = new DataView(out.buffer);
    out.set(MAGIC, 0);
    v.setUint32(8, EXPORT_VERSION, true);
    v.setUint32(12, json.length, true);
    out.set(json, 16);
    v.setUint32(16 + json.length, crc32(out, 0, 16 + json.length), true);
    return out;
  }

  /** Adds an entry; returns a full block once there is one to send. */
  add(e: ExportedEntry): Uint8Array | null {
    const key = typeof e.key === 'string' ? utf8.encode(e.key) : e.key;
    const kind = typeof e.value === 'number' ? KIND_COUNTER : typeof e.value === 'string' ? KIND_STRING : KIND_BYTES;
    const value = kind === KIND_STRING ? utf8.encode(e.value as string) : kind === KIND_BYTES ? e.value as Uint8Array : null;
    const vlen = value === null ? 8 : value.length;
    const need = 12 + (e.expiresAt !== undefined ? 8 : 0) + key.length + vlen;
    if (this.at + need + 4 > this.buf.length) {
      const grown = new Uint8Array(Math.max(this.buf.length * 2, this.at + need + 4));
      grown.set(this.buf.subarray(0, this.at));
      this.buf = grown;
      this.view = new DataView(grown.buffer);
    }
    const v = this.view;
    let p = this.at;
    v.setUint8(p, kind);
    v.setUint8(p + 1, (e.expiresAt !== undefined ? F_EXPIRES : 0) | (typeof e.key === 'string' ? 0 : F_BYTES_KEY));
    v.setUint16(p + 2, 0, true);
    v.setUint32(p + 4, key.length, true);
    v.setUint32(p + 8, vlen, true);
    p += 12;
    if (e.expiresAt !== undefined) {
      v.setFloat64(p, e.expiresAt, true);
      p += 8;
    }
    this.buf.set(key, p);
    p += key.length;
    if (value === null) v.setFloat64(p, e.value as number, true);
    else this.buf.set(value, p);
    this.at = p + vlen;
    this.count++;
    this.total++;
    return this.at - 12 >= BLOCK_BYTES ? this.flush() : null;
  }

  /** The entries added since the last block, as a block (null if none). */
  flush(): Uint8Array | null {
    if (this.count === 0) return null;
    const v = this.view;
    v.setUint32(0, BLOCK, true);
    v.setUint32(4, this.at - 12, true);
    v.setUint32(8, this.count, true);
    v.setUint32(this.at, crc32(this.buf, 0, this.at), true);
    const out = this.buf.slice(0, this.at + 4);
    this.at = 12;
    this.count = 0;
    return out;
  }

  /** The end block (after the last flush). */
  end(revision: number): Uint8Array {
    const out = new Uint8Array(32);
    const v = new DataView(out.buffer);
    v.setUint32(0, END, true);
    v.setUint32(4, 16, true);
    v.setUint32(8, 0, true);
    v.setFloat64(12, this.total, true);
    v.setFloat64(20, revision, true);
    v.setUint32(28, crc32(out, 0, 28), true);
    return out;
  }
}

export function corrupt(why: string): MapError {
  return new MapError('ERR_CORRUPT', `not a whole wasmap export: ${why}; nothing was restored`);
}

/** Bytes from a stream, taken as they are needed. */
class ByteSource {
  private chunks: Uint8Array[] = [];
  private have = 0;
  private done = false;
  private readonly next: () => Promise<IteratorResult<unknown>> | IteratorResult<unknown>;

  constructor(source: ExportSource) {
    const src = source instanceof Uint8Array ? [source] : source;
    const it: AsyncIterator<unknown> | Iterator<unknown> =
      typeof (src as AsyncIterable<Uint8Array>)?.[Symbol.asyncIterator] === 'function'
        ? (src as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]()
        : typeof (src as Iterable<Uint8Array>)?.[Symbol.iterator] === 'function' && typeof src !== 'string'
          ? (src as Iterable<Uint8Array>)[Symbol.iterator]()
          : readerIterator(src as ReadableStream<Uint8Array>);
    this.next = () => it.next();
    this.close = () => { void it.return?.(); };
  }

  readonly close: () => void;

  /** Exactly n bytes, or null if the stream ends first. */
  async take(n: number): Promise<Uint8Array | null> {
    while (this.have < n && !this.done) {
      const r = await this.next();
      if (r.done) {
        this.done = true;
        break;
      }
      const chunk = r.value;
      if (!(chunk instanceof Uint8Array)) throw corrupt(`the stream gave ${describe(chunk)}, not bytes`);
      if (chunk.length > 0) {
        this.chunks.push(chunk);
        this.have += chunk.length;
      }
    }
    if (this.have < n) return null;
    const out = new Uint8Array(n);
    let at = 0;
    while (at < n) {
      const c = this.chunks[0];
      const k = Math.min(c.length, n - at);
      out.set(c.subarray(0, k), at);
      at += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    this.have -= n;
    return out;
  }

  /** Whether the stream has no byte left. */
  async atEnd(): Promise<boolean> {
    return (await this.take(1)) === null;
  }
}

function readerIterator(stream: ReadableStream<Uint8Array>): AsyncIterator<Uint8Array> {
  if (stream === null || typeof stream !== 'object' || typeof (stream as ReadableStream).getReader !== 'function') {
    throw new MapError('ERR_INVALID_OPTION', `restore needs a ReadableStream, an (async) iterable of Uint8Array or a Uint8Array, got ${describe(stream)}`);
  }
  const reader = stream.getReader();
  return {
    next: () => reader.read() as Promise<IteratorResult<Uint8Array>>,
    return: async () => {
      await reader.cancel().catch(() => {});
      return { done: true, value: undefined };
    },
  };
}

/** The parts of a map `readExport` fills. */
export interface RestoreTarget {
  set(key: string | Uint8Array, value: string | Uint8Array, options?: { ttl?: number }): unknown;
  increment(key: string | Uint8Array, delta: number, options?: { ttl?: number }): number;
  delete(key: string | Uint8Array): boolean;
  persist(key: string | Uint8Array): boolean;
}

/**
 * Reads an export: the header first (`open` makes the map from it), then
 * every block into the map, checked before use. `now` is the clock entries'
 * expiries are measured against (those past are left out).
 */
export async function readExport<M extends RestoreTarget>(
  source: ExportSource,
  open: (header: ExportHeader) => Promise<M>,
  now: () => number,
): Promise<{ map: M; header: ExportHeader; entries: number }> {
  const src = new ByteSource(source);
  let map: M | undefined;
  try {
    const head = await src.take(16);
    if (head === null || !MAGIC.every((b, i) => head[i] === b)) throw corrupt('it does not start as one (a foreign or empty stream)');
    const hv = new DataView(head.buffer);
    const version = hv.getUint32(8, true);
    if (version !== EXPORT_VERSION) throw corrupt(`its format version is ${version}; this wasmap reads version ${EXPORT_VERSION}`);
    const jsonLen = hv.getUint32(12, true);
    if (jsonLen > MAX_HEADER_JSON) throw corrupt('its header is too long');
    const rest = await src.take(jsonLen + 4);
    if (rest === null) throw corrupt('it ends inside its header');
    const whole = new Uint8Array(16 + jsonLen);
    whole.set(head, 0);
    whole.set(rest.subarray(0, jsonLen), 16);
    if (crc32(whole) !== new DataView(rest.buffer).getUint32(jsonLen, true)) throw corrupt("its header's checksum does not match");
    const header = parseHeader(rest.subarray(0, jsonLen));
    const o = header.options;
    const maxPayload = Math.max(BLOCK_BYTES * 2, 2 * (20 + o.maxKeyBytes + o.maxValueBytes));
    map = await open(header);
    // Under a defaultTtl a set without one expires: an entry exported
    // without an expiry is persisted after it.
    const keepsForever = ttlOf(map) > 0;
    let entries = 0;
    for (;;) {
      const bh = await src.take(12);
      if (bh === null) throw corrupt('it ends before its end block (cut short)');
      const bv = new DataView(bh.buffer);
      const type = bv.getUint32(0, true);
      const len = bv.getUint32(4, true);
      const count = bv.getUint32(8, true);
      if (type === END) {
        if (len !== 16 || count !== 0) throw corrupt('its end block is malformed');
        const body = await src.take(20);
        if (body === null) throw corrupt('it ends inside its end block');
        const all = new Uint8Array(32);
        all.set(bh, 0);
        all.set(body, 12);
        const ev = new DataView(all.buffer);
        if (crc32(all, 0, 28) !== ev.getUint32(28, true)) throw corrupt("its end block's checksum does not match");
        if (ev.getFloat64(12, true) !== entries) throw corrupt(`its end block counts ${ev.getFloat64(12, true)} entries, the blocks held ${entries}`);
        if (!(await src.atEnd())) throw corrupt('bytes follow its end block');
        return { map, header, entries };
      }
      if (type !== BLOCK) throw corrupt(`a block of unknown type ${type}`);
      if (len > maxPayload || count === 0 || count > len / 12) throw corrupt('a block of impossible size');
      const body = await src.take(len + 4);
      if (body === null) throw corrupt('it ends inside a block (cut short)');
      const all = new Uint8Array(12 + len);
      all.set(bh, 0);
      all.set(body.subarray(0, len), 12);
      if (crc32(all) !== new DataView(body.buffer).getUint32(len, true)) throw corrupt("a block's checksum does not match");
      entries += applyBlock(map, all, count, o, now(), keepsForever);
    }
  } catch (err) {
    src.close();
    (map as { close?: () => void } | undefined)?.close?.();
    throw err;
  }
}

function parseHeader(json: Uint8Array): ExportHeader {
  let h: ExportHeader;
  try {
    h = JSON.parse(fromUtf8.decode(json)) as ExportHeader;
  } catch {
    throw corrupt('its header is not JSON');
  }
  const o = h?.options;
  const nat = (n: unknown) => Number.isInteger(n) && (n as number) > 0;
  if (
    h === null || typeof h !== 'object' || h.format !== 'wasmap' || typeof h.revision !== 'number' ||
    typeof h.exportedAt !== 'number' || o === null || typeof o !== 'object' ||
    !nat(o.maxKeyBytes) || !nat(o.maxValueBytes) || !nat(o.maxMemoryBytes) ||
    (o.defaultTtl !== undefined && !(typeof o.defaultTtl === 'number' && o.defaultTtl > 0))
  ) {
    throw corrupt('its header lacks the fields of one');
  }
  return h;
}

/** Applies one checked block's entries; returns how many it held. */
function ttlOf(map: RestoreTarget): number {
  return (map as unknown as { defaultTtl?: number }).defaultTtl ?? 0;
}

function applyBlock(
  map: RestoreTarget, block: Uint8Array, count: number, o: ExportHeader['options'], now: number, persist: boolean,
): number {
  const v = new DataView(block.buffer, block.byteOffset, block.byteLength);
  let p = 12;
  const end = block.length;
  for (let n = 0; n < count; n++) {
    if (p + 12 > end) throw corrupt('an entry runs past its block');
    const kind = v.getUint8(p);
    const flags = v.getUint8(p + 1);
    const klen = v.getUint32(p + 4, true);
    const vlen = v.getUint32(p + 8, true);
    p += 12;
    if (kind > KIND_COUNTER || (flags & ~(F_EXPIRES | F_BYTES_KEY)) !== 0 || v.getUint16(p - 10, true) !== 0) {
      throw corrupt('an entry of unknown kind');
    }
    if (klen === 0 || klen > o.maxKeyBytes || vlen > o.maxValueBytes || (kind === KIND_COUNTER && vlen !== 8)) {
      throw corrupt('an entry of impossible size');
    }
    let expiresAt: number | undefined;
    if (flags & F_EXPIRES) {
      if (p + 8 > end) throw corrupt('an entry runs past its block');
      expiresAt = v.getFloat64(p, true);
      if (!Number.isFinite(expiresAt)) throw corrupt('an entry with an impossible expiry');
      p += 8;
    }
    if (p + klen + vlen > end) throw corrupt('an entry runs past its block');
    const keyBytes = block.slice(p, p + klen);
    p += klen;
    let key: string | Uint8Array = keyBytes;
    if ((flags & F_BYTES_KEY) === 0) {
      try {
        key = fromUtf8.decode(keyBytes);
      } catch {
        throw corrupt('a string key that is not UTF-8');
      }
    }
    const ttl = expiresAt === undefined ? undefined : expiresAt - now;
    if (ttl !== undefined && ttl <= 0) {
      p += vlen; // expired since it was exported
      continue;
    }
    // The same absolute expiry (a ttl would be measured from a later instant).
    const options = ttl === undefined ? undefined : { [EXPIRES_AT]: expiresAt } as { ttl?: number };
    if (kind === KIND_COUNTER) {
      const c = v.getFloat64(p, true);
      if (!Number.isSafeInteger(c)) throw corrupt('a counter that is not a safe integer');
      // A key twice in one stream (a scan may meet a key twice while the
      // table migrates): the later copy replaces the first, as a set does.
      map.delete(key);
      map.increment(key, c, options);
    } else if (kind === KIND_STRING) {
      let s: string;
      try {
        s = fromUtf8.decode(block.subarray(p, p + vlen));
      } catch {
        throw corrupt('a string value that is not UTF-8');
      }
      map.set(key, s, options);
    } else {
      map.set(key, block.slice(p, p + vlen), options);
    }
    if (persist && ttl === undefined) map.persist(key);
    p += vlen;
  }
  if (p !== end) throw corrupt('a block holds more bytes than its entries');
  return count;
}

/** What a restore reads: a web stream, an async iterable of bytes (a Node
 *  file stream), an iterable of chunks, or the bytes whole. */
export type ExportSource = ReadableStream<Uint8Array> | AsyncIterable<Uint8Array> | Iterable<Uint8Array> | Uint8Array;

/**
 * A map made by `create` from an export: the export's options, with
 * `options` over them, then every entry; the map is returned only once the
 * whole stream checked out (else it is closed, never seen).
 */
export async function restoreMap<M extends RestoreTarget>(
  source: ExportSource, options: SharedMapOptions | undefined, create: (options: SharedMapOptions) => Promise<M>,
): Promise<M> {
  if (options !== undefined && (options === null || typeof options !== 'object')) {
    throw new MapError('ERR_INVALID_OPTION', `restore options must be an object, got ${describe(options)}`);
  }
  const clock = checkClock(options?.clock);
  const { map } = await readExport(source, (h) => create({ ...h.options, ...options }), clock);
  return map;
}
