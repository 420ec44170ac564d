// The core module: compiling it once, instantiating it over its memory,
// and the shape of its exports (see assembly/index.ts).
import { LOCAL_WASM_BASE64, WASM_BASE64 } from './wasm-bytes.js';

/** Exports of the core; pointers are byte offsets into the shared memory. */
export interface CoreExports {
  init(
    limit: number, seed: number, maxKey: number, maxValue: number, minCap: number, now: number, defaultTtl: number,
    maxEntries: number, eviction: number, shared: number,
  ): number;
  attach(owner: number, scratchBytes: number): number;
  detach(): void;
  scratch(size: number): number;
  release(owner: number): number;
  get(kp: number, kl: number, out: number, ocap: number, now: number): number;
  has(kp: number, kl: number, now: number): number;
  getEntry(kp: number, kl: number, out: number, ocap: number, now: number): number;
  readonly entryModRevision: WebAssembly.Global;
  readonly entryCreateRevision: WebAssembly.Global;
  readonly entryVersion: WebAssembly.Global;
  readonly entryExpiresAt: WebAssembly.Global;
  revision(): number;
  writtenRevision(): number;
  expectRevision(rev: number): void;
  commit(p: number, count: number, now: number): number;
  cacheSlot(): number;
  cacheEntry(): number;
  cacheRev(): number;
  addHits(n: number): void;
  getMany(p: number, count: number, out: number, ocap: number, now: number): number;
  pendingValue(): number;
  endPending(): void;
  write(
    mode: number, kp: number, kl: number, vp: number, vl: number, vkind: number,
    ep: number, el: number, ekind: number, out: number, ocap: number, now: number, expires: number,
  ): number;
  set(kp: number, kl: number, vp: number, vl: number, vkind: number, now: number, expires: number): number;
  prepareWrite(kp: number, kl: number, vl: number, vkind: number, now: number, expires: number): number;
  writePrepared(mode: number, kp: number, kl: number, ep: number, el: number, ekind: number, out: number, ocap: number): number;
  dropPrepared(): void;
  increment(kp: number, kl: number, delta: number, now: number, expires: number): number;
  retime(kp: number, kl: number, now: number, expires: number): number;
  expiresAt(kp: number, kl: number, now: number): number;
  purge(now: number): number;
  lastStatus(): number;
  capacityCause(): number;
  entryLimit(): number;
  memoryFree(): number;
  memoryUsableFor(keyBytes: number, valueBytes: number, timed: number): number;
  size(): number;
  clear(tag: number, now: number): void;
  nsNew(maxEntries: number, maxBytes: number, maxKey: number, maxValue: number, defaultTtl: number): number;
  nsDrop(tag: number): number;
  nsInfo(tag: number, out: number): void;
  nsLive(tag: number): number;
  flightWordAddress(): number;
  ownerAttached(owner: number): number;
  nsTokenAddress(tag: number): number;
  nsSize(tag: number, now: number): number;
  statsInto(out: number): void;
  memoryUsed(): number;
  memoryLimit(): number;
  ttlFlagAddress(): number;
  maxKeyBytes(): number;
  maxValueBytes(): number;
  threadIndex(): number;
  layout(i: number): number;
  scan(tag: number, cursor: number, out: number, ocap: number, maxSteps: number, now: number): number;
  verify(): number;
  injectFault(n: number, atDefrag: number): void;
  injectHold(n: number, spins: number, mode: number): void;
  holdWord(): number;
  recover(): void;
}

// Statuses (assembly/map.ts ST_*) and write results (R_*).
export const ST_NOT_FOUND = -1;
export const ST_CAPACITY = -2;
export const ST_NOT_COUNTER = -3;
export const ST_OVERFLOW = -4;
export const ST_CONTENTION = -5;
export const ST_NOT_ATTACHED = -6;
export const ST_BAD_MEMORY = -7;
export const ST_QUOTA = -8;
export const ST_NS_DROPPED = -9;
export const ST_SCAN_TOO_SMALL = -10;
export const R_DONE = -100;
export const R_REFUSED = -101;

/** Namespace tags the core creates (assembly/ns.ts). */
export const NS_DEFAULT = 0;
export const NS_REGISTRY = 1;

// Value kinds (assembly/layout.ts KIND_*) and write modes (map.ts MODE_*).
export const KIND_STRING = 1;
export const KIND_BYTES = 2;
export const KIND_COUNTER = 3;
/** An output's kind for a string value whose bytes are all ASCII (map.ts OUT_ASCII). */
export const OUT_ASCII = 7;
export const MODE_SET = 0;
export const MODE_SWAP = 1;
export const MODE_GET_OR_SET = 2;
export const MODE_CAS = 3;
export const MODE_DELETE = 4;
export const MODE_GET_AND_DELETE = 5;
export const MODE_CAD = 6;

/** Pages the module declares as its memory's minimum and maximum. */
export const MODULE_MIN_PAGES = 1;
export const MODULE_MAX_PAGES = 65536;

/** The two builds of the core: over a shared memory, or a memory of one instance. */
export type CoreKind = 'shared' | 'local';

const compiled: { [kind in CoreKind]?: Promise<WebAssembly.Module> } = {};

function decodeBase64(text: string): Uint8Array {
  const g = globalThis as { Buffer?: { from(s: string, enc: string): Uint8Array } };
  if (g.Buffer) return new Uint8Array(g.Buffer.from(text, 'base64'));
  const bin = atob(text);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return bytes;
}

/** The core module, compiled once per thread that creates maps. */
export function coreModule(kind: CoreKind): Promise<WebAssembly.Module> {
  compiled[kind] ??= WebAssembly.compile(decodeBase64(kind === 'shared' ? WASM_BASE64 : LOCAL_WASM_BASE64) as BufferSource);
  return compiled[kind];
}

export function instantiate(module: WebAssembly.Module, memory: WebAssembly.Memory): CoreExports {
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  return instance.exports as unknown as CoreExports;
}
