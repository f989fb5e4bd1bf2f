/**
 * CISPO, Clipped IS-weight Policy Optimization (MiniMax-M1, arXiv 2506.13585): clip the
 * importance weight, not the update. The clipped ratio is a detached coefficient on
 * Â·log π_θ, so clipped tokens still get gradient (PPO-clip zeroes them); the paper's point is
 * that rare, high-ratio "fork" tokens keep contributing.
 *
 * docs/paper.md §5.2 "CISPO" and §3, after paper Appendix A (verl `compute_policy_loss_cispo`;
 * slime; TRL `cispo`):
 *
 *   ℓ_t = −sg[clamp(r_t, 1 − ε_low, 1 + ε_high)] · Â_t · log π_θ(y_t),   r = exp(clamp(Δlog, ±20))
 *
 * Per-token weight: w_t = clamp(r_t, 1 − ε_low, 1 + ε_high) (× IS weight), never 0 for r > 0.
 * Metrics: clipfrac = mean(r ≠ clamp(r)) (verl); clipfracLower = 0.
 *
 * Defaults: epsLow 1 (no lower bound: canonical CISPO "did not impose a lower bound", slime sets
 * eps_clip ≥ 1), epsHigh 4 (an absolute cap of 5 on the weight: TRL's `epsilon_high` for cispo,
 * 5.0 recommended per ScaleRL, docs/paper.md §5.2), aggregation 'token-mean' (normalised by the
 * total token count 1/Σ_i|y_i|: docs/paper.md §3, from paper Appendix A).
 */
import { clamp, mul, ne, neg } from '../../autograd/index.js';
import { type LossContext, type LossSpec, type LossTerms, type ResolvedLossOptions } from './types.js';
import { ratio, withIs } from './ratio.js';
import { lossFunctions } from './run.js';

export const CISPO_DEFAULTS = { epsLow: 1, epsHigh: 4, aggregation: 'token-mean' } as const;

export function cispoTerms(ctx: LossContext, o: ResolvedLossOptions): LossTerms {
  const r = ratio(ctx.sg, ctx.old!);
  const w = clamp(r, 1 - o.epsLow, 1 + o.epsHigh);
  const weight = withIs(w, ctx);
  return { perToken: mul(neg(mul(weight, ctx.adv)), ctx.logp), weight, clipped: ne(r, w), clippedLower: null };
}

export const cispo: LossSpec = {
  kind: 'cispo',
  options: ['epsLow', 'epsHigh'],
  defaults: CISPO_DEFAULTS,
  epsSpace: 'ratio',
  needsOld: true,
  needsRollout: false,
  acceptsIsCorrection: true,
  terms: cispoTerms,
};

/** cispoLoss: this kind's policyLoss on CPU tensors; cispoWeight: the detached per-token weight [B, T] it applies. */
export const { loss: cispoLoss, weight: cispoWeight } = lossFunctions(cispo);

