/**
 * Index ops: gather / scatterAdd along one dim (torch semantics), embedding (rows of a weight
 * matrix) and topk. Their gradients move values back to where they came from:
 *   gather:     ∂x = zeros.scatterAdd(dim, index, g)
 *   scatterAdd: ∂base = g, ∂src = g.gather(dim, index)
 *   embedding:  ∂weight = index-add of g's rows
 *   topk:       ∂x = zeros.scatterAdd(dim, indices, g)   (the indices carry no gradient)
 */
import { DTypeError, IndexError, ShapeError, Tensor, ValueError } from '../../tensor/index.js';
import { isFloat } from '../../tensor/dtype.js';
import { zeros } from '../../tensor/creation.js';
import { fmtShape, normDim, splitAt } from '../../tensor/shape.js';
import { record } from '../tape.js';
import { checkSameDevice, checkTensor } from './common.js';

/** Checks every index lies in [0, n) where the data can be read synchronously (CPU). */
function checkIndexRange(op: string, index: Tensor, n: number, what: string): void {
  if (index.device !== 'cpu') return;
  const a = index.toArraySync();
  for (let i = 0; i < a.length; i++) {
    const v = a[i]!;
    if (v < 0 || v >= n) {
      throw new IndexError(`${op}: index ${v} at flat position ${i} is out of range for ${what} of size ${n} (valid: 0..${n - 1})`);
    }
  }
}

function checkIndex(op: string, index: Tensor): void {
  checkTensor(op, index, 'index');
  if (index.dtype !== 'i32') throw new DTypeError(`${op}: index must be i32, got ${index.dtype}`);
}

function checkAlongDim(op: string, x: Tensor, index: Tensor, d: number): void {
  if (index.ndim !== x.ndim || index.shape.some((v, i) => i !== d && v !== x.shape[i])) {
    throw new ShapeError(
      `${op}: index shape ${fmtShape(index.shape)} must match input shape ${fmtShape(x.shape)} in every dim except dim ${d}`,
    );
  }
}

export function gather(x: Tensor, dim: number, index: Tensor): Tensor {
  checkTensor('gather', x);
  checkIndex('gather', index);
  checkSameDevice('gather', [x, index]);
  const d = normDim('gather', dim, x.ndim);
  checkAlongDim('gather', x, index, d);
  const [outer, n, inner] = splitAt(x.shape, d);
  checkIndexRange('gather', index, n, `dim ${d}`);
  const m = x.ndim === 0 ? 1 : index.shape[d]!;
  const y = new Tensor(x.backend.gather(x.storage, index.storage, outer, n, inner, m), index.shape);
  return record('gather', [x], y, (g) => [scatterAdd(zeros(x.shape, { dtype: g.dtype, device: g.device }), d, index, g)]);
}

/** out = x with src added at index along dim (torch's scatter_add, out of place). */
export function scatterAdd(x: Tensor, dim: number, index: Tensor, src: Tensor): Tensor {
  checkTensor('scatterAdd', x);
  checkTensor('scatterAdd', src, 'src');
  checkIndex('scatterAdd', index);
  checkSameDevice('scatterAdd', [x, index, src]);
  if (x.dtype !== src.dtype) throw new DTypeError(`scatterAdd: dtypes differ (${x.dtype} and src ${src.dtype})`);
  const d = normDim('scatterAdd', dim, x.ndim);
  checkAlongDim('scatterAdd', x, index, d);
  if (fmtShape(src.shape) !== fmtShape(index.shape)) {
    throw new ShapeError(`scatterAdd: src shape ${fmtShape(src.shape)} must equal index shape ${fmtShape(index.shape)}`);
  }
  const [outer, n, inner] = splitAt(x.shape, d);
  checkIndexRange('scatterAdd', index, n, `dim ${d}`);
  const m = x.ndim === 0 ? 1 : index.shape[d]!;
  const y = new Tensor(x.backend.scatterAdd(x.storage, index.storage, src.storage, outer, n, inner, m), x.shape);
  return record('scatterAdd', [x, src], y, (g, needs) => [needs[0] ? g : null, needs[1] ? gather(g, d, index) : null]);
}

/**
 * Rows of `weight` [V, D] picked by an i32 `index` of any shape → [...index.shape, D].
 * Accepts (weight, index) or (index, weight): the i32 operand is the index.
 */
export function embedding(a: Tensor, b: Tensor): Tensor {
  checkTensor('embedding', a);
  checkTensor('embedding', b);
  const [weight, index] = a.dtype === 'i32' && b.dtype !== 'i32' ? [b, a] : [a, b];
  checkIndex('embedding', index);
  checkSameDevice('embedding', [weight, index]);
  if (!isFloat(weight.dtype)) throw new DTypeError(`embedding: weight must be f32 or f64, got ${weight.dtype}`);
  if (weight.ndim !== 2) throw new ShapeError(`embedding: weight must be 2-D [vocab, dim], got ${fmtShape(weight.shape)}`);
  const [V, D] = weight.shape as [number, number];
  checkIndexRange('embedding', index, V, 'the vocabulary (weight rows)');
  const m = index.size;
  const y = new Tensor(weight.backend.indexSelect(weight.storage, index.storage, 1, V, D, m), [...index.shape, D]);
  return record('embedding', [weight], y, (g) => [new Tensor(g.backend.indexAdd(g.storage, index.storage, 1, V, D, m), [V, D])]);
}

export type TopK = [Tensor, Tensor] & { values: Tensor; indices: Tensor };

/** The k largest values along dim (sorted descending, ties to the lower index) and their i32 indices. */
export function topk(x: Tensor, k: number, dim = -1): TopK {
  checkTensor('topk', x);
  if (x.ndim === 0) throw new ShapeError('topk: input must have at least 1 dim');
  const d = normDim('topk', dim, x.ndim);
  const [outer, n, inner] = splitAt(x.shape, d);
  if (!Number.isInteger(k) || k < 0 || k > n) {
    throw new ValueError(`topk: k = ${k} must be an integer in 0..${n} (the size of dim ${d} of ${fmtShape(x.shape)})`);
  }
  const shape = [...x.shape];
  shape[d] = k;
  const [vs, is] = x.backend.topk(x.storage, outer, n, inner, k);
  const indices = new Tensor(is, shape);
  const values = record('topk', [x], new Tensor(vs, shape), (g) => [
    scatterAdd(zeros(x.shape, { dtype: g.dtype, device: g.device }), d, indices, g),
  ]);
  return Object.assign([values, indices] as [Tensor, Tensor], { values, indices });
}
