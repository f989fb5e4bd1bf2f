/**
 * SAPO, Soft Adaptive Policy Optimization (Qwen, arXiv 2511.20347): replace the hard clip by a
 * smooth sigmoid gate on the ratio, with a steeper temperature for negative advantages, so
 * off-policy tokens are attenuated instead of cut off.
 *
 * docs/paper.md §5.2 "SAPO" (verl `compute_policy_loss_sapo`; TRL `loss_type="sapo"`):
 *
 *   f(r) = σ(τ·(r − 1)) · 4/τ,   τ = τ_pos if Â > 0 else τ_neg,   r = exp(clamp(Δlog, ±20))
 *   ℓ_t = −f(r_t) · Â_t            (× sg[IS weight])
 *
 * f(1) = 2/τ and f'(1) = 1: on-policy SAPO has the plain policy gradient.
 * Per-token weight: ∂f/∂log π_θ = 4·σ(1 − σ)·r, so w_t = 4σ(τ(r−1))(1 − σ(τ(r−1)))·r (× IS weight;
 * 0 beyond the ±20 clamp). No clip: clipfrac = clipfracLower = 0 (verl reports 0).
 *
 * Defaults: tauPos 1.0, tauNeg 1.05 (SAPO paper; verl/TRL defaults), aggregation
 * 'seq-mean-token-mean' (verl forces it for SAPO; TRL's sapo uses the per-sequence mean).
 */
import { add, div, gt, mul, neg, sigmoid, sub } from '../../autograd/index.js';
import { type LossContext, type LossSpec, type LossTerms, type ResolvedLossOptions } from './types.js';
import { inClampRange, not, ratio, withIs } from './ratio.js';
import { lossFunctions } from './run.js';

export const SAPO_DEFAULTS = { tauPos: 1.0, tauNeg: 1.05, aggregation: 'seq-mean-token-mean' } as const;

export function sapoTerms(ctx: LossContext, o: ResolvedLossOptions): LossTerms {
  const tau = add(mul(gt(ctx.adv, 0), o.tauPos - o.tauNeg), o.tauNeg);
  const r = ratio(ctx.logp, ctx.old!);
  const gate = mul(sigmoid(mul(tau, sub(r, 1))), div(4, tau));
  const perToken = withIs(neg(mul(gate, ctx.adv)), ctx);
  const rs = ratio(ctx.sg, ctx.old!);
  const sig = sigmoid(mul(tau, sub(rs, 1)));
  const weight = withIs(mul(mul(mul(mul(sig, not(sig)), 4), rs), inClampRange(ctx.sg, ctx.old!)), ctx);
  return { perToken, weight, clipped: null, clippedLower: null };
}

export const sapo: LossSpec = {
  kind: 'sapo',
  options: ['tauPos', 'tauNeg'],
  defaults: SAPO_DEFAULTS,
  epsSpace: 'none',
  needsOld: true,
  needsRollout: false,
  acceptsIsCorrection: true,
  terms: sapoTerms,
};

/** sapoLoss: this kind's policyLoss on CPU tensors; sapoWeight: the detached per-token weight [B, T] it applies. */
export const { loss: sapoLoss, weight: sapoWeight } = lossFunctions(sapo);

