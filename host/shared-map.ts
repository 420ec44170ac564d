// SharedMap: the map in a shared memory, attached to by every thread that
// holds its handle.
import { type CoreExports, NS_DEFAULT, NS_REGISTRY, instantiate } from './core.js';
import { BaseMap, type MapView, type ViewClass, isCore, newCore, openSession, tokenOf } from './base-map.js';
import { MapError } from './errors.js';
import { type ExportSource, restoreMap } from './export.js';
import { type AttachOptions, type SharedMapOptions, checkClock, checkReadCache, describe } from './options.js';
import type { Session } from './session.js';
import { hostThreadId } from './thread-id.js';

export type { Key, Value, MapView, MemoryUsage, NamespaceUsage } from './base-map.js';

/**
 * What another thread needs to attach to the same map. Structured-cloneable:
 * pass it with `postMessage` or `workerData`.
 */
export interface SharedMapHandle {
  readonly wasmap: 1;
  readonly memory: WebAssembly.Memory;
  readonly module: WebAssembly.Module;
  /** The secret that opens what the handle gives: the map itself, or one
   *  namespace. A handle works only as `map.handle` or `view.handle` made it. */
  readonly token: readonly number[];
  /** Set on a namespace view's handle: the namespace it opens, and nothing else. */
  readonly namespace?: { readonly tag: number; readonly name: string };
}

/**
 * One key-value map shared by every thread that attaches to it. All
 * operations are synchronous and atomic, and safe from any number of threads
 * at once. See the README for the guarantees.
 */
export class SharedMap extends BaseMap {
  /**
   * Creates a new, empty map in a new shared memory, attached to this thread.
   * Throws ERR_NO_SHARED_MEMORY where there is no shared memory (use LocalMap).
   */
  /**
   * A new map holding what `map.export()` wrote (docs/export.md): its
   * options (those given here win), entries, counters and expiries (absolute:
   * entries that expired since are left out). A stream that is not a whole
   * export is refused with `ERR_CORRUPT`, and nothing was made.
   */
  static restore(source: ExportSource, options?: SharedMapOptions): Promise<SharedMap> {
    return restoreMap(source, options, (o) => SharedMap.create(o));
  }

  static async create(options?: SharedMapOptions): Promise<SharedMap> {
    const readCache = checkReadCache(options?.readCache);
    const { memory, module, core, clock } = await newCore(options, 'shared');
    const map = await SharedMap.open(memory, module, core, clock);
    map.useReadCache(readCache);
    return map;
  }

  /**
   * Attaches this thread to the map behind `handle`, from `map.handle` in
   * another thread (gives the map) or from a namespace view's `view.handle`
   * (gives that namespace's view, and nothing else).
   */
  static async attach(handle: SharedMapHandle & { namespace: object }, options?: AttachOptions): Promise<MapView<SharedMap>>;
  static async attach(handle: SharedMapHandle, options?: AttachOptions): Promise<SharedMap>;
  static async attach(handle: SharedMapHandle, options?: AttachOptions): Promise<SharedMap | MapView<SharedMap>> {
    if (options !== undefined && (options === null || typeof options !== 'object')) {
      throw new MapError('ERR_INVALID_OPTION', `attach options must be an object, got ${describe(options)}`);
    }
    for (const name of Object.keys(options ?? {})) {
      if (name !== 'clock' && name !== 'readCache') throw new MapError('ERR_INVALID_OPTION', `unknown option "${name}"`);
    }
    const clock = checkClock(options?.clock);
    const readCache = checkReadCache(options?.readCache);
    const h = handle as Partial<SharedMapHandle> | null;
    if (
      h === null || typeof h !== 'object' || h.wasmap !== 1 ||
      typeof h.memory !== 'object' || typeof h.module !== 'object' ||
      !(h.memory instanceof WebAssembly.Memory) || !(h.module instanceof WebAssembly.Module)
    ) {
      throw new MapError('ERR_INVALID_HANDLE', `attach needs the handle of a wasmap map (map.handle), got ${describe(handle)}`);
    }
    const token = h.token;
    const scope = h.namespace;
    if (
      !Array.isArray(token) || token.length !== 4 || !token.every((w) => Number.isInteger(w) && w >= 0 && w <= 0xffffffff) ||
      (scope !== undefined && (
        scope === null || typeof scope !== 'object' || typeof scope.name !== 'string' ||
        !Number.isInteger(scope.tag) || scope.tag <= NS_REGISTRY || scope.tag > 0xffffffff
      ))
    ) {
      throw new MapError('ERR_INVALID_HANDLE', 'the handle is not one that map.handle or view.handle made (its token or namespace is missing or malformed)');
    }
    let core: CoreExports;
    try {
      core = instantiate(h.module, h.memory);
      if (!isCore(core)) throw new Error('its module is not wasmap\'s core');
    } catch (err) {
      throw new MapError('ERR_INVALID_HANDLE', `the handle's module and memory do not fit together: ${(err as Error).message}`);
    }
    const tag = scope?.tag ?? NS_DEFAULT;
    const s: Session = openSession(h.memory, h.module, core, await hostThreadId(), clock);
    // The token opens one namespace (or the map itself) and no other: a
    // view's handle with its namespace taken out, or another tag put in,
    // opens nothing.
    const have = tokenOf(h.memory, core, tag);
    const dropped = scope !== undefined && core.nsLive(tag) === 0;
    if (dropped || have.every((w) => w === 0) || have.some((w, k) => w !== token[k])) {
      core.detach();
      if (dropped) throw new MapError('ERR_NAMESPACE_DROPPED', `namespace "${scope.name}" was dropped`);
      throw new MapError('ERR_INVALID_HANDLE', 'the handle\'s token does not open this map: pass map.handle or view.handle as it was made');
    }
    const View = SharedMap as unknown as ViewClass<SharedMap>;
    if (scope === undefined) {
      const map = BaseMap.rootView(View, s);
      map.useReadCache(readCache);
      return map;
    }
    const view = BaseMap.namespaceView(View, s, tag, scope.name);
    if (view === undefined) {
      core.detach();
      throw new MapError('ERR_INVALID_HANDLE', 'the handle\'s namespace name is not its own: pass view.handle as it was made');
    }
    return view as unknown as MapView<SharedMap>;
  }

  private static async open(
    memory: WebAssembly.Memory, module: WebAssembly.Module, core: CoreExports, clock: () => number,
  ): Promise<SharedMap> {
    const s: Session = openSession(memory, module, core, await hostThreadId(), clock);
    return BaseMap.rootView(SharedMap as unknown as ViewClass<SharedMap>, s);
  }

  /**
   * Pass this to another thread and call `SharedMap.attach` there. The map's
   * handle opens the whole map; a namespace view's opens that namespace
   * only (a capability: give a tenant its view's handle, never the map's).
   */
  get handle(): SharedMapHandle {
    const core = this.live();
    const token = tokenOf(this.s.memory, core, this.tag);
    const { memory, module } = this.s;
    if (this.ns === undefined) return { wasmap: 1, memory, module, token };
    return { wasmap: 1, memory, module, token, namespace: { tag: this.tag, name: this.ns } };
  }

  /** The id this thread is known by in the map (see `releaseThread`). */
  get threadId(): number {
    return this.s.owner;
  }


  /**
   * Releases what a dead thread held in the map (its thread slot, scratch and
   * retired memory). Call it when a worker that attached has exited; see
   * `releaseOnExit`. Returns how many attachments were released.
   */
  releaseThread(threadId: number): number {
    this.rootOnly('releaseThread');
    const r = this.live().release(threadId);
    return r < 0 ? 0 : r;
  }

  /**
   * Calls `releaseThread` for a Node `Worker` when it exits, however it ends
   * (including `worker.terminate()` in the middle of an operation).
   */
  releaseOnExit(worker: { threadId: number; once(event: 'exit', cb: () => void): unknown }): void {
    this.rootOnly('releaseOnExit');
    const id = worker.threadId + 1; // see thread-id.ts
    worker.once('exit', () => {
      if (this.s.core !== null) this.releaseThread(id);
    });
  }
}
