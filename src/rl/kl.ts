/**
 * KL estimators and entropy, the two quantities the paper watches for collapse (a collapse shows
 * as an entropy cliff together with a KL spike: docs/paper.md §4 and §6), and the log-probs every
 * loss starts from.
 *
 * kl(logp, refLogp, kind): per-token estimators of KL(π ‖ π_ref) on tokens sampled from π
 * (Schulman 2020, "Approximating KL divergence"), d = log π − log π_ref:
 *   'k1'   d                                   unbiased, can be negative (docs/paper.md §6 pitfall 10)
 *   'k2'   ½ d²                                its gradient is the right KL gradient
 *   'k3'   exp(−d) + d − 1 (≥ 0)               verl `low_var_kl`: −d clamped to ±20 before exp,
 *                                              the result clamped to [−10, 10] (computed as
 *                                              expm1(−d) + d, which does not cancel near d = 0)
 *   'k3+'  value of k3, gradient of k2         verl's straight-through: k2 − sg[k2] + sg[k3]
 * (docs/paper.md §5.4, verl `kl_penalty` / `kl_penalty_forward`.) The paper's
 * training–inference KL D_KL[μ ‖ π_old] is kl(rolloutLogp, oldLogp, 'k1') averaged over valid
 * tokens (docs/paper.md §4). Per-token values [B, T]: aggregate them with aggregate.ts.
 *
 * entropy(logits, temperature): full-vocabulary entropy of softmax(logits/τ) at each position,
 * H = logsumexp(z) − Σ_w softmax(z)_w·z_w with z = logits/τ (docs/paper.md §5.5, verl
 * `entropy_from_logits`), differentiable. logits [..., V] → [...].
 *
 * logProbsOf(logits, tokens, temperature): log softmax(logits/τ) gathered at the sampled tokens
 * [..., V] × i32 [...] → [...], differentiable in logits. Dividing by the sampling temperature
 * first is what makes π_old/μ ≈ 1 (docs/paper.md §6 pitfall 3).
 */
import { ConfigError, DTypeError, ShapeError, Tensor, ValueError, isFloat } from '../tensor/index.js';
import { fmtShape } from '../tensor/shape.js';
import {
  add, clamp, detach, div, expm1, gather, logSoftmax, logsumexp, mul, neg, softmax, square, squeeze, sub, sum, unsqueeze,
} from '../autograd/index.js';

export const KL_KINDS = ['k1', 'k2', 'k3', 'k3+'] as const;
export type KlKind = (typeof KL_KINDS)[number];

function checkFinite(op: string, name: string, t: Tensor): void {
  if (t.device !== 'cpu') return; // GPU reads are async; values are checked where they can be read.
  const a = t.toArraySync();
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i]!)) throw new ValueError(`${op}: ${name} has a non-finite value (${a[i]}) at flat index ${i}`);
  }
}

function checkFloat(op: string, name: string, t: unknown): Tensor {
  if (!(t instanceof Tensor)) throw new ValueError(`${op}: ${name} must be a Tensor`);
  if (!isFloat(t.dtype)) throw new DTypeError(`${op}: ${name} has dtype ${t.dtype}; it must be f32 or f64`);
  return t;
}

function checkTemperature(op: string, temperature: number): void {
  if (typeof temperature !== 'number' || !Number.isFinite(temperature) || temperature <= 0) {
    throw new ValueError(`${op}: temperature must be a finite number > 0, got ${String(temperature)}`);
  }
}

/** Per-token KL estimate of KL(π ‖ π_ref) from sampled-token log-probs (same shape). */
export function kl(logp: Tensor, refLogp: Tensor, kind: KlKind): Tensor {
  const op = `kl('${String(kind)}')`;
  if (typeof kind !== 'string' || !(KL_KINDS as readonly string[]).includes(kind)) {
    throw new ConfigError(`kl: unknown kind ${JSON.stringify(kind)}; expected one of ${KL_KINDS.join(', ')}`);
  }
  checkFloat(op, 'logp', logp);
  checkFloat(op, 'refLogp', refLogp);
  if (logp.shape.length !== refLogp.shape.length || logp.shape.some((d, i) => d !== refLogp.shape[i])) {
    throw new ShapeError(`${op}: refLogp shape ${fmtShape(refLogp.shape)} does not match logp shape ${fmtShape(logp.shape)}`);
  }
  if (logp.dtype !== refLogp.dtype) throw new DTypeError(`${op}: refLogp has dtype ${refLogp.dtype} but logp has ${logp.dtype}`);
  checkFinite(op, 'logp', logp);
  checkFinite(op, 'refLogp', refLogp);
  const d = sub(logp, refLogp);
  const k2 = (): Tensor => mul(square(d), 0.5);
  const k3 = (): Tensor => {
    // exp(−d) − 1 − (−d), with expm1 so small d does not cancel (same value as verl's formula).
    const negD = clamp(neg(d), -20, 20);
    return clamp(sub(expm1(negD), negD), -10, 10);
  };
  switch (kind) {
    case 'k1':
      return d;
    case 'k2':
      return k2();
    case 'k3':
      return k3();
    case 'k3+': {
      const bw = k2();
      return add(sub(bw, detach(bw)), detach(k3()));
    }
  }
}

/** Full-vocabulary entropy of softmax(logits / temperature) over the last dim: [..., V] → [...]. */
export function entropy(logits: Tensor, temperature = 1): Tensor {
  const op = 'entropy';
  checkFloat(op, 'logits', logits);
  checkTemperature(op, temperature);
  if (logits.ndim < 1 || logits.shape[logits.ndim - 1]! === 0) {
    throw new ShapeError(`${op}: logits must be [..., V] with V ≥ 1, got shape ${fmtShape(logits.shape)}`);
  }
  checkFinite(op, 'logits', logits);
  const z = temperature === 1 ? logits : div(logits, temperature);
  return sub(logsumexp(z, -1), sum(mul(softmax(z, -1), z), -1));
}

/** log softmax(logits / temperature) at the sampled tokens: [..., V] and i32 [...] → [...]. */
export function logProbsOf(logits: Tensor, tokens: Tensor, temperature = 1): Tensor {
  const op = 'logProbsOf';
  checkFloat(op, 'logits', logits);
  if (!(tokens instanceof Tensor)) throw new ValueError(`${op}: tokens must be a Tensor`);
  if (tokens.dtype !== 'i32') throw new DTypeError(`${op}: tokens must be i32 token ids, got ${tokens.dtype}`);
  checkTemperature(op, temperature);
  const lead = logits.shape.slice(0, -1);
  if (logits.ndim < 1 || tokens.ndim !== lead.length || tokens.shape.some((d, i) => d !== lead[i])) {
    throw new ShapeError(`${op}: tokens shape ${fmtShape(tokens.shape)} must equal logits shape ${fmtShape(logits.shape)} without its last (vocabulary) dim`);
  }
  checkFinite(op, 'logits', logits);
  const z = temperature === 1 ? logits : div(logits, temperature);
  return squeeze(gather(logSoftmax(z, -1), -1, unsqueeze(tokens, -1)), -1);
}
