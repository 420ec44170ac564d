// What hammer.mjs and hammer-worker.mjs agree on.

/** Counters every worker increments: 'total' once per round, 'c:<j % 8>' once per round. */
export const COUNTERS = ['total', 'c:0', 'c:1', 'c:2', 'c:3', 'c:4', 'c:5', 'c:6', 'c:7'];

/** Worker i's own key number j, and the value it stores there. */
export const ownKey = (i, j) => `w${i}:key:${j}`;
export const ownValue = (i, j) => `value of ${i}/${j}`;
