// AdamW on the WebGPU backend: the composed tensor ops (src/nn/optim.ts adamwUpdateComposed, 14
// dispatches) against the fused kernel (src/tensor/webgpu/kernels/optim.ts, one dispatch), in
// the same process, on one parameter tensor of moe-small's expert-weight size and on all of
// moe-small's 6.3 M parameters at once. Needs a build first:
// `npx tsc -p tsconfig.build.json && node bench/kernels/webgpu-adamw.mjs`.
// Prints a markdown table of median ms over 7 runs after 2 warm-ups (each run waits for the GPU).
import { initWebGpu, randn, Rng, Tensor, tidy, webgpuBackend } from '../../dist/index.js';
import { adamwUpdateComposed } from '../../dist/nn/optim.js';
import { median } from '../util.mjs';

try {
  await initWebGpu();
} catch (e) {
  console.log(`webgpu adamw bench skipped: ${e.message}`);
  process.exit(0);
}
const gpu = webgpuBackend();
const rng = new Rng(1);
const s = { beta1: 0.9, beta2: 0.999, eps: 1e-8, lr: 1e-3, weightDecay: 0.01, bc1: 0.1, bc2: 0.001 };

async function time(fn) {
  for (let i = 0; i < 2; i++) {
    fn();
    await gpu.sync();
  }
  const ts = [];
  for (let i = 0; i < 7; i++) {
    const t0 = performance.now();
    fn();
    await gpu.sync();
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

console.log(`## AdamW, WebGPU (${gpu.describe()})\n`);
console.log('| parameters | composed ms | fused ms | composed / fused |');
console.log('|---|---|---|---|');
for (const [label, n] of [['one tensor of 16×256×128', 16 * 256 * 128], ['6.3 M (moe-small, as one tensor)', 6_300_000]]) {
  const [p, g, m, v] = [0, 1, 2, 3].map(() => randn([n], { rng }).mul(0.01).to('webgpu'));
  const vabs = v.abs();
  const composed = await time(() => tidy(() => adamwUpdateComposed(p, g, m, vabs, s)));
  const fused = await time(() => {
    const [np, nm, nv] = gpu.routines.adamw(p.storage, g.storage, m.storage, vabs.storage, s);
    for (const [t, st] of [[p, np], [m, nm], [vabs, nv]]) {
      const fresh = new Tensor(st, t.shape);
      t.assign(fresh);
      fresh.dispose();
    }
  });
  console.log(`| ${label} | ${composed.toFixed(1)} | ${fused.toFixed(1)} | ${(composed / fused).toFixed(1)}× |`);
  for (const t of [p, g, m, v, vabs]) t.dispose();
}
