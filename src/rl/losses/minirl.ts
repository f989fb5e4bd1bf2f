/**
 * MiniRL, the paper's baseline objective: REINFORCE with the full token-level IS weight
 * π_θ/μ_θold (training–inference discrepancy × staleness), truncated (TIS), and the decoupled
 * PPO clip mask M_t decided by the proximal ratio r_t = π_θ/π_θold. Its gradient is the token
 * surrogate's (docs/paper.md §1, Eq. (4)) on unmasked tokens, which is why the paper chose it.
 *
 * docs/paper.md §3; paper §4.1, Eq. (7):
 *
 *   J = E_{y~μ_θold}[ Σ_t M_t · sg[min(π_θ(y_t)/μ_θold(y_t), C)] · Â · log π_θ(y_t) ]
 *   M_t = 0 if Â > 0 and r_t > 1 + ε_high;  0 if Â < 0 and r_t < 1 − ε_low;  1 otherwise
 *
 *   ℓ_t = −w_t · Â · log π_θ(y_t),   w_t = M_t · sg[min(π_θ/μ, C)]   (tisOn 'full', default)
 *                                    w_t = M_t · min(π_old/μ, C) · sg[π_θ/π_old]   (tisOn 'old')
 *
 * Every ratio is exp(clamp(Δlog, ±20)); M_t and w_t are detached (M_t is piecewise constant).
 * No length normalisation: the per-sequence sum over t is kept (aggregation
 * 'seq-mean-token-sum', the mean over sequences, our reading in docs/paper.md §3; the paper does
 * not state its batch normaliser). OPEN CHOICE (docs/paper.md §8): the paper does not say whether
 * the TIS cap applies to the full ratio π_θ/μ or only to π_old/μ. 'full' follows the text (TIS
 * applied to MiniRL's token-level IS weight; the pseudocode of docs/paper.md §3); 'old' is verl's
 * decoupled mode with token-TIS (docs/paper.md §3, "MiniRL as a verl configuration"). With
 * θ = θ_old both agree.
 *
 * Defaults (the paper's, docs/paper.md §3/§4): epsLow 0.2, epsHigh 0.27, tisCap 5, tisOn 'full'.
 * Variants: "MiniRL (no clipping)" (M_t ≡ 1) is { epsLow: 1, epsHigh: Infinity }; no TIS is
 * { tisCap: Infinity }. rolloutLogp (μ) and oldLogp (π_old) are required; the `isCorrection`
 * option is refused (the weight already holds π_old/μ).
 */
import { add, gt, lt, minimum, mul, neg } from '../../autograd/index.js';
import type { Tensor } from '../../tensor/index.js';
import { type LossContext, type LossSpec, type LossTerms, type ResolvedLossOptions } from './types.js';
import { not, ratio } from './ratio.js';
import { lossFunctions } from './run.js';

export const MINIRL_DEFAULTS = {
  epsLow: 0.2,
  epsHigh: 0.27,
  tisCap: 5,
  tisOn: 'full',
  aggregation: 'seq-mean-token-sum',
} as const;

/** 1 − M_t: 1 where the decoupled clip masks the token (from the detached proximal ratio). */
export function minirlClipped(ctx: LossContext, o: Pick<ResolvedLossOptions, 'epsLow' | 'epsHigh'>): Tensor {
  const r = ratio(ctx.sg, ctx.old!);
  const high = mul(gt(ctx.adv, 0), gt(r, 1 + o.epsHigh));
  const low = mul(lt(ctx.adv, 0), lt(r, 1 - o.epsLow));
  return add(high, low); // 1 − M_t (the two cases exclude each other)
}

export function minirlTerms(ctx: LossContext, o: ResolvedLossOptions): LossTerms {
  const clipped = minirlClipped(ctx, o);
  let tis: Tensor;
  let capped: Tensor;
  if (o.tisOn === 'full') {
    const full = ratio(ctx.sg, ctx.mu!);
    tis = minimum(full, o.tisCap);
    capped = gt(full, o.tisCap);
  } else {
    const disc = ratio(ctx.old!, ctx.mu!);
    tis = mul(minimum(disc, o.tisCap), ratio(ctx.sg, ctx.old!));
    capped = gt(disc, o.tisCap);
  }
  const weight = mul(not(clipped), tis);
  return {
    perToken: mul(neg(mul(weight, ctx.adv)), ctx.logp),
    weight,
    clipped,
    clippedLower: null,
    ownWeight: { weight: tis, clipped: capped },
  };
}

export const minirl: LossSpec = {
  kind: 'minirl',
  options: ['epsLow', 'epsHigh', 'tisCap', 'tisOn'],
  defaults: MINIRL_DEFAULTS,
  epsSpace: 'ratio',
  needsOld: true,
  needsRollout: true,
  acceptsIsCorrection: false,
  terms: minirlTerms,
};

/** minirlLoss: this kind's policyLoss on CPU tensors; minirlWeight: the detached per-token weight [B, T] it applies. */
export const { loss: minirlLoss, weight: minirlWeight } = lossFunctions(minirl);

