/**
 * What each WebGPU elementwise op computes, as a WGSL expression per op and dtype (and the
 * helper functions some f32 expressions use): the definitions both kernel versions in this
 * folder evaluate, so that they agree bit for bit.
 */
import type { BinaryOp, CompareOp, UnaryOp } from '../../../backend.js';

/** Helper functions some f32 expressions use; prepended to every f32 unary/binary shader. */
export const F32_LIB = `
fn sigm(x: f32) -> f32 { if (x >= 0.0) { return 1.0 / (1.0 + exp(-x)); } let e = exp(x); return e / (1.0 + e); }
// Abramowitz–Stegun 7.1.26 refined: |error| < 1.5e-7, below f32 resolution of erf near 1.
fn erf_(x: f32) -> f32 {
  let a = abs(x);
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * exp(-a * a);
  return select(-y, y, x >= 0.0);
}
fn tanh_(x: f32) -> f32 { if (abs(x) > 15.0) { return sign(x); } return tanh(x); }
fn log1p_(x: f32) -> f32 { let u = 1.0 + x; if (u == 1.0) { return x; } return log(u) * x / (u - 1.0); }
fn expm1_(x: f32) -> f32 { if (abs(x) > 0.5) { return exp(x) - 1.0; } let u = exp(x); if (u == 1.0) { return x; } return (u - 1.0) * x / log(u); }
fn bf16_(x: f32) -> f32 {
  let u = bitcast<u32>(x);
  if ((u & 0x7f800000u) == 0x7f800000u) { return x; }
  return bitcast<f32>((u + 0x7fffu + ((u >> 16u) & 1u)) & 0xffff0000u);
}
fn fp8_(x: f32) -> f32 {
  let ax = abs(x);
  if (ax == 0.0 || x != x) { return x; }
  var e = floor(log2(ax));
  if (exp2(e) > ax) { e -= 1.0; } else if (exp2(e + 1.0) <= ax) { e += 1.0; }
  let quantum = exp2(max(e, -6.0) - 3.0);
  return sign(x) * min(448.0, round(ax / quantum) * quantum);
}
fn pow_(a: f32, b: f32) -> f32 {
  if (b == 0.0) { return 1.0; }
  // Inf and NaN come from runtime arithmetic: WGSL rejects them as constants.
  if (a == 0.0) { return select(0.0, 1.0 / a, b < 0.0); }
  if (a > 0.0) { return exp2(b * log2(a)); }
  if (floor(b) != b) { return sqrt(a); }
  let m = exp2(b * log2(-a));
  return select(m, -m, (i32(abs(b)) & 1) == 1);
}
`;

export const UNARY_F32: Record<UnaryOp, string> = {
  neg: '-x', exp: 'exp(x)', log: 'log(x)', sqrt: 'sqrt(x)', rsqrt: '1.0 / sqrt(x)', abs: 'abs(x)',
  tanh: 'tanh_(x)', sigmoid: 'sigm(x)', relu: 'max(x, 0.0)', silu: 'x * sigm(x)',
  gelu: '0.5 * x * (1.0 + erf_(x * 0.70710678118654752))',
  geluTanh: '0.5 * x * (1.0 + tanh_(0.7978845608028654 * (x + 0.044715 * x * x * x)))',
  softplus: 'max(x, 0.0) + log1p_(exp(-abs(x)))', sign: 'sign(x)', erf: 'erf_(x)', log1p: 'log1p_(x)',
  expm1: 'expm1_(x)', sin: 'sin(x)', cos: 'cos(x)', square: 'x * x', reciprocal: '1.0 / x',
  roundBf16: 'bf16_(x)', roundFp8e4m3: 'fp8_(x)',
};
export const UNARY_I32: Partial<Record<UnaryOp, string>> = {
  neg: '-x', abs: 'abs(x)', sign: 'sign(x)', square: 'x * x', relu: 'max(x, 0)',
};

export const BINARY: Record<BinaryOp, [string, string | null]> = {
  // [f32 expression, i32 expression or null when not defined on ints]
  add: ['a + b', 'a + b'], sub: ['a - b', 'a - b'], mul: ['a * b', 'a * b'], div: ['a / b', null],
  pow: ['pow_(a, b)', null], maximum: ['max(a, b)', 'max(a, b)'], minimum: ['min(a, b)', 'min(a, b)'],
};
export const COMPARE: Record<CompareOp, string> = { eq: '==', ne: '!=', gt: '>', ge: '>=', lt: '<', le: '<=' };
