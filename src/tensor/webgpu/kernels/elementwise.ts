/**
 * Elementwise WGSL kernels, generated from one table (unary expressions per op and dtype,
 * binary expressions, comparisons) rather than a hand file per op. Two launch shapes: flat
 * (every operand either contiguous and of the output's size, or a single broadcast element)
 * and strided (broadcasting, permute, expand) where each operand's offset comes from collapsed
 * shape/stride uniforms.
 *
 * Two versions, side by side (flag 'webgpu.elementwiseVersion'; tests compare them bit for bit, and
 * bench/kernels/webgpu-elementwise.mjs times them):
 *  - v1: one element per invocation. Flat only when every operand has the output's size (a
 *    scalar operand, e.g. the 0-d tensor behind `x.mul(0.9)`, takes the strided path); the
 *    strided path walks the rank in a loop, with a div and a mod per dim per operand.
 *  - v2: why it is faster on the software adapter (llvmpipe runs 8 invocations as the lanes of
 *    a vector, and a storage load is a per-lane loop whatever the addresses): the flat path
 *    takes scalars as `in[0]` and moves vec4s, 4 elements per invocation and per load, computing
 *    each component with the same scalar expression as v1; the strided path is specialised to
 *    the collapsed rank (unrolled, constant uniform indices) and splits the index into
 *    coordinates once for all operands. Both compute every element with v1's expression on
 *    v1's inputs, so results are identical bit for bit; only how values are fetched differs.
 *    The flat vec4 path may read and write up to 3 elements past the end of a buffer: pool
 *    buckets are multiples of 256 bytes, so that stays inside the allocation, and nobody reads
 *    an output past its size.
 */
import type { BinaryOp, CompareOp, UnaryOp } from '../../backend.js';
import type { DType } from '../../dtype.js';
import { DTypeError } from '../../errors.js';
import { getFlag } from '../../flags.js';
import { sizeOf, stridesOf } from '../../shape.js';
import type { GpuContext } from '../context.js';
import { Params } from '../params.js';
import type { WebGpuStorage } from '../storage.js';
import { collapse, groupsFor, main1d, offsetFn, pad8, shaderText, wgslType } from './common.js';

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

function out(b: GpuContext, dtype: DType, size: number): WebGpuStorage {
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

/** v2: the flat path, 4 elements per invocation; operand j is a vec4 array, or one broadcast element. */
function flatVec4Shader(inTypes: string[], scalarOperand: boolean[], outType: string, expr: (loads: string[]) => string, lib: string): string {
  const k = inTypes.length;
  const bindings = inTypes.map((t, j) => `@group(0) @binding(${j + 1}) var<storage, read> in${j}: array<vec4<${t}>>;`).join('\n');
  const loads = inTypes.map((_, j) => (scalarOperand[j] ? `  let s${j} = in${j}[0].x;` : `  let v${j} = in${j}[i];`)).join('\n');
  const comp = ['x', 'y', 'z', 'w'].map((c) => `${outType}(${expr(inTypes.map((_, j) => (scalarOperand[j] ? `s${j}` : `v${j}.${c}`)))})`);
  return `${lib}
struct Params { n: u32, rank: u32, s0: f32, s1: f32 }
@group(0) @binding(0) var<uniform> p: Params;
${bindings}
@group(0) @binding(${k + 1}) var<storage, read_write> o: array<vec4<${outType}>>;
${main1d()}
  if (i >= p.n) { return; }
${loads}
  o[i] = vec4<${outType}>(${comp.join(', ')});
}`;
}

/**
 * v2: the strided path for a collapsed rank r (1..8): the flat index is split into coordinates
 * once (r − 1 divisions, constant uniform indices), each operand's offset is Σ c_d · st_j[d].
 * With `vec` (the innermost dim a multiple of 4, every operand's innermost stride 0 or 1, and the
 * other strides of stride-1 operands multiples of 4) an invocation takes 4 consecutive elements
 * along the innermost dim: a stride-1 operand is loaded as one vec4, a stride-0 one as one
 * scalar for all four (a bias row, a per-row scale).
 */
function stridedRankShader(
  inTypes: string[], outType: string, rank: number, expr: (loads: string[]) => string, lib: string, vec: boolean[] | null,
): string {
  const k = inTypes.length;
  const st = inTypes.map((_, j) => `st${j}: array<vec4<u32>, 2>,`).join('\n  ');
  const bindings = inTypes.map((t, j) => `@group(0) @binding(${j + 1}) var<storage, read> in${j}: array<${vec?.[j] ? `vec4<${t}>` : t}>;`).join('\n');
  const u = (d: number) => `[${d >> 2}][${d & 3}]`;
  const L: string[] = ['  var rem = i;'];
  // Under `vec`, the innermost coordinate counts vec4s: its extent is shape/4, its element index 4·c.
  const last = rank - 1;
  const ext = (d: number) => (vec && d === last ? `(p.shape${u(d)} / 4u)` : `p.shape${u(d)}`);
  for (let d = rank - 1; d >= 1; d--) L.push(`  let c${d} = rem % ${ext(d)};`, `  rem = rem / ${ext(d)};`);
  L.push('  let c0 = rem;');
  const coord = (d: number) => (vec && d === last ? `(c${d} * 4u)` : `c${d}`);
  const offs = inTypes.map((_, j) => Array.from({ length: rank }, (_, d) => `${coord(d)} * p.st${j}${u(d)}`).join(' + '));
  if (!vec) {
    return `${lib}
struct Params { n: u32, rank: u32, s0: f32, s1: f32, shape: array<vec4<u32>, 2>, ${st} }
@group(0) @binding(0) var<uniform> p: Params;
${bindings}
@group(0) @binding(${k + 1}) var<storage, read_write> o: array<${outType}>;
${main1d()}
  if (i >= p.n) { return; }
${L.join('\n')}
  o[i] = ${outType}(${expr(inTypes.map((_, j) => `in${j}[${offs[j]}]`))});
}`;
  }
  const loads = inTypes.map((_, j) => (vec[j] ? `  let v${j} = in${j}[(${offs[j]}) / 4u];` : `  let s${j} = in${j}[${offs[j]}];`)).join('\n');
  const comp = ['x', 'y', 'z', 'w'].map((c) => `${outType}(${expr(inTypes.map((_, j) => (vec[j] ? `v${j}.${c}` : `s${j}`)))})`);
  return `${lib}
struct Params { n: u32, rank: u32, s0: f32, s1: f32, shape: array<vec4<u32>, 2>, ${st} }
@group(0) @binding(0) var<uniform> p: Params;
${bindings}
@group(0) @binding(${k + 1}) var<storage, read_write> o: array<vec4<${outType}>>;
${main1d()}
  if (i >= p.n) { return; }
${L.join('\n')}
${loads}
  o[i] = vec4<${outType}>(${comp.join(', ')});
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
  b: GpuContext, key: string, inputs: WebGpuStorage[], strides: readonly (readonly number[])[], shape: readonly number[],
  outDType: DType, expr: (loads: string[]) => string, lib = '', scalars: [number, number] = [0, 0],
): WebGpuStorage {
  const n = sizeOf(shape);
  const o = out(b, outDType, n);
  if (n === 0) return o;
  const inTypes = inputs.map((s) => wgslType(s.dtype));
  const outType = wgslType(outDType);
  const contiguous = stridesOf(shape);
  const full = strides.map((st) => st.every((v, d) => v === contiguous[d] || shape[d] === 1));
  if (getFlag('webgpu.elementwiseVersion') === 2) {
    const scalar = strides.map((st, j) => !full[j] && st.every((v, d) => v === 0 || shape[d] === 1));
    if (full.every((f, j) => f || scalar[j])) {
      const n4 = Math.ceil(n / 4);
      b.run({
        code: shaderText(`${key}|v4|${inTypes}|${outType}|${scalar.map(Number).join('')}`, () => flatVec4Shader(inTypes, scalar, outType, expr, lib)),
        buffers: [...inputs, o],
        params: new Params().u32(n4, 0).f32(scalars[0], scalars[1]),
        groups: groupsFor(n4),
      });
      return o;
    }
    const c = collapse(shape, strides);
    const rank = Math.max(1, c.shape.length); // padded dims are size 1, stride 0
    const lastN = c.shape[rank - 1] ?? 1;
    const inner = c.strides.map((st) => st[rank - 1] ?? 0);
    const canVec = lastN % 4 === 0 && inner.every((v) => v === 0 || v === 1) &&
      c.strides.every((st, j) => inner[j] === 0 || st.slice(0, rank - 1).every((v) => v % 4 === 0));
    const vec = canVec ? inner.map((v) => v === 1) : null;
    const count = vec ? n / 4 : n;
    const params = new Params().u32(count, c.shape.length).f32(scalars[0], scalars[1]).align16().u32(...pad8(c.shape, 1));
    for (const st of c.strides) params.u32(...pad8(st, 0));
    const code = shaderText(`${key}|r${rank}|${inTypes}|${outType}|${vec ? vec.map(Number).join('') : '-'}`, () => stridedRankShader(inTypes, outType, rank, expr, lib, vec));
    b.run({ code, buffers: [...inputs, o], params, groups: groupsFor(count) });
    return o;
  }
  if (full.every((f) => f)) {
    const body = `o[i] = ${outType}(${expr(inputs.map((_, j) => `in${j}[i]`))});`;
    b.run({
      code: shaderText(`${key}|v1flat|${inTypes}|${outType}`, () => flatShader(inTypes, outType, body, lib)),
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
  b.run({ code: shaderText(`${key}|v1strided|${inTypes}|${outType}`, () => stridedShader(inTypes, outType, body, lib)), buffers: [...inputs, o], params, groups: groupsFor(n) });
  return o;
}

export function fill(b: GpuContext, size: number, value: number, dtype: DType): WebGpuStorage {
  const t = wgslType(dtype);
  const o = out(b, dtype, size);
  if (size === 0) return o;
  const code = shaderText(`fill|${t}`, () => `struct Params { n: u32, v: ${t} }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> o: array<${t}>;
${main1d()}
  if (i >= p.n) { return; }
  o[i] = p.v;
}`);
  const params = new Params().u32(size);
  if (t === 'f32') params.f32(value);
  else params.i32(value);
  b.run({ code, buffers: [o], params, groups: groupsFor(size) });
  return o;
}

export function cast(b: GpuContext, x: WebGpuStorage, dtype: DType): WebGpuStorage {
  const t = wgslType(dtype);
  wgslType(x.dtype);
  return launch(b, `cast|${t}`, [x], [stridesOf([x.size])], [x.size], dtype, ([v]) => `${t}(${v})`);
}

export function unary(b: GpuContext, op: UnaryOp, x: WebGpuStorage): WebGpuStorage {
  const isF = wgslType(x.dtype) === 'f32';
  const e = isF ? UNARY_F32[op] : UNARY_I32[op];
  if (e === undefined) throw new DTypeError(`${op}: not defined for i32 on webgpu`);
  return launch(b, `unary|${op}|${x.dtype}`, [x], [[1]], [x.size], x.dtype, ([v]) => `u_(${v})`, `${isF ? F32_LIB : ''}
fn u_(x: ${x.dtype}) -> ${x.dtype} { return ${e}; }`);
}

export function clamp(b: GpuContext, x: WebGpuStorage, lo: number, hi: number): WebGpuStorage {
  if (x.dtype === 'i32') {
    const l = Math.max(lo, -(2 ** 31));
    const h = Math.min(hi, 2 ** 31 - 1);
    return launch(b, 'clamp|i32', [x], [[1]], [x.size], 'i32', ([v]) => `clamp(${v}, i32(p.s0), i32(p.s1))`, '', [l, h]);
  }
  return launch(b, 'clamp|f32', [x], [[1]], [x.size], 'f32', ([v]) => `min(max(${v}, p.s0), p.s1)`, '', [lo, hi]);
}

export function binary(
  b: GpuContext, op: BinaryOp, x: WebGpuStorage, y: WebGpuStorage,
  shape: readonly number[], sa: readonly number[], sb: readonly number[],
): WebGpuStorage {
  const isF = wgslType(x.dtype) === 'f32';
  const e = isF ? BINARY[op][0] : BINARY[op][1];
  if (e === null) throw new DTypeError(`${op}: not defined for i32 on webgpu`);
  const t = x.dtype;
  return launch(b, `binary|${op}|${t}`, [x, y], [sa, sb], shape, t, ([u, v]) => `b_(${u}, ${v})`, `${isF ? F32_LIB : ''}
fn b_(a: ${t}, b: ${t}) -> ${t} { return ${e}; }`);
}

export function compare(
  b: GpuContext, op: CompareOp, x: WebGpuStorage, y: WebGpuStorage,
  shape: readonly number[], sa: readonly number[], sb: readonly number[], outDType: DType,
): WebGpuStorage {
  return launch(b, `compare|${op}`, [x, y], [sa, sb], shape, outDType, ([u, v]) => `select(0, 1, ${u} ${COMPARE[op]} ${v})`);
}

export function where(
  b: GpuContext, c: WebGpuStorage, x: WebGpuStorage, y: WebGpuStorage,
  shape: readonly number[], sc: readonly number[], sa: readonly number[], sb: readonly number[],
): WebGpuStorage {
  const zero = c.dtype === 'i32' ? '0' : '0.0';
  return launch(b, `where|${zero}`, [c, x, y], [sc, sa, sb], shape, x.dtype, ([cc, u, v]) => `select(${v}, ${u}, ${cc} != ${zero})`);
}

export function expand(b: GpuContext, x: WebGpuStorage, outShape: readonly number[], strides: readonly number[]): WebGpuStorage {
  return launch(b, 'copy', [x], [strides], outShape, x.dtype, ([v]) => v!);
}

export function permute(b: GpuContext, x: WebGpuStorage, shape: readonly number[], perm: readonly number[]): WebGpuStorage {
  const st = stridesOf(shape);
  return expand(b, x, perm.map((p) => shape[p]!), perm.map((p) => st[p]!));
}
