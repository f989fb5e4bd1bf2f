/**
 * The theory module's exact expectations (src/rl/theory) against independent computations:
 * brute-force loops over every response for the values, the project's autograd (f64) for the
 * gradients, and per-response autograd gradients for the variance. Then the claims of
 * docs/theory.md about the estimators' bias and variance (docs/paper.md §1, Eq. 2 vs Eq. 4).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError, grad, tensor, type Tensor } from '../../../src/index.js';
import {
  ESTIMATORS, checkEstimator, estimatorCoefficients, estimatorMoments, expectedGradient, jSeq, jSeqGradient, jSeqValue, klSequence,
  sequenceSpace, table, perSequence, tabularPolicy, tokenLogProbs, tokenLogp, biasVarianceSetup, sharedPolicy,
  type EstimatorName, type SequenceSpace,
} from '../../../src/rl/theory/index.js';
import { valueArb, valuesArb } from '../../helpers/arbitraries.js';
import { expectClose } from '../../helpers/assert.js';

const RUNS = { numRuns: 30 } as const;

const spaces = new Map<string, SequenceSpace>();
const spaceFor = (V: number, T: number): SequenceSpace => {
  const k = `${V}x${T}`;
  if (!spaces.has(k)) spaces.set(k, sequenceSpace(V, T));
  return spaces.get(k)!;
};

interface Draw { V: number; T: number; theta: number[]; muLogits: number[]; old: number[]; reward: number[] }

/** A random tabular world: θ, an independent μ (full support), an independent π_old, rewards. */
const drawArb: fc.Arbitrary<Draw> = fc
  .record({ V: fc.integer({ min: 2, max: 3 }), T: fc.integer({ min: 1, max: 3 }) })
  .chain(({ V, T }) => {
    const sp = spaceFor(V, T);
    const k = sp.numPrefixes * V;
    const arr = (n: number, lo: number, hi: number) => valuesArb(n, valueArb(lo, hi));
    return fc.record({
      V: fc.constant(V), T: fc.constant(T), theta: arr(k, -2, 2), muLogits: arr(k, -2, 2), old: arr(k, -2, 2),
      reward: fc.oneof(arr(sp.numSeqs, -1, 1), fc.array(fc.constantFrom(0, 1), { minLength: sp.numSeqs, maxLength: sp.numSeqs })),
    });
  });

// ---------- brute force, written without the module ----------

/** π(y_t | prefix) by a direct softmax of the row, for response n and position t. */
function bruteTokenProb(sp: SequenceSpace, z: ArrayLike<number>, n: number, t: number, v?: number): number {
  const V = sp.vocab;
  const r = sp.rows[n * sp.length + t]!;
  let s = 0;
  for (let w = 0; w < V; w++) s += Math.exp(z[r * V + w]!);
  return Math.exp(z[r * V + (v ?? sp.tokens[n * sp.length + t]!)]!) / s;
}
function bruteSeqProb(sp: SequenceSpace, z: ArrayLike<number>, n: number): number {
  let p = 1;
  for (let t = 0; t < sp.length; t++) p *= bruteTokenProb(sp, z, n, t);
  return p;
}

/** c_t(y) of each estimator, from docs/theory.md's table, in plain loops. */
function bruteCoef(name: EstimatorName, sp: SequenceSpace, z: number[], old: number[], mu: number[], R: number[], n: number, t: number): number {
  let b = 0;
  for (let m = 0; m < sp.numSeqs; m++) b += bruteSeqProb(sp, mu, m) * R[m]!;
  const A = R[n]! - b;
  const pi = bruteTokenProb(sp, z, n, t);
  const po = bruteTokenProb(sp, old, n, t);
  const pm = bruteTokenProb(sp, mu, n, t);
  const seq = bruteSeqProb(sp, z, n) / bruteSeqProb(sp, mu, n);
  const r = pi / po;
  switch (name) {
    case 'no-is': return A;
    case 'token-is': return (pi / pm) * A;
    case 'token-tis': return Math.min(po / pm, 2) * r * A;
    case 'minirl-noclip': return Math.min(pi / pm, 5) * A;
    case 'minirl': return (A > 0 && r > 1.27) || (A < 0 && r < 0.8) ? 0 : Math.min(pi / pm, 5) * A;
    case 'seq-is': return seq * A;
    case 'gspo': return seq ** (1 / sp.length) * A;
  }
}

const vals = (t: Tensor): Float64Array => t.toArraySync() as Float64Array;

describe('exact expectations equal brute-force summation (random tabular worlds)', () => {
  it('J_seq, ∇J_seq, token log-probs and KL', () => {
    fc.assert(fc.property(drawArb, (d) => {
      const sp = spaceFor(d.V, d.T);
      const policy = tabularPolicy(sp);
      const theta = Float64Array.from(d.theta);
      let want = 0;
      for (let n = 0; n < sp.numSeqs; n++) want += bruteSeqProb(sp, d.theta, n) * d.reward[n]!;
      expectClose([jSeqValue(policy, theta, d.reward)], [want], { tol: 1e-12, what: 'J_seq' });
      const auto = vals(grad((x) => jSeq(sp, x, perSequence(sp, d.reward)), [table(sp, d.theta)])[0]!);
      expectClose(jSeqGradient(policy, theta, d.reward), auto, { tol: 1e-12, what: '∇J_seq' });
      const lp = tokenLogProbs(sp, d.theta);
      expectClose(lp, vals(tokenLogp(sp, table(sp, d.theta))), { tol: 1e-12, what: 'log π' });
      let kl = 0;
      for (let n = 0; n < sp.numSeqs; n++) {
        const p = bruteSeqProb(sp, d.muLogits, n);
        kl += p * Math.log(p / bruteSeqProb(sp, d.theta, n));
      }
      expectClose([klSequence(sp, tokenLogProbs(sp, d.muLogits), lp)], [kl], { tol: 1e-10, what: 'KL' });
    }), RUNS);
  });

  it('every estimator: mean = autograd gradient of Σ_y μ(y) Σ_t sg[c_t] log π_θ, variance = per-response sum', () => {
    fc.assert(fc.property(drawArb, fc.constantFrom(...ESTIMATORS), (d, name) => {
      const sp = spaceFor(d.V, d.T);
      const policy = tabularPolicy(sp);
      const theta = Float64Array.from(d.theta);
      const inputs = { policy, theta, reward: d.reward, logpOld: tokenLogProbs(sp, d.old), logpMu: tokenLogProbs(sp, d.muLogits) };
      const m = estimatorMoments(name, inputs);
      expectClose(expectedGradient(name, inputs), m.mean, { tol: 1e-12, what: `${name} mean vs moments` });
      // Per response, g(y) = ∇ Σ_t c_t log π_θ(y_t) through autograd; then the mean and E‖g‖².
      const T = sp.length;
      const mean = new Float64Array(theta.length);
      let second = 0;
      for (let n = 0; n < sp.numSeqs; n++) {
        const c = new Float64Array(sp.numSeqs * T);
        for (let t = 0; t < T; t++) c[n * T + t] = bruteCoef(name, sp, d.theta, d.old, d.muLogits, d.reward, n, t);
        const ct = tensor(c, { dtype: 'f64', shape: [sp.numSeqs, T] });
        const g = vals(grad((x) => tokenLogp(sp, x).mul(ct).sum(), [table(sp, d.theta)])[0]!);
        const w = bruteSeqProb(sp, d.muLogits, n);
        let sq = 0;
        for (let i = 0; i < g.length; i++) { mean[i]! += w * g[i]!; sq += g[i]! * g[i]!; }
        second += w * sq;
      }
      expectClose(m.mean, mean, { tol: 1e-10, what: `${name} mean` });
      const variance = second - mean.reduce((s, v) => s + v * v, 0);
      expectClose([m.variance], [Math.max(0, variance)], { tol: 1e-9, what: `${name} variance` });
    }), RUNS);
  });
});

describe('sequence IS is exact; every estimator is exact at μ = π_old = π_θ', () => {
  it('seq-is: E_μ[g] = ∇J_seq to 1e-10 for any μ with full support, θ ≠ θ_old, either baseline', () => {
    fc.assert(fc.property(drawArb, fc.constantFrom('mean' as const, 'none' as const), (d, baseline) => {
      const sp = spaceFor(d.V, d.T);
      const policy = tabularPolicy(sp);
      const theta = Float64Array.from(d.theta);
      const g = expectedGradient('seq-is', { policy, theta, reward: d.reward, logpOld: tokenLogProbs(sp, d.old), logpMu: tokenLogProbs(sp, d.muLogits) }, { baseline });
      expectClose(g, jSeqGradient(policy, theta, d.reward), { tol: 1e-10, what: 'seq-is − ∇J_seq' });
    }), RUNS);
  });

  it('bias 0 (1e-10) for every estimator at μ = π_old = π_θ', () => {
    fc.assert(fc.property(drawArb, fc.constantFrom(...ESTIMATORS), (d, name) => {
      const sp = spaceFor(d.V, d.T);
      const policy = tabularPolicy(sp);
      const theta = Float64Array.from(d.theta);
      const lp = tokenLogProbs(sp, d.theta);
      const g = expectedGradient(name, { policy, theta, reward: d.reward, logpOld: lp, logpMu: lp });
      expectClose(g, jSeqGradient(policy, theta, d.reward), { tol: 1e-10, what: `${name} at μ = π` });
    }), RUNS);
  });
});

describe('bias against δ and T (docs/theory.md, figure 1)', () => {
  const TOKEN_LEVEL: EstimatorName[] = ['no-is', 'token-is', 'token-tis', 'minirl', 'minirl-noclip', 'gspo'];
  const norm = (a: ArrayLike<number>, b: ArrayLike<number>) => Math.sqrt(Array.from(a).reduce((s, v, i) => s + (v - b[i]!) ** 2, 0));

  /**
   * Keeps a draw when bias(1e-3) ≥ 5e-5, i.e. its leading coefficient |b₁| ≳ 0.05, then asserts
   * the ratio over two halvings (1e-3 → 5e-4 → 2.5e-4) is in [1.7, 2.3]. The ratio is
   * 2(1 + ε)/(1 + ε/2) with ε = (b₂/b₁)·x, so the filter keeps ε below about 0.02·|b₂|.
   * Measured with THEORY_RUNS=3000 (both properties, about 3,300 kept draws): worst |ratio − 2|
   * 0.014, against the 0.3 the bounds allow.
   */
  function expectLinear(what: string, bias: (x: number) => number): boolean {
    const b = [1e-3, 5e-4, 2.5e-4].map(bias);
    if (b[0]! < 5e-5) return false;
    for (const [i, j] of [[0, 1], [1, 2]] as const) {
      const ratio = b[i]! / b[j]!;
      worstRatio = Math.max(worstRatio, Math.abs(ratio - 2));
      if (!(ratio >= 1.7 && ratio <= 2.3)) expect.fail(`${what}: bias ratio ${ratio} over halving ${i}→${j} (biases ${b.join(', ')})`);
    }
    return true;
  }
  let worstRatio = 0;

  /**
   * First order in δ: μ = softmax(θ + δe), θ = θ_old. The bias is δ·b₁ + O(δ²), so halving δ
   * halves it (expectLinear). A draw is kept only when b₁ is not small (b₁ can vanish: T = 1
   * makes every token weight the sequence weight, and a constant reward cancels it).
   */
  it('bias is linear in δ for every estimator but seq-is (ratio over halvings ≈ 2)', () => {
    let kept = 0;
    fc.assert(fc.property(drawArb, fc.constantFrom(...TOKEN_LEVEL), (d, name) => {
      const sp = spaceFor(d.V, d.T);
      const policy = tabularPolicy(sp);
      const theta = Float64Array.from(d.theta);
      const truth = jSeqGradient(policy, theta, d.reward);
      const lp = tokenLogProbs(sp, d.theta);
      const bias = (delta: number) => norm(expectedGradient(name, {
        policy, theta, reward: d.reward, logpOld: lp, logpMu: tokenLogProbs(sp, d.theta.map((v, i) => v + delta * d.muLogits[i]!)),
      }), truth);
      if (expectLinear(`${name}, δ`, bias)) kept++;
    }), { numRuns: Number(process.env.THEORY_RUNS ?? 60) });
    expect(kept).toBeGreaterThan(12);
    if (process.env.THEORY_RUNS) console.log('worst |ratio − 2|', worstRatio, 'kept', kept);
  });

  /**
   * First order in staleness: μ = π_old, θ = θ_old + s·d. Every estimator but seq-is (which is
   * exact) and MiniRL with its mask (piecewise: the mask switches on at a finite s) has bias
   * s·b₁ + O(s²): halving s halves it (expectLinear).
   */
  it('bias is linear in the staleness s for every unmasked estimator', () => {
    let kept = 0;
    fc.assert(fc.property(drawArb, fc.constantFrom<EstimatorName>('no-is', 'token-is', 'token-tis', 'minirl-noclip', 'gspo'), (d, name) => {
      const sp = spaceFor(d.V, d.T);
      const policy = tabularPolicy(sp);
      const lp = tokenLogProbs(sp, d.theta);
      const bias = (s: number) => {
        const theta = Float64Array.from(d.theta, (v, i) => v + s * d.old[i]!);
        return norm(expectedGradient(name, { policy, theta, reward: d.reward, logpOld: lp, logpMu: lp }), jSeqGradient(policy, theta, d.reward));
      };
      if (expectLinear(`${name}, s`, bias)) kept++;
    }), { numRuns: Number(process.env.THEORY_RUNS ?? 60) });
    expect(kept).toBeGreaterThan(12);
    if (process.env.THEORY_RUNS) console.log('worst |ratio − 2|', worstRatio, 'kept', kept);
  });

  /**
   * Growth in T holds in figure 1's world (parameters shared across positions, one reward point
   * per position), not in general: the maths gives no rate in T, and with a table of free logits
   * per prefix the bias flattens once deep prefixes carry little probability. Observed there:
   * the bias norm grows by 1.2–2.7× per doubling of T (2 → 4 → 8 and 3 → 6 → 12).
   */
  it('in figure 1\'s world the bias grows with every doubling of T, at every plotted δ', () => {
    for (const delta of [0.1, 0.3, 1]) {
      for (const chain of [[2, 4, 8], [3, 6, 12]]) {
        const byT = chain.map((T) => {
          const { sp, policy, theta, e, reward } = biasVarianceSetup(0, T);
          const z = policy.logits(theta);
          const inputs = { policy, theta, reward, logpOld: tokenLogProbs(sp, z), logpMu: tokenLogProbs(sp, z.map((v, j) => v + delta * e[j]!)) };
          const truth = jSeqGradient(policy, theta, reward);
          return Object.fromEntries(['no-is', 'token-is', 'minirl', 'gspo'].map((n) => [n, norm(expectedGradient(n as EstimatorName, inputs), truth)]));
        });
        for (const name of ['no-is', 'token-is', 'minirl', 'gspo']) {
          for (let i = 1; i < chain.length; i++) {
            const ratio = byT[i]![name]! / byT[i - 1]![name]!;
            if (!(ratio > 1.1)) expect.fail(`δ = ${delta}, ${name}: bias(T=${chain[i]}) / bias(T=${chain[i - 1]}) = ${ratio}`);
          }
        }
      }
    }
  });

  /**
   * Sequence IS pays for its exactness in variance, but not everywhere: on figure 1's grid its
   * per-sample variance is ≥ that of token-is and MiniRL's wherever δ²·T ≥ 0.36, and below that
   * the order can flip (at δ = 0.1, T = 4 the sequence estimator's variance is the smaller one).
   */
  it('variance of seq-is ≥ token estimators\' where δ²T ≥ 0.36 on the plotted grid, and not everywhere', () => {
    const lengths = [1, 2, 3, 4, 6, 8, 10, 12];
    const variance = (T: number, delta: number, name: EstimatorName) => {
      const { sp, policy, theta, e, reward } = biasVarianceSetup(0, T);
      const z = policy.logits(theta);
      return estimatorMoments(name, { policy, theta, reward, logpOld: tokenLogProbs(sp, z), logpMu: tokenLogProbs(sp, z.map((v, j) => v + delta * e[j]!)) }).variance;
    };
    for (const delta of [0.1, 0.3, 1]) {
      for (const T of lengths) {
        if (delta * delta * T < 0.36) continue;
        const seq = variance(T, delta, 'seq-is');
        for (const name of ['token-is', 'minirl'] as const) {
          const v = variance(T, delta, name);
          if (!(seq >= v)) expect.fail(`δ = ${delta}, T = ${T}: Var seq-is ${seq} < Var ${name} ${v}`);
        }
      }
    }
    expect(variance(4, 0.1, 'seq-is')).toBeLessThan(variance(4, 0.1, 'token-is'));
  });
});

describe('MiniRL\'s mask and caps at their boundaries (docs/paper.md §3, Eq. 7)', () => {
  // One token (T = 1, V = 2): π_old(0) = ½, and θ sets r = π_θ(0)/π_old(0) exactly.
  const sp = spaceFor(2, 1);
  const policy = tabularPolicy(sp);
  const old = tokenLogProbs(sp, [0, 0]);
  const thetaFor = (r: number) => Float64Array.from([Math.log(r / (2 - r)), 0]); // π_θ(0) = r/2
  const coef = (name: EstimatorName, r: number, reward: number[], opts = {}) =>
    estimatorCoefficients(name, { policy, theta: thetaFor(r), reward, logpOld: old, logpMu: old }, opts).coef[0]!;
  it('A > 0: kept at r = 1.26, masked at r = 1.28 (ε_high = 0.27); A < 0: kept at r = 0.81, masked at 0.79 (ε_low = 0.2)', () => {
    // reward [1, 0] with μ(0) = ½: Â(y = 0) = ½ > 0; reward [0, 1]: Â(y = 0) = −½ < 0.
    expect(coef('minirl', 1.26, [1, 0])).toBeCloseTo(0.5 * 1.26, 12);
    expect(coef('minirl', 1.28, [1, 0])).toBe(0);
    expect(coef('minirl-noclip', 1.28, [1, 0])).toBeCloseTo(0.5 * 1.28, 12);
    expect(coef('minirl', 0.81, [0, 1])).toBeCloseTo(-0.5 * 0.81, 12);
    expect(coef('minirl', 0.79, [0, 1])).toBe(0);
    // The other side of the band never masks: A > 0 with r < 1 − ε_low, A < 0 with r > 1 + ε_high.
    expect(coef('minirl', 0.79, [1, 0])).toBeCloseTo(0.5 * 0.79, 12);
    expect(coef('minirl', 1.28, [0, 1])).toBeCloseTo(-0.5 * 1.28, 12);
  });
  it('caps: MiniRL at 5 on π_θ/μ, token-tis at 2 on π_old/μ (then × π_θ/π_old)', () => {
    const mu = tokenLogProbs(sp, [Math.log(0.05), Math.log(0.95)]); // μ(0) = 0.05: π/μ = 10 at π = ½
    const at = (name: EstimatorName, opts = {}) =>
      estimatorCoefficients(name, { policy, theta: Float64Array.from([0, 0]), reward: [1, 0], logpOld: old, logpMu: mu }, opts).coef[0]!;
    const A = 1 - 0.05;
    expect(at('minirl')).toBeCloseTo(5 * A, 12);
    expect(at('token-is')).toBeCloseTo(10 * A, 10);
    expect(at('token-tis')).toBeCloseTo(2 * A, 12);
    expect(at('token-tis', { tisCap: Infinity })).toBeCloseTo(10 * A, 10);
  });
});

describe('shared parameters', () => {
  it('sharedPolicy: ∇J_seq through the shared parameters equals central differences of J_seq', () => {
    const sp = spaceFor(2, 3);
    for (const posScale of [0, 1]) {
      const policy = sharedPolicy(sp, posScale);
      const theta = Float64Array.from({ length: policy.numParams }, (_, i) => Math.sin(i + 1));
      const reward = Array.from({ length: sp.numSeqs }, (_, n) => n % 3);
      // J_seq through the policy vs central differences in θ.
      const g = jSeqGradient(policy, theta, reward);
      for (let k = 0; k < policy.numParams; k++) {
        const h = 1e-6;
        const up = Float64Array.from(theta); up[k]! += h;
        const dn = Float64Array.from(theta); dn[k]! -= h;
        const fd = (jSeqValue(policy, up, reward) - jSeqValue(policy, dn, reward)) / (2 * h);
        expect(Math.abs(fd - g[k]!)).toBeLessThan(1e-7);
      }
    }
  });
});

describe('bad input', () => {
  it('a ConfigError names the field and the limit', () => {
    expect(() => sequenceSpace(2, 13)).toThrow(ConfigError);
    expect(() => sequenceSpace(2, 13)).toThrow(/8192 responses exceeds the enumeration limit 4096/);
    expect(() => sequenceSpace(4, 7)).toThrow(/16384/);
    expect(() => sequenceSpace(1, 3)).toThrow(/vocab/);
    expect(() => sequenceSpace(2, 0)).toThrow(/length/);
    expect(() => sequenceSpace(2.5, 2)).toThrow(ConfigError);
    expect(() => checkEstimator('ppo')).toThrow(/unknown estimator 'ppo'; expected one of no-is, token-is/);
    const sp = spaceFor(2, 2);
    const policy = tabularPolicy(sp);
    const lp = tokenLogProbs(sp, new Float64Array(6));
    expect(() => expectedGradient('nope' as EstimatorName, { policy, theta: new Float64Array(6), reward: [0, 1, 0, 1], logpOld: lp, logpMu: lp })).toThrow(ConfigError);
    expect(() => expectedGradient('token-tis', { policy, theta: new Float64Array(6), reward: [0, 1, 0, 1], logpOld: lp, logpMu: lp }, { tisCap: 0 })).toThrow(/tisCap/);
    expect(() => expectedGradient('minirl', { policy, theta: new Float64Array(6), reward: [0, 1, 0, 1], logpOld: lp, logpMu: lp }, { epsLow: -1 })).toThrow(/epsLow/);
  });
});
