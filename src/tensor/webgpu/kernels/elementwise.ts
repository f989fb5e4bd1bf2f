/**
 * Elementwise WGSL kernels, generated from one table (unary expressions per op and dtype,
 * binary expressions, comparisons) rather than a hand file per op. Two launch shapes: flat
 * (all operands contiguous and of the output's size, or scalars) and strided (broadcasting,
 * permute, expand) where each operand's offset comes from collapsed shape/stride uniforms.
 */
import type { BinaryOp, CompareOp, UnaryOp } from '../../backend.js';
import type { DType } from '../../dtype.js';
import { DTypeError } from '../../errors.js';
import { sizeOf, stridesOf } from '../../shape.js';
import { Params, type WebGpuBackend, type WebGpuStorage } from '../backend.js';
import { collapse, groupsFor, main1d, offsetFn, pad8, wgslType } from './common.js';

/** Helper functions some f32 expressions use; prepended to every f32 unary/binary shader. */
const F32_LIB = `
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

const UNARY_F32: Record<UnaryOp, string> = {
  neg: '-x', exp: 'exp(x)', log: 'log(x)', sqrt: 'sqrt(x)', rsqrt: '1.0 / sqrt(x)', abs: 'abs(x)',
  tanh: 'tanh_(x)', sigmoid: 'sigm(x)', relu: 'max(x, 0.0)', silu: 'x * sigm(x)',
  gelu: '0.5 * x * (1.0 + erf_(x * 0.70710678118654752))',
  geluTanh: '0.5 * x * (1.0 + tanh_(0.7978845608028654 * (x + 0.044715 * x * x * x)))',
  softplus: 'max(x, 0.0) + log1p_(exp(-abs(x)))', sign: 'sign(x)', erf: 'erf_(x)', log1p: 'log1p_(x)',
  expm1: 'expm1_(x)', sin: 'sin(x)', cos: 'cos(x)', square: 'x * x', reciprocal: '1.0 / x',
  roundBf16: 'bf16_(x)', roundFp8e4m3: 'fp8_(x)',
};
const UNARY_I32: Partial<Record<UnaryOp, string>> = {
  neg: '-x', abs: 'abs(x)', sign: 'sign(x)', square: 'x * x', relu: 'max(x, 0)',
};

const BINARY: Record<BinaryOp, [string, string | null]> = {
  // [f32 expression, i32 expression or null when not defined on ints]
  add: ['a + b', 'a + b'], sub: ['a - b', 'a - b'], mul: ['a * b', 'a * b'], div: ['a / b', null],
  pow: ['pow_(a, b)', null], maximum: ['max(a, b)', 'max(a, b)'], minimum: ['min(a, b)', 'min(a, b)'],
};
const COMPARE: Record<CompareOp, string> = { eq: '==', ne: '!=', gt: '>', ge: '>=', lt: '<', le: '<=' };

function out(b: WebGpuBackend, dtype: DType, size: number): WebGpuStorage {
  return b.alloc(dtype, size);
}

/** Shader for out[i] = expr(in0[off0(i)], in1[off1(i)], ...) with strided operands. */
function stridedShader(inTypes: string[], outType: string, body: string, lib = ''): string {
  const k = inTypes.length;
  const st = inTypes.map((_, j) => `st${j}: array<vec4<u32>, 2>,`).join('\n  ');
  const bindings = inTypes.map((t, j) => `@group(0) @binding(${j + 1}) var<storage, read> in${j}: array<${t}>;`).join('\n');
  return `${lib}
struct Params { n: u32, rank: u32, s0: f32, s1: f32, shape: array<vec4<u32>, 2>, ${st} }
@group(0) @binding(0) var<uniform> p: Params;
${bindings}
@group(0) @binding(${k + 1}) var<storage, read_write> o: array<${outType}>;
${inTypes.map((_, j) => offsetFn(j)).join('\n')}
${main1d()}
  if (i >= p.n) { return; }
  ${body}
}`;
}

/** Shader for contiguous operands (same size as the output). */
function flatShader(inTypes: string[], outType: string, body: string, lib = ''): string {
  const k = inTypes.length;
  const bindings = inTypes.map((t, j) => `@group(0) @binding(${j + 1}) var<storage, read> in${j}: array<${t}>;`).join('\n');
  return `${lib}
struct Params { n: u32, rank: u32, s0: f32, s1: f32 }
@group(0) @binding(0) var<uniform> p: Params;
${bindings}
@group(0) @binding(${k + 1}) var<storage, read_write> o: array<${outType}>;
${main1d()}
  if (i >= p.n) { return; }
  ${body}
}`;
}

/**
 * Runs `expr` over operands with the given strides into a new output. `load(j)` in the body is
 * replaced by the operand j's element at this output index.
 */
function launch(
  b: WebGpuBackend, inputs: WebGpuStorage[], strides: readonly (readonly number[])[], shape: readonly number[],
  outDType: DType, expr: (loads: string[]) => string, lib = '', scalars: [number, number] = [0, 0],
): WebGpuStorage {
  const n = sizeOf(shape);
  const o = out(b, outDType, n);
  if (n === 0) return o;
  const inTypes = inputs.map((s) => wgslType(s.dtype));
  const outType = wgslType(outDType);
  const contiguous = stridesOf(shape);
  const flat = strides.every((st) => st.every((v, d) => v === contiguous[d] || shape[d] === 1));
  if (flat) {
    const body = `o[i] = ${outType}(${expr(inputs.map((_, j) => `in${j}[i]`))});`;
    b.run({
      code: flatShader(inTypes, outType, body, lib),
      buffers: [...inputs, o],
      params: new Params().u32(n, 0).f32(scalars[0], scalars[1]),
      groups: groupsFor(n),
    });
    return o;
  }
  const c = collapse(shape, strides);
  const body = `o[i] = ${outType}(${expr(inputs.map((_, j) => `in${j}[off${j}(i)]`))});`;
  const params = new Params().u32(n, c.shape.length).f32(scalars[0], scalars[1]).align16().u32(...pad8(c.shape, 1));
  for (const st of c.strides) params.u32(...pad8(st, 0));
  b.run({ code: stridedShader(inTypes, outType, body, lib), buffers: [...inputs, o], params, groups: groupsFor(n) });
  return o;
}

export function fill(b: WebGpuBackend, size: number, value: number, dtype: DType): WebGpuStorage {
  const t = wgslType(dtype);
  const o = out(b, dtype, size);
  if (size === 0) return o;
  const code = `struct Params { n: u32, v: ${t} }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> o: array<${t}>;
${main1d()}
  if (i >= p.n) { return; }
  o[i] = p.v;
}`;
  const params = new Params().u32(size);
  if (t === 'f32') params.f32(value);
  else params.i32(value);
  b.run({ code, buffers: [o], params, groups: groupsFor(size) });
  return o;
}

export function cast(b: WebGpuBackend, x: WebGpuStorage, dtype: DType): WebGpuStorage {
  const t = wgslType(dtype);
  wgslType(x.dtype);
  return launch(b, [x], [stridesOf([x.size])], [x.size], dtype, ([v]) => `${t}(${v})`);
}

export function unary(b: WebGpuBackend, op: UnaryOp, x: WebGpuStorage): WebGpuStorage {
  const isF = wgslType(x.dtype) === 'f32';
  const e = isF ? UNARY_F32[op] : UNARY_I32[op];
  if (e === undefined) throw new DTypeError(`${op}: not defined for i32 on webgpu`);
  return launch(b, [x], [[1]], [x.size], x.dtype, ([v]) => `u_(${v})`, `${isF ? F32_LIB : ''}
fn u_(x: ${x.dtype}) -> ${x.dtype} { return ${e}; }`);
}

export function clamp(b: WebGpuBackend, x: WebGpuStorage, lo: number, hi: number): WebGpuStorage {
  if (x.dtype === 'i32') {
    const l = Math.max(lo, -(2 ** 31));
    const h = Math.min(hi, 2 ** 31 - 1);
    return launch(b, [x], [[1]], [x.size], 'i32', ([v]) => `clamp(${v}, i32(p.s0), i32(p.s1))`, '', [l, h]);
  }
  return launch(b, [x], [[1]], [x.size], 'f32', ([v]) => `min(max(${v}, p.s0), p.s1)`, '', [lo, hi]);
}

export function binary(
  b: WebGpuBackend, op: BinaryOp, x: WebGpuStorage, y: WebGpuStorage,
  shape: readonly number[], sa: readonly number[], sb: readonly number[],
): WebGpuStorage {
  const isF = wgslType(x.dtype) === 'f32';
  const e = isF ? BINARY[op][0] : BINARY[op][1];
  if (e === null) throw new DTypeError(`${op}: not defined for i32 on webgpu`);
  const t = x.dtype;
  return launch(b, [x, y], [sa, sb], shape, t, ([u, v]) => `b_(${u}, ${v})`, `${isF ? F32_LIB : ''}
fn b_(a: ${t}, b: ${t}) -> ${t} { return ${e}; }`);
}

export function compare(
  b: WebGpuBackend, op: CompareOp, x: WebGpuStorage, y: WebGpuStorage,
  shape: readonly number[], sa: readonly number[], sb: readonly number[], outDType: DType,
): WebGpuStorage {
  return launch(b, [x, y], [sa, sb], shape, outDType, ([u, v]) => `select(0, 1, ${u} ${COMPARE[op]} ${v})`);
}

export function where(
  b: WebGpuBackend, c: WebGpuStorage, x: WebGpuStorage, y: WebGpuStorage,
  shape: readonly number[], sc: readonly number[], sa: readonly number[], sb: readonly number[],
): WebGpuStorage {
  const zero = c.dtype === 'i32' ? '0' : '0.0';
  return launch(b, [c, x, y], [sc, sa, sb], shape, x.dtype, ([cc, u, v]) => `select(${v}, ${u}, ${cc} != ${zero})`);
}

export function expand(b: WebGpuBackend, x: WebGpuStorage, outShape: readonly number[], strides: readonly number[]): WebGpuStorage {
  return launch(b, [x], [strides], outShape, x.dtype, ([v]) => v!);
}

export function permute(b: WebGpuBackend, x: WebGpuStorage, shape: readonly number[], perm: readonly number[]): WebGpuStorage {
  const st = stridesOf(shape);
  return expand(b, x, perm.map((p) => shape[p]!), perm.map((p) => st[p]!));
}
