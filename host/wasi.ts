// wasmap/wasi: a wasmap namespace as the WASI key-value interface
// (wasi:keyvalue@0.2.0-draft2 + wasmap:keyvalue/ttl) for WebAssembly
// components run through jco.

// The import object of one component instance
export { keyValueImports, bucketKey, openResources, KeyValueError, KEY_VALUE_INTERFACES } from './wasi/imports.js';
export type { KeyValueImports, KeyValueNamespace, StoreError, CasError, Lifetime } from './wasi/imports.js';
export type { KeyValuePolicy } from './wasi/policy.js';

// Loading components
export { loadComponent, PluginComponent, PluginError } from './wasi/loader.js';
export type { LoadOptions, PluginHandle, PluginErrorCode } from './wasi/loader.js';
