// Totals of one run of the fixed-count benchmark, from each thread's result.
export function summarize(results) {
  const ops = results.reduce((s, r) => s + r.ops, 0);
  const start = Math.min(...results.map((r) => r.startedAt));
  const end = Math.max(...results.map((r) => r.endedAt));
  return {
    ops,
    seconds: (end - start) / 1000,
    opsPerSecond: ops / ((end - start) / 1000),
    perThread: results.map((r) => ({ ops: r.ops, seconds: r.seconds, opsPerSecond: r.ops / r.seconds })),
    problems: results.flatMap((r) => r.problems),
  };
}
