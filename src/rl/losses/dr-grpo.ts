/**
 * Dr. GRPO (Liu et al. 2025, "Understanding R1-Zero-Like Training", arXiv 2503.20783): GRPO
 * without its two length/difficulty biases: no std in the advantage (advantages.ts `groupMean`)
 * and a constant normaliser instead of 1/|y_i|.
 *
 * docs/paper.md §5.2 "Dr. GRPO" (verl docs/algo/grpo.md; TRL `loss_type="dr_grpo"`):
 *
 *   loss = Σ_i Σ_t m·ℓ_t / (S · lossScale),   ℓ_t = ppo-clip's per-token loss
 *
 * verl: aggregation 'seq-mean-token-sum-norm' with `loss_scale_factor` (here `lossScale`), which
 * defaults to the padded width T; TRL divides by B·max_completion_length. Pass the maximum
 * response length as `lossScale` for a normaliser that does not move with the batch.
 *
 * Per-token weight: as ppo-clip, r·1[unclipped]. Defaults: epsLow = epsHigh = 0.2, no dual
 * clip, aggregation 'seq-mean-token-sum-norm' (lossScale = T unless given).
 */
import { type LossSpec } from './types.js';
import { lossFunctions } from './run.js';
import { ppoClipTerms } from './ppo-clip.js';

export const DR_GRPO_DEFAULTS = { epsLow: 0.2, epsHigh: 0.2, aggregation: 'seq-mean-token-sum-norm' } as const;

export const drGrpo: LossSpec = {
  kind: 'dr-grpo',
  options: ['epsLow', 'epsHigh', 'dualClipC'],
  defaults: DR_GRPO_DEFAULTS,
  epsSpace: 'ratio',
  needsOld: true,
  needsRollout: false,
  acceptsIsCorrection: true,
  terms: ppoClipTerms,
};

/** drGrpoLoss: this kind's policyLoss on CPU tensors; drGrpoWeight: the detached per-token weight [B, T] it applies. */
export const { loss: drGrpoLoss, weight: drGrpoWeight } = lossFunctions(drGrpo);

