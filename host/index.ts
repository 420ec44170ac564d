// wasmap: one key-value map shared by every thread.

// The maps
export { SharedMap } from './shared-map.js';
export type { SharedMapHandle } from './shared-map.js';
export { LocalMap } from './local-map.js';
export type {
  BaseMap, EntryInfo, EntrySize, Key, Value, MapView, MemoryUsage, NamespaceUsage, ScanPage, UpdateOptions,
} from './base-map.js';

// Atomic commits
export { AtomicOperation, ATOMIC_MAX_BYTES, ATOMIC_MAX_KEYS } from './atomic.js';
export type { AtomicResult } from './atomic.js';

// Export and restore
export { EXPORT_VERSION } from './export.js';
export type { ExportHeader, ExportSource } from './export.js';

// Statistics
export type { MapStats } from './metrics.js';

// Options
export type { SharedMapOptions, NamespaceOptions, AttachOptions, WriteOptions, ComputeOptions } from './options.js';

// Errors
export { MapError } from './errors.js';
export type { MapErrorCode } from './errors.js';
