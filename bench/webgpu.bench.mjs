// WebGPU backend through the public API: the adapter, f32 matmul GFLOP/s at 256/512/1024 (A·B;
// at 1024 also Aᵀ·B and A·Bᵀ, the layouts backward needs) and an MLP training step (B=256,
// 512→512→10, relu, cross-entropy, forward + backward + SGD), the same workloads as
// bench/cpu.bench.mjs. GPU work is timed honestly: every timed run ends with
// `await webgpuBackend().sync()`, which waits until the submitted work has finished.
// Targets (issue 7, on the llvmpipe software adapter): matmul 1024³ ≥ 25 GFLOP/s, MLP step ≤ 25 ms.
// The MLP step is also timed with the original kernels in the same process (a "v1 kernels" row,
// bench/kernels/webgpu-versions.mjs), so the two numbers share the machine's load.
import { Rng, deviceInfo, initWebGpu, keep, matmulT, noGrad, randint, randn, tidy, webgpuBackend, withFlags } from 'stablerl';
import { median, report, WORKLOADS } from './util.mjs';
import { WEBGPU_V1_FLAGS } from './kernels/webgpu-versions.mjs';

try {
  await initWebGpu();
} catch (e) {
  console.log(`## WebGPU backend: skipped, no adapter could be had (${e.message})\n`);
  report(WORKLOADS.mmAB, 'stablerl webgpu', null, 'GFLOP/s', `no adapter: ${e.message.split('\n')[0]}`);
  process.exit(0);
}
const gpu = webgpuBackend();
const info = deviceInfo();
console.log(`## WebGPU backend (${info.adapter}; ${info.path}, ${info.featureLevel})\n`);
report('_meta', 'webgpu adapter', null, '', `${info.adapter}; ${info.path}, ${info.featureLevel}`);

/** Median ms of `runs` timed runs after `warmup`; each run waits for the GPU to finish. */
async function timeGpuMs(fn, { warmup = 2, runs = 7 } = {}) {
  for (let i = 0; i < warmup; i++) {
    await fn();
    await gpu.sync();
  }
  const ts = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    await gpu.sync();
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

const rng = new Rng(7);
console.log('| workload | size | median ms | GFLOP/s |');
console.log('|---|---|---|---|');
for (const n of [256, 512, 1024]) {
  const a = randn([n, n], { rng }).to('webgpu');
  const b = randn([n, n], { rng }).to('webgpu');
  for (const [label, tA, tB] of [['A·B', false, false], ['Aᵀ·B', true, false], ['A·Bᵀ', false, true]]) {
    if (n !== 1024 && label !== 'A·B') continue;
    let out = null;
    const ms = await timeGpuMs(() => {
      out?.dispose();
      out = matmulT(a, b, tA, tB);
    }, { warmup: 2, runs: 7 });
    out?.dispose();
    console.log(`| matmul ${label} f32 | ${n}³ | ${ms.toFixed(1)} | ${((2 * n ** 3) / ms / 1e6).toFixed(2)} |`);
    if (n === 1024) report(WORKLOADS[{ 'A·B': 'mmAB', 'Aᵀ·B': 'mmAtB', 'A·Bᵀ': 'mmABt' }[label]], 'stablerl webgpu', (2 * n ** 3) / ms / 1e6, 'GFLOP/s', info.adapter);
  }
  a.dispose();
  b.dispose();
}

// MLP step: forward, backward, SGD, and reading the loss back (as the CPU benchmark does).
const B = 256;
let mlp;
try {
  const x = randn([B, 512], { rng }).to('webgpu');
  const labels = randint(0, 10, [B, 1], { rng }).to('webgpu');
  const init = (shape, scale) => randn(shape, { rng }).mul(scale).to('webgpu').detach().setRequiresGrad();
  let w1 = init([512, 512], 1 / Math.sqrt(512));
  let b1 = init([512], 0);
  let w2 = init([512, 10], 1 / Math.sqrt(512));
  let b2 = init([10], 0);
  const lr = 0.05;
  let loss0 = null;
  let lossN = null;
  const step = async () => {
    const loss = tidy(() => {
      const h = x.matmul(w1).add(b1).relu();
      const logits = h.matmul(w2).add(b2);
      const l = logits.logSoftmax(-1).gather(1, labels).mean().neg();
      l.backward();
      const next = noGrad(() => [w1, b1, w2, b2].map((p) => keep(p.sub(p.grad.mul(lr)).setRequiresGrad())));
      for (const p of [w1, b1, w2, b2]) p.dispose();
      [w1, b1, w2, b2] = next;
      return l.detach();
    });
    const v = await loss.item();
    loss.dispose();
    loss0 ??= v;
    lossN = v;
  };
  const ms = await timeGpuMs(step, { warmup: 2, runs: 7 });
  const msV1 = await withFlags(WEBGPU_V1_FLAGS, () => timeGpuMs(step, { warmup: 2, runs: 7 }));
  mlp = { ms, msV1, loss0, lossN };
} catch (e) {
  mlp = { error: e.message.split('\n')[0] };
}
if (mlp.error) {
  console.log(`| MLP step 512→512→10, B=256 (fwd+bwd+SGD) | f32 | n/a (${mlp.error}) | – |`);
  report(WORKLOADS.mlp, 'stablerl webgpu', null, 'ms', mlp.error);
} else {
  console.log(`| MLP step 512→512→10, B=256 (fwd+bwd+SGD) | f32 | ${mlp.ms.toFixed(1)} | – |`);
  console.log(`| MLP step, v1 kernels (same process) | f32 | ${mlp.msV1.toFixed(1)} | – |`);
  report(WORKLOADS.mlp, 'stablerl webgpu', mlp.ms, 'ms');
  console.log(`\n(loss went ${mlp.loss0.toFixed(4)} → ${mlp.lossN.toFixed(4)} over the warm-up and timed steps, so the step really trains)\n`);
}
