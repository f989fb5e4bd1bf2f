/**
 * The CPU elementwise reference: what current.ts is tested against bit for bit
 * (test/tensor/cpu/elementwise.test.ts) and benchmarked beside (bench/kernels/elementwise.mjs).
 * Broadcasting walks the output in row-major order through a per-row callback, and every
 * element goes through the op's scalar function (ops.ts): simple and obviously right, and slow
 * on broadcast operands. Tests and benchmarks only; not part of the published package.
 */
import type { UnaryOp } from '../../../backend.js';
import type { TypedArray } from '../../../dtype.js';
import { BINARY_FN, UNARY_FN } from './ops.js';

type Fn2 = (a: number, b: number) => number;

export function unaryIntoV1(op: UnaryOp, x: TypedArray, out: TypedArray): void {
  const n = x.length;
  switch (op) {
    case 'neg': for (let i = 0; i < n; i++) out[i] = -x[i]!; return;
    case 'exp': for (let i = 0; i < n; i++) out[i] = Math.exp(x[i]!); return;
    case 'relu': for (let i = 0; i < n; i++) { const v = x[i]!; out[i] = v > 0 ? v : 0; } return;
    default: {
      const f = UNARY_FN[op];
      for (let i = 0; i < n; i++) out[i] = f(x[i]!);
    }
  }
}

function allEq(s: readonly number[], v: number): boolean {
  for (const x of s) if (x !== v) return false;
  return true;
}

function isContiguous(shape: readonly number[], strides: readonly number[]): boolean {
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && strides[i] !== acc) return false;
    acc *= shape[i]!;
  }
  return true;
}

/** out[idx] = f(a[idx·sa], b[idx·sb]) over the broadcast output shape. */
export function binaryIntoV1(
  f: Fn2, a: TypedArray, b: TypedArray, out: TypedArray,
  shape: readonly number[], sa: readonly number[], sb: readonly number[],
): void {
  const n = out.length;
  if (n === 0) return;
  const aFull = isContiguous(shape, sa);
  const bFull = isContiguous(shape, sb);
  if (aFull && bFull) {
    // The arithmetic that optimisers and residual streams run most gets monomorphic loops.
    if (f === BINARY_FN.add) for (let i = 0; i < n; i++) out[i] = a[i]! + b[i]!;
    else if (f === BINARY_FN.sub) for (let i = 0; i < n; i++) out[i] = a[i]! - b[i]!;
    else if (f === BINARY_FN.mul) for (let i = 0; i < n; i++) out[i] = a[i]! * b[i]!;
    else if (f === BINARY_FN.div) for (let i = 0; i < n; i++) out[i] = a[i]! / b[i]!;
    else for (let i = 0; i < n; i++) out[i] = f(a[i]!, b[i]!);
    return;
  }
  if (aFull && allEq(sb, 0)) {
    const bv = b[0]!;
    if (f === BINARY_FN.add) for (let i = 0; i < n; i++) out[i] = a[i]! + bv;
    else if (f === BINARY_FN.sub) for (let i = 0; i < n; i++) out[i] = a[i]! - bv;
    else if (f === BINARY_FN.mul) for (let i = 0; i < n; i++) out[i] = a[i]! * bv;
    else if (f === BINARY_FN.div) for (let i = 0; i < n; i++) out[i] = a[i]! / bv;
    else for (let i = 0; i < n; i++) out[i] = f(a[i]!, bv);
    return;
  }
  if (bFull && allEq(sa, 0)) {
    const av = a[0]!;
    for (let i = 0; i < n; i++) out[i] = f(av, b[i]!);
    return;
  }
  stridedWalkV1(shape, [sa, sb], (o, len, [ia, ib], [da, db]) => {
    for (let j = 0; j < len; j++) out[o + j] = f(a[ia! + j * da!]!, b[ib! + j * db!]!);
  });
}

export function whereIntoV1(
  c: TypedArray, a: TypedArray, b: TypedArray, out: TypedArray,
  shape: readonly number[], sc: readonly number[], sa: readonly number[], sb: readonly number[],
): void {
  if (out.length === 0) return;
  stridedWalkV1(shape, [sc, sa, sb], (o, len, [ic, ia, ib], [dc, da, db]) => {
    for (let j = 0; j < len; j++) {
      out[o + j] = c[ic! + j * dc!] !== 0 ? a[ia! + j * da!]! : b[ib! + j * db!]!;
    }
  });
}

/**
 * Walks a row-major output of `shape`, calling `row(outOffset, len, inOffsets, inInnerStrides)`
 * once per innermost row. Offsets of each input advance with its own strides.
 */
export function stridedWalkV1(
  shape: readonly number[],
  strides: readonly (readonly number[])[],
  row: (outOffset: number, len: number, offs: number[], inner: number[]) => void,
): void {
  const rank = shape.length;
  const k = strides.length;
  if (rank === 0) {
    row(0, 1, new Array(k).fill(0), new Array(k).fill(0));
    return;
  }
  const len = shape[rank - 1]!;
  const inner = strides.map((s) => s[rank - 1]!);
  const rows = len === 0 ? 0 : sizeOfPrefix(shape, rank - 1);
  const idx = new Array<number>(rank - 1).fill(0);
  const offs = new Array<number>(k).fill(0);
  for (let r = 0; r < rows; r++) {
    row(r * len, len, offs, inner);
    // increment the multi-index over the leading dims, updating offsets incrementally
    for (let d = rank - 2; d >= 0; d--) {
      idx[d]!++;
      for (let t = 0; t < k; t++) offs[t]! += strides[t]![d]!;
      if (idx[d]! < shape[d]!) break;
      for (let t = 0; t < k; t++) offs[t]! -= strides[t]![d]! * shape[d]!;
      idx[d] = 0;
    }
  }
}

function sizeOfPrefix(shape: readonly number[], n: number): number {
  let s = 1;
  for (let i = 0; i < n; i++) s *= shape[i]!;
  return s;
}

/**
 * FP8 E4M3 rounding as its definition reads (Math.log2 and 2 ** e per element): the reference
 * the fast scalar roundFp8e4m3 (scalar-math.ts) is tested against on every kind of input.
 */
export function roundFp8e4m3Reference(x: number): number {
  if (Number.isNaN(x)) return x;
  const ax = Math.abs(x);
  if (ax === 0) return x;
  let e = Math.floor(Math.log2(ax));
  if (2 ** e > ax) e--;
  else if (2 ** (e + 1) <= ax) e++;
  const quantum = 2 ** (Math.max(e, -6) - 3);
  const q = ax / quantum;
  let r = Math.round(q);
  if (r - q === 0.5 && r % 2 === 1) r--;
  return Math.sign(x) * Math.min(448, r * quantum);
}
