// SharedMap: the map in a shared memory, attached to by every thread that
// holds its handle.
import { type CoreExports, instantiate } from './core.js';
import { BaseMap, type ViewClass, isCore, newCore, openSession } from './base-map.js';
import { MapError } from './errors.js';
import { type AttachOptions, type SharedMapOptions, checkClock, describe } from './options.js';
import type { Session } from './session.js';
import { hostThreadId } from './thread-id.js';

export type { Key, Value, MemoryUsage, NamespaceUsage } from './base-map.js';

/**
 * What another thread needs to attach to the same map. Structured-cloneable:
 * pass it with `postMessage` or `workerData`.
 */
export interface SharedMapHandle {
  readonly wasmap: 1;
  readonly memory: WebAssembly.Memory;
  readonly module: WebAssembly.Module;
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
  static async create(options?: SharedMapOptions): Promise<SharedMap> {
    const { memory, module, core, clock } = await newCore(options, 'shared');
    return SharedMap.open(memory, module, core, clock);
  }

  /** Attaches this thread to the map behind `handle` (from `map.handle` in another thread). */
  static async attach(handle: SharedMapHandle, options?: AttachOptions): Promise<SharedMap> {
    if (options !== undefined && (options === null || typeof options !== 'object')) {
      throw new MapError('ERR_INVALID_OPTION', `attach options must be an object, got ${describe(options)}`);
    }
    for (const name of Object.keys(options ?? {})) {
      if (name !== 'clock') throw new MapError('ERR_INVALID_OPTION', `unknown option "${name}"`);
    }
    const clock = checkClock(options?.clock);
    const h = handle as Partial<SharedMapHandle> | null;
    if (
      h === null || typeof h !== 'object' || h.wasmap !== 1 ||
      typeof h.memory !== 'object' || typeof h.module !== 'object' ||
      !(h.memory instanceof WebAssembly.Memory) || !(h.module instanceof WebAssembly.Module)
    ) {
      throw new MapError('ERR_INVALID_HANDLE', `attach needs the handle of a wasmap map (map.handle), got ${describe(handle)}`);
    }
    let core: CoreExports;
    try {
      core = instantiate(h.module, h.memory);
      if (!isCore(core)) throw new Error('its module is not wasmap\'s core');
    } catch (err) {
      throw new MapError('ERR_INVALID_HANDLE', `the handle's module and memory do not fit together: ${(err as Error).message}`);
    }
    return SharedMap.open(h.memory, h.module, core, clock);
  }

  private static async open(
    memory: WebAssembly.Memory, module: WebAssembly.Module, core: CoreExports, clock: () => number,
  ): Promise<SharedMap> {
    const s: Session = openSession(memory, module, core, await hostThreadId(), clock);
    return BaseMap.rootView(SharedMap as unknown as ViewClass<SharedMap>, s);
  }

  /** Pass this to another thread and call `SharedMap.attach` there. */
  get handle(): SharedMapHandle {
    this.live();
    return { wasmap: 1, memory: this.s.memory, module: this.s.module };
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
    const r = this.live().release(threadId);
    return r < 0 ? 0 : r;
  }

  /**
   * Calls `releaseThread` for a Node `Worker` when it exits, however it ends
   * (including `worker.terminate()` in the middle of an operation).
   */
  releaseOnExit(worker: { threadId: number; once(event: 'exit', cb: () => void): unknown }): void {
    const id = worker.threadId + 1; // see thread-id.ts
    worker.once('exit', () => {
      if (this.s.core !== null) this.releaseThread(id);
    });
  }
}
