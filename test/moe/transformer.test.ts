/**
 * MoETransformer and routing replay end to end:
 *  - replaying the trace a forward pass recorded reproduces its logits bit for bit (every gate
 *    mode, f32 and f64), and the R2 identity: with θ = θ_old, the training forward with the
 *    recorded trace equals the live forward, values and gradients, bit for bit;
 *  - after an update (θ ≠ θ_old) replay keeps the old experts while live routing moves;
 *  - mini-batches by sequence (trace.sliceSequences) and KV-cache decoding (traces joined
 *    along positions) reproduce the full forward bit for bit;
 *  - gradcheck (f64) of a tiny two-layer model under replay w.r.t. every parameter, the
 *    embedding table (its input) included, logits and aux loss together;
 *  - typed errors: a trace with the wrong layers / tokens / k / experts, token ids outside the
 *    vocabulary, context overflow, wrong dtypes and shapes.
 */
import { describe, expect, it } from 'vitest';
import {
  DTypeError, IndexError, ReplayMismatchError, Rng, ShapeError, gradcheck, noGrad, tensor, type Tensor,
} from '../../src/index.js';
import { KVCache } from '../../src/nn/attention.js';
import { GATE_MODES, MOE_SMALL, MOE_TINY, MoETransformer, RoutingTrace, moeConfig, type MoEConfig } from '../../src/moe/index.js';
import { expectBitwise, GC } from '../helpers/assert.js';
import { asFunctionOf } from '../helpers/moe.js';
import { arr } from '../helpers/tensors.js';

const TINY: MoEConfig = {
  vocabSize: 5, dModel: 4, nLayers: 2, nHeads: 2, nExperts: 4, topK: 2, expertHidden: 3, contextLength: 8,
  gate: 'softmax-topk', ropeTheta: 10000, auxLossCoef: 0.05, zLossCoef: 0.01, normEps: 1e-6,
};

function tokens(b: number, t: number, vocab: number, seed: number): Tensor {
  return tensor(new Rng(seed).int(b * t, vocab), { shape: [b, t], dtype: 'i32' });
}

describe('MoETransformer: structure', () => {
  it('moe-tiny: parameter names and shapes; logits [B, T, V]; a scalar aux loss; a trace per layer', () => {
    const m = new MoETransformer(MOE_TINY, { rng: new Rng(1) });
    const names = [...m.namedParameters()].map(([n, p]) => `${n} ${p.shape.join('x')}`);
    expect(names).toEqual([
      'embed.weight 32x64',
      ...[0, 1].flatMap((l) => [
        `blocks.${l}.attnNorm.weight 64`,
        ...['wq', 'wk', 'wv', 'wo'].map((w) => `blocks.${l}.attn.${w} 64x64`),
        `blocks.${l}.moeNorm.weight 64`,
        `blocks.${l}.moe.router.weight 8x64`,
        `blocks.${l}.moe.experts.wGate 8x128x64`,
        `blocks.${l}.moe.experts.wUp 8x128x64`,
        `blocks.${l}.moe.experts.wDown 8x64x128`,
      ]),
      'norm.weight 64',
      'lmHead.weight 32x64',
    ]);
    const r = m.forward(tokens(2, 5, 32, 2));
    expect(r.logits.shape).toEqual([2, 5, 32]);
    expect(r.auxLoss.shape).toEqual([]);
    expect(r.auxLoss.itemSync()).toBeGreaterThan(0);
    expect(r.routing.shape).toEqual({ numLayers: 2, batch: 2, seqLen: 5, k: 2, nExperts: 8 });
    expect(r.moe).toHaveLength(2);
    // same seed, same weights
    expect(arr(new MoETransformer(MOE_TINY, { rng: new Rng(1) }).lmHead.weight)).toEqual(arr(m.lmHead.weight));
  });

  it('the constructor validates its config (ConfigError naming the field)', () => {
    expect(() => new MoETransformer({ ...MOE_TINY, topK: 0 })).toThrow(/topK/);
    expect(() => new MoETransformer({ ...MOE_TINY, gate: 'argmax' as never })).toThrow(/gate/);
  });
});

describe('record and replay', () => {
  it('replaying the recorded trace reproduces the logits and aux loss bit for bit (every gate mode, f32 and f64)', () => {
    for (const gate of GATE_MODES) {
      for (const dtype of ['f32', 'f64'] as const) {
        const m = new MoETransformer(moeConfig('moe-tiny', { gate }), { rng: new Rng(3), dtype });
        const toks = tokens(3, 12, 32, 4);
        const live = m.forward(toks);
        const rep = m.forward(toks, { routing: live.routing });
        expectBitwise(rep.logits, live.logits, `${gate} ${dtype} logits`);
        expectBitwise(rep.auxLoss, live.auxLoss, `${gate} ${dtype} aux`);
        expect(rep.routing).toBe(live.routing);
        // and through JSON (the trace as it would be stored beside a rollout)
        const fromDisk = RoutingTrace.fromJSON(JSON.stringify(live.routing));
        expectBitwise(m.forward(toks, { routing: fromDisk }).logits, live.logits, `${gate} ${dtype} json`);
      }
    }
  });

  it('R2 identity: with θ = θ_old, the training forward with the recorded trace equals the live forward (values and gradients)', () => {
    const m = new MoETransformer(MOE_TINY, { rng: new Rng(5) });
    const toks = tokens(2, 10, 32, 6);
    // π_θold forward (no grad), which records the routing
    const old = noGrad(() => m.forward(toks));
    const loss = (logits: Tensor, aux: Tensor) => logits.logSoftmax(-1).mean().neg().add(aux);
    const liveRes = m.forward(toks);
    loss(liveRes.logits, liveRes.auxLoss).backward();
    const liveGrads = m.parameters().map((p) => arr(p.grad!));
    m.zeroGrad();
    const repRes = m.forward(toks, { routing: old.routing });
    loss(repRes.logits, repRes.auxLoss).backward();
    expectBitwise(repRes.logits, old.logits, 'replayed training forward vs θ_old forward');
    expectBitwise(repRes.logits, liveRes.logits, 'replayed vs live');
    expect(liveRes.routing.equals(old.routing)).toBe(true);
    m.parameters().forEach((p, i) => expectBitwise(arr(p.grad!), liveGrads[i]!, `grad ${i}`));
  });

  it('after an update (θ ≠ θ_old), replay keeps θ_old\'s experts while live routing moves', () => {
    const m = new MoETransformer(MOE_TINY, { rng: new Rng(7) });
    const toks = tokens(4, 16, 32, 8);
    const old = noGrad(() => m.forward(toks));
    noGrad(() => {
      for (const b of m.blocks) b.moe.router.weight.assign(b.moe.router.weight.add(tensor(new Rng(9).normal(8 * 64).map((v) => 0.3 * v), { shape: [8, 64], dtype: 'f32' })));
    });
    const live = m.forward(toks);
    const rep = m.forward(toks, { routing: old.routing });
    expect(live.routing.agreement(old.routing)).toBeLessThan(1);
    expect(rep.moe.map((r) => Array.from(r.indices.toArraySync()))).toEqual([0, 1].map((l) => Array.from(old.routing.layer(l))));
    expect(arr(rep.logits)).not.toEqual(arr(live.logits));
  });

  it('mini-batches: forwarding sequences [a, b) with trace.sliceSequences(a, b) reproduces those rows of the full forward', () => {
    const m = new MoETransformer(MOE_TINY, { rng: new Rng(10) });
    const B = 5;
    const T = 9;
    const toks = tokens(B, T, 32, 11);
    const full = m.forward(toks);
    const V = 32;
    const L = arr(full.logits);
    for (const [a, b] of [[0, 2], [2, 5], [4, 5]] as const) {
      const sub = m.forward(toks.slice(0, a, b), { routing: full.routing.sliceSequences(a, b) });
      expectBitwise(arr(sub.logits), L.slice(a * T * V, b * T * V), `sequences ${a}..${b}`);
      const subLive = m.forward(toks.slice(0, a, b));
      expect(subLive.routing.equals(full.routing.sliceSequences(a, b))).toBe(true);
    }
  });

  it('KV-cache decoding, live or replayed, reproduces the full forward; the per-step traces join into the full trace', () => {
    const m = new MoETransformer(MOE_TINY, { rng: new Rng(12) });
    const B = 2;
    const T = 7;
    const V = 32;
    const toks = tokens(B, T, V, 13);
    const full = m.forward(toks);
    const L = arr(full.logits);
    for (const replay of [false, true]) {
      const cache = new KVCache(2);
      const prompt = 3;
      const steps: RoutingTrace[] = [];
      const first = noGrad(() =>
        m.forward(toks.slice(1, 0, prompt), { cache, routing: replay ? full.routing.sliceTokens(0, prompt) : 'record' }));
      steps.push(first.routing);
      const got: number[][] = [arr(first.logits)];
      for (let t = prompt; t < T; t++) {
        const r = noGrad(() => m.forward(toks.slice(1, t, t + 1), { cache, routing: replay ? full.routing.sliceTokens(t, t + 1) : 'record' }));
        got.push(arr(r.logits));
        steps.push(r.routing);
      }
      expect(cache.length).toBe(T);
      // compare per sequence and position
      for (let b = 0; b < B; b++) {
        expectBitwise(got[0]!.slice(b * prompt * V, (b + 1) * prompt * V), L.slice(b * T * V, (b * T + prompt) * V), `prefill b${b}`);
        for (let t = prompt; t < T; t++) {
          expectBitwise(got[t - prompt + 1]!.slice(b * V, (b + 1) * V), L.slice((b * T + t) * V, (b * T + t + 1) * V), `decode b${b} t${t}`);
        }
      }
      expect(RoutingTrace.concat(steps, 'seq').equals(full.routing)).toBe(true);
      cache.dispose();
    }
  });
});

describe('gradients', () => {
  it('gradcheck (f64) of a tiny 2-layer model under replay w.r.t. every parameter (embedding table included): logits and aux loss', () => {
    for (const gate of GATE_MODES) {
      const m = new MoETransformer({ ...TINY, gate }, { rng: new Rng(14), dtype: 'f64' });
      const toks = tokens(2, 3, 5, 15);
      const trace = m.forward(toks).routing;
      const params = m.parameters();
      const f = asFunctionOf(params, () => {
        const r = m.forward(toks, { routing: trace });
        return r.logits.reshape([-1]).cat([r.auxLoss.reshape([1])], 0);
      });
      expect(gradcheck(f, params.map((p) => p.detach()), { ...GC, probes: 2 })).toBe(true);
    }
  });
});

describe('errors', () => {
  const m = new MoETransformer(TINY, { rng: new Rng(16), dtype: 'f64' });
  const toks = tokens(2, 3, 5, 17);
  const trace = m.forward(toks).routing;

  it('a trace that does not fit throws ReplayMismatchError naming what differs (layers, B, T, k, experts)', () => {
    const threeLayers = RoutingTrace.fromLayers(trace, [trace.layer(0), trace.layer(1), trace.layer(1)]);
    expect(() => m.forward(toks, { routing: threeLayers })).toThrow(/numLayers 3 ≠ 2/);
    expect(() => m.forward(toks.slice(0, 0, 1), { routing: trace })).toThrow(/batch 2 ≠ 1/);
    expect(() => m.forward(toks.slice(1, 0, 2), { routing: trace })).toThrow(/seqLen 3 ≠ 2/);
    const k1 = RoutingTrace.fromLayers({ batch: 2, seqLen: 3, k: 1, nExperts: 4 }, [0, 1].map((l) => trace.layer(l).filter((_, i) => i % 2 === 0)));
    expect(() => m.forward(toks, { routing: k1 })).toThrow(/k 1 ≠ 2/);
    const e8 = RoutingTrace.fromLayers({ batch: 2, seqLen: 3, k: 2, nExperts: 8 }, [trace.layer(0), trace.layer(1)]);
    expect(() => m.forward(toks, { routing: e8 })).toThrow(/nExperts 8 ≠ 4/);
    for (const bad of [threeLayers, k1, e8]) expect(() => m.forward(toks, { routing: bad })).toThrow(ReplayMismatchError);
    expect(() => m.forward(toks, { routing: 'live' as never })).toThrow(DTypeError);
  });

  it('token ids outside the vocabulary → IndexError; context overflow → ShapeError naming contextLength; bad dtypes/shapes', () => {
    expect(() => m.forward(tensor([[0, 5]], { dtype: 'i32' }))).toThrow(IndexError);
    expect(() => m.forward(tensor([[0, 5]], { dtype: 'i32' }))).toThrow(/token id 5 at \[0, 1\].*vocabSize 5/);
    expect(() => m.forward(tensor([[-1, 0]], { dtype: 'i32' }))).toThrow(IndexError);
    expect(() => m.forward(tokens(1, 9, 5, 1))).toThrow(ShapeError);
    expect(() => m.forward(tokens(1, 9, 5, 1))).toThrow(/contextLength 8/);
    expect(() => m.forward(tokens(1, 3, 5, 1), { positionOffset: 6 })).toThrow(/positions 6..8 exceed the contextLength 8/);
    expect(() => m.forward(tensor([[0, 1]], { dtype: 'f32' }))).toThrow(DTypeError);
    expect(() => m.forward(tensor([0, 1], { dtype: 'i32' }))).toThrow(ShapeError);
    expect(() => m.forward(toks, { cache: new KVCache(3) })).toThrow(/KV cache has 3 layers/);
  });

  it('moe-small builds and runs a forward', () => {
    const s = new MoETransformer(MOE_SMALL, { rng: new Rng(18) });
    const r = s.forward(tokens(1, 4, 64, 19));
    expect(r.logits.shape).toEqual([1, 4, 64]);
    expect(r.routing.shape).toEqual({ numLayers: 4, batch: 1, seqLen: 4, k: 2, nExperts: 16 });
  });
});
