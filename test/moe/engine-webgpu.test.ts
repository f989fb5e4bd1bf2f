/**
 * The inference engine on WebGPU (skipped, with the reason printed, where no adapter exists):
 * its decode paths must compute the same values as the first version. The current path keeps
 * each layer's chosen expert ids on the device and reads them back once per step
 * (InferenceEngine.deviceRouting) and runs RoPE, RMSNorm, decode attention, the KV cache growth and the expert
 * mix as one fused kernel each (FUSED_ROPE, FUSED_RMSNORM, FUSED_ATTENTION,
 * InferenceEngine.fusedMix); the first awaited the ids per layer and composed them from their ops. Same tokens, μ and
 * routing bit for bit, and, in the exact profile, μ equals the trainer's GPU log-probs bit for
 * bit (the property the CPU suite, engine.test.ts, checks on the CPU).
 */
import { afterEach, expect, it } from 'vitest';
import { Rng, tensor, type Tensor } from '../../src/index.js';
import { InferenceEngine, MOE_TINY, MoETransformer, RoutingTrace, sequenceLogProbs, type GeneratedSequence } from '../../src/moe/index.js';
import { FUSED_ATTENTION, FUSED_ROPE } from '../../src/nn/attention.js';
import { FUSED_RMSNORM } from '../../src/nn/layers.js';
import { describeGpu } from '../tensor/webgpu/gpu.js';

const prompts = (count: number, len: number, seed: number) => {
  const r = new Rng(seed);
  return Array.from({ length: count }, () => Array.from(r.int(len, MOE_TINY.vocabSize)));
};
const flat = (res: GeneratedSequence[]) => JSON.stringify(res.map((s) => [s.tokens, s.logProbs, s.routing.toJSON().layers]));

describeGpu('InferenceEngine on WebGPU', () => {
  afterEach(() => {
    InferenceEngine.deviceRouting = true;
    InferenceEngine.fusedMix = true;
    FUSED_ROPE.current = true;
    FUSED_RMSNORM.current = true;
    FUSED_ATTENTION.current = true;
  });

  it('device-side routing and the fused RoPE, RMSNorm, attention and expert mix give the first version\'s tokens, μ and routing bit for bit (exact and reduction-order profiles)', async () => {
    const model = new MoETransformer(MOE_TINY, { rng: new Rng(1), device: 'webgpu' });
    for (const profile of ['exact', 'reduction-order']) {
      const eng = new InferenceEngine(model, { profile });
      const out: string[] = [];
      for (const on of [false, true]) {
        InferenceEngine.deviceRouting = InferenceEngine.fusedMix = FUSED_ROPE.current = FUSED_RMSNORM.current = FUSED_ATTENTION.current = on;
        out.push(flat(await eng.generate(prompts(4, 5, 2), { maxNewTokens: 8, rng: new Rng(3), temperature: 0.7 })));
      }
      expect(out[1]).toBe(out[0]);
    }
  });

  it('exact profile: μ equals the trainer log-probs on the GPU bit for bit, and the routing agrees', async () => {
    const model = new MoETransformer(MOE_TINY, { rng: new Rng(1), device: 'webgpu' });
    const eng = new InferenceEngine(model, { profile: 'exact' });
    const res = await eng.generate(prompts(4, 5, 2), { maxNewTokens: 10, rng: new Rng(3), temperature: 0.7 });
    const L = res[0]!.tokens.length;
    const tokens: Tensor = tensor(Int32Array.from(res.flatMap((r) => r.tokens)), { shape: [res.length, L], dtype: 'i32', device: 'webgpu' });
    const live = sequenceLogProbs(model, tokens, { temperature: 0.7 });
    const lp = await live.logp.toArray();
    let equal = 0;
    let n = 0;
    res.forEach((r, b) => r.logProbs.forEach((mu, j) => {
      if (Object.is(mu, lp[b * (L - 1) + r.promptLength - 1 + j])) equal++;
      n++;
    }));
    expect(n).toBe(40);
    expect(equal).toBe(n);
    await live.routing.resolve();
    expect(RoutingTrace.concat(res.map((r) => r.routing), 'batch').equals(live.routing)).toBe(true);
  });
});
