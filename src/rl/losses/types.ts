/**
 * The policy-loss vocabulary: the kinds, the inputs and options every kind takes, the spec each
 * kind's file declares (its formula as `terms`, its options and defaults), and the result and
 * metrics every loss returns.
 *
 * The per-token weight. For every kind, w_t is the detached factor with
 *
 *     ∂loss/∂log π_θ(y_t) = −c_t · w_t · Â_t,        c_t = ∂aggregate/∂ℓ_t   (aggregate.ts)
 *
 * i.e. the coefficient the kind puts on Â·∇log π_θ(y_t) (REINFORCE: 1; PPO-clip: r·1[unclipped];
 * MiniRL: M_t·min(π_θ/μ, C); ...). It is exact per token for the token-level kinds, and for the
 * sequence-ratio kinds (gspo, gmpo) whenever Â is constant along each sequence (Â of shape [B]).
 * `metrics.meanWeight` is its mean over the valid tokens; the losses test checks the identity.
 *
 * Stop-gradients (docs/paper.md §6 pitfall 2). Every sg[·] of a formula is computed from `sgLogp`,
 * which defaults to logp.detach(). Passing a fixed tensor there is how the tests gradcheck a
 * surrogate with stop-gradients: with the sg terms held at a constant, central differences of the
 * loss in `logp` must equal what autograd returns. oldLogp, rolloutLogp, advantages and mask are
 * always detached; no gradient reaches them.
 */
import type { Tensor } from '../../tensor/index.js';
import { type AggregateOptions, type Aggregation } from '../aggregate.js';
import { type ISCorrectionKind, type ISCorrectionOptions, type ISCorrectionStats } from '../is-corrections.js';

export const LOSS_KINDS = [
  'reinforce', 'minirl', 'ppo-clip', 'grpo', 'dr-grpo', 'dapo',
  'gspo', 'gspo-token', 'cispo', 'gmpo', 'sapo', 'decoupled-ppo',
] as const;

export type LossKind = (typeof LOSS_KINDS)[number];

export interface PolicyLossInputs {
  /** log π_θ(y_t) of the sampled tokens [B, T], differentiable. */
  logp: Tensor;
  /** log π_θold(y_t) from the training engine [B, T] (required by every kind but reinforce). */
  oldLogp?: Tensor;
  /** log μ_θold(y_t) from the inference engine that sampled [B, T] (minirl, decoupled-ppo, isCorrection). */
  rolloutLogp?: Tensor;
  /** Â: [B] (one per response, broadcast along it) or [B, T]. */
  advantages: Tensor;
  /** Response mask [B, T], 0/1 (any dtype). */
  mask: Tensor;
  /**
   * The value every stop-gradient sg[·] is computed from (default logp.detach()). Only for
   * gradient checks: a fixed tensor here holds the sg terms constant (see the file header).
   */
  sgLogp?: Tensor;
}

/** `isCorrection` option: a kind name, or the kind with its options ({ kind: 'token-tis', cap: 3 }). */
export type IsCorrectionSpec = ISCorrectionKind | ({ kind: ISCorrectionKind } & ISCorrectionOptions);

export interface PolicyLossOptions extends AggregateOptions {
  /** Lower clip ε: the band starts at 1 − epsLow (gmpo: at −epsLow in log space). */
  epsLow?: number;
  /** Upper clip ε: the band ends at 1 + epsHigh (gmpo: at +epsHigh in log space). Infinity: no upper clip. */
  epsHigh?: number;
  /** Dual-clip constant c > 1 (Ye et al. 2020; verl `clip_ratio_c`): for Â < 0 the loss is at most −Â·c. */
  dualClipC?: number;
  /** Truncation cap of an IS weight (minirl: of π_θ/μ or π_old/μ per `tisOn`; decoupled-ppo: of π_old/μ). */
  tisCap?: number;
  /** minirl: where the TIS cap applies: 'full' = min(π_θ/μ, C) (default), 'old' = min(π_old/μ, C)·π_θ/π_old. */
  tisOn?: 'full' | 'old';
  /** sapo: gate temperature for Â > 0. */
  tauPos?: number;
  /** sapo: gate temperature for Â ≤ 0. */
  tauNeg?: number;
  /** decoupled-ppo: AReaL `behav_imp_weight_cap`; tokens with π_old/μ above it get weight 0. */
  behavImpWeightCap?: number;
  /** Aggregation mode (aggregate.ts). */
  aggregation?: Aggregation;
  /** Train–inference IS correction applied to π_old/μ_old (is-corrections.ts). */
  isCorrection?: IsCorrectionSpec;
}

/** Options after defaults; `null` = off. */
export interface ResolvedLossOptions {
  epsLow: number;
  epsHigh: number;
  dualClipC: number | null;
  tisCap: number;
  tisOn: 'full' | 'old';
  tauPos: number;
  tauNeg: number;
  behavImpWeightCap: number;
  aggregation: Aggregation;
}

export type KindOptionName = 'epsLow' | 'epsHigh' | 'dualClipC' | 'tisCap' | 'tisOn' | 'tauPos' | 'tauNeg' | 'behavImpWeightCap';

export const KIND_OPTION_NAMES: readonly KindOptionName[] = ['epsLow', 'epsHigh', 'dualClipC', 'tisCap', 'tisOn', 'tauPos', 'tauNeg', 'behavImpWeightCap'];
export const SHARED_OPTION_NAMES = ['aggregation', 'lossScale', 'globalTokens', 'globalSeqs'] as const;

/** What a kind's formula sees: detached data in logp's dtype, broadcast to [B, T]. */
export interface LossContext {
  op: string;
  B: number;
  T: number;
  /** Differentiable log π_θ [B, T]. */
  logp: Tensor;
  /** sg[log π_θ] [B, T]. */
  sg: Tensor;
  /** log π_old [B, T] (detached) or null when not given. */
  old: Tensor | null;
  /** log μ_old [B, T] (detached) or null when not given. */
  mu: Tensor | null;
  /** Â broadcast to [B, T] (detached). */
  adv: Tensor;
  /** The mask used for aggregation [B, T] (input mask minus rejected tokens), 0/1 in logp's dtype. */
  mask: Tensor;
  /** Detached IS-correction weights [B, T], or null. */
  isWeight: Tensor | null;
}

/** A kind's own IS-like weight, reported as `metrics.isWeight` (minirl's TIS weight, decoupled-ppo's π_old/μ). */
export interface OwnWeight {
  /** The weight [B, T]. */
  weight: Tensor;
  /** 0/1 [B, T]: the weight was zeroed (rejection). */
  masked?: Tensor;
  /** 0/1 [B, T]: the weight was truncated by a cap. */
  clipped?: Tensor;
}

export interface LossTerms {
  /** ℓ [B, T]: the per-token loss before aggregation. */
  perToken: Tensor;
  /** w [B, T], detached: the per-token weight (file header). */
  weight: Tensor;
  /** 0/1 [B, T] counted by `clipfrac` (null: 0). */
  clipped: Tensor | null;
  /** 0/1 [B, T] counted by `clipfracLower` (null: 0). */
  clippedLower: Tensor | null;
  ownWeight?: OwnWeight;
}

export interface LossSpec {
  readonly kind: LossKind;
  /** Kind-specific option names it accepts (aggregation options are always accepted). */
  readonly options: readonly KindOptionName[];
  /** Published defaults (each file cites them). */
  readonly defaults: Partial<ResolvedLossOptions> & { aggregation: Aggregation };
  /** How epsLow/epsHigh are checked: ratio space (epsLow ∈ [0, 1]) or log space (gmpo). */
  readonly epsSpace: 'ratio' | 'log' | 'none';
  readonly needsOld: boolean;
  readonly needsRollout: boolean;
  /** Whether the `isCorrection` option is accepted. */
  readonly acceptsIsCorrection: boolean;
  terms(ctx: LossContext, o: ResolvedLossOptions): LossTerms;
}

export type LossWeightStats = ISCorrectionStats;

export interface PolicyLossMetrics {
  /** Fraction of valid tokens the clip acts on (verl `pg_clipfrac`; per-kind meaning in docs/losses.md). */
  clipfrac: number;
  /** verl `pg_clipfrac_lower`: dual-clip active (Â < 0, ratio > c); gmpo: clipped with Â < 0. */
  clipfracLower: number;
  /** mean over valid tokens of log π_old − log π_θ (verl `ppo_kl`); 0 without oldLogp. */
  ppoKl: number;
  /** Mean over valid tokens of the per-token weight actually applied. */
  meanWeight: number;
  /** Valid tokens N and non-empty sequences S after any rejection. */
  tokens: number;
  seqs: number;
  /** IS-weight statistics: of the isCorrection weights, or of the kind's own weight (minirl, decoupled-ppo). */
  isWeight?: LossWeightStats;
}

export interface PolicyLossResult {
  /** The scalar to minimise. */
  loss: Tensor;
  metrics: PolicyLossMetrics;
  /** The per-token weight w [B, T] (detached; 0 on masked and rejected tokens). */
  weight: Tensor;
  /** The per-token loss ℓ [B, T] before aggregation (0 on masked and rejected tokens). */
  perToken: Tensor;
  /** The mask the aggregation used [B, T] (input mask minus rejected tokens). */
  mask: Tensor;
}
