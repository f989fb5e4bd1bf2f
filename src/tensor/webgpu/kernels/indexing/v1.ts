/**
 * The WebGPU indexSelect and indexAdd, version 1 (flag 'webgpu.indexingVersion' = 1): indexSelect
 * moves one element per invocation; indexAdd has each output element scan every source position
 * (see below). current.ts computes the same bits faster; test/tensor/webgpu/index-add.test.ts and
 * bench/kernels/webgpu-index-add.mjs compare the two. It ships because the flag can select it at
 * run time.
 */
import type { GpuContext } from '../../context.js';
import { Params } from '../../params.js';
import type { WebGpuStorage } from '../../storage.js';
import { groupsFor, main1d, shaderText, wgslType } from '../common.js';

/** Source positions one indexAdd dispatch walks (llvmpipe stops an invocation's loops after 65535 iterations). */
const M_CHUNK = 32768;

const INDEX_SELECT = `struct Params { total: u32, n: u32, inner: u32, m: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<u32>;
@group(0) @binding(2) var<storage, read> idx: array<i32>;
@group(0) @binding(3) var<storage, read_write> o: array<u32>;
${main1d()}
  if (i >= p.total) { return; }
  let c = i % p.inner;
  let j = (i / p.inner) % p.m;
  let oo = i / (p.m * p.inner);
  let k = bitcast<u32>(idx[j]);
  if (k >= p.n) { o[i] = 0u; return; }
  o[i] = x[(oo * p.n + k) * p.inner + c];
}`;

/** indexSelect, one element per invocation (see index.ts indexSelect). */
export function indexSelectScalar(
  b: GpuContext, x: WebGpuStorage, index: WebGpuStorage, outer: number, n: number, inner: number, m: number,
): WebGpuStorage {
  const total = outer * m * inner;
  const o = b.alloc(x.dtype, total);
  if (total === 0) return o;
  b.run({ code: INDEX_SELECT, buffers: [x, index, o], params: new Params().u32(total, n, inner, m), groups: groupsFor(total) });
  return o;
}

/**
 * indexAdd v1: one invocation per output element (o, r, c) of [outer, n, inner]: acc = 0, then for j = 0..m-1 in
 * order, acc += src[o, j, c] where index[j] == r (out-of-range indices skipped). O(outer·n·inner·m):
 * in moe-small's dense expert dispatch (n = E·N = 8192 rows, inner 128, m = N·k = 1024) that is
 * 1.07G iterations per layer, about 60% of a WebGPU training step under this version.
 */
function indexAddShader(t: 'f32' | 'i32'): string {
  return `struct Params { total: u32, n: u32, inner: u32, m: u32, j0: u32, j1: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<${t}>;
@group(0) @binding(2) var<storage, read> idx: array<i32>;
@group(0) @binding(3) var<storage, read_write> o: array<${t}>;
${main1d()}
  if (i >= p.total) { return; }
  let c = i % p.inner;
  let r = i32((i / p.inner) % p.n);
  let oo = i / (p.n * p.inner);
  var acc = select(${t}(0), o[i], p.j0 > 0u);
  let s0 = oo * p.m * p.inner + c;
  for (var j = p.j0; j < p.j1; j++) {
    if (idx[j] == r) { acc += src[s0 + j * p.inner]; }
  }
  o[i] = acc;
}`;
}

/** v1: out [outer, n, inner] zeros; out[o, index[j], i] += src[o, j, i] (see indexAddShader). */
export function indexAddV1(
  b: GpuContext, src: WebGpuStorage, index: WebGpuStorage, outer: number, n: number, inner: number, m: number,
): WebGpuStorage {
  const t = wgslType(src.dtype);
  const total = outer * n * inner;
  const o = b.alloc(src.dtype, total);
  if (total === 0) return o;
  for (let j0 = 0; j0 < Math.max(m, 1); j0 += M_CHUNK) {
    b.run({
      code: shaderText(`indexAddV1|${t}`, () => indexAddShader(t)),
      buffers: [src, index, o],
      params: new Params().u32(total, n, inner, m, j0, Math.min(m, j0 + M_CHUNK)),
      groups: groupsFor(total),
    });
  }
  return o;
}
