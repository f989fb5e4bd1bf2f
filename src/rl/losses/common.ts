/**
 * What every policy loss shares: the input and option types, their validation (typed errors that
 * name the argument), the log-space ratio helpers, the train–inference IS correction hook, the
 * aggregation and the metrics. Each kind's own file (reinforce.ts, minirl.ts, ...) holds only its
 * formula: a `terms(ctx, options)` that returns the per-token loss ℓ [B, T] and the per-token
 * weight w [B, T] it applies.
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
 *
 * Ratios are always formed in log space with the log-ratio clamped to ±20 before exp
 * (docs/paper.md §6 pitfall 1, verl), except where a kind's published code clamps differently
 * (its file says so).
 *
 * IS correction (`isCorrection` option). `isCorrection` (is-corrections.ts) is applied
 * to π_old/μ_old: logNum = oldLogp, logDen = rolloutLogp. Its weights multiply ℓ (as verl's
 * `rollout_is_weights`), and tokens it rejects (weight 0: token-mis, seq-mis, geo-mean, k3, opsm)
 * leave the mask used for aggregation and metrics (verl: rejection sampling modifies the response
 * mask). If rejection empties the batch the loss is 0 with zero gradient. minirl and decoupled-ppo
 * already carry π_old/μ in their own weight, so they refuse the option (docs/paper.md §6 pitfall 8).
 *
 * Reads. Value checks (finite inputs, 0/1 mask) and metrics need the data on the host:
 * `policyLoss` reads CPU tensors synchronously; `policyLossAsync` awaits the reads and works on
 * any device. The loss itself is built from tensor ops on the device of `logp`.
 */
import {
  ConfigError, DeviceError, DTypeError, ShapeError, Tensor, ValueError, isFloat, type TypedArray,
} from '../../tensor/index.js';
import { fmtShape } from '../../tensor/shape.js';
import {
  clamp, detach, div, exp, expand, ge, gt, le, maximum, mul, reshape, sub, sum, to, where,
} from '../../autograd/index.js';
import {
  type AggregateOptions, type Aggregation, aggregateUnchecked, checkAggregateOptions, checkAggregation,
} from '../aggregate.js';
import {
  IS_CORRECTION_KINDS, LOG_RATIO_CLAMP, isCorrection, isCorrectionAsync,
  type ISCorrectionKind, type ISCorrectionOptions, type ISCorrectionResult, type ISCorrectionStats,
} from '../is-corrections.js';

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

const KIND_OPTION_NAMES: readonly KindOptionName[] = ['epsLow', 'epsHigh', 'dualClipC', 'tisCap', 'tisOn', 'tauPos', 'tauNeg', 'behavImpWeightCap'];
const SHARED_OPTION_NAMES = ['aggregation', 'lossScale', 'globalTokens', 'globalSeqs'] as const;

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

// ---------------------------------------------------------------------------------------------
// Ratio helpers (tensor ops).

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

// ---------------------------------------------------------------------------------------------
// Validation.

interface Plan {
  spec: LossSpec;
  op: string;
  o: ResolvedLossOptions;
  agg: AggregateOptions;
  is: { kind: ISCorrectionKind; options: ISCorrectionOptions } | null;
  B: number;
  T: number;
  inputs: PolicyLossInputs;
  /** Tensors whose values are checked on the host, with their names. */
  checked: [string, Tensor][];
}

function isNumber(v: unknown): v is number {
  return typeof v === 'number' && !Number.isNaN(v);
}

function resolveOptions(spec: LossSpec, op: string, options: PolicyLossOptions): Pick<Plan, 'o' | 'agg' | 'is'> {
  if (options === undefined || options === null) options = {};
  if (typeof options !== 'object') throw new ConfigError(`${op}: options must be an object, got ${typeof options}`);
  const accepted = new Set<string>([...spec.options, ...SHARED_OPTION_NAMES, ...(spec.acceptsIsCorrection ? ['isCorrection'] : [])]);
  const known = new Set<string>([...KIND_OPTION_NAMES, ...SHARED_OPTION_NAMES, 'isCorrection']);
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined) continue;
    if (!accepted.has(key)) {
      if (!known.has(key)) {
        throw new ConfigError(`${op}: unknown option '${key}'; '${spec.kind}' accepts ${[...accepted].map((k) => `'${k}'`).join(', ')}`);
      }
      const why = key === 'isCorrection'
        ? ` ('${spec.kind}' already applies π_old/μ in its own weight; a second correction would count it twice)`
        : '';
      throw new ConfigError(`${op}: option '${key}' does not apply to '${spec.kind}'${why}; it accepts ${[...accepted].map((k) => `'${k}'`).join(', ')}`);
    }
  }
  const d = spec.defaults;
  const aggregation = checkAggregation(op, options.aggregation ?? d.aggregation);
  const agg: AggregateOptions = { lossScale: options.lossScale, globalTokens: options.globalTokens, globalSeqs: options.globalSeqs };
  checkAggregateOptions(op, aggregation, agg);

  const num = (name: KindOptionName, fallback: number): number => {
    const v = (options as Record<string, unknown>)[name] ?? (d as Record<string, unknown>)[name] ?? fallback;
    if (!isNumber(v)) throw new ConfigError(`${op}: option '${name}' must be a number, got ${String(v)}`);
    return v;
  };
  const epsLow = num('epsLow', 0);
  const epsHigh = num('epsHigh', Infinity);
  if (spec.epsSpace === 'ratio') {
    if (!(epsLow >= 0 && epsLow <= 1)) {
      throw new ConfigError(`${op}: option 'epsLow' must be in [0, 1] (the band starts at 1 − epsLow), got ${epsLow}`);
    }
    if (!(epsHigh >= 0)) throw new ConfigError(`${op}: option 'epsHigh' must be >= 0 (Infinity: no upper clip), got ${epsHigh}`);
  } else if (spec.epsSpace === 'log') {
    if (!(epsLow >= 0)) throw new ConfigError(`${op}: option 'epsLow' must be >= 0 (log-space band [−epsLow, epsHigh]), got ${epsLow}`);
    if (!(epsHigh >= 0)) throw new ConfigError(`${op}: option 'epsHigh' must be >= 0 (log-space band [−epsLow, epsHigh]), got ${epsHigh}`);
  }
  const dualRaw = (options.dualClipC ?? d.dualClipC ?? null) as unknown;
  if (dualRaw !== null && (!isNumber(dualRaw) || !(dualRaw > 1))) {
    throw new ConfigError(`${op}: option 'dualClipC' must be a number > 1 (verl asserts clip_ratio_c > 1), got ${String(dualRaw)}`);
  }
  const tisCap = num('tisCap', Infinity);
  if (!(tisCap > 0)) throw new ConfigError(`${op}: option 'tisCap' must be > 0 (Infinity: no truncation), got ${tisCap}`);
  const tisOn = (options.tisOn ?? d.tisOn ?? 'full') as unknown;
  if (tisOn !== 'full' && tisOn !== 'old') throw new ConfigError(`${op}: option 'tisOn' must be 'full' or 'old', got ${JSON.stringify(tisOn)}`);
  const tauPos = num('tauPos', 1);
  const tauNeg = num('tauNeg', 1);
  for (const [n, v] of [['tauPos', tauPos], ['tauNeg', tauNeg]] as const) {
    if (!(v > 0) || !Number.isFinite(v)) throw new ConfigError(`${op}: option '${n}' must be a finite number > 0, got ${v}`);
  }
  const behavImpWeightCap = num('behavImpWeightCap', Infinity);
  if (!(behavImpWeightCap > 0)) {
    throw new ConfigError(`${op}: option 'behavImpWeightCap' must be > 0 (Infinity: off), got ${behavImpWeightCap}`);
  }

  let is: Plan['is'] = null;
  const isOpt = options.isCorrection as unknown;
  if (isOpt !== undefined && isOpt !== null) {
    let kind: unknown;
    let rest: ISCorrectionOptions = {};
    if (typeof isOpt === 'string') kind = isOpt;
    else if (typeof isOpt === 'object') ({ kind, ...rest } = isOpt as { kind: unknown } & ISCorrectionOptions);
    else throw new ConfigError(`${op}: option 'isCorrection' must be a kind name or { kind, ...options }, got ${typeof isOpt}`);
    if (typeof kind !== 'string' || !(IS_CORRECTION_KINDS as readonly string[]).includes(kind)) {
      throw new ConfigError(`${op}: option 'isCorrection' has unknown kind ${JSON.stringify(kind)}; expected one of ${IS_CORRECTION_KINDS.join(', ')}`);
    }
    is = { kind: kind as ISCorrectionKind, options: rest };
  }
  return {
    o: { epsLow, epsHigh, dualClipC: dualRaw as number | null, tisCap, tisOn, tauPos, tauNeg, behavImpWeightCap, aggregation },
    agg,
    is,
  };
}

function planLoss(spec: LossSpec, inputs: PolicyLossInputs, options: PolicyLossOptions): Plan {
  const op = `policyLoss('${spec.kind}')`;
  if (inputs === null || typeof inputs !== 'object') {
    throw new ValueError(`${op}: inputs must be an object { logp, oldLogp, rolloutLogp, advantages, mask }`);
  }
  const { o, agg, is } = resolveOptions(spec, op, options);
  const { logp } = inputs;
  const asTensor = (name: string, t: unknown): Tensor => {
    if (!(t instanceof Tensor)) throw new ValueError(`${op}: ${name} must be a Tensor, got ${t === undefined ? 'undefined' : t === null ? 'null' : typeof t}`);
    if (t.isDisposed) throw new DeviceError(`${op}: ${name} has been disposed`);
    return t;
  };
  asTensor('logp', logp);
  if (!isFloat(logp.dtype)) throw new DTypeError(`${op}: logp has dtype ${logp.dtype}; it must be f32 or f64`);
  if (logp.ndim !== 2) throw new ShapeError(`${op}: logp must be [B, T], got shape ${fmtShape(logp.shape)}`);
  const [B, T] = logp.shape as [number, number];
  if (B === 0 || T === 0) throw new ShapeError(`${op}: logp shape ${fmtShape(logp.shape)} is empty`);
  const checked: [string, Tensor][] = [['logp', logp]];
  const sameAsLogp = (name: string, t: Tensor, sameDType: boolean): void => {
    if (t.ndim !== 2 || t.shape[0] !== B || t.shape[1] !== T) {
      throw new ShapeError(`${op}: ${name} shape ${fmtShape(t.shape)} does not match logp shape ${fmtShape(logp.shape)}`);
    }
    if (sameDType && t.dtype !== logp.dtype) {
      throw new DTypeError(`${op}: ${name} has dtype ${t.dtype} but logp has ${logp.dtype}; pass them in one dtype`);
    }
    if (t.device !== logp.device) throw new DeviceError(`${op}: ${name} is on '${t.device}' but logp is on '${logp.device}'`);
    checked.push([name, t]);
  };
  const needRollout = spec.needsRollout || is !== null;
  for (const [name, needed] of [['oldLogp', spec.needsOld || is !== null], ['rolloutLogp', needRollout]] as const) {
    const t = inputs[name];
    if (t === undefined || t === null) {
      if (needed) {
        const why = is !== null && !(name === 'oldLogp' ? spec.needsOld : spec.needsRollout) ? ' by the isCorrection option' : '';
        throw new ValueError(`${op}: ${name} (${name === 'oldLogp' ? 'π_old' : 'μ_old, the inference engine\'s'} log-probs [B, T]) is required${why}`);
      }
      continue;
    }
    sameAsLogp(name, asTensor(name, t), true);
  }
  if (inputs.sgLogp !== undefined) sameAsLogp('sgLogp', asTensor('sgLogp', inputs.sgLogp), true);
  const adv = asTensor('advantages', inputs.advantages);
  if (!isFloat(adv.dtype)) throw new DTypeError(`${op}: advantages has dtype ${adv.dtype}; it must be f32 or f64`);
  const advOk = (adv.ndim === 1 && adv.shape[0] === B) || (adv.ndim === 2 && adv.shape[0] === B && adv.shape[1] === T);
  if (!advOk) throw new ShapeError(`${op}: advantages shape ${fmtShape(adv.shape)} must be [B] = [${B}] or [B, T] = [${B}, ${T}]`);
  if (adv.device !== logp.device) throw new DeviceError(`${op}: advantages is on '${adv.device}' but logp is on '${logp.device}'`);
  checked.push(['advantages', adv]);
  const mask = asTensor('mask', inputs.mask);
  sameAsLogp('mask', mask, false);
  return { spec, op, o, agg, is, B, T, inputs, checked };
}

function fmtIndex(name: string, flat: number, shape: readonly number[]): string {
  if (shape.length === 2) return `${name}[${Math.floor(flat / shape[1]!)}, ${flat % shape[1]!}]`;
  return `${name}[${flat}]`;
}

function checkValues(p: Plan, arrays: readonly TypedArray[]): void {
  p.checked.forEach(([name, t], k) => {
    const a = arrays[k]!;
    if (name === 'mask') {
      let valid = 0;
      for (let i = 0; i < a.length; i++) {
        const v = a[i]!;
        if (v !== 0 && v !== 1) throw new ValueError(`${p.op}: mask must hold only 0 and 1, found ${v} at ${fmtIndex('mask', i, t.shape)}`);
        valid += v;
      }
      if (valid === 0) throw new ValueError(`${p.op}: mask is all zero; there is no valid token to train on`);
      return;
    }
    for (let i = 0; i < a.length; i++) {
      if (!Number.isFinite(a[i]!)) {
        throw new ValueError(`${p.op}: ${name} has a non-finite value (${a[i]}) at ${fmtIndex(name, i, t.shape)}; inputs must be finite, masked positions included`);
      }
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Build and metrics.

interface Built {
  ctx: LossContext;
  terms: LossTerms;
  loss: Tensor;
  /** Tensors the metrics read: mask, weight, clipped, clippedLower, ppoKl log-ratio, own weight parts. */
  reads: Tensor[];
}

function buildLoss(p: Plan, isRes: ISCorrectionResult | null): Built {
  const { inputs, B, T } = p;
  const dtype = inputs.logp.dtype;
  const cast = (t: Tensor): Tensor => detach(to(t, dtype));
  const mask0 = cast(inputs.mask);
  const advIn = cast(inputs.advantages);
  const adv = advIn.ndim === 1 ? expand(reshape(advIn, [B, 1]), [B, T]) : advIn;
  let mask = mask0;
  let isWeight: Tensor | null = null;
  if (isRes !== null) {
    isWeight = detach(isRes.weights);
    mask = detach(mul(mask0, isWeight.gt(0)));
  }
  const ctx: LossContext = {
    op: p.op,
    B,
    T,
    logp: inputs.logp,
    sg: detach(inputs.sgLogp ?? inputs.logp),
    old: inputs.oldLogp ? detach(inputs.oldLogp) : null,
    mu: inputs.rolloutLogp ? detach(inputs.rolloutLogp) : null,
    adv,
    mask,
    isWeight,
  };
  const terms = p.spec.terms(ctx, p.o);
  const loss = aggregateUnchecked(terms.perToken, mask, p.o.aggregation, p.agg);
  const zero = mul(mask, 0);
  const kl = ctx.old ? logRatio(ctx.old, ctx.sg) : zero;
  const own = terms.ownWeight;
  const reads = [
    mask, detach(terms.weight), terms.clipped ?? zero, terms.clippedLower ?? zero, kl,
    ...(own ? [own.weight, own.masked ?? zero, own.clipped ?? zero] : []),
  ];
  return { ctx, terms, loss, reads };
}

function weightStats(w: ArrayLike<number>, m: ArrayLike<number>, masked: ArrayLike<number>, clipped: ArrayLike<number>): LossWeightStats {
  let n = 0, s = 0, s2 = 0, min = Infinity, max = -Infinity, nm = 0, nc = 0;
  for (let i = 0; i < m.length; i++) {
    if (m[i] !== 1) continue;
    const x = w[i]!;
    n++;
    s += x;
    s2 += x * x;
    if (x < min) min = x;
    if (x > max) max = x;
    nm += masked[i]!;
    nc += clipped[i]!;
  }
  if (n === 0) return { mean: 0, min: 0, max: 0, maskedFraction: 0, clippedFraction: 0, ess: 0 };
  return { mean: s / n, min, max, maskedFraction: nm / n, clippedFraction: nc / n, ess: s2 > 0 ? (s * s) / (n * s2) : 0 };
}

function finishLoss(p: Plan, b: Built, isRes: ISCorrectionResult | null, arrays: readonly TypedArray[]): PolicyLossResult {
  const [m, w, c, cl, kl, ow, om, oc] = arrays as TypedArray[];
  const { B, T } = p;
  let tokens = 0, seqs = 0, sw = 0, sc = 0, scl = 0, skl = 0;
  for (let i = 0; i < B; i++) {
    let n = 0;
    for (let t = 0; t < T; t++) {
      const k = i * T + t;
      if (m![k] !== 1) continue;
      n++;
      sw += w![k]!;
      sc += c![k]!;
      scl += cl![k]!;
      skl += kl![k]!;
    }
    tokens += n;
    if (n > 0) seqs++;
  }
  const mean = (s: number): number => (tokens > 0 ? s / tokens : 0);
  const metrics: PolicyLossMetrics = {
    clipfrac: mean(sc),
    clipfracLower: mean(scl),
    ppoKl: mean(skl),
    meanWeight: mean(sw),
    tokens,
    seqs,
  };
  if (isRes !== null) metrics.isWeight = isRes.stats;
  else if (ow !== undefined) metrics.isWeight = weightStats(ow, m!, om!, oc!);
  const m0 = b.ctx.mask;
  return { loss: b.loss, metrics, weight: detach(mul(b.terms.weight, m0)), perToken: where(m0, b.terms.perToken, 0), mask: m0 };
}

function isInputs(p: Plan) {
  const i = p.inputs;
  return { logNum: i.oldLogp!, logDen: i.rolloutLogp!, mask: detach(to(i.mask, i.logp.dtype)), advantages: detach(to(i.advantages, i.logp.dtype)) };
}

/** Runs one kind on CPU tensors (synchronous reads). */
export function runPolicyLoss(spec: LossSpec, inputs: PolicyLossInputs, options: PolicyLossOptions = {}): PolicyLossResult {
  const p = planLoss(spec, inputs, options);
  if (inputs.logp.device !== 'cpu') {
    throw new DeviceError(
      `${p.op}: inputs are on '${inputs.logp.device}'; the value checks and metrics read them on the host, `
      + 'and GPU reads are async: use await policyLossAsync(...)',
    );
  }
  checkValues(p, p.checked.map(([, t]) => t.toArraySync()));
  const isRes = p.is ? isCorrection(p.is.kind, isInputs(p), p.is.options) : null;
  const b = buildLoss(p, isRes);
  return finishLoss(p, b, isRes, b.reads.map((t) => t.toArraySync()));
}

/** Runs one kind on tensors of any device (awaited reads). */
export async function runPolicyLossAsync(spec: LossSpec, inputs: PolicyLossInputs, options: PolicyLossOptions = {}): Promise<PolicyLossResult> {
  const p = planLoss(spec, inputs, options);
  checkValues(p, await Promise.all(p.checked.map(([, t]) => t.toArray())));
  const isRes = p.is ? await isCorrectionAsync(p.is.kind, isInputs(p), p.is.options) : null;
  const b = buildLoss(p, isRes);
  return finishLoss(p, b, isRes, await Promise.all(b.reads.map((t) => t.toArray())));
}
