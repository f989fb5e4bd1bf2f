// One global step of the default `stablerl train` run (sorting, moe-tiny, 16 prompts × 8
// responses, MiniRL, N = 1, the exact engine): rollout, π_old, advantages, one update and the
// weight sync, on the CPU and, when an adapter can be had, on WebGPU. Each device first runs the
// same short cold start as the CLI (so rewards are not all zero), then one warm-up step; the
// figure is the median of 7 steps, with the median time of each phase beside it.
import { Rng, deviceInfo, rl } from 'stablerl';
import { benchDevices, median, report, WORKLOADS } from './util.mjs';

const { Trainer, coldStart, tasks } = rl;

async function trainerSteps(device, runs) {
  const task = tasks.makeTask('sorting', { length: 3 });
  const trainer = new Trainer(task, { device, steps: runs + 1, promptsPerStep: 16, groupSize: 8, lr: 5e-4, loss: 'minirl', seed: 0 });
  await coldStart(trainer, tasks.demonstrations(task, 'canonical', 4096, new Rng(99)), { steps: 40, batchSize: 32 });
  const total = [];
  const phases = { rollout: [], oldLogp: [], update: [] };
  for (let i = 0; i < runs + 1; i++) {
    const t0 = performance.now();
    const m = await trainer.trainStep();
    if (i === 0) continue;
    total.push(performance.now() - t0);
    for (const k of Object.keys(phases)) phases[k].push(m.seconds[k] * 1000);
  }
  return { ms: median(total), phases: Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, median(v)])) };
}

const devices = await benchDevices('webgpu row');
console.log(`## Trainer: one global step of the default run${devices.includes('webgpu') ? ` (webgpu: ${deviceInfo().adapter})` : ''}\n`);
console.log('| device | ms/step | rollout ms | π_old ms | update ms |');
console.log('|---|---|---|---|---|');
for (const device of devices) {
  const { ms, phases } = await trainerSteps(device, 7);
  console.log(`| ${device} | ${ms.toFixed(0)} | ${phases.rollout.toFixed(0)} | ${phases.oldLogp.toFixed(0)} | ${phases.update.toFixed(0)} |`);
  report(WORKLOADS.trainerStep, `stablerl ${device}`, ms, 'ms');
}
console.log('');
