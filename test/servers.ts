// Servers the tests start on loopback ports of their own (installed by
// scripts/ensure-servers.mjs): a Redis that can be stopped and started
// again on the same port with the same (empty) data.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A free TCP port on 127.0.0.1 (the OS's pick, released at once). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** A server process: started by `start` until its output says `ready`, killed as a crash. */
function managed(binary: string, args: () => string[], ready: string, what: string) {
  let proc: ChildProcess | null = null;
  const start = async () => {
    proc = spawn(binary, args(), { stdio: ['ignore', 'pipe', 'pipe'] });
    const p = proc;
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`${what} did not start: ${out.slice(-2000)}`)), 20_000);
      const onData = (d: Buffer) => {
        out += d.toString();
        if (out.includes(ready)) {
          clearTimeout(timer);
          resolve();
        }
      };
      p.stdout!.on('data', onData);
      p.stderr!.on('data', onData);
      p.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${what} exited (${code}): ${out.slice(-2000)}`));
      });
    });
  };
  const kill = async () => {
    const p = proc;
    proc = null;
    if (p === null || p.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill('SIGKILL');
    });
  };
  return { start, kill };
}

export interface RedisServer {
  port: number;
  url: string;
  /** Kills the server (SIGKILL: as a crash). */
  kill(): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function startRedis(): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'wasmap-redis-'));
  const { start, kill } = managed('/usr/bin/redis-server', () => [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir,
  ], 'Ready to accept connections', 'redis-server');
  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill,
    start,
    stop: async () => {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface EtcdServer {
  /** host:port for the etcd3 client. */
  hosts: string;
  kill(): Promise<void>;
  /** Starts it again with the same data. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** etcd 3.4 (Debian's etcd-server) on two loopback ports of its own, data in a temp dir. */
export async function startEtcd(): Promise<EtcdServer> {
  const client = await freePort();
  const peer = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'wasmap-etcd-'));
  const { start, kill } = managed('/usr/bin/etcd', () => [
    '--name', 't', '--data-dir', join(dir, 'data'),
    '--listen-client-urls', `http://127.0.0.1:${client}`, '--advertise-client-urls', `http://127.0.0.1:${client}`,
    '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
    '--initial-cluster', `t=http://127.0.0.1:${peer}`,
  ], 'ready to serve client requests', 'etcd');
  await start();
  return {
    hosts: `127.0.0.1:${client}`,
    kill,
    start,
    stop: async () => {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
