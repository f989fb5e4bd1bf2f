// What the engine's numerics profiles cost in rollout: one rollout of the trainer's shape
// (sorting six digits, B 8 × G 8 = 64 sequences, moe-tiny, CPU) under exact, bf16 and
// fp8-e4m3, medians of 7 after a warm-up, with each profile's ratio to exact. Weights are rounded
// once per weight sync, the KV cache holds K and V already rounded, and activations are rounded
// on the f32 bits, so the low-precision profiles should stay within 1.25× of exact.
import { Rng, rl, moe } from 'stablerl';
import { median, report } from './util.mjs';

const task = rl.tasks.makeTask('sorting', { length: 6 });
const model = new moe.MoETransformer(moe.MOE_TINY, { rng: new Rng(1) });
const prompts = Array.from({ length: 64 }, (_, i) => task.sample(new Rng(i), 'train').prompt);
const PROFILES = ['exact', 'bf16', 'fp8-e4m3'];
const times = Object.fromEntries(PROFILES.map((p) => [p, []]));
const engines = Object.fromEntries(PROFILES.map((p) => [p, new moe.InferenceEngine(model, { profile: p, seed: 0 })]));
for (let i = 0; i < 8; i++) {
  // Interleaved, so every profile sees the same machine load.
  for (const p of PROFILES) {
    const t0 = performance.now();
    await engines[p].generate(prompts, { maxNewTokens: task.answerLength, rng: new Rng(7) });
    if (i > 0) times[p].push(performance.now() - t0);
  }
}
console.log('## Engine numerics profiles: one rollout, sorting 6 digits, 64 sequences, moe-tiny, CPU\n');
console.log('| profile | ms | × exact |');
console.log('|---|---|---|');
const base = median(times.exact);
for (const p of PROFILES) {
  const ms = median(times[p]);
  console.log(`| ${p} | ${ms.toFixed(0)} | ${(ms / base).toFixed(2)} |`);
  report(`rollout 64 seqs, ${p} profile (ms)`, 'stablerl cpu', ms, 'ms');
}
console.log('');
