/**
 * Causal multi-head self-attention with rotary position embeddings (RoPE), and the KV cache the
 * inference engine decodes with. It exists so that the MoE transformer's attention blocks and
 * the inference engine run literally the same per-row math: the training forward over a whole
 * sequence and token-by-token decoding through the cache give the same bits on the CPU.
 *
 * Equations (per batch element b and head h; D = dModel, H = nHeads, hd = D / H):
 *   q = x·Wqᵀ, k = x·Wkᵀ, v = x·Wvᵀ                       (weights [out, in], as nn.Linear)
 *   RoPE (HF Llama "rotate half"), position p = positionOffset + t:
 *     inv_freq_i = θ^(−2i/hd),  i = 0 .. hd/2 − 1
 *     cos_p = cos(p·[inv_freq, inv_freq]),  sin_p = sin(p·[inv_freq, inv_freq])     [hd]
 *     rope(x)_p = x_p ⊙ cos_p + rotate_half(x_p) ⊙ sin_p,   rotate_half([x1, x2]) = [−x2, x1]
 *   scores_ij = q_i·k_jᵀ / √hd, masked to −1e30 where j > i + past (past = cached positions)
 *   P = softmax(scores, −1),  o = P·v,  y = concat_heads(o)·Woᵀ
 *
 * Why decoding through the cache is bitwise equal to the full forward (CPU): every projection
 * is a matmul row, and the CPU matmul is row invariant; the RoPE tables depend only on the
 * absolute position; a query row's scores against the keys it may see are the same dot
 * products; the masked scores are exactly 0 after softmax (exp(−1e30 − m) underflows to 0), and
 * both the softmax sum and P·v add their terms in index order from +0 in float64, so trailing
 * exact zeros change nothing. Nothing here reduces across the batch, so a sequence's output also
 * does not depend on the other sequences in the batch.
 */
import {
  ConfigError, DeviceError, DTypeError, IndexError, ShapeError, Tensor, ValueError,
  fromTypedArray, hasRoutine, keep, tryRoutine, type DeviceName, type FloatDType, type Rng,
} from '../tensor/index.js';
import { fmtShape } from '../tensor/shape.js';
import { add, cat, div, isGradEnabled, matmulT, mul, neg, reshape, slice, softmax, transpose, where } from '../autograd/index.js';
import { Module } from './module.js';
import { initNormal } from './init.js';

/**
 * The score given to masked (future) positions. Finite on purpose: exp(−1e30 − m) is exactly 0
 * in f32 and f64 on both backends (an infinity inside a WGSL exp is not guaranteed), and it
 * stays far below any real score. The causal mask always leaves the diagonal open, so no row
 * is ever fully masked.
 */
export const MASKED_SCORE = -1e30;

function isFloatTensor(x: unknown): x is Tensor {
  return x instanceof Tensor && (x.dtype === 'f32' || x.dtype === 'f64');
}

function checkOffset(op: string, positionOffset: number): void {
  if (!Number.isInteger(positionOffset) || positionOffset < 0) {
    throw new ValueError(`${op}: positionOffset must be a non-negative integer, got ${positionOffset}`);
  }
}

/**
 * The RoPE cos and sin tables for positions offset .. offset+T−1, each [T, hd] with both halves
 * equal (HF's emb = cat(freqs, freqs)). Angles are computed in f64 and rounded once to `dtype`,
 * so a position's row is the same whatever T and offset it is computed with.
 */
export function ropeTables(T: number, hd: number, offset: number, theta: number, dtype: FloatDType, device: DeviceName): [Tensor, Tensor] {
  const half = hd / 2;
  const invFreq = new Float64Array(half);
  for (let i = 0; i < half; i++) invFreq[i] = 1 / Math.pow(theta, (2 * i) / hd);
  const c = new Float64Array(T * hd);
  const s = new Float64Array(T * hd);
  for (let t = 0; t < T; t++) {
    const p = offset + t;
    for (let i = 0; i < half; i++) {
      const a = p * invFreq[i]!;
      const ca = Math.cos(a);
      const sa = Math.sin(a);
      c[t * hd + i] = ca;
      c[t * hd + half + i] = ca;
      s[t * hd + i] = sa;
      s[t * hd + half + i] = sa;
    }
  }
  const make = (v: Float64Array) => fromTypedArray(dtype === 'f64' ? v : Float32Array.from(v), [T, hd], { device });
  return [make(c), make(s)];
}

/**
 * Rotary position embedding, HF Llama convention: x [B, H, T, hd] at positions
 * positionOffset + t gets x·cos + rotate_half(x)·sin. hd must be even.
 */
export function applyRope(x: Tensor, positionOffset: number, theta = 10000): Tensor {
  if (!isFloatTensor(x)) {
    const got: unknown = x;
    throw new DTypeError(`applyRope: x must be an f32 or f64 Tensor, got ${got instanceof Tensor ? got.dtype : typeof got}`);
  }
  if (x.ndim !== 4) throw new ShapeError(`applyRope: x must be [B, H, T, hd], got ${fmtShape(x.shape)}`);
  const hd = x.shape[3]!;
  const T = x.shape[2]!;
  if (hd === 0 || hd % 2 !== 0) throw new ShapeError(`applyRope: head dim must be even and positive, got ${hd} (x ${fmtShape(x.shape)})`);
  checkOffset('applyRope', positionOffset);
  if (!Number.isFinite(theta) || theta <= 0) throw new ValueError(`applyRope: theta must be a positive finite number, got ${theta}`);
  const [cos, sin] = ropeTables(T, hd, positionOffset, theta, x.dtype as FloatDType, x.device);
  const half = hd / 2;
  const rot = cat([neg(slice(x, 3, half, hd)), slice(x, 3, 0, half)], 3);
  return add(mul(x, cos), mul(rot, sin));
}

/**
 * transpose(reshape(x, [B, T, H, hd]), 1, 2) followed by applyRope, for x [B, T, H·hd]: the
 * inference engine's q and k. With no gradient recorded, the backend's rope routine where it
 * offers one (WebGPU: one dispatch instead of up to eight; on the software adapter a decode step
 * is bound by its number of dispatches), bit-identical to the composed ops it otherwise runs.
 * `tables` are ropeTables(T, hd, positionOffset, theta, x.dtype, ...) when the caller shares them.
 */
export function ropeHeads(x: Tensor, nHeads: number, positionOffset: number, theta = 10000, tables?: [Tensor, Tensor]): Tensor {
  const [B, T, D] = x.shape as [number, number, number];
  const hd = D / nHeads;
  if (!isGradEnabled() && isFloatTensor(x) && x.ndim === 3 && hd > 0 && hd % 2 === 0 && hasRoutine(x.backend, 'rope')) {
    checkOffset('ropeHeads', positionOffset);
    const [cos, sin] = tables ?? ropeTables(T, hd, positionOffset, theta, x.dtype as FloatDType, x.device);
    const fused = tryRoutine(x.backend, 'rope', x.storage, cos.storage, sin.storage, B, T, nHeads, hd);
    if (!tables) {
      cos.dispose();
      sin.dispose();
    }
    if (fused) return new Tensor(fused, [B, nHeads, T, hd]);
  }
  return applyRope(transpose(reshape(x, [B, T, nHeads, hd]), 1, 2), positionOffset, theta);
}

/**
 * One query per sequence against the cache: softmax(q·kᵀ / √hd)·v for q [B, H, 1, hd] and
 * keys, values [B, H, Tk, hd] (no mask: a single query sees every cached key); returns
 * [B, H, 1, hd]. With no gradient recorded, the backend's decodeAttention routine where it
 * offers one (WebGPU: one dispatch instead of four), bit-identical to the composed ops below.
 */
export function decodeAttention(q: Tensor, keys: Tensor, values: Tensor): Tensor {
  const [B, H, T, hd] = q.shape as [number, number, number, number];
  const Tk = keys.shape[2]!;
  if (
    T === 1 && !isGradEnabled() && [keys, values].every((t) => t.dtype === q.dtype && t.device === q.device)
  ) {
    const o = tryRoutine(q.backend, 'decodeAttention', q.storage, keys.storage, values.storage, B * H, Tk, hd, Math.sqrt(hd));
    if (o) return new Tensor(o, [B, H, 1, hd]);
  }
  return matmulT(softmax(div(matmulT(q, keys, false, true), Math.sqrt(hd)), -1), values, false, false);
}

/**
 * One transformer layer's cache: keys and values [B, H, T_so_far, hd] (after RoPE), grown by
 * `cat` along T on every append. The cache owns what it holds: `append` takes ownership of the
 * k and v it is given, keeps its tensors out of enclosing `tidy` scopes, and disposes the
 * tensors a growth replaces as soon as no autograd tape can refer to them (every append so far
 * made with grad disabled, the inference case); otherwise they are disposed by reset()/dispose().
 */
export class KVCacheLayer {
  private _keys: Tensor | null = null;
  private _values: Tensor | null = null;
  /** Some append happened with grad enabled, so the tape may refer to replaced tensors. */
  private taped = false;
  private retired: Tensor[] = [];

  get keys(): Tensor | null {
    return this._keys;
  }
  get values(): Tensor | null {
    return this._values;
  }
  /** Number of cached positions (T_so_far). */
  get length(): number {
    return this._keys?.shape[2] ?? 0;
  }

  /** Appends this call's k and v [B, H, t, hd] and returns all cached keys and values. */
  append(k: Tensor, v: Tensor): { keys: Tensor; values: Tensor } {
    if (!isFloatTensor(k) || !isFloatTensor(v)) throw new DTypeError('KVCacheLayer.append: k and v must be f32 or f64 Tensors');
    if (k.ndim !== 4 || v.ndim !== 4 || k.shape.some((d, i) => d !== v.shape[i])) {
      throw new ShapeError(`KVCacheLayer.append: k and v must both be [B, H, t, hd], got k ${fmtShape(k.shape)} and v ${fmtShape(v.shape)}`);
    }
    if (k.dtype !== v.dtype || k.device !== v.device) {
      throw new DTypeError(`KVCacheLayer.append: k (${k.dtype}, ${k.device}) and v (${v.dtype}, ${v.device}) differ`);
    }
    if (isGradEnabled()) this.taped = true;
    const oldK = this._keys;
    const oldV = this._values;
    if (oldK === null || oldV === null) {
      this._keys = keep(k);
      this._values = keep(v);
    } else {
      const [B, H, , hd] = oldK.shape;
      if (k.shape[0] !== B || k.shape[1] !== H || k.shape[3] !== hd) {
        throw new ShapeError(
          `KVCacheLayer.append: new keys ${fmtShape(k.shape)} do not match the cached ${fmtShape(oldK.shape)} outside the T dim (B, H, hd must agree)`,
        );
      }
      if (k.dtype !== oldK.dtype || k.device !== oldK.device) {
        throw new DTypeError(`KVCacheLayer.append: new keys are ${k.dtype} on ${k.device}, the cache holds ${oldK.dtype} on ${oldK.device}`);
      }
      // Both concatenations in one routine where the backend offers it; plain copies, same bits.
      const fused = isGradEnabled() ? null : tryRoutine(k.backend, 'appendKV', oldK.storage, k.storage, oldV.storage, v.storage, B! * H!, oldK.shape[2]!, k.shape[2]!, hd!);
      if (fused) {
        const shape = [B!, H!, oldK.shape[2]! + k.shape[2]!, hd!];
        this._keys = keep(new Tensor(fused[0], shape));
        this._values = keep(new Tensor(fused[1], shape));
      } else {
        this._keys = keep(cat([oldK, k], 2));
        this._values = keep(cat([oldV, v], 2));
      }
      if (this.taped) this.retired.push(oldK, oldV);
      else {
        oldK.dispose();
        oldV.dispose();
      }
    }
    return { keys: this._keys, values: this._values };
  }

  /** Empties the cache and disposes everything it holds (do it after any backward through it). */
  reset(): void {
    for (const t of [this._keys, this._values, ...this.retired]) t?.dispose();
    this._keys = null;
    this._values = null;
    this.retired = [];
    this.taped = false;
  }
  dispose(): void {
    this.reset();
  }
}

/** One KVCacheLayer per transformer layer, for batched decoding by the inference engine. */
export class KVCache {
  readonly layers: readonly KVCacheLayer[];

  constructor(nLayers: number) {
    if (!Number.isInteger(nLayers) || nLayers <= 0) throw new ConfigError(`KVCache: nLayers must be a positive integer, got ${nLayers}`);
    this.layers = Array.from({ length: nLayers }, () => new KVCacheLayer());
  }
  get nLayers(): number {
    return this.layers.length;
  }
  layer(i: number): KVCacheLayer {
    const l = this.layers[i];
    if (!Number.isInteger(i) || l === undefined) throw new IndexError(`KVCache.layer: index ${i} is out of range for ${this.layers.length} layers`);
    return l;
  }
  /** Cached positions (layer 0's; every layer has the same after a full model forward). */
  get length(): number {
    return this.layers[0]!.length;
  }
  reset(): void {
    for (const l of this.layers) l.reset();
  }
  dispose(): void {
    this.reset();
  }
}

export interface AttentionCallOptions {
  /** Appends this call's keys/values and attends over every cached position. */
  cache?: KVCacheLayer;
  /** Absolute position of x's first token (default: the cache length, or 0). */
  positionOffset?: number;
  /** RoPE base θ (default 10000). */
  ropeTheta?: number;
}

/**
 * The functional core: causal multi-head self-attention of x [B, T, D] with weights wq, wk,
 * wv, wo [D, D] ([out, in]); returns [B, T, D]. See the header for the equations.
 */
export function causalSelfAttention(
  x: Tensor, wq: Tensor, wk: Tensor, wv: Tensor, wo: Tensor, nHeads: number, opts: AttentionCallOptions = {},
): Tensor {
  const op = 'causalSelfAttention';
  if (!isFloatTensor(x)) throw new DTypeError(`${op}: x must be an f32 or f64 Tensor`);
  if (x.ndim !== 3) throw new ShapeError(`${op}: x must be [B, T, D], got ${fmtShape(x.shape)}`);
  const [B, T, D] = x.shape as [number, number, number];
  if (T === 0) throw new ShapeError(`${op}: x has no tokens (${fmtShape(x.shape)})`);
  if (!Number.isInteger(nHeads) || nHeads <= 0) throw new ConfigError(`${op}: nHeads must be a positive integer, got ${nHeads}`);
  if (D % nHeads !== 0) throw new ShapeError(`${op}: D = ${D} (x ${fmtShape(x.shape)}) is not divisible by nHeads = ${nHeads}`);
  const hd = D / nHeads;
  if (hd % 2 !== 0) throw new ShapeError(`${op}: head dim D / nHeads = ${hd} must be even for RoPE (x ${fmtShape(x.shape)}, nHeads ${nHeads})`);
  const ws = { wq, wk, wv, wo };
  for (const [name, w] of Object.entries(ws)) {
    if (!(w instanceof Tensor)) throw new DTypeError(`${op}: ${name} must be a Tensor`);
    if (w.ndim !== 2 || w.shape[0] !== D || w.shape[1] !== D) {
      throw new ShapeError(`${op}: ${name} must be [${D}, ${D}] for x ${fmtShape(x.shape)}, got ${fmtShape(w.shape)}`);
    }
    if (w.dtype !== x.dtype) throw new DTypeError(`${op}: ${name} is ${w.dtype} but x is ${x.dtype}`);
    if (w.device !== x.device) throw new DeviceError(`${op}: ${name} is on '${w.device}' but x is on '${x.device}'`);
  }
  const cache = opts.cache;
  const past = cache?.length ?? 0;
  const offset = opts.positionOffset ?? past;
  checkOffset(op, offset);
  if (cache && offset !== past) {
    throw new ValueError(`${op}: positionOffset ${offset} does not match the cache, which holds ${past} positions`);
  }
  const theta = opts.ropeTheta ?? 10000;

  // [B, T, D] → [B, H, T, hd]
  const heads = (t: Tensor) => transpose(reshape(t, [B, T, nHeads, hd]), 1, 2);
  const q = applyRope(heads(matmulT(x, wq, false, true)), offset, theta);
  let k = applyRope(heads(matmulT(x, wk, false, true)), offset, theta);
  let v = heads(matmulT(x, wv, false, true));
  if (cache) ({ keys: k, values: v } = cache.append(k, v));
  const Tk = past + T;

  let scores = div(matmulT(q, k, false, true), Math.sqrt(hd)); // [B, H, T, Tk]
  if (T > 1) {
    // Query i (absolute position past + i) sees keys j ≤ past + i. A single query sees every key.
    const m = new Float32Array(T * Tk);
    for (let i = 0; i < T; i++) m.fill(1, i * Tk, i * Tk + past + i + 1);
    scores = where(fromTypedArray(m, [T, Tk], { device: x.device }), scores, MASKED_SCORE);
  }
  const o = matmulT(softmax(scores, -1), v, false, false); // [B, H, T, hd]
  return matmulT(reshape(transpose(o, 1, 2), [B, T, D]), wo, false, true);
}

export interface CausalSelfAttentionOptions {
  rng?: Rng;
  dtype?: FloatDType;
  device?: DeviceName;
  /** RoPE base θ (default 10000). */
  ropeTheta?: number;
}

/**
 * The attention block as a Module: parameters wq, wk, wv, wo, each [dModel, dModel] ([out, in]
 * as nn.Linear without bias), initialised N(0, 1/dModel) from `rng`, in that order.
 */
export class CausalSelfAttention extends Module {
  readonly dModel: number;
  readonly nHeads: number;
  readonly headDim: number;
  readonly ropeTheta: number;
  readonly wq: Tensor;
  readonly wk: Tensor;
  readonly wv: Tensor;
  readonly wo: Tensor;

  constructor(dModel: number, nHeads: number, opts: CausalSelfAttentionOptions = {}) {
    super();
    if (!Number.isInteger(dModel) || dModel <= 0) throw new ConfigError(`CausalSelfAttention: dModel must be a positive integer, got ${dModel}`);
    if (!Number.isInteger(nHeads) || nHeads <= 0) throw new ConfigError(`CausalSelfAttention: nHeads must be a positive integer, got ${nHeads}`);
    if (dModel % nHeads !== 0) throw new ConfigError(`CausalSelfAttention: dModel ${dModel} is not divisible by nHeads ${nHeads}`);
    const hd = dModel / nHeads;
    if (hd % 2 !== 0) throw new ConfigError(`CausalSelfAttention: head dim dModel / nHeads = ${hd} must be even for RoPE`);
    const theta = opts.ropeTheta ?? 10000;
    if (!Number.isFinite(theta) || theta <= 0) throw new ConfigError(`CausalSelfAttention: ropeTheta must be a positive finite number, got ${theta}`);
    this.dModel = dModel;
    this.nHeads = nHeads;
    this.headDim = hd;
    this.ropeTheta = theta;
    const init = () => initNormal([dModel, dModel], { std: 1 / Math.sqrt(dModel), rng: opts.rng, dtype: opts.dtype, device: opts.device });
    this.wq = this.param('wq', init());
    this.wk = this.param('wk', init());
    this.wv = this.param('wv', init());
    this.wo = this.param('wo', init());
  }

  /** x [B, T, dModel] → [B, T, dModel]; with a cache, appends to it and attends over it. */
  forward(x: Tensor, opts: { cache?: KVCacheLayer; positionOffset?: number } = {}): Tensor {
    return causalSelfAttention(x, this.wq, this.wk, this.wv, this.wo, this.nHeads, { ...opts, ropeTheta: this.ropeTheta });
  }
}
