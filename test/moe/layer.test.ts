/**
 * The MoE layer (moeForward / MoELayer):
 *  - no token dropping: the output equals a dense float64 reference that runs every expert on
 *    every token and combines the k chosen ones with the gate weights, even when every token
 *    crowds onto the same two experts;
 *  - the sparse (grouped) and dense dispatch paths agree bit for bit on the CPU, and a token's
 *    output does not depend on the batch it is in;
 *  - gradcheck (f64) under replay w.r.t. the input, the router and the three expert weights,
 *    output and auxiliary loss together, in every gate mode;
 *  - near a routing tie, central differences through LIVE routing cross an expert boundary and
 *    gradcheck fails, while the same check with the routing replayed passes;
 *  - under replay, d loss / d logits is zero in every column a token did not select (aux losses
 *    off), so the router weight rows of never-selected experts get no gradient;
 *  - the load-balancing loss and z-loss against hand computations.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Rng, ShapeError, gradcheck, gradcheckReport, noGrad, tensor, type Tensor } from '../../src/index.js';
import { GATE_MODES, MoELayer, defaultRowsPerChunk, dispatchPlan, expertRows, moeForward, type GateMode, type MoEParams } from '../../src/moe/index.js';
import { expectBitwise, expectClose, GC } from '../helpers/assert.js';
import { moeRef, randF64 } from '../helpers/moe.js';
import { arr } from '../helpers/tensors.js';

const N = 5;
const D = 4;
const E = 4;
const H = 3;
const K = 2;

function params(seed: number): MoEParams {
  const rng = new Rng(seed);
  return {
    router: randF64(rng, [E, D], -1, 1),
    wGate: randF64(rng, [E, H, D], -0.8, 0.8),
    wUp: randF64(rng, [E, H, D], -0.8, 0.8),
    wDown: randF64(rng, [E, D, H], -0.8, 0.8),
  };
}

const asArgs = (x: Tensor, p: MoEParams) => [x, p.router, p.wGate, p.wUp, p.wDown];
const fromArgs = (xs: Tensor[]): [Tensor, MoEParams] => [xs[0]!, { router: xs[1]!, wGate: xs[2]!, wUp: xs[3]!, wDown: xs[4]! }];

describe('no token dropping', () => {
  it('every token gets all k experts: output = dense reference (every expert on every token, gated), all modes', () => {
    for (const mode of GATE_MODES) {
      for (const seed of [1, 2, 3]) {
        const p = params(seed);
        const x = randF64(new Rng(100 + seed), [N, D]);
        const r = moeForward(x, p, { k: K, gate: mode });
        const ref = moeRef(x, p.router, p.wGate, p.wUp, p.wDown, K, mode);
        expect(arr(r.indices)).toEqual(ref.chosen.flat());
        expectClose(arr(r.output), ref.out, { rtol: 1e-12, atol: 1e-14, what: `${mode} seed ${seed}` });
      }
    }
  });

  it('all tokens crowding onto experts 0 and 1 (load N·k on 2 of E experts) are all served, live and replayed', () => {
    const p = params(4);
    // positive inputs and a router whose rows 0 and 1 dominate: every token picks {0, 1}
    p.router = tensor([[3, 3, 3, 3], [2, 2, 2, 2], [-1, 0, 0.5, 0], [0, -1, 0, 0.2]], { dtype: 'f64' });
    const x = randF64(new Rng(7), [16, D], 0.1, 1);
    for (const mode of GATE_MODES) {
      const r = moeForward(x, p, { k: K, gate: mode });
      expect(arr(r.indices)).toEqual(Array.from({ length: 16 }, () => [0, 1]).flat());
      expect(arr(r.expertLoad)).toEqual([0.5, 0.5, 0, 0]);
      expectClose(arr(r.output), moeRef(x, p.router, p.wGate, p.wUp, p.wDown, K, mode).out, { rtol: 1e-12, atol: 1e-14, what: mode });
      // replay an arbitrary, very unbalanced routing: everyone to {3, 2}
      const replay = Int32Array.from({ length: 32 }, (_, i) => (i % 2 === 0 ? 3 : 2));
      const rr = moeForward(x, p, { k: K, gate: mode, replay });
      const chosen = Array.from({ length: 16 }, () => [3, 2]);
      expectClose(arr(rr.output), moeRef(x, p.router, p.wGate, p.wUp, p.wDown, K, mode, chosen).out, { rtol: 1e-12, atol: 1e-14, what: `${mode} replay` });
    }
  });

  it('dispatchPlan: chunks of m rows per expert, every (token, slot) in its own row of a chunk of its expert', () => {
    const idx = Int32Array.from([1, 0, 1, 2, 0, 1]);
    // one chunk per expert (rowsPerChunk omitted): m = the largest load, tokens laid out [E, m]
    const p0 = dispatchPlan(idx, 3, 2, 3);
    expect(p0.m).toBe(3);
    expect(Array.from(p0.chunkExpert)).toEqual([0, 1, 2]);
    expect(Array.from(p0.pos)).toEqual([3, 0, 4, 6, 1, 5]);
    expect(Array.from(p0.tokens)).toEqual([0, 2, 0, 0, 1, 2, 1, 0, 0]);
    // chunks of 1 row (the layer's default m = ⌈N·k / 2E⌉ = 1 here)
    expect(defaultRowsPerChunk(3, 2, 3)).toBe(1);
    const p1 = dispatchPlan(idx, 3, 2, 3, 1);
    expect(Array.from(p1.chunkExpert)).toEqual([0, 0, 1, 1, 1, 2]);
    expect(Array.from(p1.pos)).toEqual([2, 0, 3, 5, 1, 4]);
    expect(Array.from(p1.tokens)).toEqual([0, 2, 0, 1, 2, 1]);
    const p2 = dispatchPlan(idx, 3, 2, 3, 2);
    expect(Array.from(p2.chunkExpert)).toEqual([0, 1, 1, 2]);
    expect(Array.from(p2.pos)).toEqual([2, 0, 3, 6, 1, 4]);
    expect(Array.from(p2.tokens)).toEqual([0, 2, 0, 1, 2, 0, 1, 0]);
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }).chain((e) =>
          fc.record({
            e: fc.constant(e),
            k: fc.integer({ min: 1, max: e }),
            n: fc.integer({ min: 1, max: 20 }),
            skew: fc.boolean(),
            seed: fc.nat(),
          })),
        ({ e, k, n, skew, seed }) => {
          const rng = new Rng(seed);
          const idx = new Int32Array(n * k);
          for (let t = 0; t < n; t++) {
            const perm = Array.from({ length: e }, (_, i) => i);
            const u = rng.uniform(e);
            if (!skew) perm.sort((a, b) => u[a]! - u[b]!);
            idx.set(perm.slice(0, k), t * k);
          }
          const p = dispatchPlan(idx, n, k, e, defaultRowsPerChunk(n, k, e));
          expect(new Set(p.pos).size).toBe(n * k);
          for (let t = 0; t < n; t++) {
            for (let j = 0; j < k; j++) {
              const q = p.pos[t * k + j]!;
              expect(p.tokens[q]).toBe(t);
              expect(p.chunkExpert[Math.floor(q / p.m)]).toBe(idx[t * k + j]);
            }
          }
          // padding is bounded by (m − 1) rows per used expert, however skewed the routing
          expect(p.tokens.length - n * k).toBeLessThanOrEqual(e * (p.m - 1));
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('dispatch paths and batch invariance', () => {
  it('sparse and dense dispatch give the same output bit for bit (CPU), f32 and f64', () => {
    for (const mode of GATE_MODES) {
      const p64 = params(9);
      const x64 = randF64(new Rng(10), [11, D]);
      for (const [x, p] of [[x64, p64], [x64.to('f32'), { router: p64.router.to('f32'), wGate: p64.wGate.to('f32'), wUp: p64.wUp.to('f32'), wDown: p64.wDown.to('f32') }]] as const) {
        const a = moeForward(x, p, { k: K, gate: mode, dispatch: 'sparse' });
        const b = moeForward(x, p, { k: K, gate: mode, dispatch: 'dense' });
        expectBitwise(a.output, b.output, `${mode} ${x.dtype}`);
      }
    }
  });

  it('expertRows: host ids and tensor ids, sparse and dense, give the same [N, k, D] rows bit for bit', () => {
    const p = params(15);
    const x = randF64(new Rng(16), [7, D]);
    const ids = moeForward(x, p, { k: K, gate: 'softmax-topk' }).indices;
    const host = ids.toArraySync() as Int32Array;
    const ref = expertRows(x, ids, p, 'sparse');
    expect(ref.shape).toEqual([7, K, D]);
    for (const [what, r] of [['host sparse', expertRows(x, host, p, 'sparse')], ['tensor dense', expertRows(x, ids, p, 'dense')], ['host dense', expertRows(x, host, p, 'dense')]] as const) {
      expectBitwise(r, ref, what);
    }
  });

  it("a token's output is the same bits whether it is routed alone or inside a batch", () => {
    const p = params(12);
    const x = randF64(new Rng(13), [9, D]);
    const all = arr(moeForward(x, p, { k: K, gate: 'softmax-topk' }).output);
    for (let t = 0; t < 9; t++) {
      const one = moeForward(x.slice(0, t, t + 1), p, { k: K, gate: 'softmax-topk' });
      expectBitwise(arr(one.output), all.slice(t * D, (t + 1) * D), `token ${t}`);
    }
  });
});

describe('gradients', () => {
  it('gradcheck (f64) under replay w.r.t. x, router, wGate, wUp, wDown: output and aux loss, every gate mode', () => {
    for (const mode of GATE_MODES) {
      const p = params(21);
      const x = randF64(new Rng(22), [N, D]);
      const trace = moeForward(x, p, { k: K, gate: mode }).indices.toArraySync() as Int32Array;
      const f = (...xs: Tensor[]) => {
        const [xx, pp] = fromArgs(xs);
        const r = moeForward(xx, pp, { k: K, gate: mode, replay: trace, auxLossCoef: 0.3, zLossCoef: 0.2 });
        return r.output.reshape([-1]).cat([r.auxLoss.reshape([1])], 0);
      };
      expect(gradcheck(f, asArgs(x, p), GC)).toBe(true);
    }
  });

  it('near a routing tie: live routing fails gradcheck (the central difference crosses the expert boundary), replay passes', () => {
    const p = params(31);
    const x = randF64(new Rng(32), [3, D]);
    const mode: GateMode = 'softmax-topk';
    // Make token 0's 2nd and 3rd logits differ by 1e-9: the top-2 boundary sits inside ±eps.
    const L = moeForward(x, p, { k: K, gate: mode }).logits.toArraySync();
    const order = [0, 1, 2, 3].sort((a, b) => L[b]! - L[a]!);
    const [second, third] = [order[1]!, order[2]!];
    const x0 = arr(x).slice(0, D);
    const nrm2 = x0.reduce((s, v) => s + v * v, 0);
    const R = arr(p.router);
    const shift = (L[second]! - L[third]! - 1e-9) / nrm2;
    for (let i = 0; i < D; i++) R[third * D + i] = R[third * D + i]! + shift * x0[i]!;
    p.router = tensor(R, { shape: [E, D], dtype: 'f64' });
    const live = moeForward(x, p, { k: K, gate: mode });
    const l0 = live.logits.toArraySync();
    expect(l0[second]! - l0[third]!).toBeGreaterThan(0);
    expect(l0[second]! - l0[third]!).toBeLessThan(1e-8);
    const trace = live.indices.toArraySync() as Int32Array;
    expect(Array.from(trace.subarray(0, K))).toContain(second);

    // The routing really flips inside the finite-difference step: nudging the third expert's
    // router row along x0 by ±eps selects different experts on the two sides.
    const eps = 1e-6;
    const nudged = (s: number) => {
      const Rn = R.slice();
      for (let i = 0; i < D; i++) Rn[third * D + i] = Rn[third * D + i]! + s * eps;
      return moeForward(x, { ...p, router: tensor(Rn, { shape: [E, D], dtype: 'f64' }) }, { k: K, gate: mode });
    };
    const plus = nudged(+1);
    const minus = nudged(-1);
    expect(arr(plus.indices).slice(0, K)).not.toEqual(arr(minus.indices).slice(0, K));
    // the numeric derivative jumps (an O(1) change in the output over 2·eps)
    const jump = Math.max(...arr(plus.output).slice(0, D).map((v, i) => Math.abs(v - arr(minus.output)[i]!) / (2 * eps)));
    expect(jump).toBeGreaterThan(1e3);

    const fLive = (...xs: Tensor[]) => {
      const [xx, pp] = fromArgs(xs);
      return moeForward(xx, pp, { k: K, gate: mode }).output;
    };
    const fReplay = (...xs: Tensor[]) => {
      const [xx, pp] = fromArgs(xs);
      return moeForward(xx, pp, { k: K, gate: mode, replay: trace }).output;
    };
    const liveReport = gradcheckReport(fLive, asArgs(x, p), { ...GC, eps });
    expect(liveReport.ok).toBe(false);
    expect([0, 1]).toContain(liveReport.worst!.input); // x or the router weight: what moves the logits
    expect(liveReport.worstRatio).toBeGreaterThan(1e6);
    const replayReport = gradcheckReport(fReplay, asArgs(x, p), { ...GC, eps });
    expect(replayReport.ok, `replay worst ratio ${replayReport.worstRatio}`).toBe(true);
  });

  it('under replay the router gets gradient only through the selected experts\' logits', () => {
    for (const mode of GATE_MODES) {
      const p = params(41);
      const n = 6;
      const x = randF64(new Rng(42), [n, D]);
      // a replayed routing that never uses expert 3, and is not the live top-k
      const replay = Int32Array.from([0, 1, 1, 2, 2, 0, 1, 0, 0, 2, 2, 1]);
      const router = p.router.detach().setRequiresGrad();
      const r = moeForward(x, { ...p, router }, { k: K, gate: mode, replay });
      r.logits.retainGrad();
      r.output.mul(randF64(new Rng(43), [n, D])).sum().backward();
      const g = arr(r.logits.grad!);
      for (let t = 0; t < n; t++) {
        const sel = new Set(replay.subarray(t * K, (t + 1) * K));
        for (let e = 0; e < E; e++) {
          if (sel.has(e)) expect(g[t * E + e], `${mode} token ${t} expert ${e}`).not.toBe(0);
          else expect(Math.abs(g[t * E + e]!), `${mode} token ${t} expert ${e}`).toBe(0);
        }
      }
      const gw = arr(router.grad!);
      expect(gw.slice(3 * D, 4 * D).every((v) => v === 0)).toBe(true);
      expect(gw.slice(0, 3 * D).some((v) => v !== 0)).toBe(true);
    }
  });
});

describe('auxiliary losses', () => {
  it('load-balancing loss α·E·Σ f_e·P_e and z-loss β·mean(logsumexp²) match a hand computation', () => {
    // router = identity, so the logits are x itself
    const logits = [
      [2, 1, 0],
      [0, 3, 1],
      [1, 0, 4],
      [5, 0, 1],
    ];
    const x = tensor(logits, { dtype: 'f64' });
    const rng = new Rng(1);
    const p: MoEParams = {
      router: tensor([[1, 0, 0], [0, 1, 0], [0, 0, 1]], { dtype: 'f64' }),
      wGate: randF64(rng, [3, 2, 3]), wUp: randF64(rng, [3, 2, 3]), wDown: randF64(rng, [3, 3, 2]),
    };
    const alpha = 0.01;
    const beta = 0.001;
    const r = moeForward(x, p, { k: 2, gate: 'softmax-topk', auxLossCoef: alpha, zLossCoef: beta });
    // top-2: {0,1}, {1,2}, {2,0}, {0,2} → counts [3, 2, 3] over N·k = 8 choices
    const f = [3 / 8, 2 / 8, 3 / 8];
    expect(arr(r.expertLoad)).toEqual(f);
    const sm = logits.map((row) => {
      const z = row.reduce((s, v) => s + Math.exp(v), 0);
      return row.map((v) => Math.exp(v) / z);
    });
    const P = [0, 1, 2].map((e) => sm.reduce((s, row) => s + row[e]!, 0) / 4);
    const lb = alpha * 3 * f.reduce((s, fe, e) => s + fe * P[e]!, 0);
    const z = (beta * logits.reduce((s, row) => s + Math.log(row.reduce((a, v) => a + Math.exp(v), 0)) ** 2, 0)) / 4;
    expect(r.loadBalanceLoss.itemSync()).toBeCloseTo(lb, 15);
    expect(r.zLoss.itemSync()).toBeCloseTo(z, 15);
    expect(r.auxLoss.itemSync()).toBeCloseTo(lb + z, 15);
    // perfectly balanced routing and uniform P give α·E·Σ (1/E)(1/E) = α
    const u = moeForward(tensor([[0, 0, 0], [0, 0, 0], [0, 0, 0]], { dtype: 'f64' }), p, {
      k: 1, gate: 'softmax-topk', auxLossCoef: alpha, replay: Int32Array.from([0, 1, 2]),
    });
    expect(u.loadBalanceLoss.itemSync()).toBeCloseTo(alpha, 16);
    // coefficients 0 → exactly 0 and no gradient path
    const none = moeForward(x, p, { k: 2, gate: 'softmax-topk' });
    expect(none.auxLoss.itemSync()).toBe(0);
  });
});

describe('MoELayer module', () => {
  it('parameters, shapes [..., D] in and out, and the same result as the functional core', () => {
    const m = new MoELayer(D, E, H, K, { rng: new Rng(5), dtype: 'f64', auxLossCoef: 0.01 });
    expect([...m.namedParameters()].map(([n, t]) => `${n} ${t.shape.join('x')}`)).toEqual([
      'router.weight 4x4', 'experts.wGate 4x3x4', 'experts.wUp 4x3x4', 'experts.wDown 4x4x3',
    ]);
    const x = randF64(new Rng(6), [2, 3, D]);
    const r = m.forward(x);
    expect(r.output.shape).toEqual([2, 3, D]);
    expect(r.indices.shape).toEqual([6, K]);
    const f = noGrad(() => moeForward(x.reshape([6, D]), m.params(), { k: K, gate: 'softmax-topk', auxLossCoef: 0.01 }));
    expectBitwise(r.output.reshape([6, D]), f.output, 'module vs functional');
    expect(() => m.forward(randF64(new Rng(1), [2, 5]))).toThrow(ShapeError);
  });
});
