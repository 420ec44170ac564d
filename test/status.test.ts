// The core's status codes (assembly/status.ts) and the host's mirror of
// them (host/core.ts) are one list: a code added or renumbered on one side
// only would make the host misread a failure.
import { readFileSync } from 'node:fs';
import { expect, test } from 'vitest';
import * as core from '../dist/core.js';

test('the host mirrors every status code of the core, with the same value', () => {
  const source = readFileSync(new URL('../assembly/status.ts', import.meta.url), 'utf8');
  const inCore = Object.fromEntries(
    [...source.matchAll(/^export const (ST_\w+): i32 = (-\d+);$/gm)].map((m) => [m[1], Number(m[2])]),
  );
  const inHost = Object.fromEntries(Object.entries(core).filter(([name]) => name.startsWith('ST_')));
  expect(Object.keys(inCore).length).toBeGreaterThan(5);
  expect(inHost).toEqual(inCore);
  const values = Object.values(inCore);
  expect(new Set(values).size).toBe(values.length); // no two alike
  for (const v of values) expect(v).toBeLessThan(0); // >= 0 is a result
});
