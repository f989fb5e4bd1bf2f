/**
 * The log-space ratio helpers every kind's formula is written with (tensor ops). Ratios are always
 * formed in log space with the log-ratio clamped to ±20 before exp (docs/paper.md §6 pitfall 1,
 * verl), except where a kind's published code clamps differently (its file says so).
 */
import type { Tensor } from '../../tensor/index.js';
import { clamp, detach, div, exp, expand, ge, gt, le, maximum, mul, sub, sum } from '../../autograd/index.js';
import { LOG_RATIO_CLAMP } from '../is-corrections.js';
import { type LossContext } from './types.js';


/** clamp(a − b, −20, 20): the log-ratio every kind exponentiates (docs/paper.md §6 pitfall 1). */
export function logRatio(a: Tensor, b: Tensor): Tensor {
  return clamp(sub(a, b), -LOG_RATIO_CLAMP, LOG_RATIO_CLAMP);
}

/** exp(clamp(a − b, ±20)). */
export function ratio(a: Tensor, b: Tensor): Tensor {
  return exp(logRatio(a, b));
}

/** 1 where |a − b| ≤ 20 (the clamp passes gradient), else 0. */
export function inClampRange(a: Tensor, b: Tensor): Tensor {
  const d = sub(a, b);
  return mul(ge(d, -LOG_RATIO_CLAMP), le(d, LOG_RATIO_CLAMP));
}

/** 1 − x for a 0/1 indicator. */
export function not(x: Tensor): Tensor {
  return sub(1, x);
}

/** x · isWeight when an IS correction is active. */
export function withIs(x: Tensor, ctx: LossContext): Tensor {
  return ctx.isWeight ? mul(x, ctx.isWeight) : x;
}

/** Valid-token count per sequence [B, 1], at least 1 (empty rows are masked anyway). */
export function seqLengths(mask: Tensor): Tensor {
  return maximum(sum(mask, 1, true), 1);
}

/** Masked mean along each sequence [B, T] → [B, 1]. */
export function seqMean(x: Tensor, mask: Tensor): Tensor {
  return div(sum(mul(x, mask), 1, true), seqLengths(mask));
}

/** [B, 1] → [B, T]. */
export function alongSeq(x: Tensor, T: number): Tensor {
  return expand(x, [x.shape[0]!, T]);
}

/**
 * verl's clip indicator for ℓ = max(L1, L2), L1 = −Â·x, L2 = −Â·clip(x, lo, hi): 1 where L2 > L1,
 * i.e. Â·(x − clip(x)) > 0 (the clipped branch is taken and carries no gradient). Detached.
 */
export function clipIndicator(adv: Tensor, x: Tensor, lo: number, hi: number): Tensor {
  return detach(gt(mul(adv, sub(x, clamp(x, lo, hi))), 0));
}
