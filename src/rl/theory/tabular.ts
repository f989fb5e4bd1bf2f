/**
 * Tabular policies written with the project's autograd: one logit row per prefix, θ ∈ R^{P×V},
 * π_θ(y_t | y_<t) = softmax(θ[row(y_<t)])[y_t] (the sequence space is space.ts). Every
 * expectation over responses is an exact sum, in f64, and `grad` differentiates it, so these
 * functions are the autograd reference that the plain-f64 theory code (exact.ts, estimators.ts)
 * and the first-order proofs (test/rl/first-order.test.ts) are checked against.
 *
 *   jSeq        docs/paper.md §1, Eq. (1): J_seq(θ) = Σ_y π_θ(y)·R(y); its gradient is Eq. (2)
 *   jToken      docs/paper.md §1, Eq. (3): J_token(θ) = E_{y~μ}[Σ_t (π_θ(y_t)/μ(y_t))·R(y)]
 *   pgSurrogate E_{y~μ}[Σ_t sg[w_{y,t}]·R(y)·log π_θ(y_t)]: the REINFORCE surrogates of §1/§3
 */
import { tensor, type Tensor } from '../../tensor/index.js';
import { logSoftmaxRows } from './exact.js';
import type { SequenceSpace } from './space.js';

const flatIndexTensors = new WeakMap<SequenceSpace, Tensor>();

function flatIndexTensor(space: SequenceSpace): Tensor {
  let t = flatIndexTensors.get(space);
  if (!t) flatIndexTensors.set(space, (t = tensor(space.flatIndex, { dtype: 'i32' })));
  return t;
}

/** An f64 logit table [P, V] from P·V numbers (e.g. a fast-check draw). */
export function table(space: SequenceSpace, values: ArrayLike<number>): Tensor {
  if (values.length !== space.numPrefixes * space.vocab) {
    throw new RangeError(`table: need ${space.numPrefixes * space.vocab} values, got ${values.length}`);
  }
  return tensor(Float64Array.from(values), { dtype: 'f64', shape: [space.numPrefixes, space.vocab] });
}

/** f64 [N] from N numbers (rewards, …). */
export function perSequence(space: SequenceSpace, values: ArrayLike<number>): Tensor {
  if (values.length !== space.numSeqs) throw new RangeError(`perSequence: need ${space.numSeqs} values, got ${values.length}`);
  return tensor(Float64Array.from(values), { dtype: 'f64' });
}

/** log π_θ(y_t | y_<t) for every response and position: f64 [N, T], differentiable in θ. */
export function tokenLogp(space: SequenceSpace, theta: Tensor): Tensor {
  return theta
    .logSoftmax(1)
    .reshape([space.numPrefixes * space.vocab])
    .gather(0, flatIndexTensor(space))
    .reshape([space.numSeqs, space.length]);
}

/** log π_θ(y) = Σ_t log π_θ(y_t | y_<t): f64 [N]. */
export function seqLogp(space: SequenceSpace, theta: Tensor): Tensor {
  return tokenLogp(space, theta).sum(1);
}

/**
 * docs/paper.md §1, Eq. (1): J_seq(θ) = E_{y~π_θ}[R(y)] = Σ_y π_θ(y)·R(y). Its autograd gradient
 * is Eq. (2), ∇J_seq = E_{y~π_θ}[R·Σ_t ∇log π_θ(y_t|y_<t)]; the IS form of Eq. (2),
 * E_{y~μ}[(π_θ(y)/μ(y))·R·…], is the same sum re-weighted, so it needs no μ.
 */
export function jSeq(space: SequenceSpace, theta: Tensor, reward: Tensor): Tensor {
  return seqLogp(space, theta).exp().mul(reward).sum();
}

/**
 * docs/paper.md §1, Eq. (3), the token-level surrogate exactly as written (no baseline, no 1/|y|):
 *   J_token(θ) = Σ_y μ(y) · R(y) · Σ_t exp(log π_θ(y_t|·) − log μ(y_t|·)).
 * `muTokLogp` is log μ(y_t|y_<t), [N, T] (constant: μ is the rollout policy, not trained).
 * Its autograd gradient is Eq. (4): E_{y~μ}[Σ_t (π_θ/μ)·R·∇log π_θ(y_t|·)].
 */
export function jToken(space: SequenceSpace, theta: Tensor, reward: Tensor, muTokLogp: Tensor): Tensor {
  const mu = muTokLogp.detach();
  const ratios = tokenLogp(space, theta).sub(mu).exp().sum(1); // Σ_t π_θ(y_t)/μ(y_t), [N]
  return mu.sum(1).exp().mul(reward).mul(ratios).sum();
}

/**
 * A REINFORCE-style surrogate evaluated exactly under the rollout policy μ:
 *   L(θ) = E_{y~μ}[ Σ_t sg[w_{y,t}] · R(y) · log π_θ(y_t|y_<t) ].
 * The weights are detached. With w ≡ 1 it is the `wo_train-infer-is` ablation (docs/paper.md
 * §3); with w = π_old(y_t)/μ(y_t) it is MiniRL's on-policy reduction (Eq. 7 at θ = θ_old, no
 * clip, no cap); with w = π_old(y)/μ(y) on every token it is the sequence-level IS estimator of
 * Eq. (2).
 */
export function pgSurrogate(space: SequenceSpace, theta: Tensor, reward: Tensor, muTokLogp: Tensor, weights: Tensor): Tensor {
  const muSeq = muTokLogp.detach().sum(1).exp(); // μ(y), [N]
  const weighted = weights.detach().mul(tokenLogp(space, theta)).sum(1); // Σ_t w·log π_θ, [N]
  return muSeq.mul(reward).mul(weighted).sum();
}

/** softmax of each row of a plain f64 table [P·V]. */
export function rowSoftmax(space: SequenceSpace, logits: ArrayLike<number>): Float64Array {
  return logSoftmaxRows(space, logits).map(Math.exp);
}

/**
 * The tangent of the token log-probs along a direction d in table space, in closed form:
 * a_{y,t} = d/dε log π_{θ+εd}(y_t|y_<t) at ε = 0 = d[p, y_t] − Σ_v π_θ(v|p)·d[p, v],
 * p = row(y_<t). Returned as [N·T] in the layout of `tokens`. The leading coefficients of the
 * expansions in ε and δ are built from it (test/rl/first-order.test.ts).
 */
export function tangent(space: SequenceSpace, theta: ArrayLike<number>, dir: ArrayLike<number>): Float64Array {
  const V = space.vocab;
  const p = rowSoftmax(space, theta);
  const mean = new Float64Array(space.numPrefixes);
  for (let r = 0; r < space.numPrefixes; r++) for (let v = 0; v < V; v++) mean[r]! += p[r * V + v]! * dir[r * V + v]!;
  const a = new Float64Array(space.numSeqs * space.length);
  for (let i = 0; i < a.length; i++) a[i] = dir[space.rows[i]! * V + space.tokens[i]!]! - mean[space.rows[i]!]!;
  return a;
}

/** π_θ(y) for every response, from a plain logit table (no autograd). */
export function seqProbs(space: SequenceSpace, theta: ArrayLike<number>): Float64Array {
  const p = rowSoftmax(space, theta);
  const out = new Float64Array(space.numSeqs).fill(1);
  for (let i = 0; i < space.tokens.length; i++) out[Math.floor(i / space.length)]! *= p[space.flatIndex[i]!]!;
  return out;
}
