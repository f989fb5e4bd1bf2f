// Micro-benchmark of the CPU matmul kernel (src/tensor/cpu/kernels/matmul.ts), single thread,
// f32. Needs a build first: `npx tsc -p tsconfig.build.json && node bench/kernels/matmul-kernel.mjs`.
// Prints the machine, then a markdown table of the median GFLOP/s (2*m*n*k / seconds) over
// 7 timed runs after 2 warm-ups, for square sizes and every transpose combination, with the
// naive reference at 256 for comparison, and a few-row (vector-matrix) table.
import os from 'node:os';
import { matmulInto, matmulNaive } from '../../dist/tensor/cpu/kernels/matmul.js';

const WARMUP = 2;
const RUNS = 7;
const LAYOUTS = [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
];

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

/** Median GFLOP/s of fn(a, b, out, m, k, n, transA, transB). */
function measure(fn, m, k, n, transA, transB) {
  const a = randomF32(m * k, 1);
  const b = randomF32(k * n, 2);
  const out = new Float32Array(m * n);
  for (let w = 0; w < WARMUP; w++) fn(a, 0, b, 0, out, 0, m, k, n, transA, transB);
  const times = [];
  for (let r = 0; r < RUNS; r++) {
    const t0 = process.hrtime.bigint();
    fn(a, 0, b, 0, out, 0, m, k, n, transA, transB);
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  times.sort((x, y) => x - y);
  return (2 * m * n * k) / times[RUNS >> 1] / 1e9;
}

const layoutName = ([tA, tB]) => (tA ? 'Aᵀ' : 'A') + ' · ' + (tB ? 'Bᵀ' : 'B');

// Sanity: the fast kernel must equal the reference bit for bit.
{
  const [m, k, n] = [67, 129, 45];
  const a = randomF32(m * k, 3);
  const b = randomF32(k * n, 4);
  for (const [tA, tB] of LAYOUTS) {
    const x = new Float32Array(m * n);
    const y = new Float32Array(m * n);
    matmulInto(a, 0, b, 0, x, 0, m, k, n, tA, tB);
    matmulNaive(a, 0, b, 0, y, 0, m, k, n, tA, tB);
    if (Buffer.compare(Buffer.from(x.buffer), Buffer.from(y.buffer)) !== 0) {
      throw new Error(`matmulInto differs from matmulNaive (${layoutName([tA, tB])})`);
    }
  }
}

const cpus = os.cpus();
console.log(`machine: ${cpus[0]?.model ?? 'unknown CPU'} (${cpus.length} cores visible, 1 used), node ${process.version}, ${os.platform()} ${os.arch()}`);
console.log(`f32, median GFLOP/s (2·m·n·k / s) over ${RUNS} runs after ${WARMUP} warm-ups\n`);

const header = ['kernel', 'm = k = n', ...LAYOUTS.map(layoutName)];
console.log(`| ${header.join(' | ')} |`);
console.log(`|${header.map(() => '---').join('|')}|`);
console.log(`| matmulNaive | 256 | ${LAYOUTS.map(([tA, tB]) => measure(matmulNaive, 256, 256, 256, tA, tB).toFixed(2)).join(' | ')} |`);
for (const size of [256, 512, 1024]) {
  console.log(`| matmulInto | ${size} | ${LAYOUTS.map(([tA, tB]) => measure(matmulInto, size, size, size, tA, tB).toFixed(2)).join(' | ')} |`);
}

console.log('\nfew rows (vector-matrix products), matmulInto:\n');
const header2 = ['m × k × n', ...LAYOUTS.map(layoutName)];
console.log(`| ${header2.join(' | ')} |`);
console.log(`|${header2.map(() => '---').join('|')}|`);
for (const [m, k, n] of [[1, 1024, 1024], [2, 1024, 1024], [8, 1024, 1024]]) {
  console.log(`| ${m} × ${k} × ${n} | ${LAYOUTS.map(([tA, tB]) => measure(matmulInto, m, k, n, tA, tB).toFixed(2)).join(' | ')} |`);
}
