/**
 * Shapes, strides and broadcasting (NumPy/PyTorch rules: align trailing dims; a dim of size 1
 * stretches). Storage is contiguous row-major, so strides are always derived, never stored.
 */
import { ShapeError } from './errors.js';

export type Shape = readonly number[];

export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function stridesOf(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

export function fmtShape(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

export function sameShape(a: Shape, b: Shape): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function assertValidShape(op: string, shape: Shape): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new ShapeError(`${op}: invalid shape ${fmtShape(shape)}; dims must be non-negative integers`);
    }
  }
  // WGSL index math is 32-bit; keep every tensor addressable there too.
  if (sizeOf(shape) >= 2 ** 31) {
    throw new ShapeError(`${op}: shape ${fmtShape(shape)} has ${sizeOf(shape)} elements; the limit is 2^31 - 1`);
  }
}

export function broadcastShapes(op: string, ...shapes: Shape[]): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const oi = rank - s.length + i;
      const d = s[i]!;
      if (out[oi] === 1) out[oi] = d;
      else if (d !== 1 && d !== out[oi]) {
        throw new ShapeError(
          `${op}: shapes ${shapes.map(fmtShape).join(' and ')} cannot be broadcast together (dim ${oi - rank}: ${out[oi]} vs ${d})`,
        );
      }
    }
  }
  return out;
}

/** Strides of `shape` viewed as broadcast into `outShape` (0 where the dim is stretched). */
export function broadcastStrides(shape: Shape, outShape: Shape): number[] {
  const st = stridesOf(shape);
  const out = new Array<number>(outShape.length).fill(0);
  const off = outShape.length - shape.length;
  for (let i = 0; i < shape.length; i++) out[off + i] = shape[i] === 1 ? 0 : st[i]!;
  return out;
}

/** Normalises a possibly negative dim; rank 0 accepts dim 0 and -1 as PyTorch does. */
export function normDim(op: string, dim: number, rank: number): number {
  const r = Math.max(rank, 1);
  if (!Number.isInteger(dim) || dim < -r || dim >= r) {
    throw new ShapeError(`${op}: dim ${dim} is out of range for a tensor of rank ${rank} (expected ${-r}..${r - 1})`);
  }
  return dim < 0 ? dim + r : dim;
}

/** Normalises a dim or list of dims (undefined = all), sorted and without duplicates. */
export function normDims(op: string, dim: number | readonly number[] | undefined, rank: number): number[] {
  if (dim === undefined) return Array.from({ length: rank }, (_, i) => i);
  const list = typeof dim === 'number' ? [dim] : [...dim];
  const out = list.map((d) => normDim(op, d, rank)).filter((d) => d < rank || rank > 0);
  const uniq = [...new Set(out)].sort((a, b) => a - b);
  if (uniq.length !== out.length) throw new ShapeError(`${op}: dim list [${list.join(', ')}] repeats a dim`);
  return rank === 0 ? [] : uniq;
}

/** Splits a shape around one dim into [outer, n, inner] for single-axis kernels. */
export function splitAt(shape: Shape, dim: number): [number, number, number] {
  let outer = 1;
  let inner = 1;
  for (let i = 0; i < dim; i++) outer *= shape[i]!;
  for (let i = dim + 1; i < shape.length; i++) inner *= shape[i]!;
  return [outer, shape.length === 0 ? 1 : shape[dim]!, inner];
}

/** Shape after reducing `dims` (kept as size 1 when keepdim). */
export function reducedShape(shape: Shape, dims: readonly number[], keepdim: boolean): number[] {
  const out: number[] = [];
  for (let i = 0; i < shape.length; i++) {
    if (dims.includes(i)) {
      if (keepdim) out.push(1);
    } else out.push(shape[i]!);
  }
  return out;
}
