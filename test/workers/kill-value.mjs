// The value a killed writer (kill-writer.mjs) sets at `kill:${round}:${i}`:
// varied sizes, and one in 50 larger than a thread's 64 KiB scratch buffer,
// which the host writes straight into its entry (so kills land in that
// window too, between the core's prepareWrite and writePrepared).
export const killValue = (i) => (i % 50 === 49 ? `big ${i} `.padEnd(70_000 + (i % 7), '#') : `value ${i} `.padEnd(8 + (i % 90), '*'));
