/**
 * Batched matrix product with broadcasting leading dims, as torch.matmul. Internally every
 * product is matmulT(A, B, transA, transB) = op(A)·op(B), so backward never materialises a
 * transpose: for C = A·B, dA = G·Bᵀ = matmulT(G, B, false, true) and dB = Aᵀ·G =
 * matmulT(A, G, true, false); the other three layouts follow the same pattern.
 */
import { DTypeError, ShapeError, Tensor } from '../../tensor/index.js';
import { isFloat } from '../../tensor/dtype.js';
import { broadcastShapes, fmtShape, stridesOf } from '../../tensor/shape.js';
import { record } from '../tape.js';
import { checkSameDevice, checkTensor, unbroadcast } from './common.js';
import { reshape } from './shape.js';

/** op(A)·op(B) over broadcast batch dims; A is [..., m, k] (or [..., k, m] when transA). */
export function matmulT(a: Tensor, b: Tensor, transA: boolean, transB: boolean): Tensor {
  const m = transA ? a.shape[a.ndim - 1]! : a.shape[a.ndim - 2]!;
  const ka = transA ? a.shape[a.ndim - 2]! : a.shape[a.ndim - 1]!;
  const kb = transB ? b.shape[b.ndim - 1]! : b.shape[b.ndim - 2]!;
  const n = transB ? b.shape[b.ndim - 2]! : b.shape[b.ndim - 1]!;
  if (ka !== kb) {
    throw new ShapeError(
      `matmul: inner dims differ: ${fmtShape(a.shape)}${transA ? 'ᵀ' : ''} @ ${fmtShape(b.shape)}${transB ? 'ᵀ' : ''} (${ka} vs ${kb})`,
    );
  }
  const aBatch = a.shape.slice(0, -2);
  const bBatch = b.shape.slice(0, -2);
  const batchShape = broadcastShapes('matmul', aBatch, bBatch);
  const matStrides = (batch: readonly number[]) => {
    const st = stridesOf(batch);
    const out = new Array<number>(batchShape.length).fill(0);
    const off = batchShape.length - batch.length;
    batch.forEach((d, i) => (out[off + i] = d === 1 ? 0 : st[i]!));
    return out;
  };
  const y = new Tensor(
    a.backend.matmul(a.storage, b.storage, {
      m, k: ka, n, transA, transB, batchShape,
      aBatchStrides: matStrides(aBatch), bBatchStrides: matStrides(bBatch),
    }),
    [...batchShape, m, n],
  );
  return record('matmul', [a, b], y, (g, needs) => {
    let ga: Tensor | null = null;
    let gb: Tensor | null = null;
    if (needs[0]) {
      ga = transA
        ? (transB ? matmulT(b, g, true, true) : matmulT(b, g, false, true))
        : (transB ? matmulT(g, b, false, false) : matmulT(g, b, false, true));
      ga = unbroadcast(ga, a.shape);
    }
    if (needs[1]) {
      gb = transB
        ? (transA ? matmulT(g, a, true, true) : matmulT(g, a, true, false))
        : (transA ? matmulT(a, g, false, false) : matmulT(a, g, true, false));
      gb = unbroadcast(gb, b.shape);
    }
    return [ga, gb];
  });
}

/** torch.matmul semantics, including 1-D operands (a vector is promoted and the dim removed). */
export function matmul(a: Tensor, b: Tensor): Tensor {
  checkTensor('matmul', a, 'a');
  checkTensor('matmul', b, 'b');
  checkSameDevice('matmul', [a, b]);
  if (a.dtype !== b.dtype) throw new DTypeError(`matmul: dtypes differ (${a.dtype} and ${b.dtype})`);
  if (!isFloat(a.dtype)) throw new DTypeError(`matmul: dtype ${a.dtype} is not supported; use f32 or f64`);
  if (a.ndim === 0 || b.ndim === 0) {
    throw new ShapeError(`matmul: both operands need at least 1 dim, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  }
  const a2 = a.ndim === 1 ? reshape(a, [1, a.shape[0]!]) : a;
  const b2 = b.ndim === 1 ? reshape(b, [b.shape[0]!, 1]) : b;
  if (a2.shape[a2.ndim - 1] !== b2.shape[b2.ndim - 2]) {
    throw new ShapeError(
      `matmul: ${fmtShape(a.shape)} @ ${fmtShape(b.shape)}: inner dims differ (${a2.shape[a2.ndim - 1]} vs ${b2.shape[b2.ndim - 2]})`,
    );
  }
  let y = matmulT(a2, b2, false, false);
  if (a.ndim === 1) y = reshape(y, [...y.shape.slice(0, -2), y.shape[y.ndim - 1]!]);
  if (b.ndim === 1) y = reshape(y, y.shape.slice(0, -1));
  return y;
}
