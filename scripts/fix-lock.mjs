// Run after any `npm install` that changes package-lock.json (node scripts/fix-lock.mjs).
//
// The registry this project is installed from holds only this platform's
// builds of packages that ship one binary package per platform (deno,
// workerd, jco), so npm leaves the other platforms' optional packages out of
// the lock file, and `npm ci` then refuses the lock as out of sync. This
// adds each one as an entry of its pinned version, marked optional and
// limited to its platform (read off its name), which `npm ci` accepts and
// never fetches on another platform.
import { readFileSync, writeFileSync } from 'node:fs';

const file = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(file, 'utf8'));
const packages = lock.packages;
let added = 0;
for (const [path, entry] of Object.entries(packages)) {
  for (const [name, spec] of Object.entries(entry.optionalDependencies ?? {})) {
    const nested = `${path ? `${path}/` : ''}node_modules/${name}`;
    if (packages[nested] || packages[`node_modules/${name}`]) continue;
    const stub = { version: spec.replace(/^[\^~=]/, ''), dev: entry.dev ?? false, optional: true };
    const n = name.toLowerCase();
    const os = /darwin/.test(n) ? 'darwin' : /win32|windows/.test(n) ? 'win32' : /linux/.test(n) ? 'linux' : /android/.test(n) ? 'android' : /freebsd/.test(n) ? 'freebsd' : undefined;
    const cpu = /arm64|aarch64/.test(n) ? 'arm64' : /x64|-64\b|x86_64/.test(n) ? 'x64' : /arm\b|arm-/.test(n) ? 'arm' : /ia32/.test(n) ? 'ia32' : undefined;
    if (os) stub.os = [os];
    if (cpu) stub.cpu = [cpu];
    if (os === 'linux') stub.libc = [/musl/.test(n) ? 'musl' : 'glibc'];
    packages[`node_modules/${name}`] = stub;
    added++;
  }
}
lock.packages = Object.fromEntries(Object.entries(packages).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`package-lock.json: ${added} optional platform packages added`);
