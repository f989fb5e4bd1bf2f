/**
 * Elementwise WGSL kernels, generated from one table (ops.ts: unary expressions per op and
 * dtype, binary expressions, comparisons) rather than a hand file per op. Two launch shapes:
 * flat (every operand either contiguous and of the output's size, or a single broadcast
 * element) and strided (broadcasting, permute, expand) where each operand's offset comes from
 * collapsed shape/stride uniforms.
 *
 * Two versions, side by side, selected at run time by flag 'webgpu.elementwiseVersion' (tests
 * compare them bit for bit, bench/kernels/webgpu-elementwise.mjs times them): v1.ts (1:
 * one element per invocation) and current.ts (2, the default: vec4 flat path, rank-specialised
 * strided path). This module is the API the backend calls.
 */
import type { BinaryOp, CompareOp, UnaryOp } from '../../../backend.js';
import type { DType } from '../../../dtype.js';
import { DTypeError } from '../../../errors.js';
import { getFlag } from '../../../flags.js';
import { stridesOf } from '../../../shape.js';
import type { GpuContext } from '../../context.js';
import { Params } from '../../params.js';
import type { WebGpuStorage } from '../../storage.js';
import { groupsFor, main1d, shaderText, wgslType } from '../common.js';
import { launchCurrent } from './current.js';
import { BINARY, COMPARE, F32_LIB, UNARY_F32, UNARY_I32 } from './ops.js';
import { launchV1 } from './v1.js';

/**
 * Runs `expr` over operands with the given strides into a new output, with the kernel version
 * flag 'webgpu.elementwiseVersion' selects. `expr` gets each operand's element at this output
 * index; `lib` is WGSL prepended to the shader; `scalars` arrive as p.s0 and p.s1.
 */
function launch(
  b: GpuContext, key: string, inputs: WebGpuStorage[], strides: readonly (readonly number[])[], shape: readonly number[],
  outDType: DType, expr: (loads: string[]) => string, lib = '', scalars: [number, number] = [0, 0],
): WebGpuStorage {
  const run = getFlag('webgpu.elementwiseVersion') === 2 ? launchCurrent : launchV1;
  return run(b, key, inputs, strides, shape, outDType, expr, lib, scalars);
}

export function fill(b: GpuContext, size: number, value: number, dtype: DType): WebGpuStorage {
  const t = wgslType(dtype);
  const o = b.alloc(dtype, size);
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
