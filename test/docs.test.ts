// The README and the guides: the example they show is the one that runs,
// and every link inside the repository leads to a file that exists.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';
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

test('no ts or js block of the README or the guides is indented (the test below runs only blocks at the start of a line)', () => {
  for (const page of pages) expect(read(page), page).not.toMatch(/^[ \t]+```(ts|js)\b/m);
});

/** What a block may use without importing or declaring it. */
const PRELUDE: [RegExp, string][] = [
  [/\bSharedMap\b/, "import { SharedMap } from 'wasmap';"],
  [/\bLocalMap\b/, "import { LocalMap } from 'wasmap';"],
  [/\bMapError\b/, "import { MapError } from 'wasmap';"],
  [/\bmap\b/, 'const map = await SharedMap.create();'],
];

shared('every code block of the README and the guides runs (but the two example files, run above, and those marked not run, with why)', () => {
  // Inside the repository (.scratch is ignored by git), so that a block's
  // imports of the packages it documents beside wasmap (keyv, cache-manager)
  // resolve to the repository's node_modules.
  mkdirSync(join(root, '.scratch'), { recursive: true });
  const dir = mkdtempSync(join(root, '.scratch', 'docs-'));
  const dist = (sub: string) => pathToFileURL(join(root, 'dist', sub)).href;
  let ran = 0;
  try {
    for (const page of pages) {
      for (const m of read(page).matchAll(/(<!-- not run: [^>]+ -->\n)?^```(ts|js)\n([\s\S]*?)^```/gm)) {
        const [, notRun, , code] = m;
        if (notRun !== undefined || /^\/\/ (main|worker)\.mjs:/.test(code)) continue;
        let prelude = '';
        for (const [uses, line] of PRELUDE) {
          const name = uses.source.replace(/\\b/g, '');
          const declared = new RegExp(`(import\\s*{[^}]*\\b${name}\\b|\\b(const|let|var)\\s+${name}\\b)`).test(code);
          if (uses.test(code) && !declared) prelude += `${line}\n`;
        }
        if (prelude.includes('const map') && !/import\s*{[^}]*\bSharedMap\b/.test(code) && !prelude.includes('{ SharedMap }')) {
          prelude = `import { SharedMap } from 'wasmap';\n${prelude}`;
        }
        const js = ts.transpileModule(prelude + code, {
          compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
        }).outputText.replace(/from 'wasmap\/(wasi|keyv)'/g, (_, sub) => `from '${dist(`${sub}.js`)}'`).replace(/from 'wasmap'/g, `from '${dist('index.js')}'`);
        const file = join(dir, `block-${ran}.mjs`);
        writeFileSync(file, `${js}\nprocess.exit(0);\n`);
        try {
          execFileSync(process.execPath, [file], { encoding: 'utf8', timeout: 30_000, stdio: 'pipe' });
        } catch (e) {
          throw new Error(`a code block of ${page} fails:\n${code}\n${(e as { stderr?: string }).stderr ?? e}`);
        }
        ran++;
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  expect(ran).toBeGreaterThanOrEqual(8);
});
