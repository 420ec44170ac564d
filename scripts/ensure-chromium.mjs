// Makes sure the Chromium the browser tests drive is installed: Debian's
// package at /usr/bin/chromium (see /work/shared/NOTES.md, "Runtimes and
// servers"). Nothing happens when it is there already; otherwise it runs
// `apt-get update` and `apt-get install -y chromium` (about 50 s, once per
// machine). No tool is ever allowed to download a browser of its own.
//
//   node scripts/ensure-chromium.mjs
//
// Exits non-zero, saying what to do, when Chromium is missing and cannot be
// installed (not Debian/Ubuntu, not root, no network to the package mirror).
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const CHROMIUM = '/usr/bin/chromium';

function fail(message) {
  process.stderr.write(`ensure-chromium: ${message}\n`);
  process.exit(1);
}

function run(args) {
  process.stdout.write(`ensure-chromium: ${args.join(' ')}\n`);
  const r = spawnSync(args[0], args.slice(1), {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (r.error) fail(`could not run ${args[0]}: ${r.error.message}`);
  if (r.status !== 0) fail(`\`${args.join(' ')}\` exited with status ${r.status}`);
}

if (!existsSync(CHROMIUM)) {
  const hint = `install it yourself (Debian: apt-get install -y chromium) so that ${CHROMIUM} exists`;
  if (process.platform !== 'linux') fail(`${CHROMIUM} not found and this is not Linux; ${hint}`);
  if (!existsSync('/usr/bin/apt-get')) fail(`${CHROMIUM} not found and apt-get is not available; ${hint}`);
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  const prefix = root ? [] : existsSync('/usr/bin/sudo') ? ['sudo', '-n'] : fail(`${CHROMIUM} not found and not running as root; ${hint}`);
  run([...prefix, 'apt-get', 'update']);
  run([...prefix, 'apt-get', 'install', '-y', 'chromium']);
  if (!existsSync(CHROMIUM)) fail(`apt-get installed chromium but ${CHROMIUM} is still missing; ${hint}`);
  process.stdout.write(`ensure-chromium: installed ${CHROMIUM}\n`);
}
