// Builds the example plugins (examples/plugins/guest/), and the test-only
// ones (test/guests/: the hostile plugin), into WebAssembly components, from source, with no toolchain but npm's:
//   AssemblyScript core module (asc)
//   -> exports renamed where AssemblyScript cannot name them (interface exports)
//   -> `jco embed` the WIT world (examples/plugins/guest/plugin.wit, with
//      wit/ and wit/deps/keyvalue/ as its dependencies)
//   -> `jco new`: build/plugins/NAME.wasm
// Tests and examples load these with wasmap/wasi's loadComponent (which
// transpiles them with jco).
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { componentEmbed, componentNew } from '@bytecodealliance/jco';
import asc from 'assemblyscript/asc';

const root = new URL('../', import.meta.url);
const at = (path) => new URL(path, root).pathname;
const guestDir = 'examples/plugins/guest';
const outDir = at('build/plugins/');

const WATCHER = 'wasi:keyvalue/watcher@0.2.0-draft2';
const GUESTS = [
  { name: 'probe', world: 'plugin' },
  { name: 'watching', world: 'watching-plugin', rename: { onSet: `${WATCHER}#on-set`, onDelete: `${WATCHER}#on-delete` } },
  { name: 'visits', world: 'plugin' },
  { name: 'notes', world: 'plugin' },
  // Test-only: tries every way out of its namespace (test/wasi-hostile.test.ts).
  { name: 'hostile', world: 'plugin', dir: 'test/guests' },
];

// The WIT package of the plugins, with its dependencies where wit-parser looks.
const witDir = at('build/plugins/wit/');
rmSync(witDir, { recursive: true, force: true });
mkdirSync(`${witDir}deps/wasmap-keyvalue`, { recursive: true });
cpSync(at(`${guestDir}/plugin.wit`), `${witDir}plugin.wit`);
cpSync(at('wit/ttl.wit'), `${witDir}deps/wasmap-keyvalue/ttl.wit`);
cpSync(at('wit/deps/keyvalue'), `${witDir}deps/wasi-keyvalue`, { recursive: true });

// --- a core module's export names, rewritten (section 7 of the binary) -------

function readU32(bytes, pos) {
  let value = 0;
  let shift = 0;
  for (;;) {
    const b = bytes[pos++];
    value |= (b & 0x7f) << shift;
    if ((b & 0x80) === 0) return [value >>> 0, pos];
    shift += 7;
  }
}

function u32(value) {
  const out = [];
  do {
    let b = value & 0x7f;
    value >>>= 7;
    if (value !== 0) b |= 0x80;
    out.push(b);
  } while (value !== 0);
  return out;
}

function renameExports(bytes, rename) {
  const utf8 = new TextEncoder();
  const parts = [bytes.subarray(0, 8)]; // magic, version
  let pos = 8;
  const found = new Set();
  while (pos < bytes.length) {
    const id = bytes[pos];
    const [size, start] = readU32(bytes, pos + 1);
    const end = start + size;
    if (id !== 7) {
      parts.push(bytes.subarray(pos, end));
      pos = end;
      continue;
    }
    let [count, p] = readU32(bytes, start);
    const body = [...u32(count)];
    for (let i = 0; i < count; i++) {
      let len;
      [len, p] = readU32(bytes, p);
      const name = new TextDecoder().decode(bytes.subarray(p, p + len));
      p += len;
      const kind = bytes[p++];
      let index;
      [index, p] = readU32(bytes, p);
      const newName = rename[name] ?? name;
      if (newName !== name) found.add(name);
      const encoded = utf8.encode(newName);
      body.push(...u32(encoded.length), ...encoded, kind, ...u32(index));
    }
    parts.push(Uint8Array.of(7, ...u32(body.length), ...body));
    pos = end;
  }
  for (const name of Object.keys(rename)) {
    if (!found.has(name)) throw new Error(`export "${name}" to rename was not found`);
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

// --- build -----------------------------------------------------------------------

for (const guest of GUESTS) {
  const core = `${outDir}${guest.name}.core.wasm`;
  // In this process (one asc start-up for all); --config keeps asc away from
  // ./asconfig.json, which is the shared-memory core's.
  const source = `${guest.dir ?? guestDir}/${guest.name}.ts`;
  const { error, stderr } = await asc.main([
    source, '--config', `${guestDir}/asconfig.json`, '-o', core,
  ]);
  if (error) {
    console.error(stderr.toString());
    throw new Error(`asc failed on ${source}: ${error.message}`);
  }
  let bytes = new Uint8Array(readFileSync(core));
  if (guest.rename) bytes = renameExports(bytes, guest.rename);
  const embedded = await componentEmbed({ binary: bytes, witPath: witDir, world: guest.world });
  const component = await componentNew(embedded);
  writeFileSync(`${outDir}${guest.name}.wasm`, component);
  console.log(`build/plugins/${guest.name}.wasm: ${component.length} bytes (world ${guest.world})`);
}

// --- the JavaScript guest ----------------------------------------------------------
// examples/plugins/js-guest/probe.js -> componentize-js (StarlingMonkey, about
// 12 MB and 8 s to build), twice:
// - build/plugins/js-probe.wasm: every optional feature disabled, so it
//   imports the key-value interfaces only (StarlingMonkey would import 18
//   WASI interfaces by default);
// - build/plugins/js-probe-clock.wasm: clocks kept, so it also imports
//   wasi:clocks (and the wasi:io and wasi:cli/stderr interfaces they need),
//   which the host allows and implements itself (test/wasi-js-guest.test.ts).
// Each rebuilt only when its source or the WIT changed.
{
  const { statSync, existsSync } = await import('node:fs');
  const source = at('examples/plugins/js-guest/probe.js');
  const inputs = [source, at(`${guestDir}/plugin.wit`), at('wit/ttl.wit'), at('scripts/build-guest.mjs')];
  const variants = [
    { name: 'js-probe', disable: ['random', 'stdio', 'clocks', 'http', 'fetch-event'] },
    { name: 'js-probe-clock', disable: ['random', 'stdio', 'http', 'fetch-event'] },
  ];
  for (const v of variants) {
    const out = `${outDir}${v.name}.wasm`;
    const stale = !existsSync(out) || inputs.some((f) => statSync(f).mtimeMs > statSync(out).mtimeMs);
    if (stale) {
      const { componentize } = await import('@bytecodealliance/componentize-js');
      const { component } = await componentize({ sourcePath: source, witPath: witDir, worldName: 'plugin', disableFeatures: v.disable });
      writeFileSync(out, component);
    }
    console.log(`build/plugins/${v.name}.wasm: ${statSync(out).size} bytes (world plugin, JavaScript${stale ? '' : ', up to date'})`);
  }
}
