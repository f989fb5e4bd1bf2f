/**
 * Enumerable tiny autoregressive policies for the first-order property tests (issue 5,
 * test/rl/first-order.test.ts). Why it exists: PAPER.md §1 claims the token-level surrogate
 * J_token (Eq. 3/4) matches the sequence-level objective J_seq (Eq. 1/2) to first order. On a
 * real model every expectation is a sample mean, so the claim can only be checked up to noise.
 * Here the vocabulary (2–4) and the length (2–4) are so small that every response can be
 * listed (at most 4^4 = 256), and every expectation is an exact sum over them, in f64, through
 * the project's autograd. A policy is a table of logits, one row per prefix:
 *
 *   θ ∈ R^{P×V},  P = Σ_{t<T} V^t rows (row 0 is the empty prefix, then the V prefixes of
 *   length 1, …),   π_θ(y_t | y_<t) = softmax(θ[row(y_<t)])[y_t],   π_θ(y) = Π_t π_θ(y_t | y_<t).
 *
 * Every response has the same length T, so |y| = T in the formulas. The prompt x is fixed
 * (one prompt), so E_{x~D} drops out. Rewards R(y) are one number per response.
 *
 * This lives under test/ rather than src/rl: it is a measuring instrument for the tests, not a
 * library feature, and the root export stays small (DESIGN.md, "Public API").
 */
import { tensor, type Tensor } from '../../src/index.js';

/** The sequence space of one (vocabulary, length): every response, in lexicographic order. */
export interface Tabular {
  readonly vocab: number;
  readonly length: number;
  /** P: rows of the logit table (prefixes of length 0 … T−1). */
  readonly numPrefixes: number;
  /** N = V^T responses. */
  readonly numSeqs: number;
  /** y_t of response n at [n·T + t]. */
  readonly tokens: Int32Array;
  /** The table row of the prefix y_<t of response n at [n·T + t]. */
  readonly rows: Int32Array;
  /** i32 [N·T]: row·V + y_t, the flat index of the logit that scores y_t after y_<t. */
  readonly flatIndex: Tensor;
}

/** Row of the prefix (y_0 … y_{t−1}): offset(t) + that prefix read as a base-V number. */
function rowOf(vocab: number, prefix: readonly number[]): number {
  let offset = 0;
  for (let k = 0; k < prefix.length; k++) offset += vocab ** k;
  let code = 0;
  for (const y of prefix) code = code * vocab + y;
  return offset + code;
}

export function tabular(vocab: number, length: number): Tabular {
  if (!Number.isInteger(vocab) || vocab < 2 || !Number.isInteger(length) || length < 1) {
    throw new RangeError(`tabular: need an integer vocab ≥ 2 and length ≥ 1, got ${vocab}, ${length}`);
  }
  const numSeqs = vocab ** length;
  let numPrefixes = 0;
  for (let t = 0; t < length; t++) numPrefixes += vocab ** t;
  const tokens = new Int32Array(numSeqs * length);
  const rows = new Int32Array(numSeqs * length);
  const flat = new Int32Array(numSeqs * length);
  for (let n = 0; n < numSeqs; n++) {
    const y: number[] = [];
    for (let t = length - 1, m = n; t >= 0; t--, m = Math.floor(m / vocab)) y[t] = m % vocab;
    for (let t = 0; t < length; t++) {
      const r = rowOf(vocab, y.slice(0, t));
      tokens[n * length + t] = y[t]!;
      rows[n * length + t] = r;
      flat[n * length + t] = r * vocab + y[t]!;
    }
  }
  return { vocab, length, numPrefixes, numSeqs, tokens, rows, flatIndex: tensor(flat, { dtype: 'i32' }) };
}

/** An f64 logit table [P, V] from P·V numbers (e.g. a fast-check draw). */
export function table(tab: Tabular, values: ArrayLike<number>): Tensor {
  if (values.length !== tab.numPrefixes * tab.vocab) {
    throw new RangeError(`table: need ${tab.numPrefixes * tab.vocab} values, got ${values.length}`);
  }
  return tensor(Float64Array.from(values), { dtype: 'f64', shape: [tab.numPrefixes, tab.vocab] });
}

/** f64 [N] from N numbers (rewards, …). */
export function perSequence(tab: Tabular, values: ArrayLike<number>): Tensor {
  if (values.length !== tab.numSeqs) throw new RangeError(`perSequence: need ${tab.numSeqs} values, got ${values.length}`);
  return tensor(Float64Array.from(values), { dtype: 'f64' });
}

/** log π_θ(y_t | y_<t) for every response and position: f64 [N, T], differentiable in θ. */
export function tokenLogp(tab: Tabular, theta: Tensor): Tensor {
  return theta
    .logSoftmax(1)
    .reshape([tab.numPrefixes * tab.vocab])
    .gather(0, tab.flatIndex)
    .reshape([tab.numSeqs, tab.length]);
}

/** log π_θ(y) = Σ_t log π_θ(y_t | y_<t): f64 [N]. */
export function seqLogp(tab: Tabular, theta: Tensor): Tensor {
  return tokenLogp(tab, theta).sum(1);
}

/**
 * PAPER.md Eq. (1): J_seq(θ) = E_{y~π_θ}[R(y)], computed exactly as Σ_y π_θ(y)·R(y). Its
 * gradient (through autograd) is Eq. (2), ∇J_seq = E_{y~π_θ}[R·Σ_t ∇log π_θ(y_t|y_<t)]; the IS
 * form E_{y~μ}[(π_θ(y)/μ(y))·R·…] of Eq. (2) is the same sum re-weighted, so it needs no μ.
 */
export function jSeq(tab: Tabular, theta: Tensor, reward: Tensor): Tensor {
  return seqLogp(tab, theta).exp().mul(reward).sum();
}

/**
 * PAPER.md Eq. (3), the token-level surrogate, exactly as written (no baseline, no 1/|y|):
 *   J_token(θ) = E_{y~μ}[ Σ_t (π_θ(y_t|y_<t) / μ(y_t|y_<t)) · R(y) ]
 *              = Σ_y μ(y) · R(y) · Σ_t exp(log π_θ(y_t|·) − log μ(y_t|·)).
 * `muTokLogp` is log μ(y_t|y_<t), [N, T] (constant: μ is the rollout policy, not trained).
 * Its autograd gradient is Eq. (4): E_{y~μ}[Σ_t (π_θ/μ)·R·∇log π_θ(y_t|·)].
 */
export function jToken(tab: Tabular, theta: Tensor, reward: Tensor, muTokLogp: Tensor): Tensor {
  const mu = muTokLogp.detach();
  const ratios = tokenLogp(tab, theta).sub(mu).exp().sum(1); // Σ_t π_θ(y_t)/μ(y_t), [N]
  return mu.sum(1).exp().mul(reward).mul(ratios).sum();
}

/**
 * A REINFORCE-style surrogate evaluated exactly under the rollout policy μ:
 *   L(θ) = E_{y~μ}[ Σ_t sg[w_{y,t}] · R(y) · log π_θ(y_t|y_<t) ] = Σ_y μ(y) R(y) Σ_t w_{y,t} log π_θ(y_t|·).
 * The weights are detached. With w ≡ 1 it is PAPER.md §3's `wo_train-infer-is` ablation; with
 * w = π_old(y_t)/μ(y_t) it is MiniRL's on-policy reduction (Eq. 7 at θ = θ_old, no clip, no cap);
 * with w = π_old(y)/μ(y) on every token it is the sequence-level IS estimator of Eq. (2).
 */
export function pgSurrogate(tab: Tabular, theta: Tensor, reward: Tensor, muTokLogp: Tensor, weights: Tensor): Tensor {
  const muSeq = muTokLogp.detach().sum(1).exp(); // μ(y), [N]
  const weighted = weights.detach().mul(tokenLogp(tab, theta)).sum(1); // Σ_t w·log π_θ, [N]
  return muSeq.mul(reward).mul(weighted).sum();
}

/** softmax of each row of a plain f64 table. */
function rowSoftmax(tab: Tabular, theta: ArrayLike<number>): Float64Array {
  const V = tab.vocab;
  const p = new Float64Array(tab.numPrefixes * V);
  for (let r = 0; r < tab.numPrefixes; r++) {
    let m = -Infinity;
    for (let v = 0; v < V; v++) m = Math.max(m, theta[r * V + v]!);
    let z = 0;
    for (let v = 0; v < V; v++) z += p[r * V + v] = Math.exp(theta[r * V + v]! - m);
    for (let v = 0; v < V; v++) p[r * V + v]! /= z;
  }
  return p;
}

/**
 * The tangent of the token log-probs along a direction d in table space, in closed form (plain
 * f64, no autograd):  a_{y,t} = d/dε log π_{θ+εd}(y_t|y_<t) at ε = 0 = d[p, y_t] − Σ_v π_θ(v|p)·d[p, v],
 * p = row(y_<t). Returned as [N·T] in the layout of `tokens`. Used for the leading coefficients
 * of the expansions in ε and δ (first-order.test.ts explains them).
 */
export function tangent(tab: Tabular, theta: ArrayLike<number>, dir: ArrayLike<number>): Float64Array {
  const V = tab.vocab;
  const p = rowSoftmax(tab, theta);
  const mean = new Float64Array(tab.numPrefixes);
  for (let r = 0; r < tab.numPrefixes; r++) for (let v = 0; v < V; v++) mean[r]! += p[r * V + v]! * dir[r * V + v]!;
  const a = new Float64Array(tab.numSeqs * tab.length);
  for (let i = 0; i < a.length; i++) a[i] = dir[tab.rows[i]! * V + tab.tokens[i]!]! - mean[tab.rows[i]!]!;
  return a;
}

/** π_θ(y) for every response, in plain f64 (no autograd). */
export function seqProbs(tab: Tabular, theta: ArrayLike<number>): Float64Array {
  const p = rowSoftmax(tab, theta);
  const out = new Float64Array(tab.numSeqs).fill(1);
  for (let i = 0; i < tab.tokens.length; i++) out[Math.floor(i / tab.length)]! *= p[tab.rows[i]! * tab.vocab + tab.tokens[i]!]!;
  return out;
}
