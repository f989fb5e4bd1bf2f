/**
 * Argument handling shared by every op: tensor checks (not disposed, same device, same dtype),
 * scalars lifted to 0-d tensors of the other operand's dtype, and unbroadcasting (the
 * gradient of a broadcast is a sum over the stretched dims).
 *
 * unbroadcast calls sum and reshape as Tensor methods (attached by ../methods.ts, which every
 * entry point loads) rather than importing reduce.ts and shape.ts: those import this module,
 * and the import graph stays free of cycles.
 */
import { DeviceError, DTypeError, Tensor } from '../../tensor/index.js';
import { assertSameDType } from '../../tensor/dtype.js';
import { fmtShape, sameShape } from '../../tensor/shape.js';
import { full } from '../../tensor/creation.js';

export type TensorLike = Tensor | number;

export function checkTensor(op: string, x: unknown, what = 'input'): Tensor {
  if (!(x instanceof Tensor)) {
    throw new DTypeError(`${op}: ${what} must be a Tensor, got ${x === null ? 'null' : typeof x}`);
  }
  if (x.isDisposed) throw new DeviceError(`${op}: ${what} ${fmtShape(x.shape)} was disposed`);
  return x;
}

export function checkSameDevice(op: string, ts: readonly Tensor[]): void {
  const d0 = ts[0]!.device;
  for (const t of ts) {
    if (t.device !== d0) {
      throw new DeviceError(
        `${op}: tensors are on different devices (${ts.map((x) => x.device).join(', ')}); move them with .to('${d0}') first`,
      );
    }
  }
}

/** Lifts numbers to 0-d tensors matching the first tensor operand; checks dtypes and devices. */
export function operands(op: string, xs: readonly TensorLike[]): Tensor[] {
  const ref = xs.find((x): x is Tensor => x instanceof Tensor);
  if (ref === undefined) throw new DTypeError(`${op}: at least one operand must be a Tensor`);
  checkTensor(op, ref);
  const out = xs.map((x, i) => {
    if (typeof x === 'number') {
      if (ref.dtype === 'i32' && !Number.isInteger(x)) {
        throw new DTypeError(`${op}: scalar ${x} is not an integer but the tensor operand is i32; convert with .to('f32') first`);
      }
      return full([], x, { dtype: ref.dtype, device: ref.device });
    }
    return checkTensor(op, x, `operand ${i}`);
  });
  for (const t of out) assertSameDType(op, ref.dtype, t.dtype);
  checkSameDevice(op, out);
  return out;
}

/** Sums a broadcast gradient back to `shape`. */
export function unbroadcast(g: Tensor, shape: readonly number[]): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const lead = g.ndim - shape.length;
  const dims: number[] = [];
  for (let i = 0; i < g.ndim; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) dims.push(i);
  }
  return (dims.length > 0 ? g.sum(dims, true) : g).reshape(shape);
}
