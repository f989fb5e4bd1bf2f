/**
 * Loss aggregation: how a per-token loss matrix ℓ [B, T] and its response mask m [B, T] become
 * the scalar that is minimised. The normaliser is not a detail: it sets the gradient scale
 * (docs/paper.md §6 pitfall 5) and decides how long and short responses are weighed against each
 * other (Dr. GRPO, DAPO). The modes and their names are verl's `agg_loss`
 * (`verl/trainer/ppo/core_algos.py`, docs/paper.md §5.6):
 *
 *   mode                      loss                                           c_t = ∂loss/∂ℓ_t
 *   token-mean                Σ_i Σ_t m ℓ / N                                m / N
 *   token-sum                 Σ_i Σ_t m ℓ                                    m
 *   seq-mean-token-sum        Σ_i (Σ_t m ℓ) / S                              m / S
 *   seq-mean-token-mean       Σ_i (Σ_t m ℓ / |y_i|) / S                      m / (|y_i| S)
 *   seq-mean-token-sum-norm   Σ_i (Σ_t m ℓ) / (S · lossScale)                m / (S lossScale)
 *
 * with |y_i| = Σ_t m_it, N = Σ_i |y_i| (valid tokens), S = #{i : |y_i| > 0} (sequences with at
 * least one valid token; fully masked sequences are excluded, as in verl). `lossScale` is verl's
 * `loss_scale_factor`; unset it defaults, as in verl, to the padded width T, which changes when
 * padding is appended: pass a constant (Dr. GRPO: the maximum response length) for a normaliser
 * that does not depend on the batch.
 *
 * Micro-batches. The gradient of a batch equals the sum of its micro-batches' gradients when
 * every micro-batch is normalised by the counts of the whole batch: pass `globalTokens` (N of
 * the full batch, verl's `batch_num_tokens`) and `globalSeqs` (S of the full batch, verl's
 * `global_batch_size`); `aggregationCounts(fullMask)` returns both. token-sum needs neither, and
 * seq-mean-token-mean uses each sequence's own |y_i|, which a row-wise split never cuts.
 *
 * Implementation: loss = Σ where(m, ℓ, 0) · c. Masked-out tokens get exactly zero gradient and
 * cannot leak a non-finite ℓ into the result. verl's `+1e-8` guard on |y_i| is replaced by
 * excluding empty sequences exactly (their c is 0), so hand-computed values match to rounding.
 * Everything is tensor ops, so it runs on any device; the value checks (mask 0/1 and not all
 * zero, finite ℓ) run where the data can be read synchronously (CPU).
 */
import { ConfigError, DTypeError, ShapeError, Tensor, ValueError, isFloat } from '../tensor/index.js';
import { fmtShape } from '../tensor/shape.js';
import { detach, div, gt, maximum, mul, sum, to, where } from '../autograd/index.js';

export const AGGREGATIONS = [
  'token-mean',
  'token-sum',
  'seq-mean-token-sum',
  'seq-mean-token-mean',
  'seq-mean-token-sum-norm',
] as const;

export type Aggregation = (typeof AGGREGATIONS)[number];

export interface AggregateOptions {
  /** Divisor of 'seq-mean-token-sum-norm' (verl `loss_scale_factor`; default: the padded width T). */
  lossScale?: number;
  /** Valid tokens N of the whole batch, for micro-batch accumulation (default: this mask's N). */
  globalTokens?: number;
  /** Non-empty sequences S of the whole batch, for micro-batch accumulation (default: this mask's S). */
  globalSeqs?: number;
}

const AGG_OPTION_NAMES = ['lossScale', 'globalTokens', 'globalSeqs'] as const;

/** Throws ConfigError unless `mode` is an aggregation mode. */
export function checkAggregation(op: string, mode: unknown): Aggregation {
  if (typeof mode !== 'string' || !(AGGREGATIONS as readonly string[]).includes(mode)) {
    throw new ConfigError(`${op}: unknown aggregation ${JSON.stringify(mode)}; expected one of ${AGGREGATIONS.join(', ')}`);
  }
  return mode as Aggregation;
}

/** Validates the aggregation options (names, types and ranges) for `mode`. */
export function checkAggregateOptions(op: string, mode: Aggregation, o: AggregateOptions): void {
  for (const name of AGG_OPTION_NAMES) {
    const v = o[name];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
      throw new ConfigError(`${op}: option '${name}' must be a finite number > 0, got ${String(v)}`);
    }
  }
  if (o.lossScale !== undefined && mode !== 'seq-mean-token-sum-norm') {
    throw new ConfigError(`${op}: option 'lossScale' only applies to aggregation 'seq-mean-token-sum-norm', not '${mode}'`);
  }
}

function checkMaskValues(op: string, mask: ArrayLike<number>, what = 'mask'): number {
  let valid = 0;
  for (let i = 0; i < mask.length; i++) {
    const v = mask[i]!;
    if (v !== 0 && v !== 1) throw new ValueError(`${op}: ${what} must hold only 0 and 1, found ${v} at flat index ${i}`);
    valid += v;
  }
  return valid;
}

/**
 * The counts the normalisers use, read on the host: N = valid tokens, S = sequences with at
 * least one valid token. Pass them as `globalTokens` / `globalSeqs` to every micro-batch.
 */
export function aggregationCounts(mask: Tensor): { tokens: number; seqs: number } {
  if (!(mask instanceof Tensor)) throw new ValueError('aggregationCounts: mask must be a Tensor');
  if (mask.ndim !== 2) throw new ShapeError(`aggregationCounts: mask must be [B, T], got shape ${fmtShape(mask.shape)}`);
  const m = mask.toArraySync();
  checkMaskValues('aggregationCounts', m);
  const [B, T] = mask.shape as [number, number];
  let tokens = 0;
  let seqs = 0;
  for (let b = 0; b < B; b++) {
    let n = 0;
    for (let t = 0; t < T; t++) n += m[b * T + t]!;
    tokens += n;
    if (n > 0) seqs++;
  }
  return { tokens, seqs };
}

/**
 * The aggregation coefficients c [B, T] (detached, in `dtype`): loss = Σ ℓ · c. Tokens of an
 * empty batch get 0 (the guard max(·, 1) only matters when no token is valid).
 */
export function aggregationCoefficients(mask: Tensor, mode: Aggregation, options: AggregateOptions = {}, dtype?: 'f32' | 'f64'): Tensor {
  const m = detach(to(mask, dtype ?? (isFloat(mask.dtype) ? (mask.dtype as 'f32' | 'f64') : 'f32')));
  const T = m.shape[1]!;
  const tokens = (): Tensor | number => options.globalTokens ?? maximum(sum(m), 1);
  const seqs = (): Tensor | number => options.globalSeqs ?? maximum(sum(gt(sum(m, 1), 0)), 1);
  switch (mode) {
    case 'token-mean':
      return div(m, tokens());
    case 'token-sum':
      return m;
    case 'seq-mean-token-sum':
      return div(m, seqs());
    case 'seq-mean-token-mean':
      return div(div(m, maximum(sum(m, 1, true), 1)), seqs());
    case 'seq-mean-token-sum-norm':
      return div(div(m, seqs()), options.lossScale ?? T);
  }
}

/**
 * Same as `aggregate` without the value checks: for callers (the losses) that validated the
 * mask already and may pass one that rejection emptied (the result is then 0, with zero
 * gradient, rather than 0/0).
 */
export function aggregateUnchecked(lossMat: Tensor, mask: Tensor, mode: Aggregation, options: AggregateOptions = {}): Tensor {
  const c = aggregationCoefficients(mask, mode, options, lossMat.dtype as 'f32' | 'f64');
  return sum(mul(where(c, lossMat, 0), c));
}

/**
 * Aggregates a per-token loss matrix [B, T] under a 0/1 mask [B, T] into a scalar, by one of
 * verl's modes (see the file header). Differentiable in `lossMat`.
 */
export function aggregate(lossMat: Tensor, mask: Tensor, mode: Aggregation = 'token-mean', options: AggregateOptions = {}): Tensor {
  const op = 'aggregate';
  if (!(lossMat instanceof Tensor)) throw new ValueError(`${op}: lossMat must be a Tensor`);
  if (!(mask instanceof Tensor)) throw new ValueError(`${op}: mask must be a Tensor`);
  if (!isFloat(lossMat.dtype)) throw new DTypeError(`${op}: lossMat has dtype ${lossMat.dtype}; it must be f32 or f64`);
  if (lossMat.ndim !== 2) throw new ShapeError(`${op}: lossMat must be [B, T], got shape ${fmtShape(lossMat.shape)}`);
  if (mask.ndim !== 2 || mask.shape[0] !== lossMat.shape[0] || mask.shape[1] !== lossMat.shape[1]) {
    throw new ShapeError(`${op}: mask shape ${fmtShape(mask.shape)} does not match lossMat shape ${fmtShape(lossMat.shape)}`);
  }
  const m = checkAggregation(op, mode);
  if (options === null || typeof options !== 'object') throw new ConfigError(`${op}: options must be an object`);
  for (const k of Object.keys(options)) {
    if (!(AGG_OPTION_NAMES as readonly string[]).includes(k)) {
      throw new ConfigError(`${op}: unknown option '${k}'; expected ${AGG_OPTION_NAMES.join(', ')}`);
    }
  }
  checkAggregateOptions(op, m, options);
  if (mask.device === 'cpu' && lossMat.device === 'cpu') {
    const valid = checkMaskValues(op, mask.toArraySync());
    if (valid === 0) throw new ValueError(`${op}: mask is all zero; there is no valid token to aggregate`);
    const l = lossMat.toArraySync();
    const mv = mask.toArraySync();
    for (let i = 0; i < l.length; i++) {
      if (mv[i] === 1 && !Number.isFinite(l[i]!)) {
        throw new ValueError(`${op}: lossMat has a non-finite value (${l[i]}) at a valid token, flat index ${i}`);
      }
    }
  }
  return aggregateUnchecked(lossMat, mask, m, options);
}
