// Micro-benchmark of the CPU matmul kernel versions (src/tensor/cpu/kernels/matmul/:
// reference.ts, js.ts, wasm.ts), f32 operands, side by side in one process so that the ratios
// hold even on a loaded machine: v2 = the JS 3x4 tile (js.ts, f64 accumulation), v3 = the
// WebAssembly SIMD kernel on 1 thread and on up to 2 threads, and matmulInto, what the backend
// runs. The versions are timed interleaved (one run of each
// in turn), RUNS samples each after warm-ups, and the median is reported.
// Needs a build first: `npx tsc -p tsconfig.build.json && node bench/kernels/matmul-kernel.mjs`
// (`--quick` for fewer sizes).
import os from 'node:os';
import { cpuMatmulImpl, matmulInto } from '../../dist/tensor/cpu/kernels/matmul/index.js';
import { matmulJs } from '../../dist/tensor/cpu/kernels/matmul/js.js';
import { matmulNaive, matmulNaiveF32 } from '../../dist/tensor/cpu/kernels/matmul/reference.js';
import { configureWasmMatmul, matmulWasmF32, startWasmMatmulWorkers } from '../../dist/tensor/cpu/kernels/matmul/wasm.js';

const RUNS = 9;
const QUICK = process.argv.includes('--quick');
const LAYOUTS = [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
];
const layoutName = ([tA, tB]) => (tA ? 'Aᵀ' : 'A') + '·' + (tB ? 'Bᵀ' : 'B');

function randomF32(len, seed) {
  const a = new Float32Array(len);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < len; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    a[i] = s / 4294967296 - 0.5;
  }
  return a;
}

const threads = startWasmMatmulWorkers();
const defaults = configureWasmMatmul();
const v2 = (a, ao, b, bo, o, oo, m, k, n, tA, tB) => matmulJs(a, ao, b, bo, o, oo, m, k, n, tA, tB, false);
const v2f32 = (a, ao, b, bo, o, oo, m, k, n, tA, tB) => matmulJs(a, ao, b, bo, o, oo, m, k, n, tA, tB, true);
const withThreads = (t) => (...args) => {
  configureWasmMatmul({ threads: t });
  matmulWasmF32(...args);
  configureWasmMatmul({ threads: defaults.threads });
};
const v3t1 = withThreads(1);
const v3t2 = withThreads(Math.min(2, threads));

/**
 * Median seconds per call of each kernel on one shape, interleaved. Small products are
 * repeated inside a sample until it lasts about 2 ms.
 */
function measure(kernels, m, k, n, transA, transB) {
  const a = randomF32(m * k, 1);
  const b = randomF32(k * n, 2);
  const out = new Float32Array(m * n);
  const call = (f) => f(a, 0, b, 0, out, 0, m, k, n, transA, transB);
  const reps = kernels.map((f) => {
    call(f);
    const t0 = performance.now();
    call(f);
    const dt = performance.now() - t0;
    return Math.max(1, Math.min(10000, Math.round(2 / Math.max(dt, 1e-4))));
  });
  kernels.forEach((f, i) => { for (let r = 0; r < Math.min(reps[i], 3); r++) call(f); });
  const times = kernels.map(() => []);
  for (let r = 0; r < RUNS; r++) {
    kernels.forEach((f, i) => {
      const t0 = performance.now();
      for (let q = 0; q < reps[i]; q++) call(f);
      times[i].push((performance.now() - t0) / 1e3 / reps[i]);
    });
  }
  return times.map((ts) => ts.sort((x, y) => x - y)[RUNS >> 1]);
}

// Sanity: each version must equal its reference bit for bit before it is timed.
{
  const [m, k, n] = [67, 129, 45];
  const a = randomF32(m * k, 3);
  const b = randomF32(k * n, 4);
  const same = (x, y) => Buffer.compare(Buffer.from(x.buffer), Buffer.from(y.buffer)) === 0;
  for (const [tA, tB] of LAYOUTS) {
    const want64 = new Float32Array(m * n);
    const want32 = new Float32Array(m * n);
    matmulNaive(a, 0, b, 0, want64, 0, m, k, n, tA, tB);
    matmulNaiveF32(a, 0, b, 0, want32, 0, m, k, n, tA, tB);
    for (const [name, f, want] of [['v2', v2, want64], ['v2 f32', v2f32, want32], ['v3 1t', v3t1, want32], ['v3 2t', v3t2, want32], ['matmulInto', matmulInto, want32]]) {
      const got = new Float32Array(m * n);
      f(a, 0, b, 0, got, 0, m, k, n, tA, tB);
      if (!same(got, want)) throw new Error(`${name} differs from its reference (${layoutName([tA, tB])})`);
    }
  }
}

const cpus = os.cpus();
const load = os.loadavg().map((x) => x.toFixed(2)).join(' ');
console.log(`machine: ${cpus[0]?.model ?? 'unknown CPU'} (${cpus.length} cores visible), node ${process.version}, load average ${load}`);
console.log(`f32 matmul runs on: ${cpuMatmulImpl()}`);
console.log(`median GFLOP/s (2·m·n·k / s) of ${RUNS} interleaved samples; v2 = JS 3x4 tile, f64 accumulation;`);
console.log('v3 = WebAssembly SIMD 5x8 tile, f32 accumulation, 1 or 2 threads\n');

console.log('| m = k = n | layout | v2 (JS) | v3 1 thread | v3 2 threads | v3 2t / v2 |');
console.log('|---|---|---|---|---|---|');
for (const size of QUICK ? [1024] : [256, 512, 1024]) {
  for (const layout of LAYOUTS) {
    const [t2, t31, t32] = measure([v2, v3t1, v3t2], size, size, size, ...layout);
    const g = (t) => ((2 * size ** 3) / t / 1e9).toFixed(1);
    console.log(`| ${size} | ${layoutName(layout)} | ${g(t2)} | ${g(t31)} | ${g(t32)} | ${(t2 / t32).toFixed(1)}× |`);
  }
}

console.log('\nsmall and thin shapes, A·B and A·Bᵀ: µs per call (median), old default (v2, f64 accumulation) vs');
console.log('matmulInto now (whichever path it picks), and v2 in f32 mode (the fallback):\n');
console.log('| m × k × n | layout | v2 (old) µs | matmulInto µs | v2 f32 µs | old / new |');
console.log('|---|---|---|---|---|---|');
const small = [[1, 64, 64], [8, 64, 64], [64, 64, 64], [256, 64, 256], [2048, 64, 128], [1, 1024, 1024], [8, 1024, 1024], [256, 512, 512], [256, 512, 10], [512, 256, 10]];
for (const [m, k, n] of QUICK ? small.slice(0, 6) : small) {
  for (const layout of [[false, false], [false, true]]) {
    const [told, tnew, tf32] = measure([v2, matmulInto, v2f32], m, k, n, ...layout);
    const us = (t) => (t * 1e6).toFixed(t * 1e6 < 10 ? 2 : 1);
    console.log(`| ${m} × ${k} × ${n} | ${layoutName(layout)} | ${us(told)} | ${us(tnew)} | ${us(tf32)} | ${(told / tnew).toFixed(2)}× |`);
  }
}
// Layouts by thread CPU time. On a loaded machine wall-clock samples of one layout can land in
// a busier moment than another's (a 'transposed layouts 2x slower' reading at 1024³ is such a
// sample); process.cpuUsage counts only the time this process ran (v3 on 1 thread: no
// workers, so it is the kernel's own time, plus V8's helper threads, which are idle here).
console.log('\nv3 on 1 thread by layout, median CPU ms per call (process.cpuUsage; descheduled time not counted):\n');
console.log('| m × k × n | A·B | Aᵀ·B | A·Bᵀ | Aᵀ·Bᵀ |');
console.log('|---|---|---|---|---|');
for (const [m, k, n] of QUICK ? [[1024, 1024, 1024]] : [[1024, 1024, 1024], [512, 256, 512], [256, 512, 512]]) {
  const a = randomF32(m * k, 5);
  const b = randomF32(k * n, 6);
  const out = new Float32Array(m * n);
  const reps = Math.max(1, Math.round(3e8 / (m * n * k)));
  const cpu = LAYOUTS.map(() => []);
  for (let r = 0; r < RUNS + 2; r++) {
    LAYOUTS.forEach(([tA, tB], i) => {
      const c0 = process.cpuUsage();
      for (let q = 0; q < reps; q++) v3t1(a, 0, b, 0, out, 0, m, k, n, tA, tB);
      const c = process.cpuUsage(c0);
      if (r >= 2) cpu[i].push((c.user + c.system) / 1e3 / reps);
    });
  }
  const med = (ts) => ts.sort((x, y) => x - y)[RUNS >> 1];
  console.log(`| ${m} × ${k} × ${n} | ${cpu.map((ts) => { const t = med(ts); return `${t.toFixed(2)} (${((2 * m * n * k) / t / 1e6).toFixed(1)} GFLOP/s)`; }).join(' | ')} |`);
}

console.log(`\n(load average at the end: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')})`);
