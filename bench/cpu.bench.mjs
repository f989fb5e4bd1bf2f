// CPU backend through the public API: f32 matmul GFLOP/s at 256/512/1024 (all three layouts
// backward needs: A·B, Aᵀ·B, A·Bᵀ) and an MLP training step (B=256, 512→512→10, relu,
// cross-entropy, forward + backward + SGD). Issue targets: matmul 1024 ≥ 4 GFLOP/s, MLP ≤ 150 ms.
import { Rng, getDevice, matmulT, noGrad, randn, randint, tidy, keep } from 'stablerl';
import { report, timeMs, WORKLOADS } from './util.mjs';

const rng = new Rng(7);
console.log(`## CPU backend (${getDevice('cpu').describe()})\n`);
console.log('| workload | size | median ms | GFLOP/s |');
console.log('|---|---|---|---|');
for (const n of [256, 512, 1024]) {
  const a = randn([n, n], { rng });
  const b = randn([n, n], { rng });
  const runs = n === 1024 ? 7 : 9;
  for (const [label, tA, tB] of [['A·B', false, false], ['Aᵀ·B', true, false], ['A·Bᵀ', false, true]]) {
    if (n !== 1024 && label !== 'A·B') continue;
    const ms = timeMs(() => matmulT(a, b, tA, tB).dispose(), { warmup: 1, runs });
    console.log(`| matmul ${label} f32 | ${n}³ | ${ms.toFixed(1)} | ${((2 * n ** 3) / ms / 1e6).toFixed(2)} |`);
    if (n === 1024) report(WORKLOADS[{ 'A·B': 'mmAB', 'Aᵀ·B': 'mmAtB', 'A·Bᵀ': 'mmABt' }[label]], 'stablerl cpu', (2 * n ** 3) / ms / 1e6, 'GFLOP/s');
  }
  a.dispose();
  b.dispose();
}

// MLP step
const B = 256;
const x = randn([B, 512], { rng });
const labels = randint(0, 10, [B, 1], { rng });
let w1 = randn([512, 512], { rng }).mul(1 / Math.sqrt(512)).detach().setRequiresGrad();
let b1 = randn([512], { rng }).mul(0).detach().setRequiresGrad();
let w2 = randn([512, 10], { rng }).mul(1 / Math.sqrt(512)).detach().setRequiresGrad();
let b2 = randn([10], { rng }).mul(0).detach().setRequiresGrad();
const lr = 0.05;
let loss0 = null;
let lossN = null;
function step() {
  const loss = tidy(() => {
    const h = x.matmul(w1).add(b1).relu();
    const logits = h.matmul(w2).add(b2);
    const loss = logits.logSoftmax(-1).gather(1, labels).mean().neg();
    loss.backward();
    const next = noGrad(() => [w1, b1, w2, b2].map((p) => keep(p.sub(p.grad.mul(lr)).setRequiresGrad())));
    for (const p of [w1, b1, w2, b2]) p.dispose();
    [w1, b1, w2, b2] = next;
    return loss.detach();
  });
  const v = loss.itemSync();
  loss.dispose();
  return v;
}
const msStep = timeMs(() => {
  const v = step();
  loss0 ??= v;
  lossN = v;
}, { warmup: 2, runs: 7 });
console.log(`| MLP step 512→512→10, B=256 (fwd+bwd+SGD) | f32 | ${msStep.toFixed(1)} | – |`);
report(WORKLOADS.mlp, 'stablerl cpu', msStep, 'ms');
console.log(`\n(loss went ${loss0.toFixed(4)} → ${lossN.toFixed(4)} over the timed steps, so the step really trains)\n`);
