/**
 * Exact expectations over an enumerable sequence space (space.ts), in plain f64: the token and
 * sequence log-probabilities of a policy, the true objective and its gradient, score-function
 * sums, and the exact KL between two policies. These are the quantities of docs/paper.md §1:
 *
 *   Eq. (1)  J_seq(θ) = E_{y~π_θ}[R(y)] = Σ_y π_θ(y)·R(y)
 *   Eq. (2)  ∇J_seq(θ) = Σ_y π_θ(y)·R(y)·Σ_t ∇log π_θ(y_t|y_<t)
 *
 * The score of a softmax row is closed-form, ∂log π(y_t|p)/∂z[p, v] = 1[v = y_t] − π(v|p), so
 * every gradient here is a logit-space sum pulled back through the policy (policy.ts) once.
 */
import type { ExactPolicy, Routing } from './policy.js';
import { pullback } from './policy.js';
import type { SequenceSpace } from './space.js';

/** log softmax of every prefix row of a logit table [P·V]. */
export function logSoftmaxRows(space: SequenceSpace, z: ArrayLike<number>): Float64Array {
  const V = space.vocab;
  const out = new Float64Array(space.numPrefixes * V);
  for (let r = 0; r < space.numPrefixes; r++) {
    let m = -Infinity;
    for (let v = 0; v < V; v++) m = Math.max(m, z[r * V + v]!);
    let s = 0;
    for (let v = 0; v < V; v++) s += Math.exp(z[r * V + v]! - m);
    const lse = m + Math.log(s);
    for (let v = 0; v < V; v++) out[r * V + v] = z[r * V + v]! - lse;
  }
  return out;
}

/** log π(y_t | y_<t) of every response and position, [N·T], from a logit table. */
export function tokenLogProbs(space: SequenceSpace, z: ArrayLike<number>): Float64Array {
  const lsm = logSoftmaxRows(space, z);
  return Float64Array.from(space.flatIndex, (j) => lsm[j]!);
}

/** log π(y) = Σ_t log π(y_t | y_<t), [N]. */
export function sequenceLogProbs(space: SequenceSpace, tokLogp: ArrayLike<number>): Float64Array {
  const T = space.length;
  const out = new Float64Array(space.numSeqs);
  for (let n = 0; n < space.numSeqs; n++) {
    let s = 0;
    for (let t = 0; t < T; t++) s += tokLogp[n * T + t]!;
    out[n] = s;
  }
  return out;
}

/** Σ_y p(y)·f(y) with p given by its log-probabilities [N]. */
export function expectation(seqLogp: ArrayLike<number>, f: ArrayLike<number>): number {
  let s = 0;
  for (let n = 0; n < seqLogp.length; n++) s += Math.exp(seqLogp[n]!) * f[n]!;
  return s;
}

/** Eq. (1): J_seq(θ) = Σ_y π_θ(y)·R(y), under `routing` when given (MoE replay). */
export function jSeqValue(policy: ExactPolicy, theta: Float64Array, reward: ArrayLike<number>, routing?: Routing): number {
  const sp = policy.space;
  return expectation(sequenceLogProbs(sp, tokenLogProbs(sp, policy.logits(theta, routing))), reward);
}

/**
 * Σ_{n,t} coef[n·T + t]·∇_θ log π_θ(y_t | y_<t) for the policy at θ: the gradient of any
 * score-function estimator once its per-token coefficients (probabilities × weights ×
 * advantages) are known. `z` is the policy's logit table at θ under the same routing.
 */
export function scoreSum(
  policy: ExactPolicy, theta: Float64Array, z: ArrayLike<number>, coef: ArrayLike<number>, routing?: Routing,
): Float64Array {
  const sp = policy.space;
  const V = sp.vocab;
  const lsm = logSoftmaxRows(sp, z);
  const gz = new Float64Array(sp.numPrefixes * V);
  for (let i = 0; i < sp.tokens.length; i++) {
    const c = coef[i]!;
    if (c === 0) continue;
    const r = sp.rows[i]!;
    for (let v = 0; v < V; v++) gz[r * V + v]! -= c * Math.exp(lsm[r * V + v]!);
    gz[r * V + sp.tokens[i]!]! += c;
  }
  return pullback(policy, theta, gz, routing);
}

/** Eq. (2): ∇J_seq(θ) = Σ_y π_θ(y)·R(y)·Σ_t ∇log π_θ(y_t|y_<t). */
export function jSeqGradient(policy: ExactPolicy, theta: Float64Array, reward: ArrayLike<number>, routing?: Routing): Float64Array {
  const sp = policy.space;
  const z = policy.logits(theta, routing);
  const seq = sequenceLogProbs(sp, tokenLogProbs(sp, z));
  const coef = new Float64Array(sp.tokens.length);
  for (let i = 0; i < coef.length; i++) {
    const n = Math.floor(i / sp.length);
    coef[i] = Math.exp(seq[n]!) * reward[n]!;
  }
  return scoreSum(policy, theta, z, coef, routing);
}

/**
 * Exact sequence-level KL(p‖q) = E_{y~p}[log p(y) − log q(y)] = E_p[Σ_t (log p_t − log q_t)] from
 * token log-probs [N·T]. Divide by T for the per-token figure the paper plots (docs/paper.md §4).
 */
export function klSequence(space: SequenceSpace, logpP: ArrayLike<number>, logpQ: ArrayLike<number>): number {
  const sp = sequenceLogProbs(space, logpP);
  const sq = sequenceLogProbs(space, logpQ);
  let s = 0;
  for (let n = 0; n < space.numSeqs; n++) {
    const p = Math.exp(sp[n]!);
    if (p > 0) s += p * (sp[n]! - sq[n]!);
  }
  return s;
}

/** Mean entropy per position under y~π: E_π[Σ_t H(π(·|y_<t))] / T, from a logit table. */
export function meanEntropy(space: SequenceSpace, z: ArrayLike<number>): number {
  const V = space.vocab;
  const lsm = logSoftmaxRows(space, z);
  const seq = sequenceLogProbs(space, Float64Array.from(space.flatIndex, (j) => lsm[j]!));
  let s = 0;
  for (let i = 0; i < space.tokens.length; i++) {
    const r = space.rows[i]!;
    let h = 0;
    for (let v = 0; v < V; v++) h -= Math.exp(lsm[r * V + v]!) * lsm[r * V + v]!;
    s += Math.exp(seq[Math.floor(i / space.length)]!) * h;
  }
  return s / space.length;
}
