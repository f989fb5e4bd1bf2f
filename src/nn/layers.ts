/**
 * The three basic layers of the transformer, each a pure function of tensors (what gradcheck
 * tests) wrapped by a Module that owns the parameters:
 *
 *   linear(x, W, b)    y = x·Wᵀ + b          W is [out, in] (torch layout), computed as
 *                                             matmulT(x, W, false, true): no transpose is made
 *   Embedding          y = W[index]          W is [num, dim]; y is [...index.shape, dim]
 *   rmsNorm(x, g, ε)   y = x · 1/√(mean(x², −1) + ε) · g      (Zhang & Sennrich 2019; Llama)
 *
 * Default initialisation follows torch: Linear's weight and bias ~ U(−1/√in, 1/√in), Embedding's
 * weight ~ N(0, 1), RMSNorm's weight = 1. `initStd` replaces the first two with N(0, initStd²)
 * (and a zero bias), the GPT-2 style.
 */
import {
  ConfigError, DeviceError, DTypeError, ShapeError, Tensor, tryRoutine,
  type DeviceName, type FloatDType, type Rng,
} from '../tensor/index.js';
import { fmtShape } from '../tensor/shape.js';
import { embedding, isGradEnabled, matmulT } from '../autograd/index.js';
import { Module } from './module.js';
import { initConstant, initNormal, kaimingUniform } from './init.js';

/** Options every layer takes, so tests can build it in f64 on the CPU from a fixed seed. */
export interface LayerOptions {
  rng?: Rng;
  dtype?: FloatDType;
  device?: DeviceName;
}

function positiveInt(op: string, name: string, v: number): void {
  if (!Number.isInteger(v) || v <= 0) throw new ConfigError(`${op}: ${name} must be a positive integer, got ${v}`);
}

function checkFloatTensor(op: string, what: string, t: unknown): Tensor {
  if (!(t instanceof Tensor)) throw new DTypeError(`${op}: ${what} must be a Tensor, got ${t === null ? 'null' : typeof t}`);
  if (t.dtype === 'i32') throw new DTypeError(`${op}: ${what} must be f32 or f64, got i32`);
  return t;
}

function checkCompatible(op: string, x: Tensor, others: readonly [string, Tensor][]): void {
  for (const [what, t] of others) {
    if (t.dtype !== x.dtype) throw new DTypeError(`${op}: ${what} is ${t.dtype} but the input is ${x.dtype}`);
    if (t.device !== x.device) {
      throw new DeviceError(`${op}: ${what} is on '${t.device}' but the input is on '${x.device}'; move one with .to()`);
    }
  }
}

/**
 * y = x·Wᵀ + b for x [..., in], W [out, in], b [out] → [..., out]. Leading dims are flattened
 * into one product (one matmul whose gradient for W is a single Gᵀ·X, not a sum over batches).
 */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  checkFloatTensor('linear', 'input', x);
  checkFloatTensor('linear', 'weight', weight);
  if (weight.ndim !== 2) throw new ShapeError(`linear: weight must be 2-D [out, in], got ${fmtShape(weight.shape)}`);
  const [out, inF] = weight.shape as [number, number];
  if (x.ndim === 0 || x.shape[x.ndim - 1] !== inF) {
    throw new ShapeError(`linear: input ${fmtShape(x.shape)} must end in in_features ${inF} (weight ${fmtShape(weight.shape)})`);
  }
  const others: [string, Tensor][] = [['weight', weight]];
  if (bias) {
    checkFloatTensor('linear', 'bias', bias);
    if (bias.ndim !== 1 || bias.shape[0] !== out) {
      throw new ShapeError(`linear: bias must be [${out}] to match weight ${fmtShape(weight.shape)}, got ${fmtShape(bias.shape)}`);
    }
    others.push(['bias', bias]);
  }
  checkCompatible('linear', x, others);
  const lead = x.shape.slice(0, -1);
  const x2 = x.ndim === 2 ? x : x.reshape([lead.reduce((p, d) => p * d, 1), inF]);
  let y = matmulT(x2, weight, false, true);
  if (bias) y = y.add(bias);
  return x.ndim === 2 ? y : y.reshape([...lead, out]);
}

/**
 * y = x · rsqrt(mean(x², −1) + eps) · weight, for x [..., dim] and weight [dim]. With no gradient
 * recorded, the backend's rmsNorm routine where it offers one (WebGPU: one dispatch instead of
 * seven), bit-identical to the composed ops below.
 */
export function rmsNorm(x: Tensor, weight: Tensor, eps = 1e-6): Tensor {
  checkFloatTensor('rmsNorm', 'input', x);
  checkFloatTensor('rmsNorm', 'weight', weight);
  if (x.ndim === 0) throw new ShapeError('rmsNorm: input must have at least 1 dim, got a scalar');
  const d = x.shape[x.ndim - 1]!;
  if (weight.ndim !== 1 || weight.shape[0] !== d) {
    throw new ShapeError(`rmsNorm: weight must be [${d}] to match input ${fmtShape(x.shape)}, got ${fmtShape(weight.shape)}`);
  }
  if (!Number.isFinite(eps) || eps < 0) throw new ConfigError(`rmsNorm: eps must be a finite number ≥ 0, got ${eps}`);
  checkCompatible('rmsNorm', x, [['weight', weight]]);
  const fused = !isGradEnabled() && d > 0 ? tryRoutine(x.backend, 'rmsNorm', x.storage, weight.storage, x.size / d, d, eps) : null;
  if (fused) return new Tensor(fused, x.shape);
  const inv = x.square().mean(-1, true).add(eps).rsqrt();
  return x.mul(inv).mul(weight);
}

/**
 * The residual add and the norm after it: [s, rmsNorm(s, weight, eps)] with s = x + r. With no
 * gradient recorded and x, r of one shape, the backend's addRmsNorm routine where it offers one
 * (WebGPU: one dispatch instead of eight), bit-identical to the two calls.
 */
export function addRmsNorm(x: Tensor, r: Tensor, weight: Tensor, eps = 1e-6): [Tensor, Tensor] {
  const d = x.shape[x.ndim - 1];
  if (
    !isGradEnabled() && d !== undefined && d > 0
    && r instanceof Tensor && r.dtype === x.dtype && r.device === x.device && r.shape.length === x.shape.length && r.shape.every((n, i) => n === x.shape[i])
    && weight instanceof Tensor && weight.dtype === x.dtype && weight.device === x.device && weight.ndim === 1 && weight.shape[0] === d
    && Number.isFinite(eps) && eps >= 0
  ) {
    const fused = tryRoutine(x.backend, 'addRmsNorm', x.storage, r.storage, weight.storage, x.size / d, d, eps);
    if (fused) return [new Tensor(fused[0], x.shape), new Tensor(fused[1], x.shape)];
  }
  const s = x.add(r);
  return [s, rmsNorm(s, weight, eps)];
}

export interface LinearOptions extends LayerOptions {
  /** Learnable additive bias (default true, as torch). */
  bias?: boolean;
  /** Draw the weight from N(0, initStd²) and start the bias at 0, instead of torch's uniform. */
  initStd?: number;
}

/** torch.nn.Linear: weight [out, in], optional bias [out]. */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(readonly inFeatures: number, readonly outFeatures: number, opts: LinearOptions = {}) {
    super();
    positiveInt('Linear', 'inFeatures', inFeatures);
    positiveInt('Linear', 'outFeatures', outFeatures);
    const o = { rng: opts.rng, dtype: opts.dtype, device: opts.device };
    const useBias = opts.bias ?? true;
    if (opts.initStd !== undefined) {
      this.weight = this.param('weight', initNormal([outFeatures, inFeatures], { ...o, std: opts.initStd }));
      this.bias = useBias ? this.param('bias', initConstant([outFeatures], 0, o)) : null;
    } else {
      // Same draw order as torch's reset_parameters: the weight, then the bias.
      this.weight = this.param('weight', kaimingUniform([outFeatures, inFeatures], inFeatures, o));
      this.bias = useBias ? this.param('bias', kaimingUniform([outFeatures], inFeatures, o)) : null;
    }
  }

  /** x [..., in] → [..., out]. */
  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }
}

export interface EmbeddingOptions extends LayerOptions {
  /** Standard deviation of the N(0, std²) initialisation (default 1, as torch). */
  initStd?: number;
}

/** torch.nn.Embedding: a table weight [num, dim] looked up by i32 ids. */
export class Embedding extends Module {
  readonly weight: Tensor;

  constructor(readonly numEmbeddings: number, readonly embeddingDim: number, opts: EmbeddingOptions = {}) {
    super();
    positiveInt('Embedding', 'numEmbeddings', numEmbeddings);
    positiveInt('Embedding', 'embeddingDim', embeddingDim);
    this.weight = this.param(
      'weight',
      initNormal([numEmbeddings, embeddingDim], { rng: opts.rng, dtype: opts.dtype, device: opts.device, std: opts.initStd ?? 1 }),
    );
  }

  /** index (i32, any shape) → [...index.shape, dim]. Out-of-range ids throw IndexError. */
  forward(index: Tensor): Tensor {
    if (!(index instanceof Tensor)) throw new DTypeError('Embedding.forward: index must be a Tensor of i32 ids');
    if (index.dtype !== 'i32') throw new DTypeError(`Embedding.forward: index must be i32 ids, got ${index.dtype}`);
    if (index.device !== this.weight.device) {
      throw new DeviceError(`Embedding.forward: index is on '${index.device}' but the weight is on '${this.weight.device}'`);
    }
    return embedding(this.weight, index);
  }
}

export interface RMSNormOptions {
  eps?: number;
  dtype?: FloatDType;
  device?: DeviceName;
}

/** Root-mean-square normalisation over the last dim with a learnable gain (ones at init). */
export class RMSNorm extends Module {
  readonly weight: Tensor;
  readonly eps: number;

  constructor(readonly dim: number, opts: RMSNormOptions = {}) {
    super();
    positiveInt('RMSNorm', 'dim', dim);
    this.eps = opts.eps ?? 1e-6;
    if (!Number.isFinite(this.eps) || this.eps < 0) throw new ConfigError(`RMSNorm: eps must be a finite number ≥ 0, got ${this.eps}`);
    this.weight = this.param('weight', initConstant([dim], 1, { dtype: opts.dtype, device: opts.device }));
  }

  /** x [..., dim] → same shape. */
  forward(x: Tensor): Tensor {
    return rmsNorm(x, this.weight, this.eps);
  }
}
