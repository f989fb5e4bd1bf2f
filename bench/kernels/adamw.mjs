// Micro-benchmark of the CPU AdamW update: the composed tensor ops (adamwUpdateComposed, "v1",
// 14 elementwise passes) against the fused kernel (src/tensor/cpu/optim.ts, one pass), on the
// parameter shapes of moe-small (6.3 M f32 parameters), alternating the two in one process.
// Needs a build first: `npx tsc -p tsconfig.build.json && node bench/kernels/adamw.mjs`.
import os from 'node:os';
import { moe, noGrad, tidy, Rng, randn } from '../../dist/index.js';
import { adamwUpdateComposed, adamwUpdateFused } from '../../dist/nn/optim.js';
import { median } from '../util.mjs';

const model = new moe.MoETransformer(moe.MOE_PRESETS['moe-small'], { rng: new Rng(1) });
const params = model.parameters();
const rng = new Rng(2);
const grads = params.map((p) => randn(p.shape, { rng }).mul(1e-2));
const a = params.map((p) => ({ p: p.detach(), m: randn(p.shape, { rng }).mul(1e-3), v: randn(p.shape, { rng }).square().mul(1e-3) }));
const b = a.map((x) => ({ p: x.p.detach(), m: x.m.detach(), v: x.v.detach() }));
const s = { beta1: 0.9, beta2: 0.999, eps: 1e-8, lr: 1e-3, weightDecay: 1e-2, bc1: 1 - 0.9 ** 5, bc2: 1 - 0.999 ** 5 };
const n = params.reduce((q, p) => q + p.size, 0);

const times = { composed: [], fused: [] };
for (let i = 0; i < 9; i++) {
  for (const [name, st, fn] of [['composed', a, adamwUpdateComposed], ['fused', b, adamwUpdateFused]]) {
    const t0 = performance.now();
    noGrad(() => st.forEach((x, j) => tidy(() => fn(x.p, grads[j], x.m, x.v, s))));
    if (i >= 2) times[name].push(performance.now() - t0);
  }
}
let same = true;
for (let j = 0; j < params.length && same; j++) {
  const x = a[j].p.toArraySync();
  const y = b[j].p.toArraySync();
  for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i])) same = false;
}
console.log(`machine: ${os.cpus()[0]?.model} ×${os.cpus().length}, node ${process.version}, load ${os.loadavg()[0].toFixed(2)}`);
console.log(`\n| AdamW step, moe-small (${(n / 1e6).toFixed(2)} M f32 params, ${params.length} tensors) | median ms (7) |`);
console.log('|---|---|');
console.log(`| v1 composed tensor ops | ${median(times.composed).toFixed(1)} |`);
console.log(`| v2 fused CPU kernel | ${median(times.fused).toFixed(1)} |`);
console.log(`\nspeed-up ${(median(times.composed) / median(times.fused)).toFixed(1)}×; parameters after 9 steps bitwise equal: ${same}`);
