/**
 * The policy-gradient estimators of docs/paper.md §1 and §3 as exact expectations. Each one, for
 * a response y ~ μ, is a score-function estimate
 *
 *   g(y) = Σ_t c_t(y) · ∇_θ log π_θ(y_t | y_<t),    Â(y) = R(y) − b,
 *
 * and differs only in the per-token coefficient c_t (all weights are stop-gradient, so they are
 * numbers here):
 *
 *   'no-is'          c_t = Â                                  the `wo_train-infer-is` ablation
 *   'token-is'       c_t = (π_θ(y_t)/μ(y_t))·Â                Eq. (4): ∇J_token, uncapped
 *   'token-tis'      c_t = min(π_old(y_t)/μ(y_t), C)·(π_θ(y_t)/π_old(y_t))·Â
 *                                                             token TIS on the discrepancy factor
 *                                                             times the PPO ratio, no clip
 *                                                             (verl's decoupled form), C = tisCap
 *   'minirl'         c_t = M_t·min(π_θ(y_t)/μ(y_t), C)·Â       Eq. (7), C = minirlCap (5),
 *                    M_t = 0 if Â > 0 ∧ r_t > 1+ε_high or Â < 0 ∧ r_t < 1−ε_low, r_t = π_θ/π_old
 *   'minirl-noclip'  c_t = min(π_θ(y_t)/μ(y_t), C)·Â          Eq. (7) with M_t ≡ 1
 *   'seq-is'         c_t = (π_θ(y)/μ(y))·Â                    Eq. (2): unbiased for ∇J_seq
 *   'gspo'           c_t = (π_θ(y)/μ(y))^{1/T}·Â               GSPO's geometric-mean weight
 *
 * GSPO divides the token sum by |y|; here every response has length T, so that is the constant
 * 1/T, and 'gspo' keeps the token sum so that every estimator is on the scale of ∇J_seq (at
 * μ = π_old = π_θ every one of them equals ∇J_seq exactly).
 *
 * The baseline b is E_{y~μ}[R(y)], the expectation MiniRL's advantage estimates with a group
 * mean (docs/paper.md §3), or 0 with `baseline: 'none'`. Ratios are formed in log space and are
 * not clamped: the enumerable policies here never come near the ±20 bound the losses use.
 *
 * expectedGradient = E_{y~μ}[g(y)] = Σ_y μ(y)·g(y) exactly; its bias is that minus ∇J_seq(θ).
 * estimatorVariance = E_μ‖g‖² − ‖E_μ g‖², the total per-sample variance (trace of the
 * covariance) of one response's estimate.
 */
import { ConfigError } from '../../tensor/index.js';
import { logSoftmaxRows, scoreSum, sequenceLogProbs, tokenLogProbs } from './exact.js';
import type { ExactPolicy, Routing } from './policy.js';

export const ESTIMATORS = ['no-is', 'token-is', 'token-tis', 'minirl', 'minirl-noclip', 'seq-is', 'gspo'] as const;
export type EstimatorName = (typeof ESTIMATORS)[number];

export interface EstimatorOptions {
  /** b in Â = R − b: 'mean' (E_μ[R], default) or 'none' (b = 0). */
  baseline?: 'mean' | 'none';
  /** token-tis cap C on π_old/μ (default 2, verl's and slime's default). */
  tisCap?: number;
  /** MiniRL's cap on π_θ/μ (default 5, the paper's). */
  minirlCap?: number;
  /** MiniRL's clip band (defaults 0.2 and 0.27, the paper's). */
  epsLow?: number;
  epsHigh?: number;
}

/** What an estimator is evaluated on: the policy at θ and the rollout's two old log-prob sets. */
export interface EstimatorInputs {
  policy: ExactPolicy;
  theta: Float64Array;
  /** π_θ's routing (MoE replay: R2 or R3); live routing when absent. */
  routing?: Routing;
  /** R(y), [N]. */
  reward: ArrayLike<number>;
  /** log π_old(y_t | y_<t) [N·T]: the trainer's recompute at θ_old. */
  logpOld: ArrayLike<number>;
  /** log μ(y_t | y_<t) [N·T]: the engine that sampled the rollout. */
  logpMu: ArrayLike<number>;
}

export function checkEstimator(name: string, field = 'estimator'): EstimatorName {
  if (!(ESTIMATORS as readonly string[]).includes(name)) {
    throw new ConfigError(`${field}: unknown estimator '${name}'; expected one of ${ESTIMATORS.join(', ')}`);
  }
  return name as EstimatorName;
}

function resolved(options: EstimatorOptions) {
  const o = { baseline: 'mean' as const, tisCap: 2, minirlCap: 5, epsLow: 0.2, epsHigh: 0.27, ...options };
  if (o.baseline !== 'mean' && o.baseline !== 'none') throw new ConfigError(`baseline: expected 'mean' or 'none', got '${String(o.baseline)}'`);
  for (const k of ['tisCap', 'minirlCap'] as const) {
    if (!(o[k] > 0)) throw new ConfigError(`${k}: expected a number > 0 (Infinity for no cap), got ${o[k]}`);
  }
  for (const k of ['epsLow', 'epsHigh'] as const) {
    if (!(o[k] >= 0)) throw new ConfigError(`${k}: expected a number ≥ 0, got ${o[k]}`);
  }
  return o;
}

/**
 * μ(y)·c_t(y) for every response and token, [N·T] (the probability of the response under the
 * sampler times its coefficient), plus the pieces the variance needs.
 */
export function estimatorCoefficients(name: EstimatorName, inputs: EstimatorInputs, options: EstimatorOptions = {}) {
  checkEstimator(name);
  const o = resolved(options);
  const { policy, theta, routing, reward, logpOld, logpMu } = inputs;
  const sp = policy.space;
  const T = sp.length;
  const z = policy.logits(theta, routing);
  const lp = tokenLogProbs(sp, z);
  const muSeq = sequenceLogProbs(sp, logpMu);
  const piSeq = sequenceLogProbs(sp, lp);
  let b = 0;
  if (o.baseline === 'mean') for (let n = 0; n < sp.numSeqs; n++) b += Math.exp(muSeq[n]!) * reward[n]!;
  const coef = new Float64Array(sp.tokens.length); // c_t(y), without μ(y)
  for (let n = 0; n < sp.numSeqs; n++) {
    const adv = reward[n]! - b;
    const seqRatio = Math.exp(piSeq[n]! - muSeq[n]!);
    for (let t = 0; t < T; t++) {
      const i = n * T + t;
      const rho = Math.exp(lp[i]! - logpMu[i]!); // π_θ/μ
      const r = Math.exp(lp[i]! - logpOld[i]!); // π_θ/π_old
      let c: number;
      switch (name) {
        case 'no-is': c = adv; break;
        case 'token-is': c = rho * adv; break;
        case 'token-tis': c = Math.min(Math.exp(logpOld[i]! - logpMu[i]!), o.tisCap) * r * adv; break;
        case 'minirl-noclip': c = Math.min(rho, o.minirlCap) * adv; break;
        case 'minirl': {
          const masked = (adv > 0 && r > 1 + o.epsHigh) || (adv < 0 && r < 1 - o.epsLow);
          c = masked ? 0 : Math.min(rho, o.minirlCap) * adv;
          break;
        }
        case 'seq-is': c = seqRatio * adv; break;
        case 'gspo': c = Math.exp((piSeq[n]! - muSeq[n]!) / T) * adv; break;
      }
      coef[i] = c;
    }
  }
  return { coef, z, muSeq, baseline: b };
}

/** E_{y~μ}[g(y)] exactly, [numParams]. */
export function expectedGradient(name: EstimatorName, inputs: EstimatorInputs, options: EstimatorOptions = {}): Float64Array {
  const { coef, z, muSeq } = estimatorCoefficients(name, inputs, options);
  const T = inputs.policy.space.length;
  const weighted = Float64Array.from(coef, (c, i) => c * Math.exp(muSeq[Math.floor(i / T)]!));
  return scoreSum(inputs.policy, inputs.theta, z, weighted, inputs.routing);
}

export interface EstimatorMoments {
  /** E_μ[g], [numParams]. */
  mean: Float64Array;
  /** E_μ‖g‖² − ‖E_μ g‖²: the per-sample variance (trace of the covariance of g). */
  variance: number;
}

/** The exact mean and per-sample variance of the estimator under y ~ μ. */
export function estimatorMoments(name: EstimatorName, inputs: EstimatorInputs, options: EstimatorOptions = {}): EstimatorMoments {
  const { coef, z, muSeq } = estimatorCoefficients(name, inputs, options);
  const { policy, theta, routing } = inputs;
  const sp = policy.space;
  const V = sp.vocab;
  const T = sp.length;
  const prob = logSoftmaxRows(sp, z).map(Math.exp);
  const mean = new Float64Array(policy.numParams);
  const g = new Float64Array(policy.numParams);
  const gzRow = new Float64Array(V);
  let second = 0;
  for (let n = 0; n < sp.numSeqs; n++) {
    const w = Math.exp(muSeq[n]!);
    if (w === 0) continue;
    g.fill(0);
    for (let t = 0; t < T; t++) {
      const i = n * T + t;
      const c = coef[i]!;
      if (c === 0) continue;
      const r = sp.rows[i]!;
      for (let v = 0; v < V; v++) gzRow[v] = -c * prob[r * V + v]!;
      gzRow[sp.tokens[i]!]! += c;
      policy.pullbackRow(theta, r, gzRow, g, routing);
    }
    let sq = 0;
    for (let k = 0; k < g.length; k++) {
      sq += g[k]! * g[k]!;
      mean[k]! += w * g[k]!;
    }
    second += w * sq;
  }
  let m2 = 0;
  for (let k = 0; k < mean.length; k++) m2 += mean[k]! * mean[k]!;
  return { mean, variance: Math.max(0, second - m2) };
}
