/**
 * GMPO, Geometric-Mean Policy Optimization (Zhao et al. 2025, arXiv 2507.20673): maximise the
 * geometric mean of the token-level ratio·reward terms instead of their arithmetic mean, which is
 * far less sensitive to outlier ratios; the clip acts per token, in log space, with a wider band.
 *
 * docs/paper.md §5.2 "GMPO" (verl `compute_policy_loss_geo_mean`):
 *
 *   ℓ̃_t = sign(Â_t) · min(sign(Â_t)·Δ_t, sign(Â_t)·clamp(Δ_t, −ε_low, ε_high)),  Δ_t = log π_θ − log π_old
 *   ρ_i = exp((1/|y_i|) Σ_t ℓ̃_t),   Ā_i = (1/|y_i|) Σ_t Â_t
 *   ℓ_t = −Ā_i · ρ_i  on every token of sequence i   (× the geometric mean of its IS weights)
 *
 * aggregated 'seq-mean-token-mean', which gives verl's mean over sequences of −Ā_i·ρ_i (verl
 * also counts fully masked sequences in that mean; here they are excluded, as every other mode
 * does). Per-token log-ratios are not clamped (verl); the sequence mean is clamped to ±20 before
 * exp (docs/paper.md §6 pitfall 1; verl has no clamp here).
 *
 * Per-token weight (Â constant along the sequence): w_t = ρ_i · 1[token t unclipped] (× the IS
 * geometric mean), where a token is clipped when Â > 0 and Δ_t > ε_high or Â < 0 and
 * Δ_t < −ε_low (or Â = 0: no gradient). Metrics (verl): clipfrac = mean(Δ_t outside
 * [−ε_low, ε_high] ∧ Â > 0), clipfracLower = the same with Â < 0.
 *
 * Defaults: epsLow = epsHigh = 0.4 in log space, the band (e^−0.4, e^0.4) (GMPO's official
 * scripts, callsys/GMPO `--cliprange 0.4`), aggregation 'seq-mean-token-mean'.
 */
import { add, clamp, eq, exp, ge, gt, le, log, lt, minimum, mul, ne, neg, sign, sub, where } from '../../autograd/index.js';
import type { Tensor } from '../../tensor/index.js';
import { LOG_RATIO_CLAMP } from '../is-corrections.js';
import { type LossContext, type LossSpec, type LossTerms, type ResolvedLossOptions } from './types.js';
import { alongSeq, not, seqMean } from './ratio.js';
import { lossFunctions } from './run.js';

export const GMPO_DEFAULTS = { epsLow: 0.4, epsHigh: 0.4, aggregation: 'seq-mean-token-mean' } as const;

/** sign(Â)·min(sign(Â)·Δ, sign(Â)·clamp(Δ, −εl, εh)): the token log-ratio, clipped on the side Â pushes. */
export function gmpoClippedLogRatio(adv: Tensor, delta: Tensor, o: Pick<ResolvedLossOptions, 'epsLow' | 'epsHigh'>): Tensor {
  const s = sign(adv);
  return mul(s, minimum(mul(s, delta), mul(s, clamp(delta, -o.epsLow, o.epsHigh))));
}

export function gmpoTerms(ctx: LossContext, o: ResolvedLossOptions): LossTerms {
  const { adv, mask, T } = ctx;
  const meanL = seqMean(gmpoClippedLogRatio(adv, sub(ctx.logp, ctx.old!), o), mask);
  const rho = exp(clamp(meanL, -LOG_RATIO_CLAMP, LOG_RATIO_CLAMP)); // [B, 1]
  const abar = seqMean(adv, mask); // [B, 1]
  // verl: the IS weights of a sequence combine by their geometric mean.
  const g = ctx.isWeight ? exp(seqMean(log(where(mask, ctx.isWeight, 1)), mask)) : null;
  let seqLoss = mul(neg(abar), rho);
  if (g) seqLoss = mul(seqLoss, g);
  const perToken = alongSeq(seqLoss, T);
  // Detached twins.
  const dS = sub(ctx.sg, ctx.old!);
  const meanS = seqMean(gmpoClippedLogRatio(adv, dS, o), mask);
  const rhoS = mul(exp(clamp(meanS, -LOG_RATIO_CLAMP, LOG_RATIO_CLAMP)), mul(ge(meanS, -LOG_RATIO_CLAMP), le(meanS, LOG_RATIO_CLAMP)));
  // Clipped (no gradient): Â > 0 and Δ > ε_high, or Â < 0 and Δ < −ε_low; Â = 0 has none either.
  const tokClipped = add(mul(gt(adv, 0), gt(dS, o.epsHigh)), mul(lt(adv, 0), lt(dS, -o.epsLow)));
  const unclipped = mul(not(tokClipped), not(eq(adv, 0)));
  let weight = mul(alongSeq(rhoS, T), unclipped);
  if (g) weight = mul(weight, alongSeq(g, T));
  const outside = ne(dS, clamp(dS, -o.epsLow, o.epsHigh));
  return { perToken, weight, clipped: mul(outside, gt(adv, 0)), clippedLower: mul(outside, lt(adv, 0)) };
}

export const gmpo: LossSpec = {
  kind: 'gmpo',
  options: ['epsLow', 'epsHigh'],
  defaults: GMPO_DEFAULTS,
  epsSpace: 'log',
  needsOld: true,
  needsRollout: false,
  acceptsIsCorrection: true,
  terms: gmpoTerms,
};

/** gmpoLoss: this kind's policyLoss on CPU tensors; gmpoWeight: the detached per-token weight [B, T] it applies. */
export const { loss: gmpoLoss, weight: gmpoWeight } = lossFunctions(gmpo);

