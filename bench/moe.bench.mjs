// MoE models (presets moe-tiny, moe-small of src/moe/config.ts): one training step (forward +
// backward + AdamW on B×T tokens) and batched generation tokens/s with the inference engine, on
// the CPU and, when an adapter can be had, on WebGPU. Medians of repeated runs. On WebGPU a second row,
// "webgpu v1", runs the original kernels and the original dense expert dispatch in the same
// process (bench/kernels/webgpu-versions.mjs), so old and new are timed under the same load.
import { Rng, initWebGpu, deviceInfo, webgpuBackend, randint, tidy, withFlags, nn, moe } from 'stablerl';
import { median, report, WORKLOADS } from './util.mjs';
import { WEBGPU_V1_FLAGS } from './kernels/webgpu-versions.mjs';

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
  return (B * newTokens) / (median(times) / 1000);
}

const devices = ['cpu'];
try {
  await initWebGpu();
  devices.push('webgpu');
} catch (e) {
  console.log(`(webgpu rows skipped: ${e.message})`);
}
console.log(`## MoE models${devices.includes('webgpu') ? ` (webgpu: ${deviceInfo().adapter})` : ''}\n`);
console.log('| model | device | train step B×T (fwd+bwd+AdamW) | ms/step | generation B×new | tokens/s |');
console.log('|---|---|---|---|---|---|');
for (const name of ['moe-tiny', 'moe-small']) {
  for (const device of devices) {
    const [B, T] = name === 'moe-tiny' ? [8, 32] : [8, 64];
    const ms = await trainStep(name, device, B, T, 7);
    const tps = await generation(name, device, 8, 8, 16, 7);
    console.log(`| ${name} | ${device} | ${B}×${T} | ${ms.toFixed(0)} | 8×16 | ${tps.toFixed(0)} |`);
    const tiny = name === 'moe-tiny';
    report(WORKLOADS[tiny ? 'tinyTrain' : 'smallTrain'], `stablerl ${device}`, ms, 'ms');
    report(WORKLOADS[tiny ? 'tinyGen' : 'smallGen'], `stablerl ${device}`, tps, 'tok/s');
    if (device === 'webgpu') {
      await withFlags(WEBGPU_V1_FLAGS, async () => {
        const ms1 = await trainStep(name, device, B, T, 3, 'dense');
        const tps1 = await generation(name, device, 8, 8, 16, 3, 'dense');
        console.log(`| ${name} | webgpu v1 (original kernels, dense dispatch) | ${B}×${T} | ${ms1.toFixed(0)} | 8×16 | ${tps1.toFixed(0)} |`);
      });
    }
  }
}
console.log('');
