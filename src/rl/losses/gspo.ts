/**
 * GSPO, Group Sequence Policy Optimization (Zheng et al. 2025, Qwen, arXiv 2507.18071): the
 * importance ratio and its clip act on whole sequences, through the length-normalised
 * (geometric-mean) sequence ratio, so one noisy token cannot dominate an MoE update.
 *
 * docs/paper.md §5.2 "GSPO" (TRL `importance_sampling_level="sequence"`; verl's `gspo` loss mode is the
 * gspo-token form, gspo-token.ts, which has this gradient when Â is constant along a sequence):
 *
 *   s_i = exp(min((1/|y_i|) Σ_t (log π_θ − log π_old), 10))     (differentiable through every token)
 *   ℓ_t = max(−Â_t·s_i, −Â_t·clamp(s_i, 1 − ε_low, 1 + ε_high))  (× sg[IS weight] per token)
 *
 * aggregated 'seq-mean-token-mean', so each sequence contributes −Â_i·clip-min(s_i) once. The
 * log sequence ratio is clamped at 10 before exp (verl's bound for GSPO, docs/paper.md §6 pitfall 1);
 * per-token log-ratios are not clamped (they are averaged first).
 *
 * Per-token weight (Â constant along the sequence): ∂s_i/∂log π_θ(y_t) = s_i/|y_i|, and the
 * 1/|y_i| is the aggregation's, so w_t = s_i · 1[unclipped] · 1[log s_i ≤ 10] (× the sequence's
 * mean IS weight). Metrics: clipfrac = mean(L2 > L1) over tokens (verl); clipfracLower = 0.
 *
 * Defaults: epsLow 3e-4, epsHigh 4e-4 (GSPO paper; TRL's examples/scripts/gspo.py), aggregation
 * 'seq-mean-token-mean' (verl forces it for GSPO).
 */
import { clamp, div, exp, le, maximum, mul, neg, sub, sum } from '../../autograd/index.js';
import type { Tensor } from '../../tensor/index.js';
import { type LossContext, type LossSpec, type LossTerms, type ResolvedLossOptions } from './types.js';
import { alongSeq, clipIndicator, not, seqLengths, seqMean, withIs } from './ratio.js';
import { lossFunctions } from './run.js';

/** verl's clamp on the log sequence ratio before exp (GSPO). */
export const GSPO_LOG_RATIO_MAX = 10;

export const GSPO_DEFAULTS = { epsLow: 3e-4, epsHigh: 4e-4, aggregation: 'seq-mean-token-mean' } as const;

/** (1/|y_i|) Σ_t m·(a − b) → [B, 1]. */
export function meanLogRatio(a: Tensor, b: Tensor, mask: Tensor): Tensor {
  return div(sum(mul(sub(a, b), mask), 1, true), seqLengths(mask));
}

export function gspoTerms(ctx: LossContext, o: ResolvedLossOptions): LossTerms {
  const { adv, mask, T } = ctx;
  const lo = 1 - o.epsLow;
  const hi = 1 + o.epsHigh;
  const s = alongSeq(exp(clamp(meanLogRatio(ctx.logp, ctx.old!, mask), null, GSPO_LOG_RATIO_MAX)), T);
  const negA = neg(adv);
  const perToken = maximum(mul(negA, s), mul(negA, clamp(s, lo, hi)));
  // Detached twins.
  const raw = meanLogRatio(ctx.sg, ctx.old!, mask);
  const sS = alongSeq(exp(clamp(raw, null, GSPO_LOG_RATIO_MAX)), T);
  const clipped = clipIndicator(adv, sS, lo, hi);
  const kept = alongSeq(seqMean(withIs(not(clipped), ctx), mask), T);
  const weight = mul(mul(sS, kept), alongSeq(le(raw, GSPO_LOG_RATIO_MAX), T));
  return { perToken: withIs(perToken, ctx), weight, clipped, clippedLower: null };
}

export const gspo: LossSpec = {
  kind: 'gspo',
  options: ['epsLow', 'epsHigh'],
  defaults: GSPO_DEFAULTS,
  epsSpace: 'ratio',
  needsOld: true,
  needsRollout: false,
  acceptsIsCorrection: true,
  terms: gspoTerms,
};

/** gspoLoss: this kind's policyLoss on CPU tensors; gspoWeight: the detached per-token weight [B, T] it applies. */
export const { loss: gspoLoss, weight: gspoWeight } = lossFunctions(gspo);

