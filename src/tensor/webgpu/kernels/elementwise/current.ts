/**
 * The WebGPU elementwise kernels, version 2 (flag 'webgpu.elementwiseVersion' = 2, the
 * default). Why it is faster than v1.ts on the software adapter (llvmpipe runs 8
 * invocations as the lanes of a vector, and a storage load is a per-lane loop whatever the
 * addresses): the flat path takes scalars as `in[0]` and moves vec4s, 4 elements per invocation
 * and per load, computing each component with the same scalar expression; the strided path is
 * specialised to the collapsed rank (unrolled, constant uniform indices) and splits the index
 * into coordinates once for all operands. Both compute every element with v1.ts's
 * expression on its inputs, so results are identical bit for bit; only how values are fetched
 * differs. The flat vec4 path may read and write up to 3 elements past the end of a buffer:
 * pool buckets are multiples of 256 bytes, so that stays inside the allocation, and nobody
 * reads an output past its size.
 */
import type { DType } from '../../../dtype.js';
import { sizeOf, stridesOf } from '../../../shape.js';
import type { GpuContext } from '../../context.js';
import { Params } from '../../params.js';
import type { WebGpuStorage } from '../../storage.js';
import { collapse, groupsFor, main1d, pad8, shaderText, wgslType } from '../common.js';

/** The flat path, 4 elements per invocation; operand j is a vec4 array, or one broadcast element. */
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
 * The strided path for a collapsed rank r (1..8): the flat index is split into coordinates
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

/** Runs `expr` over operands with the given strides into a new output (see index.ts launch). */
export function launchCurrent(
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
