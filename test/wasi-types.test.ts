// A component built against another shape of a key-value function the host
// provides (or a function the host's interface lacks) is refused by
// loadComponent with ERR_IMPORT_TYPE, naming the function and both types,
// before any of it runs: it used to load, then fail on its first call with
// a raw TypeError from generated code and trap on the next.
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { PluginError, loadComponent } from '../dist/wasi.js';
import { HOST_SIGNATURES } from '../dist/wasi/host-signatures.js';
import { oneCallGuest } from './wasi-guest.js';
// @ts-expect-error: a plain JS script of the repository
import { hostSignatures } from '../scripts/wit-signatures.mjs';

/** A component whose world imports wasi:keyvalue/store as `storeBody` declares it; its handle calls `open`-like import `fn` once. */
async function guestWith(storeBody: string, fn: string): Promise<Uint8Array> {
  const wit = `package test:mismatch;
world guest {
  import wasi:keyvalue/store@0.2.0-draft2;
  export handle: func(input: string) -> string;
}
package wasi:keyvalue@0.2.0-draft2 {
  interface store {
    ${storeBody}
  }
}
`;
  return oneCallGuest(wit, 'guest', `"wasi:keyvalue/store@0.2.0-draft2" "${fn}"`);
}

describe('import types', () => {
  test('a function of another type under the host\'s name is ERR_IMPORT_TYPE, with both types', async () => {
    const bytes = await guestWith('open: func(identifier: string) -> u32;', 'open');
    const err = await loadComponent(bytes, { name: 'mismatched' }).catch((e) => e);
    expect(err).toBeInstanceOf(PluginError);
    expect(err.code).toBe('ERR_IMPORT_TYPE');
    expect(err.message).toContain('wasi:keyvalue/store@0.2.0-draft2#open as func(identifier: string) -> u32');
    expect(err.message).toContain(`the host provides ${HOST_SIGNATURES['wasi:keyvalue/store@0.2.0-draft2#open']}`);
  });

  test('a function the host\'s interface does not have is ERR_IMPORT_TYPE', async () => {
    const bytes = await guestWith('steal: func(identifier: string) -> u32;', 'steal');
    await expect(loadComponent(bytes)).rejects.toMatchObject({
      code: 'ERR_IMPORT_TYPE', message: expect.stringContaining('wasi:keyvalue/store@0.2.0-draft2#steal, which the host'),
    });
  });

  test('the guests built against wit/ load; the host\'s types are those of wit/ (scripts/wit-signatures.mjs)', async () => {
    for (const name of ['probe', 'visits', 'notes', 'watching', 'hostile']) {
      await expect(loadComponent(new URL(`../build/plugins/${name}.wasm`, import.meta.url), { name })).resolves.toBeDefined();
    }
    expect(await hostSignatures()).toEqual({ ...HOST_SIGNATURES });
  });

  test('a JavaScript guest built against another shape of get-many is refused too', async () => {
    // The WIT the example plugins build against, with get-many's result changed.
    const root = fileURLToPath(new URL('..', import.meta.url));
    mkdirSync(join(root, '.scratch'), { recursive: true });
    const dir = mkdtempSync(join(root, '.scratch', 'wit-'));
    cpSync(join(root, 'build/plugins/wit'), join(dir, 'wit'), { recursive: true });
    const batch = join(dir, 'wit/deps/wasi-keyvalue/batch.wit');
    writeFileSync(batch, readFileSync(batch, 'utf8').replace(
      'get-many: func(bucket: borrow<bucket>, keys: list<string>) -> result<list<option<tuple<string, list<u8>>>>, error>;',
      'get-many: func(bucket: borrow<bucket>, keys: list<string>) -> result<list<option<list<u8>>>, error>;',
    ));
    writeFileSync(join(dir, 'guest.js'), `import { open } from 'wasi:keyvalue/store@0.2.0-draft2';
import { getMany } from 'wasi:keyvalue/batch@0.2.0-draft2';
export function handle(input) { return String(getMany(open('default'), input.split(',')).length); }
`);
    const { componentize } = await import('@bytecodealliance/componentize-js');
    const { component } = await componentize({
      sourcePath: join(dir, 'guest.js'), witPath: join(dir, 'wit'), worldName: 'plugin',
      disableFeatures: ['random', 'stdio', 'clocks', 'http', 'fetch-event'],
    });
    const err = await loadComponent(component, { name: 'jsmismatch' }).catch((e) => e);
    expect(err).toMatchObject({ name: 'PluginError', code: 'ERR_IMPORT_TYPE' });
    expect(err.message).toContain('wasi:keyvalue/batch@0.2.0-draft2#get-many as func(bucket: borrow<bucket>, keys: list<string>) -> result<list<option<list<u8>>>');
  }, 120_000);
});
