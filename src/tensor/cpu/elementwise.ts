/**
 * CPU elementwise kernels: unary maps, broadcasting binary ops and comparisons, where().
 * Broadcasting walks the output in row-major order with per-input strides (0 on stretched
 * dims); the innermost dim runs as a tight strided loop, and the common cases (same shape,
 * scalar operand) take a flat loop.
 */
import type { BinaryOp, CompareOp, UnaryOp } from '../backend.js';
import type { TypedArray } from '../dtype.js';
import { erf, gelu, geluTanh, roundBf16, roundFp8e4m3, sigmoid, softplus } from './scalar-math.js';

export const UNARY_FN: Record<UnaryOp, (x: number) => number> = {
  neg: (x) => -x,
  exp: Math.exp,
  log: Math.log,
  sqrt: Math.sqrt,
  rsqrt: (x) => 1 / Math.sqrt(x),
  abs: Math.abs,
  tanh: Math.tanh,
  sigmoid,
  relu: (x) => (x > 0 ? x : 0),
  silu: (x) => x * sigmoid(x),
  gelu,
  geluTanh,
  softplus,
  sign: (x) => (x > 0 ? 1 : x < 0 ? -1 : 0),
  erf,
  log1p: Math.log1p,
  expm1: Math.expm1,
  sin: Math.sin,
  cos: Math.cos,
  square: (x) => x * x,
  reciprocal: (x) => 1 / x,
  roundBf16,
  roundFp8e4m3,
};

export function unaryInto(op: UnaryOp, x: TypedArray, out: TypedArray): void {
  const n = x.length;
  switch (op) {
    // The hottest maps get their own loops; the rest go through the table.
    case 'neg': for (let i = 0; i < n; i++) out[i] = -x[i]!; return;
    case 'exp': for (let i = 0; i < n; i++) out[i] = Math.exp(x[i]!); return;
    case 'relu': for (let i = 0; i < n; i++) { const v = x[i]!; out[i] = v > 0 ? v : 0; } return;
    default: {
      const f = UNARY_FN[op];
      for (let i = 0; i < n; i++) out[i] = f(x[i]!);
    }
  }
}

type Fn2 = (a: number, b: number) => number;

export const BINARY_FN: Record<BinaryOp, Fn2> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  pow: Math.pow,
  // NaN propagates, as in PyTorch.
  maximum: (a, b) => (a !== a || b !== b ? NaN : a > b ? a : b),
  minimum: (a, b) => (a !== a || b !== b ? NaN : a < b ? a : b),
};

export const COMPARE_FN: Record<CompareOp, Fn2> = {
  eq: (a, b) => (a === b ? 1 : 0),
  ne: (a, b) => (a !== b ? 1 : 0),
  gt: (a, b) => (a > b ? 1 : 0),
  ge: (a, b) => (a >= b ? 1 : 0),
  lt: (a, b) => (a < b ? 1 : 0),
  le: (a, b) => (a <= b ? 1 : 0),
};

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
export function binaryInto(
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
  stridedWalk(shape, [sa, sb], (o, len, [ia, ib], [da, db]) => {
    for (let j = 0; j < len; j++) out[o + j] = f(a[ia! + j * da!]!, b[ib! + j * db!]!);
  });
}

export function whereInto(
  c: TypedArray, a: TypedArray, b: TypedArray, out: TypedArray,
  shape: readonly number[], sc: readonly number[], sa: readonly number[], sb: readonly number[],
): void {
  if (out.length === 0) return;
  stridedWalk(shape, [sc, sa, sb], (o, len, [ic, ia, ib], [dc, da, db]) => {
    for (let j = 0; j < len; j++) {
      out[o + j] = c[ic! + j * dc!] !== 0 ? a[ia! + j * da!]! : b[ib! + j * db!]!;
    }
  });
}

/**
 * Walks a row-major output of `shape`, calling `row(outOffset, len, inOffsets, inInnerStrides)`
 * once per innermost row. Offsets of each input advance with its own strides.
 */
export function stridedWalk(
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
