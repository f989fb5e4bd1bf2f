// indexAdd on the WebGPU backend, v1 (scan every source position per output element) against
// v2 (CSR list per row; src/tensor/webgpu/kernels/indexing/current.ts), in the same process, on the
// shapes the MoE stack produces. Needs a build first:
// `npx tsc -p tsconfig.build.json && node bench/kernels/webgpu-index-add.mjs`.
// Prints a markdown table of median ms over 7 runs after 2 warm-ups, each run waiting for the GPU.
import { initWebGpu, webgpuBackend } from '../../dist/index.js';
import { indexAddV2 as indexAdd } from '../../dist/tensor/webgpu/kernels/indexing/current.js';
import { indexAddV1 } from '../../dist/tensor/webgpu/kernels/indexing/v1.js';
import { median } from '../util.mjs';

try {
  await initWebGpu();
} catch (e) {
  console.log(`webgpu index-add bench skipped: ${e.message}`);
  process.exit(0);
}
const b = webgpuBackend();
const CASES = [
  // [label, n (rows), inner, m (positions), rows actually hit]
  ['dense MoE gather backward (moe-small: E·N = 8192 rows, N·k = 1024)', 8192, 128, 1024, 8192],
  ['token embedding backward (moe-small: vocab 64, 512 tokens)', 64, 128, 512, 64],
  ['sparse MoE token gather backward (N = 512 rows, 1264 positions)', 512, 128, 1264, 512],
];

async function time(fn) {
  for (let i = 0; i < 2; i++) {
    b.dispose(fn());
    await b.sync();
  }
  const ts = [];
  for (let i = 0; i < 7; i++) {
    const t0 = performance.now();
    const o = fn();
    await b.sync();
    ts.push(performance.now() - t0);
    b.dispose(o);
  }
  return median(ts);
}

console.log(`## indexAdd, WebGPU (${b.describe()})\n`);
console.log('| case | n × inner, m | v1 ms | v2 ms | v1 / v2 |');
console.log('|---|---|---|---|---|');
for (const [label, n, inner, m, hit] of CASES) {
  let s = 12345;
  const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const src = b.fromArray(Float32Array.from({ length: m * inner }, () => rnd() - 0.5));
  const idx = b.fromArray(Int32Array.from({ length: m }, () => Math.floor(rnd() * hit)));
  const t1 = await time(() => indexAddV1(b, src, idx, 1, n, inner, m));
  const t2 = await time(() => indexAdd(b, src, idx, 1, n, inner, m));
  console.log(`| ${label} | ${n} × ${inner}, ${m} | ${t1.toFixed(2)} | ${t2.toFixed(2)} | ${(t1 / t2).toFixed(1)}× |`);
  b.dispose(src);
  b.dispose(idx);
}
