// Micro-benchmark of the CPU elementwise kernels: the reference (src/tensor/cpu/kernels/
// elementwise/reference.ts: table functions through a per-row callback) against the shipped ones
// (elementwise/current.ts: a loop per op, coalesced broadcast strides), on the shapes a moe-small training step runs (8×64 tokens, d 128, 4 heads,
// expert hidden 256), alternating the two in one process; f32, median of 7 after 2 warm-ups.
// Needs a build first: `npx tsc -p tsconfig.build.json && node bench/kernels/elementwise.mjs`.
import os from 'node:os';
import { binaryInto, unaryInto, whereInto } from '../../dist/tensor/cpu/kernels/elementwise/current.js';
import { BINARY_FN } from '../../dist/tensor/cpu/kernels/elementwise/ops.js';
import { binaryIntoV1, unaryIntoV1, whereIntoV1 } from '../../dist/tensor/cpu/kernels/elementwise/reference.js';
import { broadcastStrides } from '../../dist/tensor/shape.js';
import { median } from '../util.mjs';

const rand = (n) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898) * 2);
const size = (s) => s.reduce((p, q) => p * q, 1);

function binCase(label, op, sa, sb) {
  const shape = sa.map((d, i) => Math.max(d, sb[i] ?? 1));
  const a = rand(size(sa));
  const b = rand(size(sb));
  const out = new Float32Array(size(shape));
  const st = [broadcastStrides(sa, shape), broadcastStrides(sb, shape)];
  return [label, () => binaryIntoV1(BINARY_FN[op], a, b, out, shape, ...st), () => binaryInto(BINARY_FN[op], a, b, out, shape, ...st)];
}
function unCase(op, n) {
  const x = rand(n);
  const out = new Float32Array(n);
  return [`${op} [${n}]`, () => unaryIntoV1(op, x, out), () => unaryInto(op, x, out)];
}
const mask = Float32Array.from({ length: 64 * 64 }, (_, i) => ((i % 64) <= Math.floor(i / 64) ? 1 : 0));
const scores = rand(8 * 4 * 64 * 64);
const wOut = new Float32Array(scores.length);
const wShape = [8, 4, 64, 64];
const wSt = [broadcastStrides([64, 64], wShape), broadcastStrides(wShape, wShape), broadcastStrides([], wShape)];
const masked = new Float32Array([-1e30]);

const cases = [
  binCase('mul [512,128]·[512,1] (x·rsqrt(ms))', 'mul', [512, 128], [512, 1]),
  binCase('mul [512,128]·[128] (x·g)', 'mul', [512, 128], [1, 128]),
  binCase('mul [512,2,128]·[512,2,1] (rows·gates)', 'mul', [512, 2, 128], [512, 2, 1]),
  binCase('add [512,128]+[512,128]', 'add', [512, 128], [512, 128]),
  binCase('sub [8,4,64,64]−[8,4,64,1]', 'sub', [8, 4, 64, 64], [8, 4, 64, 1]),
  ['where [64,64] mask over [8,4,64,64]', () => whereIntoV1(mask, scores, masked, wOut, wShape, ...wSt), () => whereInto(mask, scores, masked, wOut, wShape, ...wSt)],
  unCase('silu', 1024 * 256),
  unCase('sigmoid', 1024 * 256),
  unCase('square', 512 * 128),
  unCase('rsqrt', 512 * 128),
];

console.log(`machine: ${os.cpus()[0]?.model} ×${os.cpus().length}, node ${process.version}, load ${os.loadavg()[0].toFixed(2)}`);
console.log('\n| kernel (f32) | v1 ms | v2 ms | speed-up |');
console.log('|---|---|---|---|');
for (const [label, v1, v2] of cases) {
  const t = [[], []];
  for (let i = 0; i < 9; i++) {
    [v1, v2].forEach((f, j) => {
      const t0 = performance.now();
      for (let r = 0; r < 5; r++) f();
      if (i >= 2) t[j].push((performance.now() - t0) / 5);
    });
  }
  const [m1, m2] = t.map(median);
  console.log(`| ${label} | ${m1.toFixed(3)} | ${m2.toFixed(3)} | ${(m1 / m2).toFixed(1)}× |`);
}
