/**
 * Every failure of a wasmap operation is a `MapError` with a stable `code`.
 * A failed operation leaves the map exactly as it was.
 */
export type MapErrorCode =
  /** Empty key, a key that is neither string nor Uint8Array, or a string with a lone surrogate. */
  | 'ERR_INVALID_KEY'
  /** The key's UTF-8 (or raw) bytes exceed `maxKeyBytes`. */
  | 'ERR_KEY_TOO_LARGE'
  /** A value that is neither string nor Uint8Array, a string with a lone surrogate, or a bad delta. */
  | 'ERR_INVALID_VALUE'
  /** The value's bytes exceed `maxValueBytes`. */
  | 'ERR_VALUE_TOO_LARGE'
  /** An option of `create`/`attach` is out of range; the message names it. */
  | 'ERR_INVALID_OPTION'
  /** The map would exceed `maxMemoryBytes` (or its thread slots are all taken). */
  | 'ERR_CAPACITY'
  /** A ttl (or defaultTtl) that is not a positive finite number of milliseconds. */
  | 'ERR_INVALID_TTL'
  /** A namespace is at its maxEntries or maxMemoryBytes quota. */
  | 'ERR_QUOTA'
  /** An operation on a view of a namespace that was dropped. */
  | 'ERR_NAMESPACE_DROPPED'
  /** `increment` on a key whose value is not a counter. */
  | 'ERR_NOT_A_COUNTER'
  /** `increment` would take the counter outside ±Number.MAX_SAFE_INTEGER. */
  | 'ERR_COUNTER_OVERFLOW'
  /** An operation lost a very long run of races (over a million retries). */
  | 'ERR_CONTENTION'
  /** update(): the entry kept changing between its read and its write. */
  | 'ERR_CONFLICT'
  /** atomic(): more keys or bytes than one commit may carry. */
  | 'ERR_ATOMIC_TOO_LARGE'
  /** atomic(): a key checked twice, or written twice, in one commit. */
  | 'ERR_DUPLICATE_KEY'
  /** The map was closed in this thread. */
  | 'ERR_CLOSED'
  /** `attach` was given something that is not a live wasmap handle of this version. */
  | 'ERR_INVALID_HANDLE'
  /** Shared memory is not available here (a browser page without COOP/COEP headers). */
  | 'ERR_NO_SHARED_MEMORY'
  /** restore(): the stream is not a whole wasmap export (foreign, cut short, or altered). */
  | 'ERR_CORRUPT'
  /** export(): the map changed while it was being read (export reads the live map). */
  | 'ERR_CONCURRENT_WRITE';

export class MapError extends Error {
  readonly code: MapErrorCode;

  constructor(code: MapErrorCode, message: string) {
    super(message);
    this.name = 'MapError';
    this.code = code;
  }
}
