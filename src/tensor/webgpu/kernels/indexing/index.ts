/**
 * WebGPU data-movement kernels along one axis: slice, concat, gather / scatterAdd, and
 * indexSelect / indexAdd (embedding rows and their gradient). Semantics are those of the
 * Backend interface (../../../backend.ts) and the CPU kernels (../../../cpu/kernels/indexing/current.ts).
 *
 * Shapes are [outer, n, inner] with the axis in the middle, and go in the uniform Params, so the
 * whole family compiles to at most seven shaders:
 *  - copy (slice and every concat input), gather and indexSelect move bits, not numbers: their
 *    buffers are declared `array<u32>`, so one shader serves f32 and i32 and copies are bit-exact
 *    (NaN payloads and -0 included);
 *  - scatterAdd and indexAdd add, so they have one shader per dtype (f32, i32).
 *
 * No atomics (WGSL has no atomic float add). scatterAdd and indexAdd run one invocation per
 * OUTPUT element, which loops over the m source positions in order j = 0..m-1 and adds those
 * whose index hits it. That is O(outer·n·inner·m) work instead of O(outer·m·inner), which is
 * fine at our sizes: the embedding gradient of moe-small's 64×128 table over 2048 tokens is
 * 16.8M cheap iterations, ~19 ms on the llvmpipe software adapter; gather's gradient over
 * [2048, 64] with m = 1 takes ~0.8 ms. In exchange the result is deterministic and equal to the
 * CPU's: each output element receives its additions in the CPU's order (base first, then j
 * ascending), so f32 sums agree bit for bit (short of a device flushing subnormals), and no
 * element depends on how many others are in the batch.
 *
 * Indices are validated on the CPU by the op layer when they live there; indices that live on
 * the GPU cannot be checked without a read-back, so the kernels make an out-of-range index
 * harmless instead of reading or writing out of bounds: gather and indexSelect produce 0 (all
 * bits zero: 0.0 or 0) for it, and scatterAdd and indexAdd skip it (it adds nothing anywhere).
 */
import type { DType } from '../../../dtype.js';
import { getFlag } from '../../../flags.js';
import type { GpuContext } from '../../context.js';
import { Params } from '../../params.js';
import type { WebGpuStorage } from '../../storage.js';
import { groupsFor, main1d, shaderText, wgslType } from '../common.js';
import { indexAddV2, indexSelectVec4 } from './current.js';
import { indexAddV1, indexSelectScalar } from './v1.js';


/** Bit-moving kernels accept either GPU dtype; this only rejects f64 with the usual message. */
function checkData(dtype: DType): void {
  wgslType(dtype);
}

/**
 * For r in [0, rows), c in [0, w): o[r·dstRow + dstOff + c] = x[r·srcRow + srcOff + c].
 * Slice is one call; concat is one call per input (each writes its own columns of the output),
 * so the shader and its binding count are the same whatever the number of inputs.
 */
const COPY = `struct Params { total: u32, w: u32, srcRow: u32, srcOff: u32, dstRow: u32, dstOff: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<u32>;
@group(0) @binding(2) var<storage, read_write> o: array<u32>;
${main1d()}
  if (i >= p.total) { return; }
  let r = i / p.w;
  let c = i % p.w;
  o[r * p.dstRow + p.dstOff + c] = x[r * p.srcRow + p.srcOff + c];
}`;

function copyBlocks(
  b: GpuContext, x: WebGpuStorage, o: WebGpuStorage,
  rows: number, w: number, srcRow: number, srcOff: number, dstRow: number, dstOff: number,
): void {
  const total = rows * w;
  if (total === 0) return;
  b.run({
    code: COPY,
    buffers: [x, o],
    params: new Params().u32(total, w, srcRow, srcOff, dstRow, dstOff),
    groups: groupsFor(total),
  });
}

/** out[o, j, i] = x[o, start + j, i] for j < len. */
export function slice(
  b: GpuContext, x: WebGpuStorage, outer: number, n: number, inner: number, start: number, len: number,
): WebGpuStorage {
  checkData(x.dtype);
  const o = b.alloc(x.dtype, outer * len * inner);
  copyBlocks(b, x, o, outer, len * inner, n * inner, start * inner, len * inner, 0);
  return o;
}

/** Concatenation along the middle axis: input t (of [outer, ns[t], inner]) lands at offset Σ ns[<t]. */
export function concat(
  b: GpuContext, xs: readonly WebGpuStorage[], ns: readonly number[], outer: number, inner: number,
): WebGpuStorage {
  const dtype = xs[0]!.dtype;
  checkData(dtype);
  const total = ns.reduce((p, q) => p + q, 0);
  const o = b.alloc(dtype, outer * total * inner);
  let at = 0;
  xs.forEach((x, t) => {
    const n = ns[t]!;
    copyBlocks(b, x, o, outer, n * inner, n * inner, 0, total * inner, at * inner);
    at += n;
  });
  return o;
}

const GATHER = `struct Params { total: u32, n: u32, inner: u32, m: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<u32>;
@group(0) @binding(2) var<storage, read> idx: array<i32>;
@group(0) @binding(3) var<storage, read_write> o: array<u32>;
${main1d()}
  if (i >= p.total) { return; }
  let k = bitcast<u32>(idx[i]);  // a negative index becomes >= 2^31, so one test covers both ends
  if (k >= p.n) { o[i] = 0u; return; }
  let c = i % p.inner;
  let oo = i / (p.m * p.inner);
  o[i] = x[(oo * p.n + k) * p.inner + c];
}`;

/** out[o, j, i] = x[o, index[o, j, i], i]; index is [outer, m, inner]. Out-of-range index → 0. */
export function gather(
  b: GpuContext, x: WebGpuStorage, index: WebGpuStorage, outer: number, n: number, inner: number, m: number,
): WebGpuStorage {
  checkData(x.dtype);
  const total = outer * m * inner;
  const o = b.alloc(x.dtype, total);
  if (total === 0) return o;
  b.run({ code: GATHER, buffers: [x, index, o], params: new Params().u32(total, n, inner, m), groups: groupsFor(total) });
  return o;
}

/**
 * One invocation per output element (o, r, c) of [outer, n, inner]: acc = base[o, r, c], then for
 * j = 0..m-1 in order, acc += src[o, j, c] where index[o, j, c] == r. An index outside [0, n)
 * equals no r, so it is skipped.
 */
/**
 * Mesa's llvmpipe silently stops an invocation's loops after 65535 iterations in total, so the
 * m source positions are walked in chunks; a later chunk resumes from the partial sums the
 * previous one wrote, so the additions per element stay in order j = 0..m-1.
 */
const M_CHUNK = 32768;

function scatterAddShader(t: 'f32' | 'i32'): string {
  return `struct Params { total: u32, n: u32, inner: u32, m: u32, j0: u32, j1: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> base: array<${t}>;
@group(0) @binding(2) var<storage, read> idx: array<i32>;
@group(0) @binding(3) var<storage, read> src: array<${t}>;
@group(0) @binding(4) var<storage, read_write> o: array<${t}>;
${main1d()}
  if (i >= p.total) { return; }
  let c = i % p.inner;
  let r = i32((i / p.inner) % p.n);
  let oo = i / (p.n * p.inner);
  var acc = select(base[i], o[i], p.j0 > 0u);
  let s0 = oo * p.m * p.inner + c;
  for (var j = p.j0; j < p.j1; j++) {
    let s = s0 + j * p.inner;
    if (idx[s] == r) { acc += src[s]; }
  }
  o[i] = acc;
}`;
}

/** out = base; out[o, index[o, j, i], i] += src[o, j, i] (index and src are [outer, m, inner]). */
export function scatterAdd(
  b: GpuContext, base: WebGpuStorage, index: WebGpuStorage, src: WebGpuStorage,
  outer: number, n: number, inner: number, m: number,
): WebGpuStorage {
  const t = wgslType(base.dtype);
  const total = outer * n * inner;
  const o = b.alloc(base.dtype, total);
  if (total === 0) return o;
  for (let j0 = 0; j0 < Math.max(m, 1); j0 += M_CHUNK) {
    b.run({
      code: shaderText(`scatterAdd|${t}`, () => scatterAddShader(t)),
      buffers: [base, index, src, o],
      params: new Params().u32(total, n, inner, m, j0, Math.min(m, j0 + M_CHUNK)),
      groups: groupsFor(total),
    });
  }
  return o;
}

/**
 * out[o, j, i] = x[o, index[j], i] with a 1-D index of length m. Out-of-range index → 0. Rows of
 * a multiple of 4 take the vec4 kernel (current.ts) unless flag 'webgpu.indexingVersion' is 1.
 */
export function indexSelect(
  b: GpuContext, x: WebGpuStorage, index: WebGpuStorage, outer: number, n: number, inner: number, m: number,
): WebGpuStorage {
  checkData(x.dtype);
  if (inner % 4 === 0 && getFlag('webgpu.indexingVersion') === 2) return indexSelectVec4(b, x, index, outer, n, inner, m);
  return indexSelectScalar(b, x, index, outer, n, inner, m);
}

/**
 * out [outer, n, inner] zeros; out[o, index[j], i] += src[o, j, i] with a 1-D index of length m:
 * current.ts's kernel (v2), or v1.ts's (v1) under flag 'webgpu.indexingVersion' = 1; the
 * same bits. `budget` (v2's loop iterations per dispatch) is lowered only by tests.
 */
export function indexAdd(
  b: GpuContext, src: WebGpuStorage, index: WebGpuStorage, outer: number, n: number, inner: number, m: number, budget?: number,
): WebGpuStorage {
  if (getFlag('webgpu.indexingVersion') === 1) return indexAddV1(b, src, index, outer, n, inner, m);
  return indexAddV2(b, src, index, outer, n, inner, m, budget);
}
