/**
 * Creating tensors: from JavaScript data (nested arrays, numbers, typed arrays), constant fills,
 * ranges, and seeded random draws. Every creation function takes { dtype, device, requiresGrad }.
 */
import type { DeviceName } from './backend.js';
import { getDevice } from './device.js';
import { arrayFor, type DType, DTYPES, dtypeOfArray, isDType, isFloat, type TypedArray } from './dtype.js';
import { DTypeError, ShapeError } from './errors.js';
import { globalRng, type Rng } from './rng.js';
import { assertValidShape, fmtShape, type Shape, sizeOf } from './shape.js';
import { Tensor } from './tensor.js';

export interface TensorOptions {
  dtype?: DType;
  device?: DeviceName;
  requiresGrad?: boolean;
}
export interface RandomOptions extends TensorOptions {
  rng?: Rng;
}

export type NestedArray = number | boolean | readonly NestedArray[];
export type TensorData = NestedArray | TypedArray;

function checkOptions(op: string, o: TensorOptions, dtype: DType): void {
  if (o.dtype !== undefined && !isDType(o.dtype)) {
    throw new DTypeError(`${op}: unknown dtype '${String(o.dtype)}'; expected one of ${DTYPES.join(', ')}`);
  }
  if (o.requiresGrad && !isFloat(dtype)) {
    throw new DTypeError(`${op}: requiresGrad needs a float dtype (f32 or f64), got ${dtype}`);
  }
}

/** Makes a tensor that owns `data` (already of the right dtype) on the requested device. */
export function fromTypedArray(data: TypedArray, shape: Shape, o: TensorOptions = {}): Tensor {
  const dtype = dtypeOfArray(data);
  checkOptions('tensor', o, dtype);
  const backend = getDevice(o.device ?? 'cpu');
  return new Tensor(backend.fromArray(data), shape, o.requiresGrad ?? false);
}

function inferShape(data: NestedArray): number[] {
  const shape: number[] = [];
  let cur: NestedArray = data;
  while (Array.isArray(cur)) {
    shape.push(cur.length);
    if (cur.length === 0) break;
    cur = cur[0] as NestedArray;
  }
  return shape;
}

function flatten(data: NestedArray, shape: number[], out: number[], dim: number): void {
  if (dim === shape.length) {
    if (Array.isArray(data)) throw new ShapeError(`tensor: ragged nested array; expected a scalar at depth ${dim}, found an array`);
    if (typeof data !== 'number' && typeof data !== 'boolean') {
      throw new DTypeError(`tensor: expected numbers in the data, found ${typeof data}`);
    }
    out.push(Number(data));
    return;
  }
  if (!Array.isArray(data) || data.length !== shape[dim]) {
    throw new ShapeError(
      `tensor: ragged nested array; expected length ${shape[dim]} at depth ${dim} (shape ${fmtShape(shape)}), found ${Array.isArray(data) ? data.length : 'a scalar'}`,
    );
  }
  for (const x of data as readonly NestedArray[]) flatten(x, shape, out, dim + 1);
}

/**
 * tensor(data, opts): nested arrays infer their shape; a typed array is 1-D unless `shape` is
 * given. The dtype defaults to f32, or the typed array's own dtype.
 */
export function tensor(data: TensorData, o: TensorOptions & { shape?: Shape } = {}): Tensor {
  if (ArrayBuffer.isView(data)) {
    const arr = data as TypedArray;
    if (!(arr instanceof Float32Array || arr instanceof Float64Array || arr instanceof Int32Array)) {
      throw new DTypeError('tensor: typed arrays must be Float32Array, Float64Array or Int32Array');
    }
    const dtype = o.dtype ?? dtypeOfArray(arr);
    const shape = o.shape ?? [arr.length];
    assertValidShape('tensor', shape);
    if (sizeOf(shape) !== arr.length) {
      throw new ShapeError(`tensor: ${arr.length} values cannot have shape ${fmtShape(shape)}`);
    }
    const typed = dtype === dtypeOfArray(arr) ? arr.slice() : convert(arr, dtype);
    return fromTypedArray(typed, shape, o);
  }
  const inferred = inferShape(data as NestedArray);
  const flat: number[] = [];
  flatten(data as NestedArray, inferred, flat, 0);
  const shape = o.shape ?? inferred;
  assertValidShape('tensor', shape);
  if (sizeOf(shape) !== flat.length) {
    throw new ShapeError(`tensor: ${flat.length} values cannot have shape ${fmtShape(shape)}`);
  }
  const dtype = o.dtype ?? 'f32';
  checkOptions('tensor', o, dtype);
  return fromTypedArray(convert(flat, dtype), shape, o);
}

function convert(src: ArrayLike<number>, dtype: DType): TypedArray {
  const out = arrayFor(dtype, src.length);
  if (dtype === 'i32') {
    for (let i = 0; i < src.length; i++) {
      const v = src[i]!;
      if (!Number.isInteger(v)) throw new DTypeError(`tensor: value ${v} is not an integer, so it cannot be stored as i32`);
      out[i] = v;
    }
  } else out.set(src as ArrayLike<number>);
  return out;
}

function shapeArg(op: string, shape: number | Shape): number[] {
  const s = typeof shape === 'number' ? [shape] : [...shape];
  assertValidShape(op, s);
  return s;
}

export function full(shape: number | Shape, value: number, o: TensorOptions = {}): Tensor {
  const s = shapeArg('full', shape);
  const dtype = o.dtype ?? 'f32';
  checkOptions('full', o, dtype);
  if (dtype === 'i32' && !Number.isInteger(value)) {
    throw new DTypeError(`full: value ${value} is not an integer, so it cannot fill an i32 tensor`);
  }
  const backend = getDevice(o.device ?? 'cpu');
  return new Tensor(backend.full(sizeOf(s), value, dtype), s, o.requiresGrad ?? false);
}

export function zeros(shape: number | Shape, o: TensorOptions = {}): Tensor {
  return full(shape, 0, o);
}
export function ones(shape: number | Shape, o: TensorOptions = {}): Tensor {
  return full(shape, 1, o);
}
export function zerosLike(t: Tensor, o: TensorOptions = {}): Tensor {
  return full(t.shape, 0, { dtype: t.dtype, device: t.device, ...o });
}
export function onesLike(t: Tensor, o: TensorOptions = {}): Tensor {
  return full(t.shape, 1, { dtype: t.dtype, device: t.device, ...o });
}
export function fullLike(t: Tensor, value: number, o: TensorOptions = {}): Tensor {
  return full(t.shape, value, { dtype: t.dtype, device: t.device, ...o });
}

/** arange(end) or arange(start, end, step), like torch.arange (end exclusive). */
export function arange(start: number, end?: number, step = 1, o: TensorOptions = {}): Tensor {
  if (end === undefined) {
    end = start;
    start = 0;
  }
  if (step === 0 || !Number.isFinite(step) || !Number.isFinite(start) || !Number.isFinite(end)) {
    throw new ShapeError(`arange: start ${start}, end ${end} and step ${step} must be finite, with step non-zero`);
  }
  const n = Math.max(0, Math.ceil((end - start) / step));
  const dtype = o.dtype ?? 'f32';
  checkOptions('arange', o, dtype);
  const data = arrayFor(dtype, n);
  for (let i = 0; i < n; i++) data[i] = start + i * step;
  return fromTypedArray(data, [n], o);
}

function randomTensor(op: string, shape: number | Shape, o: RandomOptions, draw: (rng: Rng, n: number) => Float64Array): Tensor {
  const s = shapeArg(op, shape);
  const dtype = o.dtype ?? 'f32';
  checkOptions(op, o, dtype);
  if (!isFloat(dtype)) throw new DTypeError(`${op}: dtype must be f32 or f64, got ${dtype}`);
  const vals = draw(o.rng ?? globalRng(), sizeOf(s));
  const data = dtype === 'f64' ? vals : Float32Array.from(vals);
  return fromTypedArray(data, s, o);
}

/** Standard normal draws from a seeded Philox stream (the global one unless `rng` is given). */
export function randn(shape: number | Shape, o: RandomOptions = {}): Tensor {
  return randomTensor('randn', shape, o, (r, n) => r.normal(n));
}
/** Uniform draws in (0, 1). */
export function rand(shape: number | Shape, o: RandomOptions = {}): Tensor {
  return randomTensor('rand', shape, o, (r, n) => r.uniform(n));
}
/** Uniform integers in [low, high), i32. */
export function randint(low: number, high: number, shape: number | Shape, o: Omit<RandomOptions, 'dtype' | 'requiresGrad'> = {}): Tensor {
  const s = shapeArg('randint', shape);
  if (!Number.isInteger(low) || !Number.isInteger(high) || high <= low) {
    throw new ShapeError(`randint: need integers low < high, got ${low} and ${high}`);
  }
  const r = (o.rng ?? globalRng()).int(sizeOf(s), high - low);
  for (let i = 0; i < r.length; i++) r[i]! += low;
  return fromTypedArray(r, s, { device: o.device ?? 'cpu' });
}
