/**
 * THE SEAM (README.md, "Layout"): the one place where src/autograd reaches into src/tensor. It
 * attaches the differentiable ops to Tensor.prototype as methods (x.add(y), x.matmul(w),
 * x.backward()), and declares them on the Tensor type by module augmentation. src/tensor never imports
 * autograd; importing this module (every package entry point does) completes the class.
 */
import { Tensor } from '../tensor/tensor.js';
import { AutogradError, DTypeError } from '../tensor/errors.js';
import type { DType } from '../tensor/dtype.js';
import type { DeviceName } from '../tensor/backend.js';
import type { BackwardOptions } from './backward.js';
import { backward } from './grad.js';
import type { TensorLike } from './ops/common.js';
import * as E from './ops/elementwise.js';
import * as R from './ops/reduce.js';
import * as S from './ops/shape.js';
import * as I from './ops/indexing.js';
import { matmul } from './ops/matmul.js';

declare module '../tensor/tensor.js' {
  interface Tensor {
    add(b: TensorLike): Tensor;
    sub(b: TensorLike): Tensor;
    mul(b: TensorLike): Tensor;
    div(b: TensorLike): Tensor;
    pow(b: TensorLike): Tensor;
    maximum(b: TensorLike): Tensor;
    minimum(b: TensorLike): Tensor;
    eq(b: TensorLike): Tensor;
    ne(b: TensorLike): Tensor;
    gt(b: TensorLike): Tensor;
    ge(b: TensorLike): Tensor;
    lt(b: TensorLike): Tensor;
    le(b: TensorLike): Tensor;
    neg(): Tensor;
    exp(): Tensor;
    log(): Tensor;
    sqrt(): Tensor;
    rsqrt(): Tensor;
    abs(): Tensor;
    tanh(): Tensor;
    sigmoid(): Tensor;
    relu(): Tensor;
    silu(): Tensor;
    gelu(approximate?: 'none' | 'tanh'): Tensor;
    softplus(): Tensor;
    sign(): Tensor;
    erf(): Tensor;
    log1p(): Tensor;
    expm1(): Tensor;
    sin(): Tensor;
    cos(): Tensor;
    square(): Tensor;
    reciprocal(): Tensor;
    clamp(min?: number | null, max?: number | null): Tensor;
    /** this where cond ≠ 0, else other (torch's Tensor.where). */
    where(cond: Tensor, other: TensorLike): Tensor;
    sum(dim?: R.Dims, keepdim?: boolean): Tensor;
    mean(dim?: R.Dims, keepdim?: boolean): Tensor;
    max(dim?: R.Dims, keepdim?: boolean): Tensor;
    min(dim?: R.Dims, keepdim?: boolean): Tensor;
    logsumexp(dim: R.Dims, keepdim?: boolean): Tensor;
    argmax(dim?: number, keepdim?: boolean): Tensor;
    softmax(dim?: number): Tensor;
    logSoftmax(dim?: number): Tensor;
    topk(k: number, dim?: number): I.TopK;
    gather(dim: number, index: Tensor): Tensor;
    scatterAdd(dim: number, index: Tensor, src: Tensor): Tensor;
    embedding(index: Tensor): Tensor;
    matmul(b: Tensor): Tensor;
    reshape(...shape: (number | readonly number[])[]): Tensor;
    view(...shape: (number | readonly number[])[]): Tensor;
    flatten(startDim?: number, endDim?: number): Tensor;
    squeeze(dim?: number): Tensor;
    unsqueeze(dim: number): Tensor;
    transpose(dim0?: number, dim1?: number): Tensor;
    permute(...dims: (number | readonly number[])[]): Tensor;
    expand(...shape: (number | readonly number[])[]): Tensor;
    /** cat([this, ...others], dim). */
    cat(others: Tensor | readonly Tensor[], dim?: number): Tensor;
    /** stack([this, ...others], dim). */
    stack(others: Tensor | readonly Tensor[], dim?: number): Tensor;
    slice(dim: number, start?: number, end?: number): Tensor;
    detach(): Tensor;
    clone(): Tensor;
    to(target: DType | DeviceName): Tensor;
    /** Moves across devices when that needs an async read (GPU → CPU); returns a new leaf. */
    toAsync(target: DeviceName): Promise<Tensor>;
    backward(seed?: Tensor, opts?: BackwardOptions): void;
    /** Keep .grad on this non-leaf tensor during backward. */
    retainGrad(): Tensor;
    /** Sets requiresGrad on a leaf and returns it (torch's requires_grad_). */
    setRequiresGrad(flag?: boolean): Tensor;
  }
}

const list = (x: Tensor | readonly Tensor[]): Tensor[] => (Array.isArray(x) ? [...x] : [x as Tensor]);

const methods: { [K in keyof Tensor]?: (this: Tensor, ...args: never[]) => unknown } = {
  add(b: TensorLike) { return E.add(this, b); },
  sub(b: TensorLike) { return E.sub(this, b); },
  mul(b: TensorLike) { return E.mul(this, b); },
  div(b: TensorLike) { return E.div(this, b); },
  pow(b: TensorLike) { return E.pow(this, b); },
  maximum(b: TensorLike) { return E.maximum(this, b); },
  minimum(b: TensorLike) { return E.minimum(this, b); },
  eq(b: TensorLike) { return E.eq(this, b); },
  ne(b: TensorLike) { return E.ne(this, b); },
  gt(b: TensorLike) { return E.gt(this, b); },
  ge(b: TensorLike) { return E.ge(this, b); },
  lt(b: TensorLike) { return E.lt(this, b); },
  le(b: TensorLike) { return E.le(this, b); },
  neg() { return E.neg(this); },
  exp() { return E.exp(this); },
  log() { return E.log(this); },
  sqrt() { return E.sqrt(this); },
  rsqrt() { return E.rsqrt(this); },
  abs() { return E.abs(this); },
  tanh() { return E.tanh(this); },
  sigmoid() { return E.sigmoid(this); },
  relu() { return E.relu(this); },
  silu() { return E.silu(this); },
  gelu(approximate?: 'none' | 'tanh') { return E.gelu(this, approximate); },
  softplus() { return E.softplus(this); },
  sign() { return E.sign(this); },
  erf() { return E.erf(this); },
  log1p() { return E.log1p(this); },
  expm1() { return E.expm1(this); },
  sin() { return E.sin(this); },
  cos() { return E.cos(this); },
  square() { return E.square(this); },
  reciprocal() { return E.reciprocal(this); },
  clamp(min?: number | null, max?: number | null) { return E.clamp(this, min, max); },
  where(cond: Tensor, other: TensorLike) { return E.where(cond, this, other); },
  sum(dim?: R.Dims, keepdim?: boolean) { return R.sum(this, dim, keepdim); },
  mean(dim?: R.Dims, keepdim?: boolean) { return R.mean(this, dim, keepdim); },
  max(dim?: R.Dims, keepdim?: boolean) { return R.max(this, dim, keepdim); },
  min(dim?: R.Dims, keepdim?: boolean) { return R.min(this, dim, keepdim); },
  logsumexp(dim: R.Dims, keepdim?: boolean) { return R.logsumexp(this, dim, keepdim); },
  argmax(dim?: number, keepdim?: boolean) { return R.argmax(this, dim, keepdim); },
  softmax(dim?: number) { return R.softmax(this, dim); },
  logSoftmax(dim?: number) { return R.logSoftmax(this, dim); },
  topk(k: number, dim?: number) { return I.topk(this, k, dim); },
  gather(dim: number, index: Tensor) { return I.gather(this, dim, index); },
  scatterAdd(dim: number, index: Tensor, src: Tensor) { return I.scatterAdd(this, dim, index, src); },
  embedding(index: Tensor) { return I.embedding(this, index); },
  matmul(b: Tensor) { return matmul(this, b); },
  reshape(...shape: (number | readonly number[])[]) { return S.reshape(this, ...shape); },
  view(...shape: (number | readonly number[])[]) { return S.reshape(this, ...shape); },
  flatten(startDim?: number, endDim?: number) { return S.flatten(this, startDim, endDim); },
  squeeze(dim?: number) { return S.squeeze(this, dim); },
  unsqueeze(dim: number) { return S.unsqueeze(this, dim); },
  transpose(dim0?: number, dim1?: number) { return S.transpose(this, dim0, dim1); },
  permute(...dims: (number | readonly number[])[]) { return S.permute(this, ...dims); },
  expand(...shape: (number | readonly number[])[]) { return S.expand(this, ...shape); },
  cat(others: Tensor | readonly Tensor[], dim?: number) { return S.cat([this, ...list(others)], dim); },
  stack(others: Tensor | readonly Tensor[], dim?: number) { return S.stack([this, ...list(others)], dim); },
  slice(dim: number, start?: number, end?: number) { return S.slice(this, dim, start, end); },
  detach() { return S.detach(this); },
  clone() { return S.clone(this); },
  to(target: DType | DeviceName) { return S.to(this, target); },
  toAsync(target: DeviceName) { return S.toAsync(this, target); },
  backward(seed?: Tensor, opts?: BackwardOptions) { backward(this, seed, opts); },
  retainGrad() { this.retainsGrad = true; return this; },
  setRequiresGrad(flag = true) {
    if (!this.isLeaf) {
      throw new AutogradError('setRequiresGrad: only leaf tensors can change requiresGrad; use .detach() to get a leaf');
    }
    if (flag && this.dtype === 'i32') throw new DTypeError('setRequiresGrad: i32 tensors cannot require grad');
    this.requiresGrad = flag;
    return this;
  },
};

for (const [name, fn] of Object.entries(methods)) {
  Object.defineProperty(Tensor.prototype, name, { value: fn, writable: true, configurable: true, enumerable: false });
}
