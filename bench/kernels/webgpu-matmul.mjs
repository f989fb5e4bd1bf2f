// WebGPU matmul v1 (one 16×16 tiling) against v2 (tiles fitted to small m and n; src/tensor/webgpu/
// kernels/matmul.ts) in the same process, on square products and on the shapes of a moe-small
// decode step. Needs a build first: `npx tsc -p tsconfig.build.json && node bench/kernels/webgpu-matmul.mjs`.
// Prints a markdown table: best of two medians of 5 runs per version (each run waits for the GPU).
// Products with m and n above 8 run the same kernel in both versions: their v1 / v2 ratio is the
// measurement noise (large on a shared 2-core machine).
const root = new URL("../..", import.meta.url).pathname.replace(/\/$/, "");
const { initWebGpu, webgpuBackend, randn, Rng, matmulT, setFlags, resetFlags } = await import(`${root}/dist/index.js`);
const { median } = await import(`${root}/bench/util.mjs`);
try {
  await initWebGpu();
} catch (e) {
  console.log(`webgpu matmul bench skipped: ${e.message}`);
  process.exit(0);
}
const b = webgpuBackend();
const rng = new Rng(1);
const cases = [
  ['A·B 1024³', [1024, 1024], [1024, 1024], false, false],
  ['A·B 256x512x512', [256, 512], [512, 512], false, false],
  ['Aᵀ·B 1024³', [1024, 1024], [1024, 1024], true, false],
  ['A·Bᵀ 1024³', [1024, 1024], [1024, 1024], false, true],
  ['dec expert [16]8x128·(256x128)ᵀ', [16, 8, 128], [16, 256, 128], false, true],
  ['dec q 8x128·(384x128)ᵀ', [8, 128], [384, 128], false, true],
  ['dec scores [32]1x32·(16x32)ᵀ', [32, 1, 32], [32, 16, 32], false, true],
  ['dec P·V [32]1x16·16x32', [32, 1, 16], [32, 16, 32], false, false],
];
console.log(`## matmul, WebGPU (${b.describe()})\n`);
console.log('| product | v1 ms | v2 ms | v1 GFLOP/s | v2 GFLOP/s | v1 / v2 |');
console.log('|---|---|---|---|---|---|');
for (const [label, as, bs, ta, tb] of cases) {
  const x = randn(as, { rng }).to('webgpu'), y = randn(bs, { rng }).to('webgpu');
  const big = as[as.length - 1] >= 512;
  const REPS = big ? 1 : 30;
  const res = {};
  for (const v of [1, 2, 1, 2]) {
    setFlags({ 'webgpu.matmulVersion': v });
    const run = () => { const o = []; for (let i = 0; i < REPS; i++) o.push(matmulT(x, y, ta, tb)); return o; };
    for (const o of run()) o.dispose(); await b.sync();
    const ts = [];
    for (let r = 0; r < 5; r++) { const t0 = performance.now(); const o = run(); await b.sync(); ts.push((performance.now() - t0) / REPS); for (const t of o) t.dispose(); }
    res[v] = Math.min(res[v] ?? Infinity, median(ts));
  }
  resetFlags();
  const flops = 2 * (as.length === 3 ? as[0] : 1) * as[as.length - 2] * as[as.length - 1] * (tb ? bs[bs.length - 2] : bs[bs.length - 1]);
  console.log(`| ${label} | ${res[1].toFixed(3)} | ${res[2].toFixed(3)} | ${(flops / res[1] / 1e6).toFixed(1)} | ${(flops / res[2] / 1e6).toFixed(1)} | ${(res[1] / res[2]).toFixed(2)}× |`);
  x.dispose();
  y.dispose();
}
