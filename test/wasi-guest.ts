// Components built here from source for the plugin tests: a core module in
// WAT, its world in WIT, then jco embed + new, as the build does for the
// AssemblyScript guests.
import { componentEmbed, componentNew, parse } from '@bytecodealliance/jco';

/**
 * A guest of `world` (in `wit`) whose core module imports one function
 * `(param i32 i32) (result i32)` (`coreImport`: `"module" "name"`) and whose
 * exported `handle` calls it once with its input, then returns "".
 */
export async function oneCallGuest(wit: string, world: string, coreImport: string): Promise<Uint8Array> {
  const core = await parse(`(module
    (import ${coreImport} (func $f (param i32 i32) (result i32)))
    (memory (export "memory") 1)
    (global $top (mut i32) (i32.const 1024))
    (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
      (local $p i32)
      (local.set $p (global.get $top))
      (global.set $top (i32.add (global.get $top) (local.get 3)))
      (local.get $p))
    (func (export "handle") (param i32 i32) (result i32)
      (drop (call $f (local.get 0) (local.get 1)))
      (i32.store (i32.const 16) (i32.const 0))
      (i32.store (i32.const 20) (i32.const 0))
      (i32.const 16)))`);
  return componentNew(await componentEmbed({ binary: core, witSource: wit, world }));
}
