// MoE models (presets moe-tiny, moe-small of src/moe/config.ts): one training step (forward +
// backward + AdamW on B×T tokens) and batched generation tokens/s with the inference engine, on
// the CPU and, when an adapter can be had, on WebGPU. Medians of repeated runs. On WebGPU a second row,
// "webgpu v1", runs every WebGPU flag off (bench/kernels/webgpu-versions.mjs) with the dense
// expert dispatch in the same process, so both are timed under the same load.
// A second table times the CPU at the sizes bench/torch.bench.mjs measures PyTorch at (train
// B×T = 32×64; generation of 32 new tokens after 64 prompts of 8, in ms), on the default number
// of matmul threads (the machine's cores, or STABLERL_CPU_THREADS) and on 1 thread
// (configureWasmMatmul, the only part of the CPU backend that uses worker threads).
// `--quick`: 2 timed runs at small sizes, to check that it runs (nothing reported).
import { Rng, deviceInfo, webgpuBackend, randint, tidy, withFlags, nn, moe } from 'stablerl';
import { configureWasmMatmul, wasmMatmulStatus } from '../dist/tensor/cpu/kernels/matmul/wasm.js';
import { benchDevices, median, report, WORKLOADS } from './util.mjs';
import { WEBGPU_V1_FLAGS } from './kernels/webgpu-versions.mjs';

const QUICK = process.argv.includes('--quick');
const RUNS = QUICK ? 2 : 7;

const { MoETransformer, MOE_PRESETS, InferenceEngine } = moe;
const { AdamW } = nn;

async function trainStep(name, device, B, T, runs, dispatch = 'auto') {
  const cfg = MOE_PRESETS[name];
  const model = new MoETransformer(cfg, { rng: new Rng(1), device, dispatch });
  const opt = new AdamW(model.parameters(), { lr: 1e-3 });
  const tokens = randint(0, cfg.vocabSize, [B, T + 1], { rng: new Rng(2), device: 'cpu' });
  const inputs = tokens.slice(1, 0, T).to(device);
  const targets = tokens.slice(1, 1, T + 1).to(device);
  const times = [];
  for (let i = 0; i < runs + 1; i++) {
    const t0 = performance.now();
    tidy(() => {
      const r = model.forward(inputs);
      const loss = r.logits.logSoftmax(-1).gather(-1, targets.unsqueeze(-1)).mean().neg().add(r.auxLoss);
      loss.backward();
      opt.step();
      opt.zeroGrad();
    });
    if (device === 'webgpu') await webgpuBackend().sync();
    if (i > 0) times.push(performance.now() - t0);
  }
  return median(times);
}

async function generation(name, device, B, promptLen, newTokens, runs, dispatch = 'auto') {
  const cfg = MOE_PRESETS[name];
  const model = new MoETransformer(cfg, { rng: new Rng(1), device, dispatch });
  const engine = new InferenceEngine(model);
  const r = new Rng(3);
  const prompts = Array.from({ length: B }, () => Array.from(r.int(promptLen, cfg.vocabSize)));
  const times = [];
  for (let i = 0; i < runs + 1; i++) {
    const t0 = performance.now();
    await engine.generate(prompts, { maxNewTokens: newTokens, rng: new Rng(i) });
    if (i > 0) times.push(performance.now() - t0);
  }
  return median(times);
}

const devices = await benchDevices('webgpu rows');
console.log(`## MoE models${devices.includes('webgpu') ? ` (webgpu: ${deviceInfo().adapter})` : ''}\n`);
console.log('| model | device | train step B×T (fwd+bwd+AdamW) | ms/step | generation B×new | tokens/s |');
console.log('|---|---|---|---|---|---|');
const tokPerS = (B, newTokens, ms) => (B * newTokens) / (ms / 1000);
const put = QUICK ? () => {} : report;
for (const name of ['moe-tiny', 'moe-small']) {
  for (const device of devices) {
    const [B, T] = QUICK ? [2, 8] : name === 'moe-tiny' ? [8, 32] : [8, 64];
    const [gB, gNew] = QUICK ? [2, 4] : [8, 16];
    const ms = await trainStep(name, device, B, T, RUNS);
    const tps = tokPerS(gB, gNew, await generation(name, device, gB, 8, gNew, RUNS));
    console.log(`| ${name} | ${device} | ${B}×${T} | ${ms.toFixed(0)} | ${gB}×${gNew} | ${tps.toFixed(0)} |`);
    const tiny = name === 'moe-tiny';
    put(WORKLOADS[tiny ? 'tinyTrain' : 'smallTrain'], `stablerl ${device}`, ms, 'ms');
    put(WORKLOADS[tiny ? 'tinyGen' : 'smallGen'], `stablerl ${device}`, tps, 'tok/s');
    if (device === 'webgpu') {
      await withFlags(WEBGPU_V1_FLAGS, async () => {
        const ms1 = await trainStep(name, device, B, T, QUICK ? 1 : 3, 'dense');
        const tps1 = tokPerS(gB, gNew, await generation(name, device, gB, 8, gNew, QUICK ? 1 : 3, 'dense'));
        console.log(`| ${name} | webgpu v1 (v1 flags, dense dispatch) | ${B}×${T} | ${ms1.toFixed(0)} | ${gB}×${gNew} | ${tps1.toFixed(0)} |`);
      });
    }
  }
}
console.log('');

// The sizes measured beside PyTorch, CPU only: default threads, then 1 thread.
const defaultThreads = wasmMatmulStatus().threads;
const threadCounts = defaultThreads > 1 ? [defaultThreads, 1] : [1];
put('_meta', 'stablerl cpu threads', defaultThreads, 'threads', `stablerl cpu: ${defaultThreads} matmul thread(s) by default`);
const [tB, tT] = QUICK ? [4, 16] : [32, 64];
const [gB, gPrompt, gNew] = QUICK ? [4, 8, 4] : [64, 8, 32];
console.log(`## MoE models at the PyTorch comparison sizes (cpu)\n`);
console.log(`| model | matmul threads | train step ${tB}×${tT} (fwd+CE+aux+bwd+AdamW), ms | generation ${gB} prompts × ${gPrompt} + ${gNew} new, ms | tokens/s |`);
console.log('|---|---|---|---|---|');
for (const name of ['moe-tiny', 'moe-small']) {
  const tiny = name === 'moe-tiny';
  for (const threads of threadCounts) {
    configureWasmMatmul({ threads });
    const ms = await trainStep(name, 'cpu', tB, tT, RUNS);
    const gms = await generation(name, 'cpu', gB, gPrompt, gNew, RUNS);
    console.log(`| ${name} | ${threads} | ${ms.toFixed(0)} | ${gms.toFixed(0)} | ${tokPerS(gB, gNew, gms).toFixed(0)} |`);
    const columns = [threads === defaultThreads ? 'stablerl cpu' : null, threads === 1 ? 'stablerl cpu (1 thread)' : null].filter(Boolean);
    for (const column of columns) {
      put(WORKLOADS[tiny ? 'tinyTrain32' : 'smallTrain32'], column, ms, 'ms');
      put(WORKLOADS[tiny ? 'tinyGen64' : 'smallGen64'], column, gms, 'ms');
    }
  }
  configureWasmMatmul({ threads: defaultThreads });
}
console.log('');
