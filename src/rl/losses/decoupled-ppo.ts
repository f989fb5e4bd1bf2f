/**
 * Decoupled PPO (Hilton et al. 2022, "Batch size-invariance for policy optimization", arXiv
 * 2110.00641; AReaL's asynchronous RL): the behaviour policy that sampled (μ, the inference
 * engine) and the proximal policy that anchors the clip (π_prox = π_old, the training engine)
 * are separated. The clip trusts only the proximal ratio; the behaviour correction is a constant
 * per-token weight. This is also MiniRL's clipping rule (docs/paper.md §3).
 *
 * docs/paper.md §5.2 "Decoupled PPO" (verl docs/algo/rollout_corr_math.md §1.3; AReaL
 * `ppo_actor_loss_fn`):
 *
 *   L = −E[ w_t · min(r_t·Â, clip(r_t, 1 − ε_low, 1 + ε_high)·Â) ]
 *   r_t = π_θ/π_prox = exp(clamp(log π_θ − log π_old, ±20))      (differentiable)
 *   w_t = sg[π_prox/μ] = exp(clamp(log π_old − log μ, ±20)),  then
 *         truncated at `tisCap` (verl decoupled mode + token-TIS), and
 *         set to 0 where it exceeds `behavImpWeightCap` (AReaL masks, it does not truncate;
 *         the token stays in the normaliser, as in AReaL)
 *   optional dual clip `dualClipC` (AReaL: min(ℓ, c·|Â|), the same as verl's for Â < 0)
 *
 * Per-token weight: w_t · r_t · 1[unclipped] · 1[not dual-clipped]. metrics.isWeight reports
 * the statistics of w_t (maskedFraction: zeroed by behavImpWeightCap; clippedFraction: truncated
 * by tisCap). rolloutLogp is required; the `isCorrection` option is refused (w_t is that weight).
 *
 * Defaults: epsLow = epsHigh = 0.2 (AReaL `eps_clip`), no dual clip (AReaL `c_clip` None), no
 * cap (AReaL `behav_imp_weight_cap` None), aggregation 'token-mean' (AReaL divides by the
 * number of valid tokens).
 */
import { gt, minimum, mul } from '../../autograd/index.js';
import { type LossContext, type LossSpec, type LossTerms, type ResolvedLossOptions } from './types.js';
import { not, ratio } from './ratio.js';
import { lossFunctions } from './run.js';
import { ppoClipCore } from './ppo-clip.js';

export const DECOUPLED_PPO_DEFAULTS = { epsLow: 0.2, epsHigh: 0.2, aggregation: 'token-mean' } as const;

export function decoupledPpoTerms(ctx: LossContext, o: ResolvedLossOptions): LossTerms {
  const behav = ratio(ctx.old!, ctx.mu!);
  const capped = gt(behav, o.tisCap);
  const masked = gt(behav, o.behavImpWeightCap);
  const w = mul(minimum(behav, o.tisCap), not(masked));
  const terms = ppoClipCore(ctx, o, w);
  return { ...terms, ownWeight: { weight: w, masked, clipped: mul(capped, not(masked)) } };
}

export const decoupledPpo: LossSpec = {
  kind: 'decoupled-ppo',
  options: ['epsLow', 'epsHigh', 'dualClipC', 'tisCap', 'behavImpWeightCap'],
  defaults: DECOUPLED_PPO_DEFAULTS,
  epsSpace: 'ratio',
  needsOld: true,
  needsRollout: true,
  acceptsIsCorrection: false,
  terms: decoupledPpoTerms,
};

/** decoupledPpoLoss: this kind's policyLoss on CPU tensors; decoupledPpoWeight: the detached per-token weight [B, T] it applies. */
export const { loss: decoupledPpoLoss, weight: decoupledPpoWeight } = lossFunctions(decoupledPpo);

