/**
 * What each CPU elementwise op computes, as one scalar function per op: the definitions that
 * both versions in this folder evaluate (reference.ts through these functions, current.ts in a
 * loop per op with the same formula), and that the backend hands to the binary kernels.
 */
import type { BinaryOp, CompareOp, UnaryOp } from '../../../backend.js';
import { erf, gelu, geluTanh, roundBf16, roundFp8e4m3, sigmoid, softplus } from '../../scalar-math.js';

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

export type Fn2 = (a: number, b: number) => number;

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
