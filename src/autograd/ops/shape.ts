/**
 * Shape ops. Storage is contiguous and immutable (README.md, "Conventions a PyTorch user should
 * know"): reshape and contiguous slices may share the input's array, since no tensor's data ever
 * changes; the other ops here copy. Their gradients are the inverse movement: reshape back,
 * inverse permutation, sum over an expansion, slices of a concatenation, zero-padding of a slice.
 */
import { DTypeError, IndexError, ShapeError, Tensor, ValueError } from '../../tensor/index.js';
import { type DType, isDType, isFloat } from '../../tensor/dtype.js';
import { getDevice, isDeviceName } from '../../tensor/device.js';
import type { DeviceName } from '../../tensor/backend.js';
import { zeros } from '../../tensor/creation.js';
import { assertValidShape, broadcastShapes, broadcastStrides, fmtShape, normDim, sameShape, sizeOf, splitAt } from '../../tensor/shape.js';
import { record } from '../tape.js';
import { checkSameDevice, checkTensor, unbroadcast } from './common.js';

function shapeArgs(shape: readonly (number | readonly number[])[]): number[] {
  return shape.length === 1 && Array.isArray(shape[0]) ? [...(shape[0] as number[])] : (shape as number[]);
}

/** Reshape (one dim may be -1 and is inferred). Copies. */
export function reshape(x: Tensor, ...shapeIn: (number | readonly number[])[]): Tensor {
  checkTensor('reshape', x);
  const shape = shapeArgs(shapeIn);
  const free = shape.filter((d) => d === -1).length;
  if (free > 1) throw new ShapeError(`reshape: only one dim can be -1, got ${fmtShape(shape)}`);
  const known = shape.reduce((p, d) => (d === -1 ? p : p * d), 1);
  const out = shape.map((d) => {
    if (d !== -1) return d;
    if (known === 0 || x.size % known !== 0) {
      throw new ShapeError(`reshape: cannot infer the -1 dim of ${fmtShape(shape)} for ${x.size} elements (input ${fmtShape(x.shape)})`);
    }
    return x.size / known;
  });
  assertValidShape('reshape', out);
  if (sizeOf(out) !== x.size) {
    throw new ShapeError(`reshape: cannot reshape ${fmtShape(x.shape)} (${x.size} elements) into ${fmtShape(out)} (${sizeOf(out)} elements)`);
  }
  const y = new Tensor(x.backend.expand(x.storage, [x.size], [1]), out);
  return record('reshape', [x], y, (g) => [reshape(g, x.shape)]);
}

export function flatten(x: Tensor, startDim = 0, endDim = -1): Tensor {
  checkTensor('flatten', x);
  if (x.ndim === 0) return reshape(x, [1]);
  const s = normDim('flatten', startDim, x.ndim);
  const e = normDim('flatten', endDim, x.ndim);
  if (s > e) throw new ShapeError(`flatten: startDim ${startDim} comes after endDim ${endDim}`);
  return reshape(x, [...x.shape.slice(0, s), sizeOf(x.shape.slice(s, e + 1)), ...x.shape.slice(e + 1)]);
}

export function unsqueeze(x: Tensor, dim: number): Tensor {
  checkTensor('unsqueeze', x);
  const d = normDim('unsqueeze', dim, x.ndim + 1);
  return reshape(x, [...x.shape.slice(0, d), 1, ...x.shape.slice(d)]);
}

/** Removes size-1 dims (all of them, or only `dim`). */
export function squeeze(x: Tensor, dim?: number): Tensor {
  checkTensor('squeeze', x);
  if (dim === undefined) return reshape(x, x.shape.filter((d) => d !== 1));
  const d = normDim('squeeze', dim, x.ndim);
  if (x.ndim === 0 || x.shape[d] !== 1) return reshape(x, x.shape);
  return reshape(x, x.shape.filter((_, i) => i !== d));
}

export function permute(x: Tensor, ...permIn: (number | readonly number[])[]): Tensor {
  checkTensor('permute', x);
  const perm = shapeArgs(permIn).map((p) => normDim('permute', p, x.ndim));
  if (perm.length !== x.ndim || new Set(perm).size !== perm.length) {
    throw new ShapeError(`permute: [${shapeArgs(permIn).join(', ')}] is not a permutation of the ${x.ndim} dims of ${fmtShape(x.shape)}`);
  }
  const y = new Tensor(x.backend.permute(x.storage, x.shape, perm), perm.map((p) => x.shape[p]!));
  const inverse = new Array<number>(perm.length);
  perm.forEach((p, i) => (inverse[p] = i));
  return record('permute', [x], y, (g) => [permute(g, inverse)]);
}

export function transpose(x: Tensor, dim0 = -2, dim1 = -1): Tensor {
  checkTensor('transpose', x);
  if (x.ndim < 2 && dim0 === -2 && dim1 === -1) return reshape(x, x.shape);
  const a = normDim('transpose', dim0, x.ndim);
  const b = normDim('transpose', dim1, x.ndim);
  if (x.ndim === 0) return reshape(x, x.shape); // dims 0 / -1 wrap on a 0-d tensor, as in torch
  const perm = x.shape.map((_, i) => i);
  perm[a] = b;
  perm[b] = a;
  return permute(x, perm);
}

/** Broadcasts to `shape` (a -1 keeps the input's dim), materialised. */
export function expand(x: Tensor, ...shapeIn: (number | readonly number[])[]): Tensor {
  checkTensor('expand', x);
  const req = shapeArgs(shapeIn);
  if (req.length < x.ndim) {
    throw new ShapeError(`expand: target ${fmtShape(req)} has fewer dims than the input ${fmtShape(x.shape)}`);
  }
  const lead = req.length - x.ndim;
  const shape = req.map((d, i) => (d === -1 && i >= lead ? x.shape[i - lead]! : d));
  assertValidShape('expand', shape);
  const b = broadcastShapes('expand', x.shape, shape);
  if (!sameShape(b, shape)) {
    throw new ShapeError(`expand: ${fmtShape(x.shape)} cannot be expanded to ${fmtShape(shape)}; only size-1 dims can grow`);
  }
  if (sameShape(x.shape, shape)) return reshape(x, shape);
  const y = new Tensor(x.backend.expand(x.storage, shape, broadcastStrides(x.shape, shape)), shape);
  return record('expand', [x], y, (g) => [unbroadcast(g, x.shape)]);
}

/** Python-style slice along one dim: [start, end), negative indices count from the end, clamped. */
export function slice(x: Tensor, dim: number, start = 0, end?: number): Tensor {
  checkTensor('slice', x);
  if (x.ndim === 0) throw new ShapeError('slice: cannot slice a 0-d tensor');
  const d = normDim('slice', dim, x.ndim);
  const n = x.shape[d]!;
  if (!Number.isInteger(start) || (end !== undefined && !Number.isInteger(end))) {
    throw new IndexError(`slice: start ${start} and end ${end} must be integers`);
  }
  const clampIdx = (i: number) => Math.min(n, Math.max(0, i < 0 ? i + n : i));
  const s = clampIdx(start);
  const e = Math.max(s, clampIdx(end ?? n));
  const [outer, , inner] = splitAt(x.shape, d);
  const shape = [...x.shape];
  shape[d] = e - s;
  const y = new Tensor(x.backend.slice(x.storage, outer, n, inner, s, e - s), shape);
  return record('slice', [x], y, (g) => {
    const parts: Tensor[] = [];
    const padShape = (len: number) => x.shape.map((v, i) => (i === d ? len : v));
    if (s > 0) parts.push(zeros(padShape(s), { dtype: g.dtype, device: g.device }));
    parts.push(g);
    if (e < n) parts.push(zeros(padShape(n - e), { dtype: g.dtype, device: g.device }));
    return [parts.length === 1 ? g : cat(parts, d)];
  });
}

export function cat(tensors: readonly Tensor[], dim = 0): Tensor {
  if (!tensors || tensors.length === 0) throw new ShapeError('cat: expected a non-empty array of tensors');
  tensors.forEach((t, i) => checkTensor('cat', t, `tensor ${i}`));
  checkSameDevice('cat', tensors);
  const t0 = tensors[0]!;
  for (const t of tensors) {
    if (t.dtype !== t0.dtype) throw new DTypeError(`cat: dtypes differ (${tensors.map((x) => x.dtype).join(', ')})`);
  }
  if (t0.ndim === 0) throw new ShapeError('cat: zero-dimensional tensors cannot be concatenated; use stack');
  const d = normDim('cat', dim, t0.ndim);
  for (const t of tensors) {
    if (t.ndim !== t0.ndim || t.shape.some((v, i) => i !== d && v !== t0.shape[i])) {
      throw new ShapeError(`cat: shapes ${tensors.map((x) => fmtShape(x.shape)).join(', ')} differ outside dim ${d}`);
    }
  }
  const [outer, , inner] = splitAt(t0.shape, d);
  const ns = tensors.map((t) => t.shape[d]!);
  const shape = [...t0.shape];
  shape[d] = ns.reduce((p, q) => p + q, 0);
  const y = new Tensor(t0.backend.concat(tensors.map((t) => t.storage), ns, outer, inner), shape);
  return record('cat', tensors, y, (g, needs) => {
    let at = 0;
    return ns.map((n, i) => {
      const part = needs[i] ? slice(g, d, at, at + n) : null;
      at += n;
      return part;
    });
  });
}

export function stack(tensors: readonly Tensor[], dim = 0): Tensor {
  if (!tensors || tensors.length === 0) throw new ShapeError('stack: expected a non-empty array of tensors');
  tensors.forEach((t, i) => checkTensor('stack', t, `tensor ${i}`));
  const s0 = tensors[0]!.shape;
  for (const t of tensors) {
    if (!sameShape(t.shape, s0)) throw new ShapeError(`stack: shapes differ (${tensors.map((x) => fmtShape(x.shape)).join(', ')})`);
  }
  const d = normDim('stack', dim, s0.length + 1);
  return cat(tensors.map((t) => unsqueeze(t, d)), d);
}

/** A copy that shares no graph with the input: gradients stop here. */
export function detach(x: Tensor): Tensor {
  checkTensor('detach', x);
  return new Tensor(x.backend.expand(x.storage, [x.size], [1]), x.shape);
}

export function clone(x: Tensor): Tensor {
  checkTensor('clone', x);
  const y = new Tensor(x.backend.expand(x.storage, [x.size], [1]), x.shape);
  return record('clone', [x], y, (g) => [g]);
}

/** to('f32' | 'f64' | 'i32') converts dtype; to('cpu' | 'webgpu') moves. Float→float is differentiable. */
export function to(x: Tensor, target: DType | DeviceName): Tensor {
  checkTensor('to', x);
  if (isDType(target)) {
    if (target === x.dtype) return x;
    const y = new Tensor(x.backend.cast(x.storage, target), x.shape);
    if (!isFloat(target) || !isFloat(x.dtype)) return y;
    return record('to', [x], y, (g) => [to(g, x.dtype)]);
  }
  if (isDeviceName(target)) {
    if (target === x.device) return x;
    const dst = getDevice(target);
    if (x.device !== 'cpu' && target !== 'cpu') throw new ValueError(`to: cannot move from ${x.device} to ${target} directly`);
    if (x.device !== 'cpu') {
      throw new ValueError(`to: reading from '${x.device}' is async; use await t.toAsync('${target}')`);
    }
    const y = new Tensor(dst.fromArray(x.backend.readSync(x.storage)), x.shape);
    return record('to', [x], y, (g) => [g.device === x.device ? g : to(g, x.device)]);
  }
  throw new ValueError(`to: '${String(target)}' is neither a dtype (f32, f64, i32) nor a device (cpu, webgpu)`);
}

/**
 * Moves a tensor to `target` when that needs an async read (GPU → CPU). The result is a new
 * leaf: gradients do not flow back across an async move.
 */
export async function toAsync(x: Tensor, target: DeviceName): Promise<Tensor> {
  checkTensor('toAsync', x);
  if (!isDeviceName(target)) throw new ValueError(`toAsync: '${String(target)}' is not a device (cpu, webgpu)`);
  if (target === x.device) return x;
  if (x.device === 'cpu') return detach(to(x, target));
  const data = await x.toArray();
  return new Tensor(getDevice(target).fromArray(data), x.shape);
}
