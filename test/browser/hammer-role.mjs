// What every thread of the browser hammer test does to the shared map (the
// page's main thread as writer 0, each Web Worker as writer 1..n), with a
// tally of what it did, so the test can check the map exactly afterwards.
//
// Each round:
//   increment('ctr:total')                    every thread, by 1
//   increment('ctr:weighted', writer + 1)     every thread, by its own weight
//   set('own:<writer>:<i>'), deleted again when i % 3 === 0
//   get('own:<writer>:<i-1>')                 must be exactly what this thread left there
//   every RACE_EVERY-th round: getOrSet('race:<r>', 'w<writer>'), which every
//   thread tries for the same r: exactly one of them may store it.

export const RACE_EVERY = 4;

export const ownKey = (writer, i) => `own:${writer}:${i}`;
export const ownValue = (writer, i) => `v:${writer}:${i}`;
export const isDeleted = (i) => i % 3 === 0;

export function hammer(map, { writer, rounds }) {
  const t = {
    writer, rounds, increments: 0, sets: 0, deletes: 0, deleteMisses: 0, gets: 0, hits: 0, misses: 0,
    wrongReads: 0, firstWrongRead: null, raceWins: [], raceLoads: 0, raceBadValues: 0,
  };
  for (let i = 0; i < rounds; i++) {
    map.increment('ctr:total');
    map.increment('ctr:weighted', writer + 1);
    t.increments += 2;

    map.set(ownKey(writer, i), ownValue(writer, i));
    t.sets++;
    if (isDeleted(i)) {
      if (map.delete(ownKey(writer, i))) t.deletes++;
      else t.deleteMisses++;
    }

    if (i > 0) {
      const v = map.get(ownKey(writer, i - 1));
      const expected = isDeleted(i - 1) ? undefined : ownValue(writer, i - 1);
      t.gets++;
      if (v === undefined) t.misses++;
      else t.hits++;
      if (v !== expected) {
        t.wrongReads++;
        t.firstWrongRead ??= { key: ownKey(writer, i - 1), got: v ?? null, expected: expected ?? null };
      }
    }

    if (i % RACE_EVERY === 0) {
      const r = i / RACE_EVERY;
      const got = map.getOrSet(`race:${r}`, `w${writer}`);
      if (!got.loaded) t.raceWins.push(r);
      else {
        t.raceLoads++;
        if (typeof got.value !== 'string' || !/^w\d+$/.test(got.value)) t.raceBadValues++;
      }
    }
  }
  return t;
}
