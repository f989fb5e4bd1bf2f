/**
 * route(): gate modes against a float64 reference of their textbook definitions, live selection
 * (top-k, ties → lower id), replay semantics (ids from the replay array, weights recomputed from
 * the live logits: docs/paper.md §2.1), the gradient restricted to the selected experts' logits, and
 * the typed errors of a bad replay.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError, ReplayMismatchError, Rng, gradcheck, tensor, ValueError } from '../../src/index.js';
import { GATE_MODES, Router, gateWeights, route, routerLogits, type GateMode } from '../../src/moe/index.js';
import { expectClose, GC } from '../helpers/assert.js';
import { gateRef, randF64, topkRef } from '../helpers/moe.js';
import { arr } from '../helpers/tensors.js';

const caseArb = fc.record({
  n: fc.integer({ min: 1, max: 5 }),
  e: fc.integer({ min: 1, max: 6 }),
  seed: fc.integer({ min: 0, max: 1e6 }),
  mode: fc.constantFrom<GateMode>(...GATE_MODES),
}).chain((c) => fc.record({ c: fc.constant(c), k: fc.integer({ min: 1, max: c.e }) }));

describe('route: live', () => {
  it('indices = top-k of the logits, weights = the mode formula over them (float64 reference)', () => {
    fc.assert(
      fc.property(caseArb, ({ c: { n, e, seed, mode }, k }) => {
        const logits = randF64(new Rng(seed), [n, e], -3, 3);
        const r = route(logits, k, mode);
        expect(r.indices.dtype).toBe('i32');
        expect(r.indices.shape).toEqual([n, k]);
        expect(r.weights.shape).toEqual([n, k]);
        const L = arr(logits);
        const idx = arr(r.indices);
        const w = arr(r.weights);
        for (let t = 0; t < n; t++) {
          const row = L.slice(t * e, (t + 1) * e);
          const ch = topkRef(row, k);
          expect(idx.slice(t * k, (t + 1) * k)).toEqual(ch);
          expectClose(w.slice(t * k, (t + 1) * k), gateRef(row, ch, mode), { rtol: 1e-13, atol: 1e-15, what: `${mode} token ${t}` });
          if (mode !== 'sigmoid' || k > 1) expect(Math.abs(w.slice(t * k, (t + 1) * k).reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-14);
        }
      }),
      { numRuns: 80 },
    );
  });

  it('ties go to the lower expert id', () => {
    const logits = tensor([[1, 2, 2, 2, 0]], { dtype: 'f64' });
    expect(arr(route(logits, 2, 'softmax-topk').indices)).toEqual([1, 2]);
    expect(arr(route(logits, 2, 'sigmoid').indices)).toEqual([1, 2]);
  });

  it('softmax-topk and topk-softmax agree (renormalised, they are the same function); sigmoid with k = 1 is the raw score', () => {
    const logits = randF64(new Rng(3), [4, 6], -2, 2);
    expect(arr(route(logits, 3, 'softmax-topk').weights)).toEqual(arr(route(logits, 3, 'topk-softmax').weights));
    const s = route(logits, 1, 'sigmoid');
    const L = arr(logits);
    arr(s.indices).forEach((ex, t) => expect(arr(s.weights)[t]).toBeCloseTo(1 / (1 + Math.exp(-L[t * 6 + ex]!)), 15));
  });

  it('the indices carry no gradient; the weights gradcheck w.r.t. the logits (distinct logits)', () => {
    for (const mode of GATE_MODES) {
      const logits = randF64(new Rng(11), [3, 5], -2, 2).setRequiresGrad();
      const r = route(logits, 2, mode);
      expect(r.indices.requiresGrad).toBe(false);
      expect(r.indices.gradNode).toBeNull();
      expect(gradcheck((l) => route(l, 2, mode).weights, [logits.detach()], GC)).toBe(true);
    }
  });
});

describe('route: replay', () => {
  it('indices come from the replay array; weights are the mode formula over the LIVE logits of those experts', () => {
    fc.assert(
      fc.property(caseArb, fc.integer({ min: 0, max: 1e6 }), ({ c: { n, e, seed, mode }, k }, seed2) => {
        const logits = randF64(new Rng(seed), [n, e], -3, 3);
        const rng = new Rng(seed2);
        // a random k-subset per token, in random order (not the top k)
        const replay = new Int32Array(n * k);
        for (let t = 0; t < n; t++) {
          const perm = Array.from({ length: e }, (_, i) => i);
          const u = rng.uniform(e);
          perm.sort((a, b) => u[a]! - u[b]!);
          replay.set(perm.slice(0, k), t * k);
        }
        const r = route(logits, k, mode, replay);
        expect(arr(r.indices)).toEqual(Array.from(replay));
        const L = arr(logits);
        const w = arr(r.weights);
        for (let t = 0; t < n; t++) {
          const ch = Array.from(replay.subarray(t * k, (t + 1) * k));
          expectClose(w.slice(t * k, (t + 1) * k), gateRef(L.slice(t * e, (t + 1) * e), ch, mode), { rtol: 1e-13, atol: 1e-15, what: `${mode} token ${t}` });
        }
        // a tensor replay gives the same result as the array
        const rt = route(logits, k, mode, tensor(replay, { dtype: 'i32', shape: [n, k] }));
        expect(arr(rt.weights)).toEqual(w);
      }),
      { numRuns: 80 },
    );
  });

  it('replaying the live choice reproduces the live weights bit for bit', () => {
    for (const mode of GATE_MODES) {
      const logits = randF64(new Rng(5), [6, 8], -2, 2);
      const live = route(logits, 3, mode);
      const rep = route(logits, 3, mode, live.indices.toArraySync() as Int32Array);
      expect(arr(rep.weights)).toEqual(arr(live.weights));
    }
  });

  it('under replay d(weights)/d(logits) is exactly zero in every unselected column, and gradchecks', () => {
    for (const mode of GATE_MODES) {
      const n = 4;
      const e = 6;
      const k = 2;
      const replay = Int32Array.from([5, 0, 2, 3, 1, 4, 3, 2]);
      const logits = randF64(new Rng(8), [n, e], -2, 2).setRequiresGrad();
      const r = route(logits, k, mode, replay);
      r.weights.mul(randF64(new Rng(9), [n, k])).sum().backward();
      const g = arr(logits.grad!);
      for (let t = 0; t < n; t++) {
        const sel = new Set(replay.subarray(t * k, (t + 1) * k));
        for (let ex = 0; ex < e; ex++) {
          if (sel.has(ex)) expect(g[t * e + ex], `${mode} t${t} e${ex}`).not.toBe(0);
          else expect(Object.is(g[t * e + ex], 0) || Object.is(g[t * e + ex], -0), `${mode} t${t} e${ex}`).toBe(true);
        }
      }
      expect(gradcheck((l) => route(l, k, mode, replay).weights, [logits.detach()], GC)).toBe(true);
    }
  });

  it('a replay of the wrong length, an out-of-range id or a repeated id throws ReplayMismatchError (never live routing)', () => {
    const logits = randF64(new Rng(1), [3, 4]);
    expect(() => route(logits, 2, 'softmax-topk', Int32Array.from([0, 1, 2, 3]))).toThrow(ReplayMismatchError);
    expect(() => route(logits, 2, 'softmax-topk', Int32Array.from([0, 1, 2, 3, 0, 4]))).toThrow(/out of range for 4 experts/);
    expect(() => route(logits, 2, 'softmax-topk', Int32Array.from([0, 1, 2, 2, 0, 1]))).toThrow(/token 1 replays expert 2 twice/);
    expect(() => route(logits, 2, 'softmax-topk', Int32Array.from([0, 1, 2, 2, 0, 1]))).toThrow(ReplayMismatchError);
  });

  it('bad arguments: unknown mode → ConfigError, k outside 1..E → ValueError', () => {
    const logits = randF64(new Rng(1), [3, 4]);
    expect(() => route(logits, 2, 'softmax' as GateMode)).toThrow(ConfigError);
    expect(() => route(logits, 5, 'sigmoid')).toThrow(ValueError);
    expect(() => route(logits, 0, 'sigmoid')).toThrow(ValueError);
    expect(() => gateWeights(logits, tensor([[0]], { dtype: 'i32' }), 'nope' as GateMode)).toThrow(ConfigError);
  });
});

describe('Router', () => {
  it('logits = x·W_rᵀ with W_r [E, D] and no bias; seeded init U(−1/√D, 1/√D)', () => {
    const r = new Router(4, 3, { rng: new Rng(2), dtype: 'f64' });
    expect(r.weight.shape).toEqual([3, 4]);
    expect([...r.namedParameters()].map(([n]) => n)).toEqual(['weight']);
    expect(arr(r.weight).every((v) => Math.abs(v) <= 0.5)).toBe(true);
    const x = randF64(new Rng(4), [2, 4]);
    const W = arr(r.weight);
    const X = arr(x);
    const ref = [0, 1].flatMap((t) => [0, 1, 2].map((e) => [0, 1, 2, 3].reduce((s, i) => s + X[t * 4 + i]! * W[e * 4 + i]!, 0)));
    expectClose(arr(r.forward(x)), ref, { rtol: 1e-14, atol: 1e-15, what: 'logits' });
    expect(gradcheck((a, w) => routerLogits(a, w), [x, r.weight.detach()], GC)).toBe(true);
    expect(arr(new Router(4, 3, { rng: new Rng(2), dtype: 'f64' }).weight)).toEqual(W);
  });
});
