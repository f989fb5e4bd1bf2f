/**
 * GSPO-token (GSPO paper, arXiv 2507.18071, §4.3): GSPO's sequence ratio in value, with a
 * per-token gradient path, so token-level advantages can be used. When Â is constant along each
 * sequence it has exactly GSPO's gradient (the losses test checks it).
 *
 * docs/paper.md §5.2 "GSPO-token" (verl `gspo`, which implements this form; TRL experimental
 * gspo_token):
 *
 *   log s_{i,t} = min(sg[log s_i] + log π_θ(y_t) − sg[log π_θ(y_t)], 10)
 *   ℓ_t = max(−Â_t·s_{i,t}, −Â_t·clamp(s_{i,t}, 1 − ε_low, 1 + ε_high))    (× sg[IS weight])
 *
 * with log s_i = (1/|y_i|) Σ_t (log π_θ − log π_old) (detached). s_{i,t} has the value of s_i and
 * the gradient s_i·∇log π_θ(y_t).
 *
 * Per-token weight: w_t = s_i · 1[unclipped_t] · 1[log s_i ≤ 10] (× IS weight), exact per token.
 * Defaults: as gspo, epsLow 3e-4, epsHigh 4e-4, aggregation 'seq-mean-token-mean'.
 */
import { add, clamp, exp, le, maximum, mul, neg, sub } from '../../autograd/index.js';
import { type LossContext, type LossSpec, type LossTerms, type ResolvedLossOptions } from './types.js';
import { alongSeq, clipIndicator, not, withIs } from './ratio.js';
import { lossFunctions } from './run.js';
import { GSPO_DEFAULTS, GSPO_LOG_RATIO_MAX, meanLogRatio } from './gspo.js';

export const GSPO_TOKEN_DEFAULTS = GSPO_DEFAULTS;

export function gspoTokenTerms(ctx: LossContext, o: ResolvedLossOptions): LossTerms {
  const { adv, mask, T } = ctx;
  const lo = 1 - o.epsLow;
  const hi = 1 + o.epsHigh;
  const raw = alongSeq(meanLogRatio(ctx.sg, ctx.old!, mask), T); // sg[log s_i]
  const s = exp(clamp(add(raw, sub(ctx.logp, ctx.sg)), null, GSPO_LOG_RATIO_MAX));
  const negA = neg(adv);
  const perToken = maximum(mul(negA, s), mul(negA, clamp(s, lo, hi)));
  const sS = exp(clamp(raw, null, GSPO_LOG_RATIO_MAX));
  const clipped = clipIndicator(adv, sS, lo, hi);
  const weight = mul(mul(sS, not(clipped)), le(raw, GSPO_LOG_RATIO_MAX));
  return { perToken: withIs(perToken, ctx), weight: withIs(weight, ctx), clipped, clippedLower: null };
}

export const gspoToken: LossSpec = {
  kind: 'gspo-token',
  options: ['epsLow', 'epsHigh'],
  defaults: GSPO_TOKEN_DEFAULTS,
  epsSpace: 'ratio',
  needsOld: true,
  needsRollout: false,
  acceptsIsCorrection: true,
  terms: gspoTokenTerms,
};

/** gspoTokenLoss: this kind's policyLoss on CPU tensors; gspoTokenWeight: the detached per-token weight [B, T] it applies. */
export const { loss: gspoTokenLoss, weight: gspoTokenWeight } = lossFunctions(gspoToken);

