// Serves a Worker (an ES module that imports the package) under workerd, the
// open-source Workers runtime (devDependency `workerd`, a real binary).
//
// workerd compiles no WebAssembly from bytes, so the core comes in as a Wasm
// module of the config, and every file of the package is a module of its own,
// named as the package's "exports" lay it out (what a bundler such as wrangler
// resolves):
//
//   wasmap               export * from "wasmap/dist/index.js"
//   wasmap/dist/*.js     the host (tsc's output)
//   wasmap/wasmap.wasm   build/wasmap.wasm, a compiled module
//
// so the Worker writes `import { SharedMap } from 'wasmap'` and
// `import wasm from 'wasmap/wasmap.wasm'`, as a user would. The config is
// generated (the host's files are listed from dist/) into a temporary folder;
// the socket binds 127.0.0.1 port 0, and workerd reports the port it got on
// its control descriptor.
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
export const WORKERD = join(ROOT, 'node_modules', '.bin', 'workerd');

const text = (s) => JSON.stringify(s); // a Cap'n Proto text literal has JSON's escapes

/**
 * The config: one service running `main` (a file; module name = its file
 * name), with `siblings` (files next to it it imports by './name'), the
 * package's modules and the given compatibility date and flags.
 */
export async function workerdConfig(dir, { main, siblings = [], compatibilityDate, compatibilityFlags = [] }) {
  const embed = (file) => `embed ${text(relative(dir, file))}`;
  const dist = (await readdir(join(ROOT, 'dist'))).filter((f) => f.endsWith('.js')).sort();
  if (!dist.includes('index.js')) throw new Error('dist/index.js is missing: run `npm run build` first');
  const modules = [
    `(name = ${text(basename(main))}, esModule = ${embed(main)})`,
    ...siblings.map((f) => `(name = ${text(f)}, esModule = ${embed(join(dirname(main), f))})`),
    `(name = "wasmap", esModule = ${text('export * from "wasmap/dist/index.js";\n')})`,
    ...dist.map((f) => `(name = ${text(`wasmap/dist/${f}`)}, esModule = ${embed(join(ROOT, 'dist', f))})`),
    `(name = "wasmap/wasmap.wasm", wasm = ${embed(join(ROOT, 'build', 'wasmap.wasm'))})`,
  ];
  return `using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [ (name = "main", worker = .worker) ],
  sockets = [ (name = "http", address = "127.0.0.1:0", http = (), service = "main") ],
);

const worker :Workerd.Worker = (
  modules = [
    ${modules.join(',\n    ')}
  ],
  compatibilityDate = ${text(compatibilityDate)},
  compatibilityFlags = [${compatibilityFlags.map(text).join(', ')}],
);
`;
}

/**
 * Starts `workerd serve` with that config. Resolves once it listens, with its
 * base URL and `stop()`; rejects (with workerd's stderr) if it exits or does
 * not listen within `startTimeoutMs`.
 */
export async function serveWorkerd(options, startTimeoutMs = 20_000) {
  const dir = await mkdtemp(join(tmpdir(), 'wasmap-workerd-'));
  const configFile = join(dir, 'config.capnp');
  await writeFile(configFile, await workerdConfig(dir, options));
  const child = spawn(WORKERD, ['serve', configFile, '--control-fd', '3'], {
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stdout.on('data', (d) => (stderr += d));
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(signal ?? code)));
  const cleanup = () => rm(dir, { recursive: true, force: true });

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(timer);
    }
    await cleanup();
  };

  try {
    const port = await new Promise((resolve, reject) => {
      // One JSON object per line, e.g. {"event":"listen","socket":"http","port":40195}.
      let control = '';
      child.stdio[3].on('data', (d) => {
        const lines = (control + d).split('\n');
        control = lines.pop();
        for (const line of lines) {
          let event;
          try {
            event = JSON.parse(line);
          } catch {
            continue;
          }
          if (event.event === 'listen' && event.socket === 'http') resolve(event.port);
        }
      });
      child.once('error', reject);
      exited.then((how) => reject(new Error(`workerd exited (${how}) before listening:\n${stderr}`)));
      setTimeout(() => reject(new Error(`workerd did not listen within ${startTimeoutMs} ms:\n${stderr}`)), startTimeoutMs).unref();
    });
    return { url: `http://127.0.0.1:${port}`, stop, stderr: () => stderr, pid: child.pid };
  } catch (err) {
    await stop();
    throw err;
  }
}
