// wasmap: one key-value map shared by every thread.

// The map
export { SharedMap } from './shared-map.js';
export type { Key, Value, SharedMapHandle, MemoryUsage, NamespaceUsage } from './shared-map.js';

// Statistics
export type { MapStats } from './metrics.js';

// Options
export type { SharedMapOptions, NamespaceOptions, AttachOptions, WriteOptions } from './options.js';

// Errors
export { MapError } from './errors.js';
export type { MapErrorCode } from './errors.js';
