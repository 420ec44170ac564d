// The README and the guides: the example they show is the one that runs,
// and every link inside the repository leads to a file that exists.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { shared } from './helpers.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pages = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
const read = (file: string) => readFileSync(join(root, file), 'utf8');

test("the README's two-file example is examples/quick, as it is", () => {
  const blocks = [...read('README.md').matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);
  for (const file of ['examples/quick/main.mjs', 'examples/quick/worker.mjs']) {
    expect(blocks, file).toContain(read(file));
  }
});

shared("the README's two-file example runs as written and prints what it says", () => {
  const out = execFileSync(process.execPath, [join(root, 'examples/quick/main.mjs')], { encoding: 'utf8', timeout: 30_000 });
  expect(out.trim()).toBe('hello from a worker 1000');
});

test('every link of the README and the guides to a file of the repository leads to one', () => {
  for (const page of pages) {
    for (const [, target] of read(page).matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target) || target.startsWith('#')) continue;
      const path = join(root, dirname(page), target.split('#')[0]);
      expect(existsSync(path), `${page} links ${target}`).toBe(true);
    }
  }
});
