/**
 * PPO-clip (Schulman et al. 2017, arXiv 1707.06347) with decoupled ε (clip-higher) and the
 * optional dual clip (Ye et al. 2020, arXiv 1912.09729). The clipped surrogate every later kind
 * (grpo, dr-grpo, dapo, decoupled-ppo) reuses with other defaults.
 *
 * docs/paper.md §5.2 "PPO-clip, token-level, with dual-clip" (verl `compute_policy_loss_vanilla`):
 *
 *   r = exp(clamp(log π_θ − log π_old, −20, 20))          (differentiable: r is NOT detached)
 *   L1 = −Â·r,  L2 = −Â·clamp(r, 1 − ε_low, 1 + ε_high),  Lc = max(L1, L2)
 *   dual clip (dualClipC = c > 1):  ℓ = min(−Â·c, Lc) where Â < 0, else Lc
 *   ℓ_t × sg[IS weight] when an isCorrection is given (verl `rollout_is_weights`)
 *
 * Per-token weight: w_t = r_t · 1[not clipped] · 1[not dual-clipped] · 1[|Δlog| ≤ 20] (× IS weight),
 * since ∂(−Â·r)/∂log π_θ = −Â·r. Metrics: clipfrac = mean(L2 > L1) (verl `pg_clipfrac`),
 * clipfracLower = mean((Lc > −Â·c) ∧ Â < 0) (verl `pg_clipfrac_lower`; 0 without dual clip).
 *
 * Defaults: epsLow = epsHigh = 0.2 (PPO paper), no dual clip (verl always applies c = 3.0: pass
 * { dualClipC: 3 } to match it), aggregation 'token-mean' (verl `loss_agg_mode` default).
 */
import { gt, lt, mul, neg, clamp, maximum, minimum, where } from '../../autograd/index.js';
import type { Tensor } from '../../tensor/index.js';
import { type LossContext, type LossSpec, type LossTerms, type ResolvedLossOptions } from './types.js';
import { clipIndicator, inClampRange, not, ratio, withIs } from './ratio.js';
import { lossFunctions } from './run.js';

export const PPO_CLIP_DEFAULTS = { epsLow: 0.2, epsHigh: 0.2, aggregation: 'token-mean' } as const;

/**
 * The clipped surrogate with `old` as the proximal policy. `extraWeight` (detached, [B, T]) is
 * a per-token factor applied like an IS weight (decoupled-ppo's π_prox/μ).
 */
export function ppoClipCore(
  ctx: LossContext,
  o: Pick<ResolvedLossOptions, 'epsLow' | 'epsHigh' | 'dualClipC'>,
  extraWeight: Tensor | null = null,
): LossTerms {
  const { adv, old } = ctx;
  const lo = 1 - o.epsLow;
  const hi = 1 + o.epsHigh;
  const r = ratio(ctx.logp, old!);
  const negA = neg(adv);
  const lc = maximum(mul(negA, r), mul(negA, clamp(r, lo, hi)));
  // Detached twins, for the weight and the metrics.
  const rs = ratio(ctx.sg, old!);
  const clipped = clipIndicator(adv, rs, lo, hi);
  let perToken = lc;
  let dual: Tensor | null = null;
  if (o.dualClipC !== null) {
    const l3 = mul(negA, o.dualClipC);
    perToken = where(lt(adv, 0), minimum(l3, lc), lc);
    const lcs = maximum(mul(negA, rs), mul(negA, clamp(rs, lo, hi)));
    dual = mul(gt(lcs, l3), lt(adv, 0));
  }
  let weight = mul(mul(rs, not(clipped)), inClampRange(ctx.sg, old!));
  if (dual) weight = mul(weight, not(dual));
  if (extraWeight) {
    perToken = mul(perToken, extraWeight);
    weight = mul(weight, extraWeight);
  }
  return { perToken: withIs(perToken, ctx), weight: withIs(weight, ctx), clipped, clippedLower: dual };
}

export function ppoClipTerms(ctx: LossContext, o: ResolvedLossOptions): LossTerms {
  return ppoClipCore(ctx, o);
}

export const ppoClip: LossSpec = {
  kind: 'ppo-clip',
  options: ['epsLow', 'epsHigh', 'dualClipC'],
  defaults: PPO_CLIP_DEFAULTS,
  epsSpace: 'ratio',
  needsOld: true,
  needsRollout: false,
  acceptsIsCorrection: true,
  terms: ppoClipTerms,
};

/** ppoClipLoss: this kind's policyLoss on CPU tensors; ppoClipWeight: the detached per-token weight [B, T] it applies. */
export const { loss: ppoClipLoss, weight: ppoClipWeight } = lossFunctions(ppoClip);

