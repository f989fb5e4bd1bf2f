// Timing helpers shared by the benchmarks (warm up, then the median of n timed runs), and the
// machine-readable result lines bench/run.mjs merges into one table across benchmarks.
import { appendFileSync } from 'node:fs';
import { initWebGpu } from 'stablerl';

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

/**
 * Machine-readable results for run.mjs's combined table: when STABLERL_BENCH_RESULTS names a
 * file, each call appends one JSON line { workload, column, value, unit, note? }. A benchmark
 * run on its own (no env var) only prints its markdown table, as before.
 */
export function report(workload, column, value, unit, note) {
  const file = process.env.STABLERL_BENCH_RESULTS;
  if (!file) return;
  appendFileSync(file, JSON.stringify({ workload, column, value, unit, ...(note ? { note } : {}) }) + '\n');
}

/** Workload names shared by every benchmark, in the order the combined table lists them. */
export const WORKLOADS = {
  mmAB: 'matmul 1024³ A·B (GFLOP/s)',
  mmAtB: 'matmul 1024³ Aᵀ·B (GFLOP/s)',
  mmABt: 'matmul 1024³ A·Bᵀ (GFLOP/s)',
  mlp: 'MLP 512→512→10 B=256 fwd+bwd+SGD (ms/step)',
  tinyTrain: 'moe-tiny train step 8×32 (ms/step)',
  tinyGen: 'moe-tiny generation 8×16 (tok/s)',
  smallTrain: 'moe-small train step 8×64 (ms/step)',
  smallGen: 'moe-small generation 8×16 (tok/s)',
  // The sizes measured beside PyTorch (bench/torch.bench.mjs): train B×T = 32×64;
  // generation 64 prompts of 8 tokens, 32 new tokens each, with the KV cache.
  tinyTrain32: 'moe-tiny train step 32×64 (ms/step)',
  tinyGen64: 'moe-tiny generation 64×32 (ms)',
  smallTrain32: 'moe-small train step 32×64 (ms/step)',
  smallGen64: 'moe-small generation 64×32 (ms)',
  trainerStep: 'trainer global step, default run 16×8 MiniRL (ms/step)',
};

/** ['cpu'], plus 'webgpu' when an adapter can be had (else it says why that bench's rows are skipped). */
export async function benchDevices(what = 'webgpu rows') {
  const devices = ['cpu'];
  try {
    await initWebGpu();
    devices.push('webgpu');
  } catch (e) {
    console.log(`(${what} skipped: ${e.message})`);
  }
  return devices;
}
