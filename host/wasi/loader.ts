// loadComponent: a WebAssembly component, transpiled with jco once, checked
// against an allow-list of imports before anything of it runs, its core
// modules compiled once; then as many instances as wanted, each with its own
// import object, in this thread or (through `handle`) in workers.
import { DISPOSE, type KeyValueImports, KEY_VALUE_INTERFACES, WATCHER, contextOf } from './imports.js';
import { describe } from './policy.js';
import { bind, rebind } from './bindings.js';
import { HOST_SIGNATURES } from './host-signatures.js';
import { componentHead, importSignatures } from './signatures.js';

/** Failures of loading or instantiating a component. */
export type PluginErrorCode =
  /** The component imports an interface or function outside the allow-list. */
  | 'ERR_FORBIDDEN_IMPORT'
  /**
   * It imports a function of the key-value interfaces with a type other than
   * the host's (built against another shape of it), or one they do not
   * have; the message names the function and both types.
   */
  | 'ERR_IMPORT_TYPE'
  /** Not a component jco can transpile (or a bad handle). */
  | 'ERR_INVALID_COMPONENT'
  /** `@bytecodealliance/jco` is not installed (it transpiles components). */
  | 'ERR_NO_JCO'
  /** A bad option; the message names it. */
  | 'ERR_INVALID_OPTION'
  /**
   * The instance trapped (the guest's own trap, or one the canonical ABI
   * requires of what it passed: a string that is not UTF-8, a bad handle or
   * pointer). Its resources are released at once; every later call into it
   * fails so too. Instantiate a new one: the map keeps what every finished
   * operation wrote.
   */
  | 'ERR_GUEST_TRAP';

export class PluginError extends Error {
  readonly code: PluginErrorCode;

  constructor(code: PluginErrorCode, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'PluginError';
    this.code = code;
  }
}

export interface LoadOptions {
  /**
   * Interfaces the component may import, by versioned name
   * (`wasi:keyvalue/store@0.2.0-draft2`). A component that imports anything
   * else (another interface, another version, a bare function) is refused
   * with ERR_FORBIDDEN_IMPORT before any of its code is compiled. Whatever
   * is allowed beyond the key-value interfaces, pass its implementation to
   * `instantiate` too.
   * @default KEY_VALUE_INTERFACES (store, atomics, batch, ttl)
   */
  allow?: readonly string[];
  /** A name for messages and jco's file names. @default 'plugin' */
  name?: string;
  /**
   * Whose bindings carry the hot key-value calls (bucket get, set, delete,
   * exists, atomics increment, ttl set-with-ttl, batch set-many): this package's own
   * (`'wasmap'`, about ten times faster; see docs/plugins.md), or jco's
   * generated ones for every call (`'jco'`).
   * @default 'wasmap'
   */
  bindings?: 'wasmap' | 'jco';
}

/** A loaded component in a form `postMessage` can carry (`component.handle`). */
export interface PluginHandle {
  readonly wasmapPlugin: 1;
  readonly name: string;
  /** jco's JS for the component (`--instantiation async`). */
  readonly js: string;
  /** Its core modules, compiled. */
  readonly modules: Record<string, WebAssembly.Module>;
  readonly imports: readonly string[];
  readonly exports: readonly string[];
  readonly bindings?: 'wasmap' | 'jco';
}

type Instantiate = (
  getCoreModule: (name: string) => WebAssembly.Module,
  imports: Record<string, unknown>,
  instantiateCore: (module: WebAssembly.Module, imports?: WebAssembly.Imports) => WebAssembly.Instance,
) => Record<string, unknown>;

/**
 * jco's module (`--instantiation async`, no WASI shims) as a function: it
 * imports nothing, exports `instantiate` (and `_util`), and reads
 * `import.meta.url` only to find core modules when no getCoreModule is given
 * (we always give one). Evaluated with `new Function` rather than imported
 * from a data: URL, so it loads the same under test runners and bundlers that
 * rewrite `import()` (vitest) and wherever data: imports are not allowed.
 */
function evaluateJs(js: string, bindings: 'wasmap' | 'jco'): { instantiate: Instantiate; bound: string[] } {
  if (/^import\b/m.test(js)) {
    throw new PluginError('ERR_INVALID_COMPONENT', 'jco\'s output imports modules (is a WASI shim mapped?)');
  }
  const rebound = bindings === 'wasmap' ? rebind(js) : { js, bound: [] };
  const body = rebound.js
    .replace(/^export (function|const|let|class) /gm, '$1 ')
    .replace(/\bimport\.meta\.url\b/g, '"about:blank"')
    // jco 1.35's _debugLog reads process.env.JCO_DEBUG on every call (a
    // getenv in Node), several times per import call: over a third of a
    // guest's key-value call. Read it once instead.
    .replaceAll('if (!globalThis?.process?.env?.JCO_DEBUG) { return; }', 'if (!JCO_DEBUG) { return; }')
    // Strings cross exactly or not at all: jco decodes a guest's strings
    // replacing bytes that are not UTF-8 with U+FFFD (two keys then name
    // one entry) and dropping a leading BOM (so do "\uFEFFa" and "a").
    // The canonical ABI traps on such a string instead.
    .replace(/\bnew TextDecoder\(\)/g, '__wasmapStrict(\'utf-8\')')
    .replace(/\bnew TextDecoder\('utf-16'\)/g, '__wasmapStrict(\'utf-16le\')');
  const mod = new Function(
    '__wasmapBind',
    '__wasmapStrict',
    `const JCO_DEBUG = globalThis?.process?.env?.JCO_DEBUG;\n${body}\nreturn { instantiate };`,
  )(bind, strictDecoder) as { instantiate?: unknown };
  if (typeof mod.instantiate !== 'function') {
    throw new PluginError('ERR_INVALID_COMPONENT', 'jco\'s output has no instantiate function');
  }
  return { instantiate: mod.instantiate as Instantiate, bound: rebound.bound };
}

/**
 * A decoder of the strings a guest passes that traps (a WebAssembly
 * RuntimeError, which the loader turns into ERR_GUEST_TRAP) on bytes that
 * are not of the encoding, and keeps a leading BOM as the character it is.
 */
function strictDecoder(encoding: string): { decode(bytes: AllowSharedBufferSource): string } {
  const decoder = new TextDecoder(encoding, { fatal: true, ignoreBOM: true });
  return {
    decode(bytes) {
      try {
        return decoder.decode(bytes);
      } catch {
        throw new WebAssembly.RuntimeError(`a string passed across the component boundary is not valid ${encoding.toUpperCase()} (the canonical ABI traps)`);
      }
    },
  };
}

/**
 * The interfaces (and bare functions) the component's world imports, read
 * from its WIT as wasm-tools prints it: `import ns:pkg/iface@version;`, or `import name: func(...)` / `interface {`
 * at the top level of `world root { ... }`.
 */
export function worldImports(wit: string): string[] {
  const world = /^world root \{\n([\s\S]*?)^\}/m.exec(wit);
  if (world === null) throw new PluginError('ERR_INVALID_COMPONENT', 'the component\'s WIT has no root world');
  const names: string[] = [];
  for (const m of world[1].matchAll(/^ {2}import (\S+?)(?:;|:\s)/gm)) names.push(m[1]);
  return names;
}

async function readSource(source: unknown): Promise<Uint8Array> {
  if (source instanceof Uint8Array) return source;
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  if (typeof source === 'string' || source instanceof URL) {
    const { readFile } = await import('node:fs/promises');
    return new Uint8Array(await readFile(source));
  }
  throw new PluginError('ERR_INVALID_OPTION', `loadComponent needs the component's bytes or its path, got ${describe(source)}`);
}

interface Jco {
  transpile(bytes: Uint8Array, opts: Record<string, unknown>): Promise<{
    files: Record<string, Uint8Array>;
    imports: string[];
    exports: [string, string][];
  }>;
  componentWit(bytes: Uint8Array): Promise<string>;
  print(bytes: Uint8Array): Promise<string>;
}

async function loadJco(): Promise<Jco> {
  try {
    return (await import('@bytecodealliance/jco')) as unknown as Jco;
  } catch (err) {
    throw new PluginError(
      'ERR_NO_JCO',
      `loading a component needs @bytecodealliance/jco (npm i -D @bytecodealliance/jco): ${(err as Error).message}`,
    );
  }
}

/** A signature without its parameters' names (not part of the type the ABI checks). */
const shape = (sig: string) => sig.replace(/(\(|, )[a-z][a-z0-9-]*: /g, '$1');

/**
 * Refuses (ERR_IMPORT_TYPE) a component that imports a function of the
 * key-value interfaces with another type than the host's, or one they do
 * not have: else it would load, then fail on its first call inside jco's
 * generated bindings (a raw TypeError) and trap on the next.
 */
function checkTypes(name: string, componentText: string): void {
  for (const [fn, theirs] of importSignatures(componentText)) {
    const iface = fn.slice(0, fn.indexOf('#'));
    if (!KEY_VALUE_INTERFACES.includes(iface)) continue;
    const ours = HOST_SIGNATURES[fn];
    if (ours === undefined) {
      throw new PluginError('ERR_IMPORT_TYPE', `${name} imports ${fn}, which the host's ${iface} does not have`);
    }
    if (shape(ours) !== shape(theirs)) {
      throw new PluginError('ERR_IMPORT_TYPE', `${name} imports ${fn} as ${theirs}; the host provides ${ours}`);
    }
  }
}

/** Adds the unversioned name of every versioned interface key (jco issue 708). */
function withUnversioned(imports: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...imports };
  for (const name of Object.keys(imports)) {
    const at = name.indexOf('@');
    if (at > 0 && !(name.slice(0, at) in out)) out[name.slice(0, at)] = imports[name];
  }
  return out;
}

type Fn = (...args: unknown[]) => unknown;

/** Core modules up to this size are compiled synchronously. */
const SYNC_COMPILE_BYTES = 1 << 20;

/** A component, compiled, ready to instantiate any number of times. */
export class PluginComponent {
  readonly name: string;
  /** The versioned interfaces (and bare functions) it imports. */
  readonly imports: readonly string[];
  /** Its exports (functions and interface instances), by jco's names. */
  readonly exports: readonly string[];
  /**
   * The imported functions this package's own bindings carry (`interface#function`
   * in jco's spelling); jco's bindings carry the rest. Empty with `bindings: 'jco'`.
   */
  readonly bound: readonly string[];
  private readonly bindings: 'wasmap' | 'jco';
  private readonly js: string;
  private readonly modules: Map<string, WebAssembly.Module>;
  private readonly instantiateJs: Instantiate;

  private constructor(
    name: string, js: string, modules: Map<string, WebAssembly.Module>, bindings: 'wasmap' | 'jco',
    imports: readonly string[], exports: readonly string[],
  ) {
    this.name = name;
    this.js = js;
    this.modules = modules;
    this.bindings = bindings;
    const { instantiate, bound } = evaluateJs(js, bindings);
    this.instantiateJs = instantiate;
    this.bound = Object.freeze(bound);
    this.imports = Object.freeze([...imports]);
    this.exports = Object.freeze([...exports]);
  }

  /** See loadComponent. */
  static async load(source: Uint8Array | ArrayBuffer | string | URL, options?: LoadOptions): Promise<PluginComponent> {
    if (options !== undefined && (options === null || typeof options !== 'object')) {
      throw new PluginError('ERR_INVALID_OPTION', `load options must be an object, got ${describe(options)}`);
    }
    for (const key of Object.keys(options ?? {})) {
      if (key !== 'allow' && key !== 'name' && key !== 'bindings') throw new PluginError('ERR_INVALID_OPTION', `unknown load option "${key}"`);
    }
    const name = options?.name ?? 'plugin';
    if (typeof name !== 'string' || !/^[A-Za-z_][\w-]*$/.test(name)) {
      throw new PluginError('ERR_INVALID_OPTION', `option "name" must be a plain identifier, got ${describe(name)}`);
    }
    const bindings = options?.bindings ?? 'wasmap';
    if (bindings !== 'wasmap' && bindings !== 'jco') {
      throw new PluginError('ERR_INVALID_OPTION', `option "bindings" must be 'wasmap' or 'jco', got ${describe(bindings)}`);
    }
    const allow = options?.allow ?? KEY_VALUE_INTERFACES;
    if (!Array.isArray(allow) || allow.some((a) => typeof a !== 'string')) {
      throw new PluginError('ERR_INVALID_OPTION', `option "allow" must be an array of interface names, got ${describe(allow)}`);
    }
    const bytes = await readSource(source);
    const jco = await loadJco();

    // 1. What it imports, before anything of it is compiled or run.
    let wit: string;
    try {
      wit = await jco.componentWit(bytes);
    } catch (err) {
      throw new PluginError('ERR_INVALID_COMPONENT', `${name} is not a WebAssembly component: ${(err as Error).message ?? err}`);
    }
    const imports = worldImports(wit);
    const forbidden = imports.filter((i) => !allow.includes(i));
    if (forbidden.length > 0) {
      throw new PluginError(
        'ERR_FORBIDDEN_IMPORT',
        `${name} imports ${forbidden.join(', ')}, outside the allowed ${allow.join(', ') || '(nothing)'}; it was not instantiated`,
      );
    }

    // 2. The types of the key-value functions it imports, against the host's.
    if (imports.some((i) => KEY_VALUE_INTERFACES.includes(i))) checkTypes(name, await jco.print(componentHead(bytes)));

    // 3. Transpiled and compiled once.
    let out: Awaited<ReturnType<Jco['transpile']>>;
    try {
      out = await jco.transpile(bytes, { name, instantiation: 'async', noTypescript: true, quiet: true });
    } catch (err) {
      throw new PluginError('ERR_INVALID_COMPONENT', `jco cannot transpile ${name}: ${(err as Error).message ?? err}`);
    }
    const modules = new Map<string, WebAssembly.Module>();
    for (const [file, data] of Object.entries(out.files)) {
      if (!file.endsWith('.wasm')) continue;
      // Plugin-sized modules compile at once on this thread; an async compile
      // can wait behind V8's background queue (still busy with jco's own
      // large modules) for over a second.
      modules.set(
        file,
        data.length <= SYNC_COMPILE_BYTES ? new WebAssembly.Module(data as BufferSource) : await WebAssembly.compile(data as BufferSource),
      );
    }
    const js = new TextDecoder().decode(out.files[`${name}.js`]);
    const exports = out.exports.map(([e]) => e);
    return new PluginComponent(name, js, modules, bindings, imports, exports);
  }

  /** Rebuilds a component from `component.handle` (in a worker): nothing is transpiled or compiled again. */
  static async fromHandle(handle: PluginHandle): Promise<PluginComponent> {
    const h = handle as Partial<PluginHandle> | null;
    if (h === null || typeof h !== 'object' || h.wasmapPlugin !== 1 || typeof h.js !== 'string' || typeof h.modules !== 'object') {
      throw new PluginError('ERR_INVALID_COMPONENT', `fromHandle needs a component's handle (component.handle), got ${describe(handle)}`);
    }
    const modules = new Map(Object.entries(h.modules as Record<string, WebAssembly.Module>));
    const bindings = h.bindings === 'jco' ? 'jco' : 'wasmap';
    return new PluginComponent(h.name ?? 'plugin', h.js, modules, bindings, h.imports ?? [], h.exports ?? []);
  }

  /** Structured-cloneable: pass it to a worker and call `PluginComponent.fromHandle` there. */
  get handle(): PluginHandle {
    return {
      wasmapPlugin: 1, name: this.name, js: this.js, modules: Object.fromEntries(this.modules),
      imports: this.imports, exports: this.exports, bindings: this.bindings,
    };
  }

  /**
   * A new instance, synchronously, with `imports` (from keyValueImports: a
   * fresh one per instance) and, for anything else the allow-list let in,
   * `more` implementations. Returns its exports as jco lifts them.
   *
   * If the component exports `wasi:keyvalue/watcher`, the changes it makes
   * through its key-value imports are delivered to its `on-set`/`on-delete`
   * right after each call into it returns (never from inside the call, which
   * would trap), in order. Writes a watcher makes while being told are not
   * delivered back to it; a watcher that keeps the buckets it is lent is no
   * longer told once it holds the policy's maxOpenResources.
   *
   * A trap ends the instance (PluginError ERR_GUEST_TRAP, its resources
   * released); so does `instance[Symbol.dispose]()` (or `using`), which
   * releases the handles a guest never dropped.
   */
  instantiate(imports: KeyValueImports, more?: Record<string, Record<string, unknown>>): Record<string, unknown> {
    const all = withUnversioned({ ...more, ...imports });
    let exports: Record<string, unknown>;
    try {
      exports = this.instantiateJs(
        (file) => {
          const m = this.modules.get(file);
          if (m === undefined) throw new PluginError('ERR_INVALID_COMPONENT', `${this.name} has no core module ${file}`);
          return m;
        },
        all,
        (module, imp) => new WebAssembly.Instance(module, imp),
      );
    } catch (err) {
      if (err instanceof PluginError) throw err;
      throw new PluginError('ERR_INVALID_COMPONENT', `${this.name} could not be instantiated: ${(err as Error).message ?? err}`);
    }
    if (typeof (exports as { then?: unknown }).then === 'function') {
      throw new PluginError('ERR_INVALID_COMPONENT', `${this.name} needs an asynchronous instantiation`);
    }
    const ctx = contextOf(imports);
    const watcher = (exports.watcher ?? exports[WATCHER]) as Record<string, Fn> | undefined;
    if (ctx !== undefined && watcher !== undefined) exports = watched(exports, watcher, ctx);
    return guarded(exports, watcher, this.name, ctx);
  }
}

/** An exception a guest call ended with that is its `err` result (jco's ComponentError), not a trap. */
const isErrResult = (err: unknown) => err !== null && typeof err === 'object' && 'payload' in err;

/**
 * Wraps every export but the watcher: a trap ends the instance. The first
 * one is thrown as ERR_GUEST_TRAP with the guest's message (its cause the
 * original error) and releases what the instance held through its key-value
 * imports; every later call fails so without entering the instance.
 */
function guarded(
  exports: Record<string, unknown>, watcher: unknown, name: string, ctx: ReturnType<typeof contextOf>,
): Record<string, unknown> {
  let trapped: string | null = null;
  const wrap = (f: Fn): Fn => (...args) => {
    if (trapped !== null) {
      throw new PluginError('ERR_GUEST_TRAP', `${name} trapped earlier (${trapped}); instantiate a new instance`);
    }
    try {
      return f(...args);
    } catch (err) {
      if (isErrResult(err)) throw err;
      trapped = (err as Error)?.message ?? String(err);
      ctx?.releaseAll();
      throw new PluginError('ERR_GUEST_TRAP', `${name} trapped: ${trapped}`, err);
    }
  };
  const out = mapExports(exports, watcher, wrap);
  // Ending an instance the host is done with (a guest that forgot to drop
  // its handles holds them until then): `using` or a call; later calls fail
  // with ERR_GUEST_TRAP. An instance dropped without it releases them when
  // it is collected.
  const end = () => {
    if (trapped === null) trapped = 'it was ended by the host';
    ctx?.releaseAll();
  };
  Object.defineProperty(out, DISPOSE, { value: end, enumerable: false });
  if (ctx !== undefined) finalizers.register(out, ctx);
  return out;
}

const finalizers = new FinalizationRegistry<NonNullable<ReturnType<typeof contextOf>>>((ctx) => ctx.releaseAll());

/** Wraps every export but the watcher so that recorded changes reach it after each call. */
function watched(
  exports: Record<string, unknown>, watcher: Record<string, Fn>, ctx: NonNullable<ReturnType<typeof contextOf>>,
): Record<string, unknown> {
  ctx.events = [];
  const deliver = () => {
    const events = ctx.events;
    if (events === null || events.length === 0) return;
    ctx.events = null; // a watcher's own writes are not delivered back to it
    try {
      for (const e of events) {
        // A watcher that keeps the buckets it is lent stops being told at
        // maxOpenResources (each is host memory until it drops it).
        if (ctx.buckets + ctx.cas >= ctx.policy.maxOpenResources) break;
        const bucket = new ctx.Bucket(ctx, e.bucket); // owned by the guest from here: it drops it
        if (e.value === undefined) watcher.onDelete(bucket, e.key);
        else watcher.onSet(bucket, e.key, e.value);
      }
    } finally {
      ctx.events = [];
    }
  };
  const wrap = (f: Fn): Fn => (...args) => {
    let result: unknown;
    try {
      result = f(...args);
    } catch (err) {
      // An `err` result (jco's ComponentError, with a payload) left the
      // instance usable: its changes are still told. A trap did not.
      if (isErrResult(err)) deliver();
      else ctx.events = [];
      throw err;
    }
    deliver();
    return result;
  };
  return mapExports(exports, watcher, wrap);
}

/** The exports with every function (also those of interface objects) but the watcher's wrapped. */
function mapExports(exports: Record<string, unknown>, watcher: unknown, wrap: (f: Fn) => Fn): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(exports)) {
    if (value === watcher) out[name] = value;
    else if (typeof value === 'function') out[name] = wrap(value as Fn);
    else if (value !== null && typeof value === 'object') {
      out[name] = Object.fromEntries(
        Object.entries(value).map(([k, v]) => [k, typeof v === 'function' ? wrap(v as Fn) : v]),
      );
    } else out[name] = value;
  }
  return out;
}

/**
 * Loads a component (its bytes, or a path to them) with jco: refuses it with
 * ERR_FORBIDDEN_IMPORT if it imports anything outside `options.allow`
 * (before any of it is compiled), transpiles it, compiles its core modules
 * once. Then `component.instantiate(keyValueImports(ns, policy))` as many
 * times as wanted; `component.handle` carries it to workers.
 */
export function loadComponent(source: Uint8Array | ArrayBuffer | string | URL, options?: LoadOptions): Promise<PluginComponent> {
  return PluginComponent.load(source, options);
}
