// Elementwise kernels on the WebGPU backend, v1 against v2 (src/tensor/webgpu/kernels/
// elementwise/{v1,current}.ts: vec4 flat path with broadcast scalars, rank-specialised strided path), in the
// same process, through the public API. Needs a build first:
// `npx tsc -p tsconfig.build.json && node bench/kernels/webgpu-elementwise.mjs`.
// Prints a markdown table of median ms over 7 runs after 2 warm-ups (each run waits for the
// GPU) and ns per output element.
import { initWebGpu, randn, Rng, webgpuBackend, withFlags } from '../../dist/index.js';
import { median } from '../util.mjs';

try {
  await initWebGpu();
} catch (e) {
  console.log(`webgpu elementwise bench skipped: ${e.message}`);
  process.exit(0);
}
const gpu = webgpuBackend();
const rng = new Rng(1);
const x = randn([2048, 1024], { rng }).to('webgpu');
const y = randn([2048, 1024], { rng }).to('webgpu');
const bias = randn([1024], { rng }).to('webgpu');
const CASES = [
  ['a + b (flat)', () => x.add(y)],
  ['a · 0.9 (0-d scalar operand)', () => x.mul(0.9)],
  ['silu(a) (unary)', () => x.silu()],
  ['a + bias[1024] (row broadcast)', () => x.add(bias)],
  ['transpose(a) [2048, 1024]', () => x.transpose(0, 1)],
];

async function time(fn) {
  for (let i = 0; i < 2; i++) {
    fn().dispose();
    await gpu.sync();
  }
  const ts = [];
  for (let i = 0; i < 7; i++) {
    const t0 = performance.now();
    const o = fn();
    await gpu.sync();
    ts.push(performance.now() - t0);
    o.dispose();
  }
  return median(ts);
}

const n = x.size;
console.log(`## elementwise, WebGPU (${gpu.describe()}), ${n} elements\n`);
console.log('| op | v1 ms | v2 ms | v1 ns/el | v2 ns/el | v1 / v2 |');
console.log('|---|---|---|---|---|---|');
for (const [label, fn] of CASES) {
  const t1 = await withFlags({ 'webgpu.elementwiseVersion': 1 }, () => time(fn));
  const t2 = await withFlags({ 'webgpu.elementwiseVersion': 2 }, () => time(fn));
  console.log(`| ${label} | ${t1.toFixed(2)} | ${t2.toFixed(2)} | ${((t1 * 1e6) / n).toFixed(2)} | ${((t2 * 1e6) / n).toFixed(2)} | ${(t1 / t2).toFixed(1)}× |`);
}
