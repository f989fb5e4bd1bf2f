/**
 * Building and reading small CPU tensors in tests: f64/f32/i32 from a shape and flat values,
 * and `arr`, a tensor's values as a plain array.
 */
import { tensor, type Tensor } from '../../src/index.js';

export function f64(shape: readonly number[], values: readonly number[]): Tensor {
  return tensor(Float64Array.from(values), { shape });
}

export function f32(shape: readonly number[], values: readonly number[]): Tensor {
  return tensor(Float32Array.from(values), { shape });
}

export function i32(shape: readonly number[], values: readonly number[]): Tensor {
  return tensor(Int32Array.from(values), { shape });
}

/** A tensor's values (read synchronously, so CPU only) as a number[]; a missing tensor (e.g. an unset .grad) throws. */
export function arr(t: { toArraySync(): ArrayLike<number> } | null | undefined): number[] {
  if (t == null) throw new Error(`arr: no tensor (${t})`);
  return Array.from(t.toArraySync());
}
