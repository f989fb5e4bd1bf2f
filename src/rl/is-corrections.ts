/**
 * Training–inference importance-sampling (IS) corrections: the per-token weights that correct
 * for the gap between the policy that sampled a response (the inference engine's μ_θold) and the
 * policy the loss is written against (usually the training engine's π_θold). docs/paper.md §1
 * (paper Eq. (5)) splits the token IS weight π_θ/μ_θold into discrepancy × staleness; these
 * corrections act on the discrepancy factor ρ_t = π_old(y_t)/μ(y_t) (docs/paper.md §5.3; verl
 * `compute_rollout_correction_weights`, slime `vanilla_tis_function` / `icepop_function`, TRL's
 * `vllm_importance_sampling_mode`).
 *
 * Why one file of ~430 lines: the eight kinds share one option check, one sequence-ratio
 * bookkeeping and one metrics block, and each kind's formula is a few lines of the table below;
 * split across files they would each repeat that frame.
 *
 * Conventions (all kinds):
 *   logρ_t = clamp(logNum_t − logDen_t, −20, 20)       docs/paper.md §6 pitfall 1 (verl's ±20 bound)
 *   sequence log-ratio  L_i = clamp(Σ_t m_t·logρ_t, −20, 20)        (before exp, same bound)
 *   n_i = Σ_t m_t (valid tokens of sequence i); sequences with n_i = 0 get no weight at all.
 *
 *   kind                  weight on a valid token (m_t = 1)                         options (default)
 *   'token-tis'           clamp(ρ_t, low, cap)    (truncation, never zero)        cap (2), low (none)
 *   'token-mis' (IcePop)  ρ_t if low ≤ ρ_t ≤ high, else 0                       low (0.5), high (5)
 *   'seq-tis'             clamp(exp(L_i), low, cap), broadcast along the sequence cap (2), low (none)
 *   'seq-mis'             exp(L_i) if low ≤ exp(L_i) ≤ high, else 0             high (2), low (0)
 *   'geo-mean-rejection'  1 if low ≤ exp(mean_t logρ_t) ≤ high, else 0   low (0.999), high (1.001)
 *   'k3-rejection'        1 if mean_t(ρ_t − logρ_t − 1) ≤ threshold, else 0        threshold (0.01)
 *   'opsm'                0 if A_t < 0 and mean_t(−logρ_t) > threshold, else 1  threshold (1e-4)
 *                         (−logρ_t = logDen_t − logNum_t, inside the ±20 clamp)
 *
 * The three rejection kinds (geo, k3, opsm) return a 0/1 keep-mask as their weight (rejection
 * sampling without reweighting, as verl's `rollout_rs` modifies only the response mask); multiply
 * them with an IS kind's weights to combine both. OPSM (DeepSeek-V3.2's off-policy sequence
 * masking, docs/paper.md §5.3) needs `advantages`, [B] or [B, T]; with [B, T] the A < 0 test is per
 * token, as in slime's `opsm` mask (identical when A is constant along a sequence). With
 * logNum = π_θ (or π_old) and logDen = μ, mean_t(logDen − logNum) is the k1 estimate of
 * KL(μ ‖ π) along the sampled sequence.
 *
 * Weights are ALWAYS detached: they are computed on the host from the input values and returned
 * as a fresh leaf tensor with requiresGrad = false, so a loss that multiplies by them gets no
 * gradient term through them (the verl math doc's reason: a non-detached w adds a spurious
 * log π·∇w term). Masked-out (m_t = 0) tokens always get weight 0.
 *
 * Statistics, over the N valid tokens (m_t = 1) of the batch, of the weights actually returned
 * (rejected tokens count as 0):
 *   mean, min, max        of w_t
 *   maskedFraction        (number of valid tokens zeroed by rejection) / N
 *   clippedFraction       (number of valid tokens whose weight was truncated by cap or low) / N
 *   ess                   (Σ w_t)² / (N · Σ w_t²), in (0, 1]; 0 when every weight is 0. This equals
 *                         verl's `rollout_is_eff_sample_size` = 1 / mean((w / mean w)²).
 *
 * Defaults and where they come from (docs/paper.md §5.3 and §8 unless marked):
 *   token-tis cap 2      verl's and slime's default C of 2.0 (slime's lower clamp defaults off).
 *   token-mis [0.5, 5]   the band Ring-1T used with IcePop.
 *   seq-tis cap 2        same C as token-TIS (verl `rollout_is_threshold` default 2.0).
 *   seq-mis high 2       seq-MIS rejects the sequence if ρ(y) > C, C = verl's 2.0; the rule states
 *                        no lower bound, so low defaults to 0 (verl would use 1/high; pass it).
 *   geo [0.999, 1.001]   Geo-RS rejects when exp(mean_t logρ_t) leaves a tight band such as
 *                        0.999–1.001.
 *   k3 threshold 0.01    OPEN CHOICE: K3-RS rejects when mean_t(ρ_t − logρ_t − 1) exceeds a
 *                        threshold, but no source gives a default, and verl has none (the
 *                        threshold is required). 0.01 nats/token is our choice; pass `threshold`.
 *   opsm threshold 1e-4  the rule (docs/paper.md §5.3) has no default δ; 1e-4 is slime's
 *                        `--opsm-delta` default.
 *
 * Reads: the weights and the statistics need the input values on the host. `isCorrection` reads
 * CPU tensors synchronously (reads are async on the GPU: README.md, "Conventions a PyTorch user
 * should know"); `isCorrectionAsync` awaits the reads and works on any device, returning the
 * weights on the device of `logNum`.
 */
import {
  ConfigError, DeviceError, DTypeError, ShapeError, Tensor, ValueError, fromTypedArray,
  isFloat, type FloatDType, type TypedArray,
} from '../tensor/index.js';
import { fmtShape } from '../tensor/shape.js';

export type ISCorrectionKind =
  | 'token-tis' | 'token-mis' | 'seq-tis' | 'seq-mis' | 'geo-mean-rejection' | 'k3-rejection' | 'opsm';

export const IS_CORRECTION_KINDS: readonly ISCorrectionKind[] = [
  'token-tis', 'token-mis', 'seq-tis', 'seq-mis', 'geo-mean-rejection', 'k3-rejection', 'opsm',
];

/** The ±20 bound on every log-ratio before exp (docs/paper.md §6 pitfall 1; verl's SAFETY_BOUND). */
export const LOG_RATIO_CLAMP = 20;

export interface ISCorrectionInputs {
  /** Numerator log-probs [B, T], e.g. oldLogp (π_old). */
  logNum: Tensor;
  /** Denominator log-probs [B, T], e.g. rolloutLogp (μ, the policy that sampled). */
  logDen: Tensor;
  /** Response mask [B, T], float 0/1. */
  mask: Tensor;
  /** Advantages [B] or [B, T]; required by 'opsm', ignored by the other kinds. */
  advantages?: Tensor;
}

export interface ISCorrectionOptions {
  /** Upper truncation of the weight (token-tis, seq-tis). May be Infinity (no truncation). */
  cap?: number;
  /** Lower bound: a truncation floor (token-tis, seq-tis) or the lower edge of the accepted band. */
  low?: number;
  /** Upper edge of the accepted band (token-mis, seq-mis, geo-mean-rejection). May be Infinity. */
  high?: number;
  /** Rejection threshold (k3-rejection: mean k3 per token; opsm: δ on the mean log-ratio). */
  threshold?: number;
}

export interface ISCorrectionStats {
  /** Mean of the returned weights over valid tokens (rejected tokens count as 0). */
  mean: number;
  /** Minimum of the returned weights over valid tokens. */
  min: number;
  /** Maximum of the returned weights over valid tokens. */
  max: number;
  /** Fraction of valid tokens whose weight the correction set to 0 (rejection). */
  maskedFraction: number;
  /** Fraction of valid tokens whose weight was truncated by cap or low (TIS kinds; 0 otherwise). */
  clippedFraction: number;
  /** Effective sample size (Σw)² / (N·Σw²) over the N valid tokens; 0 when every weight is 0. */
  ess: number;
}

export interface ISCorrectionResult {
  /** Detached weights [B, T] in the dtype of logNum; 0 on masked-out and rejected tokens. */
  weights: Tensor;
  stats: ISCorrectionStats;
}

type OptionName = keyof ISCorrectionOptions;

interface KindSpec {
  readonly options: readonly OptionName[];
  readonly defaults: Readonly<ISCorrectionOptions>;
}

/** Accepted options and defaults per kind (sources in the header). */
const SPECS: Readonly<Record<ISCorrectionKind, KindSpec>> = {
  'token-tis': { options: ['cap', 'low'], defaults: { cap: 2 } },
  'token-mis': { options: ['low', 'high'], defaults: { low: 0.5, high: 5 } },
  'seq-tis': { options: ['cap', 'low'], defaults: { cap: 2 } },
  'seq-mis': { options: ['low', 'high'], defaults: { low: 0, high: 2 } },
  'geo-mean-rejection': { options: ['low', 'high'], defaults: { low: 0.999, high: 1.001 } },
  'k3-rejection': { options: ['threshold'], defaults: { threshold: 0.01 } },
  'opsm': { options: ['threshold'], defaults: { threshold: 1e-4 } },
};

/** The defaults a kind uses, for docs and for callers that report them. */
export function isCorrectionDefaults(kind: ISCorrectionKind): Readonly<ISCorrectionOptions> {
  return SPECS[checkKind(kind)].defaults;
}

function checkKind(kind: unknown): ISCorrectionKind {
  if (typeof kind !== 'string' || !Object.prototype.hasOwnProperty.call(SPECS, kind)) {
    throw new ConfigError(`isCorrection: unknown kind ${JSON.stringify(kind)}; expected one of ${IS_CORRECTION_KINDS.join(', ')}`);
  }
  return kind as ISCorrectionKind;
}

interface Resolved {
  cap: number;
  low: number;
  high: number;
  threshold: number;
}

function resolveOptions(kind: ISCorrectionKind, options: ISCorrectionOptions | undefined): Resolved {
  const op = `isCorrection('${kind}')`;
  if (options === undefined || options === null) options = {};
  if (typeof options !== 'object') throw new ConfigError(`${op}: options must be an object, got ${typeof options}`);
  const spec = SPECS[kind];
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined) continue;
    if (!(spec.options as readonly string[]).includes(key)) {
      const known = ['cap', 'low', 'high', 'threshold'].includes(key);
      throw new ConfigError(
        `${op}: ${known ? 'option' : 'unknown option'} '${key}' ${known ? 'does not apply to this kind' : ''}`.trimEnd()
        + `; '${kind}' accepts ${spec.options.map((o) => `'${o}'`).join(', ')}`,
      );
    }
    if (typeof value !== 'number' || Number.isNaN(value)) {
      throw new ConfigError(`${op}: option '${key}' must be a number, got ${String(value)}`);
    }
  }
  const get = (k: OptionName): number | undefined => options![k] ?? spec.defaults[k];
  const cap = get('cap') ?? Infinity;
  const low = get('low') ?? 0;
  const high = get('high') ?? Infinity;
  const threshold = get('threshold') ?? Infinity;
  if (!(cap > 0)) throw new ConfigError(`${op}: option 'cap' must be > 0 (Infinity for no truncation), got ${cap}`);
  if (!(low >= 0) || !Number.isFinite(low)) throw new ConfigError(`${op}: option 'low' must be finite and >= 0, got ${low}`);
  if (!(high > 0)) throw new ConfigError(`${op}: option 'high' must be > 0 (Infinity for no upper bound), got ${high}`);
  if (spec.options.includes('cap') && low > cap) {
    throw new ConfigError(`${op}: option 'low' (${low}) must be <= 'cap' (${cap})`);
  }
  if (spec.options.includes('high') && low > high) {
    throw new ConfigError(`${op}: option 'low' (${low}) must be <= 'high' (${high})`);
  }
  if (spec.options.includes('threshold') && !(threshold >= 0)) {
    throw new ConfigError(`${op}: option 'threshold' must be >= 0, got ${threshold}`);
  }
  return { cap, low, high, threshold };
}

interface Checked {
  kind: ISCorrectionKind;
  opts: Resolved;
  B: number;
  T: number;
  dtype: FloatDType;
  tensors: Tensor[]; // logNum, logDen, mask, [advantages]
}

function checkInputs(kind: ISCorrectionKind, inputs: ISCorrectionInputs, options: ISCorrectionOptions | undefined): Checked {
  const op = `isCorrection('${kind}')`;
  if (inputs === null || typeof inputs !== 'object') throw new ValueError(`${op}: inputs must be an object { logNum, logDen, mask }`);
  const opts = resolveOptions(kind, options);
  const named: [string, Tensor | undefined][] = [['logNum', inputs.logNum], ['logDen', inputs.logDen], ['mask', inputs.mask]];
  for (const [name, t] of named) {
    if (!(t instanceof Tensor)) throw new ValueError(`${op}: ${name} must be a Tensor, got ${t === undefined ? 'undefined' : typeof t}`);
    if (t.isDisposed) throw new DeviceError(`${op}: ${name} has been disposed`);
    if (!isFloat(t.dtype)) throw new DTypeError(`${op}: ${name} has dtype ${t.dtype}, expected a float dtype (f32 or f64)`);
  }
  const { logNum, logDen, mask } = inputs;
  if (logNum.ndim !== 2) throw new ShapeError(`${op}: logNum must be [B, T], got shape ${fmtShape(logNum.shape)}`);
  for (const [name, t] of named.slice(1) as [string, Tensor][]) {
    if (t.ndim !== 2 || t.shape[0] !== logNum.shape[0] || t.shape[1] !== logNum.shape[1]) {
      throw new ShapeError(`${op}: ${name} shape ${fmtShape(t.shape)} does not match logNum shape ${fmtShape(logNum.shape)}`);
    }
  }
  if (logDen.dtype !== logNum.dtype) {
    throw new DTypeError(`${op}: logDen has dtype ${logDen.dtype} but logNum has ${logNum.dtype}; pass both in one dtype`);
  }
  const [B, T] = logNum.shape as [number, number];
  if (B === 0 || T === 0) throw new ShapeError(`${op}: logNum shape ${fmtShape(logNum.shape)} is empty`);
  const tensors = [logNum, logDen, mask];
  const adv = inputs.advantages;
  if (kind === 'opsm') {
    if (!(adv instanceof Tensor)) throw new ValueError(`${op}: advantages ([B] or [B, T]) are required by 'opsm'`);
    if (adv.isDisposed) throw new DeviceError(`${op}: advantages has been disposed`);
    if (!isFloat(adv.dtype)) throw new DTypeError(`${op}: advantages has dtype ${adv.dtype}, expected a float dtype (f32 or f64)`);
    const ok = (adv.ndim === 1 && adv.shape[0] === B) || (adv.ndim === 2 && adv.shape[0] === B && adv.shape[1] === T);
    if (!ok) throw new ShapeError(`${op}: advantages shape ${fmtShape(adv.shape)} must be [B] = [${B}] or [B, T] = [${B}, ${T}]`);
    tensors.push(adv);
  } else if (adv !== undefined && !(adv instanceof Tensor)) {
    throw new ValueError(`${op}: advantages must be a Tensor when given`);
  }
  for (const t of tensors.slice(1)) {
    if (t.device !== logNum.device) {
      throw new DeviceError(`${op}: inputs on different devices (logNum on '${logNum.device}', another on '${t.device}')`);
    }
  }
  return { kind, opts, B, T, dtype: logNum.dtype as FloatDType, tensors };
}

/** The host computation, on plain arrays (values already checked for shape and dtype). */
function isCorrectionHost(
  kind: ISCorrectionKind,
  B: number,
  T: number,
  logNum: ArrayLike<number>,
  logDen: ArrayLike<number>,
  mask: ArrayLike<number>,
  advantages: ArrayLike<number> | null,
  opts: Resolved,
): { weights: Float64Array; stats: ISCorrectionStats } {
  const op = `isCorrection('${kind}')`;
  const checkFinite = (name: string, a: ArrayLike<number>): void => {
    for (let i = 0; i < a.length; i++) {
      if (!Number.isFinite(a[i]!)) {
        throw new ValueError(`${op}: ${name} has a non-finite value (${a[i]}) at flat index ${i}`);
      }
    }
  };
  checkFinite('logNum', logNum);
  checkFinite('logDen', logDen);
  let valid = 0;
  for (let i = 0; i < mask.length; i++) {
    const m = mask[i]!;
    if (m !== 0 && m !== 1) throw new ValueError(`${op}: mask must hold only 0 and 1, found ${m} at flat index ${i}`);
    valid += m;
  }
  if (valid === 0) throw new ValueError(`${op}: mask is all zero; there is no valid token to weight`);
  if (advantages !== null) checkFinite('advantages', advantages);
  const advPerToken = advantages !== null && advantages.length === B * T;

  const w = new Float64Array(B * T);
  const rejected = new Uint8Array(B * T);
  const clipped = new Uint8Array(B * T);
  const { cap, low, high, threshold } = opts;
  const lr = (i: number): number => Math.min(LOG_RATIO_CLAMP, Math.max(-LOG_RATIO_CLAMP, logNum[i]! - logDen[i]!));

  for (let b = 0; b < B; b++) {
    const o = b * T;
    let n = 0;
    let sumLr = 0;
    let sumK3 = 0;
    for (let t = 0; t < T; t++) {
      if (mask[o + t] !== 1) continue;
      const l = lr(o + t);
      n++;
      sumLr += l;
      sumK3 += Math.exp(l) - l - 1;
    }
    if (n === 0) continue;
    // One weight for the whole sequence, or null for per-token kinds.
    let seqW: number | null = null;
    let seqRejected = false;
    let seqClipped = false;
    switch (kind) {
      case 'seq-tis': {
        const rho = Math.exp(Math.min(LOG_RATIO_CLAMP, Math.max(-LOG_RATIO_CLAMP, sumLr)));
        seqW = Math.min(cap, Math.max(low, rho));
        seqClipped = rho > cap || rho < low;
        break;
      }
      case 'seq-mis': {
        const rho = Math.exp(Math.min(LOG_RATIO_CLAMP, Math.max(-LOG_RATIO_CLAMP, sumLr)));
        seqRejected = !(rho >= low && rho <= high);
        seqW = seqRejected ? 0 : rho;
        break;
      }
      case 'geo-mean-rejection': {
        const g = Math.exp(sumLr / n);
        seqRejected = !(g >= low && g <= high);
        seqW = seqRejected ? 0 : 1;
        break;
      }
      case 'k3-rejection': {
        seqRejected = sumK3 / n > threshold;
        seqW = seqRejected ? 0 : 1;
        break;
      }
      case 'opsm': {
        const kl = -sumLr / n; // mean_t(logDen − logNum)
        for (let t = 0; t < T; t++) {
          if (mask[o + t] !== 1) continue;
          const a = advPerToken ? advantages![o + t]! : advantages![b]!;
          const rej = a < 0 && kl > threshold;
          w[o + t] = rej ? 0 : 1;
          rejected[o + t] = rej ? 1 : 0;
        }
        continue;
      }
      default:
        break;
    }
    for (let t = 0; t < T; t++) {
      if (mask[o + t] !== 1) continue;
      if (seqW !== null) {
        w[o + t] = seqW;
        rejected[o + t] = seqRejected ? 1 : 0;
        clipped[o + t] = seqClipped ? 1 : 0;
        continue;
      }
      const rho = Math.exp(lr(o + t));
      if (kind === 'token-tis') {
        w[o + t] = Math.min(cap, Math.max(low, rho));
        clipped[o + t] = rho > cap || rho < low ? 1 : 0;
      } else {
        // token-mis (IcePop)
        const keep = rho >= low && rho <= high;
        w[o + t] = keep ? rho : 0;
        rejected[o + t] = keep ? 0 : 1;
      }
    }
  }

  let sum = 0;
  let sumSq = 0;
  let min = Infinity;
  let max = -Infinity;
  let nRej = 0;
  let nClip = 0;
  for (let i = 0; i < B * T; i++) {
    if (mask[i] !== 1) continue;
    const x = w[i]!;
    sum += x;
    sumSq += x * x;
    if (x < min) min = x;
    if (x > max) max = x;
    nRej += rejected[i]!;
    nClip += clipped[i]!;
  }
  return {
    weights: w,
    stats: {
      mean: sum / valid,
      min,
      max,
      maskedFraction: nRej / valid,
      clippedFraction: nClip / valid,
      ess: sumSq > 0 ? (sum * sum) / (valid * sumSq) : 0,
    },
  };
}

function finish(c: Checked, arrays: TypedArray[]): ISCorrectionResult {
  const [num, den, mask, adv] = arrays as [TypedArray, TypedArray, TypedArray, TypedArray | undefined];
  const { weights, stats } = isCorrectionHost(c.kind, c.B, c.T, num, den, mask, adv ?? null, c.opts);
  const data = c.dtype === 'f64' ? weights : Float32Array.from(weights);
  const out = fromTypedArray(data, [c.B, c.T], { device: c.tensors[0]!.device, requiresGrad: false });
  return { weights: out, stats };
}

/**
 * Computes the detached IS weights [B, T] and their statistics for one correction kind (see the
 * file header for every formula and default). CPU tensors; use `isCorrectionAsync` on the GPU.
 */
export function isCorrection(
  kind: ISCorrectionKind,
  inputs: ISCorrectionInputs,
  options: ISCorrectionOptions = {},
): ISCorrectionResult {
  const c = checkInputs(checkKind(kind), inputs, options);
  if (c.tensors[0]!.device !== 'cpu') {
    throw new DeviceError(
      `isCorrection('${kind}'): inputs are on '${c.tensors[0]!.device}'; the weights are computed on the host, `
      + 'and GPU reads are async: use await isCorrectionAsync(...)',
    );
  }
  return finish(c, c.tensors.map((t) => t.toArraySync()));
}

/** `isCorrection` for tensors on any device: awaits the reads; weights land on logNum's device. */
export async function isCorrectionAsync(
  kind: ISCorrectionKind,
  inputs: ISCorrectionInputs,
  options: ISCorrectionOptions = {},
): Promise<ISCorrectionResult> {
  const c = checkInputs(checkKind(kind), inputs, options);
  return finish(c, await Promise.all(c.tensors.map((t) => t.toArray())));
}
