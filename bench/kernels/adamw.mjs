// Micro-benchmark of the CPU AdamW update on the parameter shapes of moe-small (6.58 M f32
// parameters, 43 tensors), the three versions alternating in one process: v1 the composed
// tensor ops (adamwUpdateComposed, 14 elementwise passes), v2 the fused JavaScript loop
// (src/tensor/cpu/kernels/adamw/js.ts), v3 WebAssembly SIMD (adamw/wasm.ts). Each version writes fresh
// output arrays, as the backend does. Median of 7 after 2 warm-ups; checks the three agree.
// Needs a build first: `npx tsc -p tsconfig.build.json && node bench/kernels/adamw.mjs`.
import os from 'node:os';
import { moe, noGrad, tidy, Rng, randn } from '../../dist/index.js';
import { adamwUpdateComposed } from '../../dist/nn/optim.js';
import { adamwInto } from '../../dist/tensor/cpu/kernels/adamw/js.js';
import { adamwWasmInto, wasmAdamWStatus } from '../../dist/tensor/cpu/kernels/adamw/wasm.js';
import { median } from '../util.mjs';

const model = new moe.MoETransformer(moe.MOE_PRESETS['moe-small'], { rng: new Rng(1) });
const params = model.parameters();
const rng = new Rng(2);
const st = params.map((p) => ({ p: p.detach(), g: randn(p.shape, { rng }).mul(1e-2), m: randn(p.shape, { rng }).mul(1e-3), v: randn(p.shape, { rng }).square().mul(1e-3) }));
const arrays = st.map((x) => ({ p: x.p.toArraySync(), g: x.g.toArraySync(), m: x.m.toArraySync(), v: x.v.toArraySync() }));
const s = { beta1: 0.9, beta2: 0.999, eps: 1e-8, lr: 1e-3, weightDecay: 1e-2, bc1: 1 - 0.9 ** 5, bc2: 1 - 0.999 ** 5 };
const n = params.reduce((q, p) => q + p.size, 0);

const results = {};
const kernel = (name, fn) => () => {
  results[name] = arrays.map((a) => {
    const out = [new Float32Array(a.p.length), new Float32Array(a.m.length), new Float32Array(a.v.length)];
    fn(a, out);
    return out;
  });
};
const versions = [
  ['v1 composed tensor ops', () => {
    // one step from the same state, as tensors (copies so every run starts equal)
    const out = noGrad(() => st.map((x) => tidy(() => {
      const [p, m, v] = [x.p.detach(), x.m.detach(), x.v.detach()];
      adamwUpdateComposed(p, x.g, m, v, s);
      return [p, m, v];
    })));
    results['v1 composed tensor ops'] = out.map((ts) => ts.map((t) => t.toArraySync()));
    out.flat().forEach((t) => t.dispose());
  }],
  ['v2 fused JavaScript loop', kernel('v2 fused JavaScript loop', (a, o) => adamwInto(a.p, a.g, a.m, a.v, ...o, s))],
  ['v3 WebAssembly SIMD', kernel('v3 WebAssembly SIMD', (a, o) => adamwWasmInto(a.p, a.g, a.m, a.v, ...o, s))],
];
const times = versions.map(() => []);
for (let i = 0; i < 9; i++) {
  versions.forEach(([, fn], j) => {
    const t0 = performance.now();
    fn();
    if (i >= 2) times[j].push(performance.now() - t0);
  });
}
const ref = results['v1 composed tensor ops'];
const same = (r) => r.every((ts, j) => ts.every((a, t) => a.every((x, i) => Object.is(x, ref[j][t][i]))));
console.log(`machine: ${os.cpus()[0]?.model} ×${os.cpus().length}, node ${process.version}, load ${os.loadavg()[0].toFixed(2)}; wasm: ${JSON.stringify(wasmAdamWStatus())}`);
console.log(`\n| AdamW step, moe-small (${(n / 1e6).toFixed(2)} M f32 params) | median ms (7) | bitwise equal to v1 |`);
console.log('|---|---|---|');
versions.forEach(([name], j) => console.log(`| ${name} | ${median(times[j]).toFixed(1)} | ${same(results[name])} |`));
