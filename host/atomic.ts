// map.atomic(): checks and writes of several keys committed as one change
// (Deno KV's shape, etcd's revisions). The core does the commit
// (assembly/commit.ts); this collects the operations and checks their bounds.
import { MapError } from './errors.js';
import type { Key, Value } from './base-map.js';
import type { WriteOptions } from './options.js';

/** Keys one commit may check or write (each once). */
export const ATOMIC_MAX_KEYS = 256;
/** Bytes of keys and values one commit may carry in all. */
export const ATOMIC_MAX_BYTES = 4 << 20;

export type AtomicResult = { ok: true; revision: number } | { ok: false };

/** One key's part in a commit: at most one check and one write. */
export interface AtomicKeyOp {
  key: Key;
  /** The modRevision it must have (0: absent), or undefined for no check. */
  check: number | undefined;
  write: { kind: 'set'; value: Value; options: WriteOptions | undefined } | { kind: 'delete' }
    | { kind: 'increment'; delta: number } | undefined;
}

/** How a map commits the operations (BaseMap). */
export type Committer = (ops: AtomicKeyOp[]) => AtomicResult;

/**
 * A commit under construction: `check`, `set`, `delete` and `increment`
 * add to it (each returns it, to chain), `commit` applies it. Nothing is
 * read or written before `commit`.
 */
export class AtomicOperation {
  readonly #commit: Committer;
  readonly #ops: AtomicKeyOp[] = [];
  /** By key: a string as itself, bytes as bytesId (never equal to a string key's). */
  readonly #byKey = new Map<string, AtomicKeyOp>();
  #done = false;

  /** @internal */
  constructor(commit: Committer) {
    this.#commit = commit;
  }

  /** The commit fails (`{ ok: false }`) unless `key`'s modRevision is `revision` (0: the key is absent). */
  check(key: Key, revision: number): this {
    if (!Number.isSafeInteger(revision) || revision < 0) {
      throw new MapError('ERR_INVALID_OPTION', `a revision is a safe integer >= 0 (0: absent), not ${String(revision)}`);
    }
    const op = this.#op(key);
    if (op.check !== undefined) throw duplicate(key, 'checked');
    op.check = revision;
    return this;
  }

  /** Stores `value` at `key` (`options.ttl` as for set). */
  set(key: Key, value: Value, options?: WriteOptions): this {
    this.#write(key).write = { kind: 'set', value, options };
    return this;
  }

  delete(key: Key): this {
    this.#write(key).write = { kind: 'delete' };
    return this;
  }

  /** Adds `delta` (a safe integer) to the counter at `key`, created at 0. */
  increment(key: Key, delta = 1): this {
    if (!Number.isSafeInteger(delta)) {
      throw new MapError('ERR_INVALID_OPTION', `an increment's delta is a safe integer, not ${String(delta)}`);
    }
    this.#write(key).write = { kind: 'increment', delta };
    return this;
  }

  /**
   * Applies every write at one revision, if every check holds: `{ ok: true,
   * revision }`; else `{ ok: false }` and nothing changed. Throws (and
   * changes nothing) on a bad key or value, ERR_CAPACITY, ERR_QUOTA,
   * ERR_NOT_A_COUNTER, ERR_COUNTER_OVERFLOW, or ERR_CONFLICT if other threads
   * kept writing its keys. A commit is made once.
   */
  commit(): AtomicResult {
    if (this.#done) throw new MapError('ERR_INVALID_OPTION', 'this atomic operation was already committed');
    this.#done = true;
    return this.#commit(this.#ops);
  }

  #write(key: Key): AtomicKeyOp {
    const op = this.#op(key);
    if (op.write !== undefined) throw duplicate(key, 'written');
    return op;
  }

  #op(key: Key): AtomicKeyOp {
    if (this.#done) throw new MapError('ERR_INVALID_OPTION', 'this atomic operation was already committed');
    const id = typeof key === 'string' ? key : key instanceof Uint8Array ? bytesId(key) : undefined;
    // A key that is neither is refused by the map, at commit, with its usual error.
    let op = id === undefined ? undefined : this.#byKey.get(id);
    if (op === undefined) {
      if (this.#ops.length >= ATOMIC_MAX_KEYS) {
        throw new MapError('ERR_ATOMIC_TOO_LARGE', `a commit checks or writes at most ${ATOMIC_MAX_KEYS} keys`);
      }
      op = { key, check: undefined, write: undefined };
      this.#ops.push(op);
      if (id !== undefined) this.#byKey.set(id, op);
    }
    return op;
  }
}

/** Bytes as a map key no string key equals: a lone surrogate (never in a
 *  well-formed key) then a character per byte. */
function bytesId(key: Uint8Array): string {
  let id = '\ud800';
  for (let i = 0; i < key.length; i += 8192) id += String.fromCharCode(...key.subarray(i, i + 8192));
  return id;
}

function duplicate(key: Key, what: string): MapError {
  const shown = typeof key === 'string' ? JSON.stringify(key.length > 40 ? `${key.slice(0, 40)}…` : key) : 'a key';
  return new MapError('ERR_DUPLICATE_KEY', `${shown} is ${what} twice in one commit`);
}
