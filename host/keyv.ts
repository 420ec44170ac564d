// wasmap/keyv: a Keyv storage adapter (https://keyv.org) over a wasmap map,
// so that Keyv, and what takes Keyv stores (cache-manager 7, cacheable), keep
// their data in a map every thread shares.
//
// Each Keyv namespace is a wasmap namespace (`map.namespace(name)`): its
// keys never meet another's, and Keyv's `clear()` clears that namespace only.
// Keyv serializes values to strings itself; the adapter stores them as they
// come (strings, or Uint8Arrays), and a Keyv ttl becomes the entry's wasmap
// ttl, so expired entries go away in every thread, not only when Keyv reads
// them.
import { EventEmitter } from 'node:events';
import Keyv, { type KeyvOptions } from 'keyv';
import { BaseMap, type Key, type MapView, type Value } from './base-map.js';
import { MapError } from './errors.js';
import { LocalMap } from './local-map.js';
import { type NamespaceOptions, type SharedMapOptions, checkTtl, describe } from './options.js';
import { SharedMap } from './shared-map.js';

/** What the adapter can store in: a map, or one namespace view of a map. */
export type WasmapStore = SharedMap | LocalMap | MapView<SharedMap> | MapView<LocalMap>;

/** Options of `new KeyvWasmap(...)`. */
export interface KeyvWasmapOptions {
  /**
   * The kind of map the adapter creates when it is not given one: 'shared'
   * (a SharedMap: other threads attach to `adapter.map.handle`) or 'local'
   * (a LocalMap, this thread's only). Ignored when a map is given.
   * @default 'shared'
   */
  kind?: 'shared' | 'local';
  /** Options of the map the adapter creates (see SharedMapOptions). Ignored when a map is given. */
  map?: SharedMapOptions;
  /**
   * Quotas of each namespace the adapter opens for a Keyv namespace (see
   * NamespaceOptions), applied when it creates the namespace; asking for an
   * existing one with different quotas fails with ERR_INVALID_OPTION.
   * @default none (the map's limits)
   */
  namespaceOptions?: NamespaceOptions;
}

type Entry = { key: string; value: unknown; ttl?: number };

const OPTION_KEYS = new Set(['kind', 'map', 'namespaceOptions']);

/** Whether `store` is a namespace view rather than a map itself. */
function isView(store: BaseMap): boolean {
  // `ns` is BaseMap's protected record of the view's namespace (undefined on
  // the map itself); nothing public tells a view from a map at run time.
  return (store as unknown as { ns: string | undefined }).ns !== undefined;
}

/**
 * A Keyv storage adapter over a wasmap map: `new Keyv({ store: new
 * KeyvWasmap(map) })`. Give each Keyv its own adapter (Keyv writes its
 * namespace onto the adapter); adapters over one map are cheap.
 *
 * Given a map (or options to create one), each Keyv namespace is the wasmap
 * namespace of that name. Given a namespace view, the view is the whole key
 * space: a view cannot open other namespaces, so every Keyv namespace over it
 * shares it, and `clear()` clears the view.
 */
export class KeyvWasmap extends EventEmitter {
  /**
   * What Keyv reads of an adapter. `dialect` names this store; Keyv 5 wires
   * `keyv.iterator()` only for the dialects of its own list (sqlite, redis,
   * ...), and wasmap is not one of them: use `createKeyv` to get an
   * iterator() (see there); Keyv 6 wires it for any store that has one.
   * `url` is there because Keyv 5 reads `opts.url.includes(...)` of an
   * adapter that has an iterator and a dialect outside its list, and throws
   * a TypeError when there is none.
   */
  readonly opts: { dialect: 'wasmap'; url: string; [option: string]: unknown };
  private target: WasmapStore | undefined;
  private readonly making: Promise<WasmapStore> | undefined;
  /** Whether the adapter made the map (and so closes it on disconnect). */
  private readonly owns: boolean;
  private readonly namespaceOptions: NamespaceOptions | undefined;
  private readonly views = new Map<string, WasmapStore>();
  private ns: string | undefined;

  constructor(store?: WasmapStore | KeyvWasmapOptions, options?: Pick<KeyvWasmapOptions, 'namespaceOptions'>) {
    super();
    if (store instanceof BaseMap) {
      if (store.closed) throw new MapError('ERR_CLOSED', 'KeyvWasmap was given a closed map');
      this.target = store as WasmapStore;
      this.owns = false;
      this.opts = { dialect: 'wasmap', url: `wasmap://${store instanceof LocalMap ? 'local' : 'shared'}` };
      this.namespaceOptions = checkOptions(options, true).namespaceOptions;
    } else {
      const opts = checkOptions(store, false);
      const kind = opts.kind ?? 'shared';
      if (kind !== 'shared' && kind !== 'local') {
        throw new MapError('ERR_INVALID_OPTION', `KeyvWasmap option "kind" must be 'shared' or 'local', got ${describe(kind)}`);
      }
      this.owns = true;
      this.opts = { dialect: 'wasmap', url: `wasmap://${kind}` };
      this.namespaceOptions = opts.namespaceOptions;
      this.making = (kind === 'shared' ? SharedMap.create(opts.map) : LocalMap.create(opts.map)).then((map) => {
        this.target = map;
        return map;
      });
      // A failure reaches every operation; 'error' tells a listener at once
      // (Keyv listens; an 'error' with no listener would throw, unhandled).
      this.making.catch((error: unknown) => {
        if (this.listenerCount('error') > 0) this.emit('error', error);
      });
    }
  }

  /** The map or view the adapter stores in (undefined until a map it creates is ready: see `ready()`). */
  get map(): WasmapStore | undefined {
    return this.target;
  }

  /** Resolves with the map or view the adapter stores in, once it exists. */
  async ready(): Promise<WasmapStore> {
    return this.target ?? (this.making as Promise<WasmapStore>);
  }

  /** The Keyv namespace, which Keyv sets: the wasmap namespace the adapter's operations go to. */
  get namespace(): string | undefined {
    return this.ns;
  }

  set namespace(name: string | undefined) {
    if (name !== undefined && name !== null && name !== '' && typeof name !== 'string') {
      throw new MapError('ERR_INVALID_OPTION', `a Keyv namespace must be a string, got ${describe(name)}`);
    }
    this.ns = name || undefined;
    // Open it now when the map is here, so that a name wasmap refuses fails
    // where it is given (new Keyv(...)), not at the first operation.
    if (this.target !== undefined && this.ns !== undefined) this.space(this.target, this.ns);
  }

  async get(key: string): Promise<Value | number | undefined> {
    return this.run((s) => s.get(key));
  }

  async getMany(keys: string[]): Promise<Array<Value | number | undefined>> {
    return this.run((s) => keys.map((key) => s.get(key)));
  }

  async has(key: string): Promise<boolean> {
    return this.run((s) => s.has(key));
  }

  async hasMany(keys: string[]): Promise<boolean[]> {
    return this.run((s) => keys.map((key) => s.has(key)));
  }

  /** Stores `value` (what Keyv serialized: a string, or a Uint8Array); `ttl` in ms, 0 or absent for none. */
  async set(key: string, value: unknown, ttl?: number): Promise<boolean> {
    return this.run((s) => {
      s.set(key, checkValue(value), writeOptions(ttl));
      return true;
    });
  }

  async setMany(entries: Entry[]): Promise<boolean[]> {
    if (!Array.isArray(entries)) {
      throw new MapError('ERR_INVALID_OPTION', `setMany takes an array of { key, value, ttl }, got ${describe(entries)}`);
    }
    return this.run((s) => entries.map(({ key, value, ttl }) => {
      s.set(key, checkValue(value), writeOptions(ttl));
      return true;
    }));
  }

  async delete(key: string): Promise<boolean> {
    return this.run((s) => s.delete(key));
  }

  /** Deletes every key; true if each was there (as Keyv's own fallback answers). */
  async deleteMany(keys: string[]): Promise<boolean> {
    return this.run((s) => keys.map((key) => s.delete(key)).every(Boolean));
  }

  /** Clears the current namespace (given a view: the view). */
  async clear(): Promise<void> {
    return this.run((s) => s.clear());
  }

  /**
   * Every [key, value] of `namespace` (default: the current one), as stored
   * (see `entries()` of the map for what a key written meanwhile does).
   */
  async *iterator(namespace?: string): AsyncGenerator<[Key, Value | number], void> {
    const store = await this.ready();
    const name = namespace === undefined ? this.ns : namespace || undefined;
    yield* this.space(store, name).entries();
  }

  /** Closes the map if the adapter created it; a map it was given stays open (its owner closes it). */
  async disconnect(): Promise<void> {
    if (!this.owns) return;
    const store = await this.ready();
    store.close();
  }

  /** The view of namespace `name` of `store` (the store itself for none, or when it is a view). */
  private space(store: WasmapStore, name: string | undefined): WasmapStore {
    if (name === undefined || isView(store as BaseMap)) return store;
    let view = this.views.get(name);
    if (view === undefined) {
      view = (store as SharedMap).namespace(name, this.namespaceOptions);
      this.views.set(name, view);
    }
    return view;
  }

  private async run<T>(op: (store: WasmapStore) => T): Promise<T> {
    const store = this.target ?? await (this.making as Promise<WasmapStore>);
    try {
      return op(this.space(store, this.ns));
    } catch (error) {
      // A namespace another thread dropped: a later namespace(name) is a new,
      // empty one, as Keyv expects of a store.
      if (!(error instanceof MapError && error.code === 'ERR_NAMESPACE_DROPPED' && this.ns !== undefined)) throw error;
      this.views.delete(this.ns);
      return op(this.space(store, this.ns));
    }
  }
}

function checkOptions(options: unknown, givenMap: boolean): KeyvWasmapOptions {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new MapError('ERR_INVALID_OPTION', `KeyvWasmap takes a wasmap map, a namespace view or options, got ${describe(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key) || (givenMap && key !== 'namespaceOptions')) {
      throw new MapError('ERR_INVALID_OPTION', `KeyvWasmap has no option "${key}"${givenMap ? ' when given a map (only "namespaceOptions")' : ''}`);
    }
  }
  return options as KeyvWasmapOptions;
}

function checkValue(value: unknown): Value {
  if (typeof value === 'string' || value instanceof Uint8Array) return value;
  throw new MapError(
    'ERR_INVALID_VALUE',
    `the Keyv adapter stores strings and Uint8Arrays (what Keyv's serializer makes), got ${describe(value)}; keep Keyv's serialize option on`,
  );
}

function writeOptions(ttl: unknown): { ttl: number } | undefined {
  // Keyv passes no ttl, or 0, for an entry that does not expire.
  if (ttl === undefined || ttl === null || ttl === 0) return undefined;
  return { ttl: checkTtl(ttl, 'the Keyv ttl') };
}

/**
 * A Keyv over a new `KeyvWasmap(store)`, as `new Keyv(adapter, options)`
 * makes, with two differences:
 *
 * - `useKeyPrefix: false` (unless `options` says otherwise): the wasmap
 *   namespace already keeps each Keyv namespace's keys apart, so keys are
 *   stored as the user wrote them (`map.namespace('keyv').get('user:1')`
 *   reads what `keyv.set('user:1', ...)` wrote), as @keyv/redis's createKeyv
 *   does;
 * - `keyv.iterator()` works. Keyv 5 wires it only for a store whose
 *   `opts.dialect` (or `opts.url`) names one of the databases of its list;
 *   wasmap does not pretend to be one: this wires the adapter's iterator
 *   through Keyv's own `generateIterator`, the code that list would have
 *   enabled (expired entries skipped and deleted, keys unprefixed).
 */
export function createKeyv(
  store?: WasmapStore | KeyvWasmapOptions | KeyvWasmap,
  options?: Omit<KeyvOptions, 'store'>,
): Keyv {
  const adapter = store instanceof KeyvWasmap ? store : new KeyvWasmap(store);
  const keyv = new Keyv(adapter, { useKeyPrefix: false, ...options });
  if (typeof keyv.iterator !== 'function' && typeof keyv.generateIterator === 'function') {
    keyv.iterator = keyv.generateIterator(adapter.iterator.bind(adapter));
  }
  return keyv;
}
