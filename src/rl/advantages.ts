/**
 * Advantage estimators for critic-free RL (docs/paper.md §1: sequence-level reward R(x, y), no
 * value model; the estimators are docs/paper.md §5.1). A batch of B rewards holds B/G prompts
 * with G responses each, as contiguous blocks: rewards[g·G .. g·G + G − 1] are the G responses
 * of prompt g. Each estimator returns one
 * advantage per response, a Tensor [B] (f32, or the float dtype of a tensor input), which the
 * losses broadcast over the tokens of that response.
 *
 *   groupMean  Â_i = R_i − mean_g                           MiniRL, docs/paper.md §3 (paper
 *                                                           Eq. (7)): no std division; the group
 *                                                           mean includes y_i.
 *   groupNorm  Â_i = (R_i − mean_g) / (std_g + eps)         GRPO, docs/paper.md §5.1: unbiased
 *                                                           (Bessel) std, eps = 1e-6 (verl; TRL
 *                                                           uses 1e-4).
 *   rloo       Â_i = G/(G−1) · (R_i − mean_g)               RLOO, docs/paper.md §5.1 (verl): R_i
 *              = R_i − mean of the other G − 1 rewards      minus the mean of the other responses;
 *                                                           needs G ≥ 2.
 *   batchNorm  Â_i = (R_i − mean_B) / (std_B + eps)         whitening over the whole batch: groupNorm
 *                                                           with one group of all B responses.
 *
 * Conventions:
 *   - std 'unbiased' (default) divides by n − 1, 'biased' by n. docs/paper.md §6 pitfall 4: with the
 *     unbiased std an all-equal group gives std 0 and Â = 0 (eps keeps the division finite).
 *   - A group of one response under 'unbiased' std follows verl, which gives such a group mean 0
 *     and std 1 (docs/paper.md §5.1), so Â = R / (1 + eps). Under 'biased', std = 0 and Â = 0.
 *   - B % G !== 0 → ShapeError; NaN/±Inf rewards → ValueError; bad groupSize/options → ConfigError.
 * All arithmetic is in f64 on the host (rewards are one number per response); the result is cast
 * to the output dtype and placed on the device of a tensor input (CPU: read synchronously;
 * for a GPU tensor, read it first with `await t.toArray()`).
 */
import {
  ConfigError, DeviceError, ShapeError, Tensor, ValueError, fromTypedArray,
  isFloat, type DeviceName, type FloatDType,
} from '../tensor/index.js';
import { fmtShape } from '../tensor/shape.js';

/** Rewards, one per response: a JS array, a typed array, or a 1-D Tensor [B]. */
export type Rewards = readonly number[] | Float64Array | Float32Array | Tensor;

export type StdKind = 'unbiased' | 'biased';

export interface GroupNormOptions {
  /** Added to the std before dividing (default 1e-6, verl; docs/paper.md §5.1). */
  eps?: number;
  /** 'unbiased' (Bessel, default; verl torch.std and TRL nanstd) or 'biased'. */
  std?: StdKind;
}
export type BatchNormOptions = GroupNormOptions;

/** verl's GRPO epsilon, 1e-6 (docs/paper.md §5.1). */
export const DEFAULT_ADV_EPS = 1e-6;

interface Prepared {
  r: Float64Array;
  dtype: FloatDType;
  device: DeviceName;
}

function prepare(op: string, rewards: Rewards): Prepared {
  let r: Float64Array;
  let dtype: FloatDType = 'f32';
  let device: DeviceName = 'cpu';
  if (rewards instanceof Tensor) {
    if (rewards.isDisposed) throw new DeviceError(`${op}: rewards tensor has been disposed`);
    if (rewards.ndim !== 1) throw new ShapeError(`${op}: rewards must be 1-D [B], got shape ${fmtShape(rewards.shape)}`);
    if (rewards.device !== 'cpu') {
      throw new DeviceError(`${op}: rewards are on '${rewards.device}'; GPU reads are async, so pass await rewards.toArray() instead`);
    }
    if (isFloat(rewards.dtype)) dtype = rewards.dtype;
    device = rewards.device;
    r = Float64Array.from(rewards.toArraySync());
  } else if (Array.isArray(rewards) || rewards instanceof Float64Array || rewards instanceof Float32Array) {
    r = new Float64Array(rewards.length);
    for (let i = 0; i < rewards.length; i++) {
      const v = rewards[i];
      if (typeof v !== 'number') throw new ValueError(`${op}: rewards[${i}] is not a number (${typeof v})`);
      r[i] = v;
    }
  } else {
    throw new ValueError(`${op}: rewards must be a number array, a Float64Array/Float32Array or a 1-D Tensor`);
  }
  if (r.length === 0) throw new ShapeError(`${op}: rewards are empty`);
  for (let i = 0; i < r.length; i++) {
    if (!Number.isFinite(r[i]!)) throw new ValueError(`${op}: rewards[${i}] is ${r[i]}; rewards must be finite`);
  }
  return { r, dtype, device };
}

function checkGroupSize(op: string, groupSize: number, B: number): void {
  if (typeof groupSize !== 'number' || !Number.isInteger(groupSize) || groupSize < 1) {
    throw new ConfigError(`${op}: groupSize must be a positive integer, got ${String(groupSize)}`);
  }
  if (B % groupSize !== 0) {
    throw new ShapeError(`${op}: ${B} rewards do not split into groups of groupSize ${groupSize} (B % G = ${B % groupSize})`);
  }
}

function checkNormOptions(op: string, options: GroupNormOptions | undefined): { eps: number; std: StdKind } {
  if (options === undefined || options === null) options = {};
  if (typeof options !== 'object') throw new ConfigError(`${op}: options must be an object`);
  for (const key of Object.keys(options)) {
    if (key !== 'eps' && key !== 'std') throw new ConfigError(`${op}: unknown option '${key}'; accepted: 'eps', 'std'`);
  }
  const eps = options.eps ?? DEFAULT_ADV_EPS;
  const std = options.std ?? 'unbiased';
  if (typeof eps !== 'number' || !Number.isFinite(eps) || eps < 0) {
    throw new ConfigError(`${op}: option 'eps' must be a finite number >= 0, got ${String(eps)}`);
  }
  if (std !== 'unbiased' && std !== 'biased') {
    throw new ConfigError(`${op}: option 'std' must be 'unbiased' or 'biased', got ${JSON.stringify(std)}`);
  }
  return { eps, std };
}

function output(p: Prepared, a: Float64Array): Tensor {
  const data = p.dtype === 'f64' ? a : Float32Array.from(a);
  return fromTypedArray(data, [a.length], { device: p.device });
}

/** Per-group mean/std pass: calls fn(start, mean, std) for each contiguous block of G. */
function forGroups(r: Float64Array, G: number, std: StdKind, fn: (start: number, mean: number, sd: number) => void): void {
  for (let s = 0; s < r.length; s += G) {
    let sum = 0;
    for (let i = s; i < s + G; i++) sum += r[i]!;
    const mean = sum / G;
    let ss = 0;
    for (let i = s; i < s + G; i++) ss += (r[i]! - mean) ** 2;
    if (G === 1 && std === 'unbiased') {
      fn(s, 0, 1); // verl's singleton convention (docs/paper.md §5.1)
    } else {
      fn(s, mean, Math.sqrt(ss / (std === 'unbiased' ? G - 1 : G)));
    }
  }
}

/** MiniRL's advantage (docs/paper.md §3, paper Eq. (7)): R_i minus its group's mean reward, no std. */
export function groupMean(rewards: Rewards, groupSize: number): Tensor {
  const op = 'groupMean';
  const p = prepare(op, rewards);
  checkGroupSize(op, groupSize, p.r.length);
  const a = new Float64Array(p.r.length);
  forGroups(p.r, groupSize, 'biased', (s, mean) => {
    for (let i = s; i < s + groupSize; i++) a[i] = p.r[i]! - mean;
  });
  return output(p, a);
}

/** GRPO's advantage (docs/paper.md §5.1): (R_i − mean_g) / (std_g + eps), unbiased std by default. */
export function groupNorm(rewards: Rewards, groupSize: number, options: GroupNormOptions = {}): Tensor {
  const op = 'groupNorm';
  const { eps, std } = checkNormOptions(op, options);
  const p = prepare(op, rewards);
  checkGroupSize(op, groupSize, p.r.length);
  const a = new Float64Array(p.r.length);
  forGroups(p.r, groupSize, std, (s, mean, sd) => {
    for (let i = s; i < s + groupSize; i++) a[i] = (p.r[i]! - mean) / (sd + eps);
  });
  return output(p, a);
}

/** RLOO (docs/paper.md §5.1): G/(G−1)·(R_i − mean_g) = R_i − mean of the other G−1 rewards; G ≥ 2. */
export function rloo(rewards: Rewards, groupSize: number): Tensor {
  const op = 'rloo';
  const p = prepare(op, rewards);
  checkGroupSize(op, groupSize, p.r.length);
  if (groupSize < 2) throw new ConfigError(`${op}: groupSize must be >= 2 (leave-one-out needs another response), got ${groupSize}`);
  const a = new Float64Array(p.r.length);
  const k = groupSize / (groupSize - 1);
  forGroups(p.r, groupSize, 'biased', (s, mean) => {
    for (let i = s; i < s + groupSize; i++) a[i] = k * (p.r[i]! - mean);
  });
  return output(p, a);
}

/** Batch whitening: (R_i − mean_B) / (std_B + eps) over all B rewards (groupNorm with G = B). */
export function batchNorm(rewards: Rewards, options: BatchNormOptions = {}): Tensor {
  const op = 'batchNorm';
  const { eps, std } = checkNormOptions(op, options);
  const p = prepare(op, rewards);
  const B = p.r.length;
  const a = new Float64Array(B);
  forGroups(p.r, B, std, (_s, mean, sd) => {
    for (let i = 0; i < B; i++) a[i] = (p.r[i]! - mean) / (sd + eps);
  });
  return output(p, a);
}

