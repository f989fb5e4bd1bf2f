/**
 * The WebGPU elementwise kernels, version 1 (flag 'webgpu.elementwiseVersion' = 1): one element
 * per invocation. Flat only when every operand has the output's size (a scalar operand, e.g.
 * the 0-d tensor behind `x.mul(0.9)`, takes the strided path); the strided path walks the rank
 * in a loop, with a div and a mod per dim per operand. current.ts computes the same elements
 * with the same expressions, faster; tests compare the two bit for bit. It ships because the
 * flag can select it at run time.
 */
import type { DType } from '../../../dtype.js';
import { sizeOf, stridesOf } from '../../../shape.js';
import type { GpuContext } from '../../context.js';
import { Params } from '../../params.js';
import type { WebGpuStorage } from '../../storage.js';
import { collapse, groupsFor, main1d, offsetFn, pad8, shaderText, wgslType } from '../common.js';

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

/** Runs `expr` over operands with the given strides into a new output (see index.ts launch). */
export function launchV1(
  b: GpuContext, key: string, inputs: WebGpuStorage[], strides: readonly (readonly number[])[], shape: readonly number[],
  outDType: DType, expr: (loads: string[]) => string, lib: string, scalars: [number, number],
): WebGpuStorage {
  const n = sizeOf(shape);
  const o = b.alloc(outDType, n);
  if (n === 0) return o;
  const inTypes = inputs.map((s) => wgslType(s.dtype));
  const outType = wgslType(outDType);
  const contiguous = stridesOf(shape);
  const full = strides.map((st) => st.every((v, d) => v === contiguous[d] || shape[d] === 1));
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
