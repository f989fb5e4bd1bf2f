// Timing helpers shared by the benchmarks: warm up, then the median of n timed runs.
export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function timeMs(fn, { warmup = 2, runs = 7 } = {}) {
  for (let i = 0; i < warmup; i++) fn();
  const ts = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    ts.push(performance.now() - t0);
  }
  return median(ts);
}
