/**
 * DAPO (Yu et al. 2025, arXiv 2503.14476): PPO-clip with clip-higher (a wider upper band, to
 * keep exploration) and a token-level mean over the whole batch (long responses weigh in
 * proportion to their tokens). Dynamic sampling and overlong shaping act on the data and the
 * rewards, not on the loss, so they are not here.
 *
 * docs/paper.md §5.2 "DAPO" (verl docs/algo/dapo.md; TRL `loss_type="dapo"`):
 *
 *   loss = Σ_i Σ_t m·ℓ_t / Σ_i |y_i|,   ℓ_t = ppo-clip's per-token loss with ε_low = 0.2, ε_high = 0.28
 *
 * For micro-batches pass `globalTokens` (TRL: `num_items_in_batch`, the active tokens of the
 * whole accumulated batch).
 *
 * Per-token weight: as ppo-clip, r·1[unclipped]. Defaults: epsLow 0.2, epsHigh 0.28, no dual clip
 * (verl's recipe runs its vanilla loss with c = 3: pass dualClipC to match), 'token-mean'.
 */
import { type LossSpec } from './types.js';
import { lossFunctions } from './run.js';
import { ppoClipTerms } from './ppo-clip.js';

export const DAPO_DEFAULTS = { epsLow: 0.2, epsHigh: 0.28, aggregation: 'token-mean' } as const;

export const dapo: LossSpec = {
  kind: 'dapo',
  options: ['epsLow', 'epsHigh', 'dualClipC'],
  defaults: DAPO_DEFAULTS,
  epsSpace: 'ratio',
  needsOld: true,
  needsRollout: false,
  acceptsIsCorrection: true,
  terms: ppoClipTerms,
};

/** dapoLoss: this kind's policyLoss on CPU tensors; dapoWeight: the detached per-token weight [B, T] it applies. */
export const { loss: dapoLoss, weight: dapoWeight } = lossFunctions(dapo);

