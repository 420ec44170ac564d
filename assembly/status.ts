// Status codes the core returns to the host: negative (>= 0 is a result).
// The host mirrors this list in host/core.ts; test/status.test.ts checks
// that the two agree.

export const ST_NOT_FOUND: i32 = -1;
export const ST_CAPACITY: i32 = -2;
export const ST_NOT_COUNTER: i32 = -3;
export const ST_OVERFLOW: i32 = -4;
export const ST_CONTENTION: i32 = -5;
export const ST_NOT_ATTACHED: i32 = -6;
export const ST_BAD_MEMORY: i32 = -7;
/** A namespace's quota (maxEntries or maxMemoryBytes) would be passed. */
export const ST_QUOTA: i32 = -8;
/** The namespace was dropped. */
export const ST_NS_DROPPED: i32 = -9;
/** scanKeys: one step's keys do not fit in an empty output. */
export const ST_SCAN_TOO_SMALL: i32 = -10;
