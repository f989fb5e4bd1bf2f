/**
 * Dtypes. f32 is the default; f64 exists for gradient checks and references (CPU only);
 * i32 holds indices, token ids and routing. Masks are float 0/1, not a bool dtype.
 */
import { DTypeError } from './errors.js';

export type DType = 'f32' | 'f64' | 'i32';
export type FloatDType = 'f32' | 'f64';
export type TypedArray = Float32Array | Float64Array | Int32Array;

export const DTYPES: readonly DType[] = ['f32', 'f64', 'i32'];

export function isDType(x: unknown): x is DType {
  return x === 'f32' || x === 'f64' || x === 'i32';
}

export function isFloat(dtype: DType): dtype is FloatDType {
  return dtype === 'f32' || dtype === 'f64';
}

export function arrayFor(dtype: DType, n: number): TypedArray {
  switch (dtype) {
    case 'f32': return new Float32Array(n);
    case 'f64': return new Float64Array(n);
    case 'i32': return new Int32Array(n);
  }
}

export function dtypeOfArray(a: TypedArray): DType {
  if (a instanceof Float32Array) return 'f32';
  if (a instanceof Float64Array) return 'f64';
  return 'i32';
}

export function assertFloat(op: string, dtype: DType, what = 'input'): asserts dtype is FloatDType {
  if (!isFloat(dtype)) {
    throw new DTypeError(`${op}: ${what} has dtype ${dtype}, expected a float dtype (f32 or f64)`);
  }
}

/** Binary ops require equal dtypes: mixing f32 and f64 is an error, not a silent promotion. */
export function assertSameDType(op: string, a: DType, b: DType): void {
  if (a !== b) {
    throw new DTypeError(
      `${op}: dtypes differ (${a} and ${b}); convert one explicitly with .to('${a}') or .to('${b}')`,
    );
  }
}
