// Makes sure the servers the tests of wasmap/redis and wasmap/etcd start are
// installed: Debian's redis-server (7.0, /usr/bin/redis-server) and
// etcd-server (3.4, /usr/bin/etcd). Nothing happens when they are there
// already; otherwise it runs `apt-get update` and `apt-get install -y` of
// what is missing (once per machine). The packages' own services are not
// used: each test run starts its own servers on loopback ports of their own
// (test/servers.ts).
//
//   node scripts/ensure-servers.mjs
//
// Exits non-zero, saying what to do, when a server is missing and cannot be
// installed (not Debian/Ubuntu, not root, no network to the package mirror).
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const SERVERS = [
  { binary: '/usr/bin/redis-server', pkg: 'redis-server' },
  { binary: '/usr/bin/etcd', pkg: 'etcd-server' },
];

function fail(message) {
  process.stderr.write(`ensure-servers: ${message}\n`);
  process.exit(1);
}

function run(args) {
  process.stdout.write(`ensure-servers: ${args.join(' ')}\n`);
  const r = spawnSync(args[0], args.slice(1), {
    stdio: 'inherit',
    // policy-rc.d's answer: do not start the package's own service.
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive', RUNLEVEL: '1' },
  });
  if (r.error) fail(`could not run ${args[0]}: ${r.error.message}`);
  if (r.status !== 0) fail(`\`${args.join(' ')}\` exited with status ${r.status}`);
}

const missing = SERVERS.filter((s) => !existsSync(s.binary));
if (missing.length > 0) {
  const names = missing.map((s) => s.pkg).join(' ');
  const hint = `install it yourself (Debian: apt-get install -y ${names})`;
  if (process.platform !== 'linux') fail(`${names} not found and this is not Linux; ${hint}`);
  if (!existsSync('/usr/bin/apt-get')) fail(`${names} not found and apt-get is not available; ${hint}`);
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  const prefix = root ? [] : existsSync('/usr/bin/sudo') ? ['sudo', '-n'] : fail(`${names} not found and not running as root; ${hint}`);
  run([...prefix, 'apt-get', 'update']);
  run([...prefix, 'apt-get', 'install', '-y', '--no-install-recommends', ...missing.map((s) => s.pkg)]);
  for (const s of missing) if (!existsSync(s.binary)) fail(`apt-get installed ${s.pkg} but ${s.binary} is still missing; ${hint}`);
  process.stdout.write(`ensure-servers: installed ${names}\n`);
}
