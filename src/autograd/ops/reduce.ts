/**
 * Reductions and the softmax family, with their vjps. Kernels reduce one axis of an
 * [outer, n, inner] view; a multi-dim reduction runs one pass per run of adjacent dims.
 *   sum:        ∂/∂x = broadcast(g)
 *   max/min:    g goes to the positions equal to the result, split evenly across ties
 *   logsumexp:  ∂/∂x = g · softmax(x)
 *   softmax:    ∂/∂x = y ⊙ (g − Σ g⊙y)
 *   logSoftmax: ∂/∂x = g − softmax(x) · Σ g
 */
import type { ReduceOp } from '../../tensor/index.js';
import { DTypeError, Tensor, ValueError } from '../../tensor/index.js';
import { isFloat } from '../../tensor/dtype.js';
import { normDim, normDims, reducedShape, splitAt } from '../../tensor/shape.js';
import { record } from '../tape.js';
import { checkTensor } from './common.js';
import { div, eq, exp, mul, sub } from './elementwise.js';
import { expand, permute, reshape } from './shape.js';

export type Dims = number | readonly number[];

/** Groups sorted dims into runs of adjacent dims: [0,1,3] → [[0,1],[3]]. */
function runs(dims: readonly number[]): number[][] {
  const out: number[][] = [];
  for (const d of dims) {
    const last = out[out.length - 1];
    if (last && last[last.length - 1] === d - 1) last.push(d);
    else out.push([d]);
  }
  return out;
}

/** Forward only: reduces `dims` (sorted) keeping them as size 1. */
function reduceKeep(op: ReduceOp, x: Tensor, dims: readonly number[]): Tensor {
  let storage = x.storage;
  let shape = [...x.shape];
  const owned = [];
  // Last run first, so earlier dims keep their positions.
  for (const run of runs(dims).reverse()) {
    const outer = shape.slice(0, run[0]).reduce((p, q) => p * q, 1);
    const n = run.reduce((p, d) => p * shape[d]!, 1);
    const inner = shape.slice(run[run.length - 1]! + 1).reduce((p, q) => p * q, 1);
    const next = x.backend.reduce(op, storage, outer, n, inner);
    if (storage !== x.storage) owned.push(storage);
    storage = next;
    for (const d of run) shape[d] = 1;
  }
  for (const s of owned) x.backend.dispose(s);
  if (storage === x.storage) storage = x.backend.reduce(op, storage, x.size, 1, 1);
  return new Tensor(storage, shape);
}

function finish(keep: Tensor, x: Tensor, dims: readonly number[], keepdim: boolean): Tensor {
  return keepdim ? keep : reshape(keep, reducedShape(x.shape, dims, false));
}

export function sum(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  checkTensor('sum', x);
  const dims = normDims('sum', dim, x.ndim);
  const kept = reduceKeep('sum', x, dims);
  const y = record('sum', [x], kept, (g) => [expand(g, x.shape)]);
  return finish(y, x, dims, keepdim);
}

export function mean(x: Tensor, dim?: Dims, keepdim = false): Tensor {
  checkTensor('mean', x);
  if (!isFloat(x.dtype)) throw new DTypeError(`mean: input has dtype ${x.dtype}; mean needs f32 or f64`);
  const dims = normDims('mean', dim, x.ndim);
  const count = dims.reduce((p, d) => p * x.shape[d]!, 1);
  return mul(sum(x, dims, keepdim), 1 / count);
}

function extremum(op: 'max' | 'min', x: Tensor, dim: Dims | undefined, keepdim: boolean): Tensor {
  checkTensor(op, x);
  const dims = normDims(op, dim, x.ndim);
  if (dims.some((d) => x.shape[d] === 0)) {
    throw new ValueError(`${op}: cannot reduce an empty dim (shape [${x.shape.join(', ')}])`);
  }
  const kept = reduceKeep(op, x, dims);
  const y = record(op, [x], kept, (g) => {
    const hit = eq(x, kept);
    const share = div(hit, sumKeep(hit, dims));
    return [mul(expand(g, x.shape), share)];
  });
  return finish(y, x, dims, keepdim);
}

function sumKeep(x: Tensor, dims: readonly number[]): Tensor {
  return reduceKeep('sum', x, dims);
}

export const max = (x: Tensor, dim?: Dims, keepdim = false) => extremum('max', x, dim, keepdim);
export const min = (x: Tensor, dim?: Dims, keepdim = false) => extremum('min', x, dim, keepdim);

/** Index of the first maximum along dim (over the flattened tensor when dim is omitted); i32. */
export function argmax(x: Tensor, dim?: number, keepdim = false): Tensor {
  checkTensor('argmax', x);
  if (x.size === 0) throw new ValueError('argmax: the input is empty');
  if (dim === undefined) {
    const s = x.backend.argmax(x.storage, 1, x.size, 1);
    return new Tensor(s, keepdim ? x.shape.map(() => 1) : []);
  }
  const d = normDim('argmax', dim, x.ndim);
  const [outer, n, inner] = splitAt(x.shape, d);
  if (n === 0) throw new ValueError(`argmax: dim ${dim} is empty`);
  return new Tensor(x.backend.argmax(x.storage, outer, n, inner), reducedShape(x.shape, [d], keepdim));
}

function floatOnly(op: string, x: Tensor): void {
  checkTensor(op, x);
  if (!isFloat(x.dtype)) throw new DTypeError(`${op}: input has dtype ${x.dtype}; ${op} needs f32 or f64`);
}

export function logsumexp(x: Tensor, dim: Dims, keepdim = false): Tensor {
  floatOnly('logsumexp', x);
  const dims = normDims('logsumexp', dim, x.ndim);
  if (dims.length !== 1) {
    // Several dims: move them to the end, merge them into one, and reduce that.
    const rest = x.shape.map((_, i) => i).filter((i) => !dims.includes(i));
    const merged = reshape(permute(x, [...rest, ...dims]), [...rest.map((i) => x.shape[i]!), -1]);
    const r = logsumexp(merged, -1, false);
    return keepdim ? reshape(r, reducedShape(x.shape, dims, true)) : r;
  }
  const d = dims[0] ?? 0;
  const [outer, n, inner] = splitAt(x.shape, d);
  const keptShape = reducedShape(x.shape, [d], true);
  const y = new Tensor(x.backend.logsumexp(x.storage, outer, n, inner), keptShape);
  const out = record('logsumexp', [x], y, (g) => [mul(expand(g, x.shape), exp(sub(x, y)))]);
  return keepdim ? out : reshape(out, reducedShape(x.shape, [d], false));
}

export function softmax(x: Tensor, dim = -1): Tensor {
  floatOnly('softmax', x);
  const d = normDim('softmax', dim, x.ndim);
  const [outer, n, inner] = splitAt(x.shape, d);
  const y = new Tensor(x.backend.softmax(x.storage, outer, n, inner, false), x.shape);
  return record('softmax', [x], y, (g) => [mul(y, sub(g, sum(mul(g, y), d, true)))]);
}

export function logSoftmax(x: Tensor, dim = -1): Tensor {
  floatOnly('logSoftmax', x);
  const d = normDim('logSoftmax', dim, x.ndim);
  const [outer, n, inner] = splitAt(x.shape, d);
  const y = new Tensor(x.backend.softmax(x.storage, outer, n, inner, true), x.shape);
  return record('logSoftmax', [x], y, (g) => [sub(g, mul(exp(y), sum(g, d, true)))]);
}
