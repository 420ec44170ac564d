// LocalMap: the same map in one instance's own memory, for where shared
// memory is unavailable (a page that is not cross-origin isolated, a runtime
// without SharedArrayBuffer) or not needed.
import { BaseMap, type ViewClass, newCore, openSession } from './base-map.js';
import { type ExportSource, restoreMap } from './export.js';
import type { SharedMapOptions } from './options.js';

/** The id of the one thread of a LocalMap. */
const LOCAL_OWNER = 1;

/**
 * A map of this thread only, with the same operations, errors, TTL,
 * namespaces, eviction and statistics as a SharedMap, from a build of the
 * same core over a memory that is not shared. Its memory starts at one page
 * and grows, up to `maxMemoryBytes`, as entries need it. It has no handle:
 * no other thread can attach.
 */
export class LocalMap extends BaseMap {
  /** Creates a new, empty map. `options.module` is a compiled `wasmap/wasmap-local.wasm`. */
  /** A new map holding what `map.export()` wrote (see SharedMap.restore). */
  static restore(source: ExportSource, options?: SharedMapOptions): Promise<LocalMap> {
    return restoreMap(source, options, (o) => LocalMap.create(o));
  }

  static async create(options?: SharedMapOptions): Promise<LocalMap> {
    const { memory, module, core, clock } = await newCore(options, 'local');
    return BaseMap.rootView(LocalMap as unknown as ViewClass<LocalMap>, openSession(memory, module, core, LOCAL_OWNER, clock));
  }
}
