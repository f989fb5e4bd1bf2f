/**
 * The backend interface: everything a device must do for the engine. Autograd and the ops above
 * it only ever talk to this interface, so the WebGPU backend slots in beside the CPU one without
 * touching them. Kernels are deliberately few and shape-generic: single-axis kernels see their
 * input as [outer, n, inner] (reducing or indexing the middle axis), elementwise kernels get
 * broadcast strides. Everything returns fresh storage; nothing is mutated in place.
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
