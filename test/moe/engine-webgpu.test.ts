/**
 * The inference engine on WebGPU (skipped, with the reason printed, where no adapter exists):
 * its decode paths must compute the same values whichever flags are on. The default path keeps
 * each layer's chosen expert ids on the device and reads them back once per step
 * (flag 'moe.deviceRouting') and runs RoPE, RMSNorm, decode attention, the KV cache growth and the expert
 * mix as one fused kernel each (flags 'nn.fusedRope', 'nn.fusedRmsNorm', 'nn.fusedAttention',
 * 'moe.fusedMix', which in the exact profile runs only the chosen experts); with the flags off it
 * awaits the ids per layer and composes them from their ops. The chosen-experts kernel is also
 * checked directly against the dense dispatch at moe-small's sizes. Same tokens, μ and
 * routing bit for bit, and, in the exact profile, μ equals the trainer's GPU log-probs bit for
 * bit (the property the CPU suite, engine.test.ts, checks on the CPU).
 */
import { expect, it } from 'vitest';
import { Rng, tensor, withFlags, type Tensor } from '../../src/index.js';
import { Tensor as T2, noGrad, randn, randint } from '../../src/index.js';
import type { WebGpuBackend } from '../../src/tensor/webgpu/index.js';
import { expertRows, InferenceEngine, MOE_TINY, MoETransformer, RoutingTrace, sequenceLogProbs, type GeneratedSequence } from '../../src/moe/index.js';
import { describeGpu } from '../helpers/gpu.js';

const prompts = (count: number, len: number, seed: number) => {
  const r = new Rng(seed);
  return Array.from({ length: count }, () => Array.from(r.int(len, MOE_TINY.vocabSize)));
};
const flat = (res: GeneratedSequence[]) => JSON.stringify(res.map((s) => [s.tokens, s.logProbs, s.routing.toJSON().layers]));

describeGpu('InferenceEngine on WebGPU', () => {
  it('device-side routing and the fused RoPE, RMSNorm, attention and expert mix give the composed path\'s tokens, μ and routing bit for bit (exact and reduction-order profiles)', async () => {
    const model = new MoETransformer(MOE_TINY, { rng: new Rng(1), device: 'webgpu' });
    for (const profile of ['exact', 'reduction-order']) {
      const eng = new InferenceEngine(model, { profile });
      const out: string[] = [];
      for (const on of [false, true]) {
        const flags = { 'moe.deviceRouting': on, 'moe.fusedMix': on, 'nn.fusedRope': on, 'nn.fusedRmsNorm': on, 'nn.fusedAttention': on };
        out.push(flat(await withFlags(flags, () => eng.generate(prompts(4, 5, 2), { maxNewTokens: 8, rng: new Rng(3), temperature: 0.7 }))));
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

  it('chosenExperts (only the chosen experts, fused) equals the dense dispatch and the mix bit for bit', async () => {
    const rng = new Rng(29);
    for (const [n, k, e, d, h] of [[8, 2, 16, 128, 256], [64, 2, 16, 128, 256], [5, 3, 4, 8, 12], [1, 1, 1, 4, 4]] as const) {
      const x = randn([n, d], { rng, device: 'webgpu' });
      const p = {
        router: randn([e, d], { rng, device: 'webgpu' }),
        wGate: randn([e, h, d], { rng, device: 'webgpu' }).mul(0.1),
        wUp: randn([e, h, d], { rng, device: 'webgpu' }).mul(0.1),
        wDown: randn([e, d, h], { rng, device: 'webgpu' }).mul(0.1),
      };
      const ids = randint(0, e, [n, k], { rng, device: 'webgpu' }); // repeats allowed: the kernel must not care
      const w = randn([n, k], { rng, device: 'webgpu' });
      const ref = noGrad(() => expertRows(x, ids, p, 'dense').mul(w.unsqueeze(-1)).sum(1));
      const be = x.backend as WebGpuBackend;
      const got = new T2(be.routines.chosenExperts!(x.storage, ids.storage, p.wGate.storage, p.wUp.storage, p.wDown.storage, w.storage, n, k, d, h)!, [n, d]);
      const [a, b] = [(await ref.toArray()) as Float32Array, (await got.toArray()) as Float32Array];
      expect(new Uint32Array(b.buffer)).toEqual(new Uint32Array(a.buffer));
      for (const t of [x, ids, w, ref, got, ...Object.values(p)]) t.dispose();
    }
  });
});
