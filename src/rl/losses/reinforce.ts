/**
 * REINFORCE / vanilla policy gradient: the plain score-function estimator, with an optional
 * detached train–inference IS weight. It is the baseline every other kind modifies, and, with
 * μ = π_old, the `wo_train-infer-is` ablation of docs/paper.md §3 (Σ_t Â·log π_θ).
 *
 *   ℓ_t = −w_t · Â_t · log π_θ(y_t),    w_t = sg[IS weight] (isCorrection) or 1
 *
 * Source: docs/paper.md §5.2 "REINFORCE / PG with IS" (verl `compute_policy_loss_reinforce`, and `gpg`:
 * `pg_losses = -log_prob * advantages`, times `rollout_is_weights` when given).
 * Defaults: aggregation 'seq-mean-token-sum' (verl `compute_policy_loss_reinforce`'s
 * `loss_agg_mode` default). oldLogp is optional (only `ppoKl` uses it).
 */
import { mul, neg } from '../../autograd/index.js';
import { onesLike } from '../../tensor/index.js';
import { type LossContext, type LossSpec, type LossTerms } from './types.js';
import { withIs } from './ratio.js';
import { lossFunctions } from './run.js';

export const REINFORCE_DEFAULTS = { aggregation: 'seq-mean-token-sum' } as const;

/** Per-token weight: the IS weight, or 1. */
export function reinforceTerms(ctx: LossContext): LossTerms {
  const weight = withIs(onesLike(ctx.sg), ctx);
  return { perToken: mul(neg(mul(weight, ctx.adv)), ctx.logp), weight, clipped: null, clippedLower: null };
}

export const reinforce: LossSpec = {
  kind: 'reinforce',
  options: [],
  defaults: REINFORCE_DEFAULTS,
  epsSpace: 'none',
  needsOld: false,
  needsRollout: false,
  acceptsIsCorrection: true,
  terms: reinforceTerms,
};

/** reinforceLoss: this kind's policyLoss on CPU tensors; reinforceWeight: the detached per-token weight [B, T] it applies. */
export const { loss: reinforceLoss, weight: reinforceWeight } = lossFunctions(reinforce);

