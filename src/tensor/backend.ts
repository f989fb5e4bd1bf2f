/**
 * The backend interface: everything a device must do for the engine. Autograd and the ops above
 * it only ever talk to this interface, so the WebGPU backend slots in beside the CPU one without
 * touching them. Kernels are deliberately few and shape-generic: single-axis kernels see their
 * input as [outer, n, inner] (reducing or indexing the middle axis), elementwise kernels get
 * broadcast strides. Everything returns fresh storage; nothing is mutated in place.
 *
 * Fused kernels are not part of the required set: a backend may offer them as `routines`, each
 * named, optional and bit-identical to the composed ops it replaces. Callers reach them through
 * src/tensor/routines.ts (tryRoutine), never through a concrete backend, and run the composed
 * ops, written once beside each caller, when a backend has no such routine or declines the case.
 */
import type { DType, TypedArray } from './dtype.js';

export type DeviceName = 'cpu' | 'webgpu';

/** A contiguous row-major buffer owned by one backend. */
export interface Storage {
  readonly backend: Backend;
  readonly dtype: DType;
  readonly size: number;
}

export const UNARY_OPS = [
  'neg', 'exp', 'log', 'sqrt', 'rsqrt', 'abs', 'tanh', 'sigmoid', 'relu', 'silu', 'gelu', 'geluTanh',
  'softplus', 'sign', 'erf', 'log1p', 'expm1', 'sin', 'cos', 'square', 'reciprocal',
  // rounding to a low-precision format and back (the inference engine's numerics profiles)
  'roundBf16', 'roundFp8e4m3',
] as const;
export type UnaryOp = (typeof UNARY_OPS)[number];

export const BINARY_OPS = ['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum'] as const;
export type BinaryOp = (typeof BINARY_OPS)[number];

export const COMPARE_OPS = ['eq', 'ne', 'gt', 'ge', 'lt', 'le'] as const;
export type CompareOp = (typeof COMPARE_OPS)[number];

export type ReduceOp = 'sum' | 'max' | 'min';

/** Leading (batch) dims broadcast; strides count whole matrices and are 0 where broadcast. */
export interface MatmulParams {
  m: number;
  k: number;
  n: number;
  transA: boolean;
  transB: boolean;
  batchShape: readonly number[];
  aBatchStrides: readonly number[];
  bBatchStrides: readonly number[];
}

export interface Backend {
  readonly name: DeviceName;
  /** The fused kernels this backend offers (see Routines); absent ones run composed. */
  readonly routines?: Routines;
  /** Human-readable description of what runs the kernels (CPU model, adapter name). */
  describe(): string;

  // memory
  fromArray(data: TypedArray): Storage;
  full(size: number, value: number, dtype: DType): Storage;
  read(s: Storage): Promise<TypedArray>;
  /** Synchronous read-back where the device allows it (CPU); others throw DeviceError. */
  readSync(s: Storage): TypedArray;
  dispose(s: Storage): void;
  /** Buffers allocated and not yet disposed. */
  liveBuffers(): number;

  // elementwise
  cast(x: Storage, dtype: DType): Storage;
  unary(op: UnaryOp, x: Storage): Storage;
  clamp(x: Storage, lo: number, hi: number): Storage;
  binary(op: BinaryOp, a: Storage, b: Storage, outShape: readonly number[], aStrides: readonly number[], bStrides: readonly number[]): Storage;
  /** 0/1 mask in `outDType`. */
  compare(op: CompareOp, a: Storage, b: Storage, outShape: readonly number[], aStrides: readonly number[], bStrides: readonly number[], outDType: DType): Storage;
  where(cond: Storage, a: Storage, b: Storage, outShape: readonly number[], cStrides: readonly number[], aStrides: readonly number[], bStrides: readonly number[]): Storage;

  // single-axis kernels over [outer, n, inner]; results are [outer, inner] (or [outer, k, inner])
  reduce(op: ReduceOp, x: Storage, outer: number, n: number, inner: number): Storage;
  argmax(x: Storage, outer: number, n: number, inner: number): Storage;
  logsumexp(x: Storage, outer: number, n: number, inner: number): Storage;
  softmax(x: Storage, outer: number, n: number, inner: number, log: boolean): Storage;
  /** Largest k along the axis, sorted descending, ties to the lower index. */
  topk(x: Storage, outer: number, n: number, inner: number, k: number): [Storage, Storage];

  matmul(a: Storage, b: Storage, p: MatmulParams): Storage;

  // data movement
  permute(x: Storage, shape: readonly number[], perm: readonly number[]): Storage;
  /** Materialises a broadcast: `strides` are x's strides in the output's index space. */
  expand(x: Storage, outShape: readonly number[], strides: readonly number[]): Storage;
  slice(x: Storage, outer: number, n: number, inner: number, start: number, len: number): Storage;
  concat(xs: readonly Storage[], ns: readonly number[], outer: number, inner: number): Storage;
  /** out[o, j, i] = x[o, index[o, j, i], i]; index is [outer, m, inner] (i32, validated by caller). */
  gather(x: Storage, index: Storage, outer: number, n: number, inner: number, m: number): Storage;
  /** out = base; out[o, index[o, j, i], i] += src[o, j, i]. */
  scatterAdd(base: Storage, index: Storage, src: Storage, outer: number, n: number, inner: number, m: number): Storage;
  /** out[o, j, i] = x[o, index[j], i] with a 1-D index of length m. */
  indexSelect(x: Storage, index: Storage, outer: number, n: number, inner: number, m: number): Storage;
  /** out [outer, n, inner] zeros; out[o, index[j], i] += src[o, j, i]. */
  indexAdd(src: Storage, index: Storage, outer: number, n: number, inner: number, m: number): Storage;
}

/** The scalars of one AdamW step for one parameter (src/nn/optim.ts says how they combine). */
export interface AdamWScalars {
  beta1: number;
  beta2: number;
  eps: number;
  lr: number;
  weightDecay: number;
  /** 1 − β1^t and 1 − β2^t for this parameter's step t. */
  bc1: number;
  bc2: number;
}

/**
 * The MoE sparse dispatch's plan built where the routing lives (src/moe/layer.ts dispatchPlan
 * builds it on the host), sized for the worst case so that nothing is read back: cMax chunks of
 * m rows; tokens i32 [cMax·m] (−1 = padding), pos i32 [L] (the row of each choice), chunkKey i32
 * [cMax] (−1 = unused chunk). Out-of-range entries gather zeros and add nothing.
 */
export interface GroupPlan {
  cMax: number;
  tokens: Storage;
  pos: Storage;
  chunkKey: Storage;
}

/**
 * Fused kernels a backend may offer. Every routine gives the bits of the composed ops its caller
 * otherwise runs, and returns null to decline a case it does not handle (a dtype, a size over a
 * kernel limit); the caller then runs the composed ops. Callers use them only where no gradient
 * is being recorded, except groupChunks (index plans) and siluWithSigmoid (recorded by autograd).
 */
export interface Routines {
  /** y = x · rsqrt(mean(x², −1) + eps) · g for x [rows, d], g [d] (src/nn/layers.ts rmsNorm). */
  rmsNorm?(x: Storage, g: Storage, rows: number, d: number, eps: number): Storage | null;
  /** [s, rmsNorm(s)] with s = x + r (src/nn/layers.ts addRmsNorm). */
  addRmsNorm?(x: Storage, r: Storage, g: Storage, rows: number, d: number, eps: number): [Storage, Storage] | null;
  /** RoPE of x [B, T, H, hd] with tables cos, sin [T, hd], written [B, H, T, hd] (src/nn/attention.ts ropeHeads). */
  rope?(x: Storage, cos: Storage, sin: Storage, B: number, T: number, H: number, hd: number): Storage | null;
  /** softmax(q·Kᵀ / scale)·V, one query per row: q [rows, hd], K, V [rows, Tk, hd] (src/nn/attention.ts decodeAttention). */
  decodeAttention?(q: Storage, k: Storage, v: Storage, rows: number, Tk: number, hd: number, scale: number): Storage | null;
  /** cat([k0, k1], 2) and cat([v0, v1], 2) of [rows, past | t, hd] blocks (src/nn/attention.ts KVCacheLayer.append). */
  appendKV?(k0: Storage, k1: Storage, v0: Storage, v1: Storage, rows: number, past: number, t: number, hd: number): [Storage, Storage] | null;
  /** silu(g)·u, same shapes (src/moe/engine.ts). */
  siluMul?(g: Storage, u: Storage): Storage | null;
  /** Σ_j x[t, j, :]·w[t, j] for x [n, k, d], w [n, k] (src/moe/engine.ts). */
  weightedRows?(x: Storage, w: Storage, n: number, k: number, d: number): Storage | null;
  /**
   * Σ_j gw[t, j] · SwiGLU_{ids[t, j]}(x[t]) for x [n, d], ids i32 [n, k], wg, wu [E, h, d],
   * wd [E, d, h], gw [n, k]: the dense dispatch's values, running only the chosen experts (src/moe/engine.ts).
   */
  chosenExperts?(x: Storage, ids: Storage, wg: Storage, wu: Storage, wd: Storage, gw: Storage, n: number, k: number, d: number, h: number): Storage | null;
  /** The sparse dispatch's plan for the L = n·k choices ids (keys in [0, e)), m rows per chunk (src/moe/layer.ts). */
  groupChunks?(ids: Storage, l: number, k: number, e: number, m: number): GroupPlan | null;
  /** One AdamW step: the new parameter, first and second moment (src/nn/optim.ts). */
  adamw?(p: Storage, g: Storage, m: Storage, v: Storage, s: AdamWScalars): [Storage, Storage, Storage] | null;
  /** silu'(x)·g, from sigmoid(x) when the forward kept it (src/autograd/ops/elementwise.ts). */
  siluGrad?(x: Storage, g: Storage, sig?: Storage): Storage | null;
  /** silu(x) and sigmoid(x) rounded to the dtype, for siluGrad (src/autograd/ops/elementwise.ts). */
  siluWithSigmoid?(x: Storage): [Storage, Storage] | null;
}

export type RoutineName = keyof Routines;
