// Operations cut short by a trap at random points, in three threads at once
// (a LocalMap: its one thread): nothing is left half visible, the trapped
// thread goes on after recovering, and the others never notice.
import { expect, test } from 'vitest';
import { SharedMap } from '../dist/index.js';
import { createMap, expectReclaims, LOCAL, scale, startWorkers } from './helpers.js';
// @ts-expect-error: plain JS module shared with the workers
import { roles } from './workers/roles.mjs';

interface Result { committed: number[]; uncertain: number[]; incs: number; trappedIncs: number; traps: number }

test('operations trapped at random points leave nothing half visible', async () => {
  const map = await createMap({ initialCapacity: 4 });
  const ops = scale(3_000, 50_000);
  const started = await startWorkers<Result>(map, 'stress.mjs', LOCAL ? 0 : 2, { role: 'trap', params: { ops } });
  started.go();
  const results = [roles(map).trap({ ops, writer: 0 }) as Result, ...(await started.results)];
  expect(results.reduce((s, r) => s + r.traps, 0)).toBeGreaterThan((ops * results.length) / 3); // most calls did trap
  let present = 0;
  results.forEach((r, w) => {
    for (const i of r.committed) expect(map.get(`tr:${w}:${i}`), `tr:${w}:${i}`).toBe(`v${i}`);
    present += r.committed.length;
    for (const i of r.uncertain) {
      const v = map.get(`tr:${w}:${i}`);
      if (v !== undefined) {
        expect(v).toBe(`v${i}`); // all of the write or none of it
        present++;
      }
    }
    const count = map.get(`trc:${w}`) as number | undefined;
    if (count !== undefined) present++;
    expect(count ?? 0).toBeGreaterThanOrEqual(r.incs);
    expect(count ?? 0).toBeLessThanOrEqual(r.incs + r.trappedIncs);
  });
  expect(map.size).toBe(present);
  expect(map.__verify()).toBe(0);
  // Reclamation still works: no thread pins the epoch after recovering.
  expectReclaims(map);
  map.close();
});
