/**
 * GRPO (Shao et al. 2024, DeepSeekMath, arXiv 2402.03300): the PPO-clip surrogate with
 * group-normalised advantages (advantages.ts `groupNorm`) and per-sequence length normalisation.
 *
 * docs/paper.md §5.2 "GRPO (original)" and §3 (paper Appendix A) (TRL `loss_type="grpo"`):
 *
 *   loss = (1/G) Σ_i (1/|y_i|) Σ_t min(r·Â, clip(r, 1 − ε, 1 + ε)·Â)    (negated to minimise)
 *
 * i.e. ppo-clip's per-token loss (ppo-clip.ts) aggregated 'seq-mean-token-mean' (TRL:
 * ((loss·mask).sum(−1) / mask.sum(−1)).mean()). The β·k3 KL term TRL can add is separate: use
 * kl.ts and add it yourself (TRL's default β is 0).
 *
 * Per-token weight: as ppo-clip, r·1[unclipped]. Defaults: epsLow = epsHigh = 0.2 (TRL
 * `epsilon`, DeepSeekMath), no dual clip, aggregation 'seq-mean-token-mean'.
 */
import { type LossSpec } from './types.js';
import { lossFunctions } from './run.js';
import { ppoClipTerms } from './ppo-clip.js';

export const GRPO_DEFAULTS = { epsLow: 0.2, epsHigh: 0.2, aggregation: 'seq-mean-token-mean' } as const;

export const grpo: LossSpec = {
  kind: 'grpo',
  options: ['epsLow', 'epsHigh', 'dualClipC'],
  defaults: GRPO_DEFAULTS,
  epsSpace: 'ratio',
  needsOld: true,
  needsRollout: false,
  acceptsIsCorrection: true,
  terms: ppoClipTerms,
};

/** grpoLoss: this kind's policyLoss on CPU tensors; grpoWeight: the detached per-token weight [B, T] it applies. */
export const { loss: grpoLoss, weight: grpoWeight } = lossFunctions(grpo);

