// What one plugin instance may do with its namespace: the policy given to
// keyValueImports, documented once, validated up front.
import { MapError } from '../index.js';

/** The policy of one component instance's key-value imports. */
export interface KeyValuePolicy {
  /**
   * The bucket identifiers `store.open` accepts; any other gets
   * `access-denied`. Each bucket is a key space of its own inside the
   * namespace (its keys are stored behind the bucket's prefix, see
   * `bucketKey`), so two buckets never see each other's keys. At least one;
   * each a non-empty well-formed string of at most 256 UTF-8 bytes.
   * @default ['default']
   */
  buckets?: readonly string[];
  /**
   * Milliseconds that values written by `set`, `set-many` and `swap` live;
   * `set-with-ttl` gives its own. Absent: the namespace's `defaultTtl` (which
   * is also what counters created by `increment` get: set it on the
   * namespace to make counters expire too).
   * @default none
   */
  defaultTtl?: number;
  /**
   * Largest key, in UTF-8 bytes of the key the guest gives (the bucket prefix
   * not counted). The namespace's `maxKeyBytes` bounds the stored key, prefix
   * (the bucket id's bytes + 1) included, as well. Larger keys fail with
   * `other("ERR_KEY_TOO_LARGE: ...")`.
   * @default no bound but the namespace's
   */
  maxKeyBytes?: number;
  /**
   * Largest value in bytes; larger ones fail with
   * `other("ERR_VALUE_TOO_LARGE: ...")`. The namespace's `maxValueBytes`
   * applies as well.
   * @default no bound but the namespace's
   */
  maxValueBytes?: number;
  /**
   * Most keys one batch call (`get-many`, `set-many`, `delete-many`) may
   * carry; more fail with `other` before anything is done.
   * @default 1000
   */
  maxBatchKeys?: number;
  /**
   * Most `bucket` and `cas` resources the instance may hold at once (each is
   * host memory until the guest drops it); past it `open` and `cas.new` fail
   * with `other("ERR_RESOURCE_LIMIT: ...")`.
   * @default 1024
   */
  maxOpenResources?: number;
  /**
   * A rule on top of the key rules, called with the guest's key and the
   * bucket id before every operation: `true` accepts; `false` or a reason
   * refuses with `other("ERR_INVALID_KEY: ...")`. (A namespace's own
   * `validateKey` sees the stored key: the bucket prefix, then the key.)
   * @default none
   */
  validateKey?: (key: string, bucket: string) => boolean | string;
}

export interface ResolvedPolicy {
  buckets: ReadonlySet<string>;
  /** `{ ttl }` for plain writes, or undefined for the namespace's default. */
  writeOptions: { ttl: number } | undefined;
  maxKeyBytes: number;
  maxValueBytes: number;
  maxBatchKeys: number;
  maxOpenResources: number;
  validateKey: ((key: string, bucket: string) => boolean | string) | undefined;
}

const OPTIONS = new Set([
  'buckets', 'defaultTtl', 'maxKeyBytes', 'maxValueBytes', 'maxBatchKeys', 'maxOpenResources', 'validateKey',
]);

/** Bytes a bucket id may have (it is stored in front of every key). */
export const MAX_BUCKET_ID_BYTES = 256;

export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (value === null || typeof value !== 'object') return String(value);
  return Array.isArray(value) ? 'an array' : value.constructor?.name ?? 'an object';
}

function invalid(message: string): never {
  throw new MapError('ERR_INVALID_OPTION', message);
}

function count(policy: KeyValuePolicy, name: keyof KeyValuePolicy, fallback: number, min: number): number {
  const value = policy[name];
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    invalid(`policy option "${name}" must be an integer of at least ${min}, got ${describe(value)}`);
  }
  return value;
}

export function resolvePolicy(policy: KeyValuePolicy | undefined): ResolvedPolicy {
  const p = policy ?? {};
  if (p === null || typeof p !== 'object') invalid(`the key-value policy must be an object, got ${describe(policy)}`);
  for (const name of Object.keys(p)) {
    if (!OPTIONS.has(name)) invalid(`unknown policy option "${name}"`);
  }
  const ids = p.buckets ?? ['default'];
  if (!Array.isArray(ids) || ids.length === 0) {
    invalid(`policy option "buckets" must be a non-empty array of bucket identifiers, got ${describe(ids)}`);
  }
  for (const id of ids) {
    if (
      typeof id !== 'string' || id.length === 0 || !id.isWellFormed() ||
      new TextEncoder().encode(id).length > MAX_BUCKET_ID_BYTES
    ) {
      invalid(`policy option "buckets": ${describe(id)} is not a non-empty well-formed string of at most ${MAX_BUCKET_ID_BYTES} bytes`);
    }
  }
  let writeOptions: { ttl: number } | undefined;
  if (p.defaultTtl !== undefined) {
    const ttl = p.defaultTtl;
    if (typeof ttl !== 'number' || !(ttl > 0) || ttl === Infinity) {
      invalid(`policy option "defaultTtl" must be a positive finite number of milliseconds, got ${describe(ttl)}`);
    }
    writeOptions = Object.freeze({ ttl });
  }
  if (p.validateKey !== undefined && typeof p.validateKey !== 'function') {
    invalid(`policy option "validateKey" must be a function, got ${describe(p.validateKey)}`);
  }
  return {
    buckets: new Set(ids),
    writeOptions,
    maxKeyBytes: count(p, 'maxKeyBytes', Infinity, 1),
    maxValueBytes: count(p, 'maxValueBytes', Infinity, 0),
    maxBatchKeys: count(p, 'maxBatchKeys', 1000, 1),
    maxOpenResources: count(p, 'maxOpenResources', 1024, 1),
    validateKey: p.validateKey,
  };
}
