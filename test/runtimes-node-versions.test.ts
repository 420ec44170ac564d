// Node versions: package.json says "node": ">=20". The same multi-worker
// script (test/runtimes/hammer.mjs, worker_threads) runs under the Node that
// runs the tests and under the newest 22 and 24 from the npm registry
// (scripts/node-binary.mjs fetches each once into node_modules/.cache), and
// every count comes out exact.
import { expect, test } from 'vitest';
// @ts-expect-error: plain JS module, also a command-line tool
import { nodeBinary, nodePackage } from '../scripts/node-binary.mjs';
import { scale } from './helpers.js';
import { type HammerResult, expectExactCounts, runJson } from './runtimes/exec.js';

const WORKERS = 3;
const N = scale(50_000, 1_000_000);

// The registry has Node packages for Linux and macOS (x64, arm64) only.
const FETCHABLE = nodePackage() !== undefined;

const VERSIONS: [string, boolean, () => Promise<string>][] = [
  [`${process.versions.node.split('.')[0]} (this Node)`, true, async () => process.execPath],
  ['22', FETCHABLE, () => nodeBinary(22)],
  ['24', FETCHABLE, () => nodeBinary(24)],
];

test.for(VERSIONS)(`Node %s: ${WORKERS} workers hammering one map leave exact counts`, async ([major, runs, binary], ctx) => {
  ctx.skip(!runs, `no Node package on the npm registry for ${process.platform}-${process.arch}`);
  // The first run downloads ~50 MB per version (a few seconds here).
  const node = await binary();
  const r = await runJson<HammerResult>(node, ['test/runtimes/hammer.mjs', String(WORKERS), String(N)], 60_000);
  expect(r.runtime.startsWith(`node ${major.split(' ')[0]}.`), r.runtime).toBe(true);
  expect(r.workerKind).toBe('worker_threads');
  expectExactCounts(r, WORKERS, N);
});
