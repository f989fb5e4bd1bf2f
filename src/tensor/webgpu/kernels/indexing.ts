/**
 * WebGPU data-movement kernels along one axis: slice, concat, gather / scatterAdd, and
 * indexSelect / indexAdd (embedding rows and their gradient). Semantics are those of the
 * Backend interface (../../backend.ts) and the CPU reference (../../cpu/indexing.ts).
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
import type { DType } from '../../dtype.js';
import { getFlag } from '../../flags.js';
import type { GpuContext } from '../context.js';
import { Params } from '../params.js';
import type { WebGpuStorage } from '../storage.js';
import { groupsFor, main1d, shaderText, wgslType } from './common.js';
import { fill as fillNew } from './elementwise.js';


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

/**
 * indexSelect with inner % 4 == 0 (embedding rows, the MoE layer's gathered expert weights):
 * one invocation moves a vec4, a quarter of the storage loads (llvmpipe pays per load, per lane).
 * The same bits land in the same places as INDEX_SELECT.
 */
const INDEX_SELECT_VEC4 = `struct Params { total: u32, n: u32, inner: u32, m: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read> idx: array<i32>;
@group(0) @binding(3) var<storage, read_write> o: array<vec4<u32>>;
${main1d()}
  if (i >= p.total) { return; }
  let c = i % p.inner;
  let j = (i / p.inner) % p.m;
  let oo = i / (p.m * p.inner);
  let k = bitcast<u32>(idx[j]);
  if (k >= p.n) { o[i] = vec4<u32>(0u); return; }
  o[i] = x[(oo * p.n + k) * p.inner + c];
}`;

/** out[o, j, i] = x[o, index[j], i] with a 1-D index of length m. Out-of-range index → 0. */
export function indexSelect(
  b: GpuContext, x: WebGpuStorage, index: WebGpuStorage, outer: number, n: number, inner: number, m: number,
): WebGpuStorage {
  checkData(x.dtype);
  const total = outer * m * inner;
  const o = b.alloc(x.dtype, total);
  if (total === 0) return o;
  if (inner % 4 === 0 && getFlag('webgpu.indexingVersion') === 2) {
    const t4 = total / 4;
    b.run({ code: INDEX_SELECT_VEC4, buffers: [x, index, o], params: new Params().u32(t4, n, inner / 4, m), groups: groupsFor(t4) });
    return o;
  }
  b.run({ code: INDEX_SELECT, buffers: [x, index, o], params: new Params().u32(total, n, inner, m), groups: groupsFor(total) });
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
 * indexAdd v1 (the reference, kept beside v2 for tests and bench/kernels/index-add.mjs): one
 * invocation per output element (o, r, c) of [outer, n, inner]: acc = 0, then for j = 0..m-1 in
 * order, acc += src[o, j, c] where index[j] == r (out-of-range indices skipped). O(outer·n·inner·m):
 * in moe-small's dense expert dispatch (n = E·N = 8192 rows, inner 128, m = N·k = 1024) that was
 * 1.07G iterations per layer, about 60% of a WebGPU training step.
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

/*
 * indexAdd v2: the same sums in the same order, without scanning every source position for
 * every output element. The positions j are first grouped by their row (a CSR list: for each
 * row r the j with index[j] == r, ascending), then each output element (o, r, c) adds only its
 * own row's sources: acc = 0, acc += src[o, j, c] for its j in ascending order. Every element
 * receives exactly v1's additions in v1's order, so the two agree bit for bit.
 *
 * Building the list costs O(min(n, m)·m) cheap integer compares, by whichever is smaller:
 *  - by position (m ≤ n): invocation j counts the earlier positions with its index (its rank in
 *    its row) and whether a later one exists; the last position of a row writes the row's count.
 *  - by row (n < m): invocation r counts the positions with index r, then (after the offsets are
 *    known) walks them again and writes them out in order.
 * Row offsets are an exclusive prefix sum of the counts (one invocation; n is a table size).
 * Every loop is walked in chunks of at most IA_BUDGET iterations per dispatch (llvmpipe's 65535
 * limit), with its running state in a scratch buffer; the accumulation likewise walks a row's
 * list in chunks of IA_BUDGET, ⌈m / IA_BUDGET⌉ dispatches, a later one continuing from the stored sum.
 * Out-of-range indices belong to no row, so they add nothing (as in v1).
 */
const IA_BUDGET = 32768;

const IA_PARAMS = `struct Params { n: u32, m: u32, inner: u32, total: u32, a0: u32, a1: u32 }
@group(0) @binding(0) var<uniform> p: Params;`;

/** By position: rank[j] = #{j' < j: idx[j'] = idx[j]}; later[j] = any j' > j with it; cnt[row] at the last. */
const IA_RANK = `${IA_PARAMS}
@group(0) @binding(1) var<storage, read> idx: array<i32>;
@group(0) @binding(2) var<storage, read_write> rank: array<i32>;
@group(0) @binding(3) var<storage, read_write> later: array<i32>;
@group(0) @binding(4) var<storage, read_write> cnt: array<i32>;
${main1d()}
  if (i >= p.m) { return; }
  let key = idx[i];
  if (bitcast<u32>(key) >= p.n) { return; }
  var r = 0;
  var l = 0;
  if (p.a0 > 0u) { r = rank[i]; l = later[i]; }
  for (var j = p.a0; j < p.a1; j++) {
    if (idx[j] == key) {
      if (j < i) { r++; } else if (j > i) { l = 1; }
    }
  }
  rank[i] = r;
  later[i] = l;
  if (p.a1 == p.m && l == 0) { cnt[u32(key)] = r + 1; }
}`;

/** By row: cnt[r] = #{j: idx[j] = r}, over positions [a0, a1). */
const IA_COUNT = `${IA_PARAMS}
@group(0) @binding(1) var<storage, read> idx: array<i32>;
@group(0) @binding(2) var<storage, read_write> cnt: array<i32>;
${main1d()}
  if (i >= p.n) { return; }
  let r = i32(i);
  var c = 0;
  if (p.a0 > 0u) { c = cnt[i]; }
  for (var j = p.a0; j < p.a1; j++) { c += select(0, 1, idx[j] == r); }
  cnt[i] = c;
}`;

/** off[r] = Σ cnt[r' < r], one invocation over rows [a0, a1), the carry in off[n]. */
const IA_SCAN = `${IA_PARAMS}
@group(0) @binding(1) var<storage, read> cnt: array<i32>;
@group(0) @binding(2) var<storage, read_write> off: array<i32>;
@compute @workgroup_size(1)
fn main() {
  var acc = 0;
  if (p.a0 > 0u) { acc = off[p.n]; }
  for (var r = p.a0; r < p.a1; r++) { off[r] = acc; acc += cnt[r]; }
  off[p.n] = acc;
}`;

/** By position: list[off[idx[j]] + rank[j]] = j. */
const IA_PLACE = `${IA_PARAMS}
@group(0) @binding(1) var<storage, read> idx: array<i32>;
@group(0) @binding(2) var<storage, read> rank: array<i32>;
@group(0) @binding(3) var<storage, read> off: array<i32>;
@group(0) @binding(4) var<storage, read_write> list: array<i32>;
${main1d()}
  if (i >= p.m) { return; }
  let key = idx[i];
  if (bitcast<u32>(key) >= p.n) { return; }
  list[off[u32(key)] + rank[i]] = i32(i);
}`;

/** By row: row r writes its positions in order from off[r]; fill[r] carries the count written. */
const IA_FILL = `${IA_PARAMS}
@group(0) @binding(1) var<storage, read> idx: array<i32>;
@group(0) @binding(2) var<storage, read> off: array<i32>;
@group(0) @binding(3) var<storage, read_write> fill: array<i32>;
@group(0) @binding(4) var<storage, read_write> list: array<i32>;
${main1d()}
  if (i >= p.n) { return; }
  let r = i32(i);
  var c = 0;
  if (p.a0 > 0u) { c = fill[i]; }
  let o = off[i];
  for (var j = p.a0; j < p.a1; j++) {
    if (idx[j] == r) { list[o + c] = i32(j); c++; }
  }
  fill[i] = c;
}`;

/**
 * Output element (o, r, c): its row's list entries [a0, a1) in order, continuing from o[i] when
 * a0 > 0. With `vec` (inner % 4 == 0; the uniforms then count vec4s) an invocation owns 4
 * consecutive columns and loads vec4s: each component still adds the same values in the same
 * order, so the bits are those of the scalar kernel.
 */
function iaAccumulate(t: 'f32' | 'i32', vec: boolean): string {
  const T = vec ? `vec4<${t}>` : t;
  return `${IA_PARAMS}
@group(0) @binding(1) var<storage, read> src: array<${T}>;
@group(0) @binding(2) var<storage, read> off: array<i32>;
@group(0) @binding(3) var<storage, read> list: array<i32>;
@group(0) @binding(4) var<storage, read_write> o: array<${T}>;
${main1d()}
  if (i >= p.total) { return; }
  let c = i % p.inner;
  let r = (i / p.inner) % p.n;
  let oo = i / (p.n * p.inner);
  var acc = select(${T}(0), o[i], p.a0 > 0u);
  let start = u32(off[r]);
  let len = u32(off[r + 1u]) - start;
  let s0 = oo * p.m * p.inner + c;
  let e = min(len, p.a1);
  for (var q = p.a0; q < e; q++) {
    acc += src[s0 + u32(list[start + q]) * p.inner];
  }
  o[i] = acc;
}`;
}

/** Chunks [a0, a1) of [0, len) of at most `budget` (one empty chunk when len is 0). */
function chunks(len: number, budget: number): [number, number][] {
  const out: [number, number][] = [];
  for (let a = 0; a < Math.max(len, 1); a += budget) out.push([a, Math.min(len, a + budget)]);
  return out;
}

/**
 * out [outer, n, inner] zeros; out[o, index[j], i] += src[o, j, i] with a 1-D index of length m
 * (v2; see above). `budget` (loop iterations per dispatch) is lowered only by tests, to exercise
 * the chunking with small inputs.
 */
export function indexAdd(
  b: GpuContext, src: WebGpuStorage, index: WebGpuStorage, outer: number, n: number, inner: number, m: number,
  budget = IA_BUDGET,
): WebGpuStorage {
  if (getFlag('webgpu.indexingVersion') === 1) return indexAddV1(b, src, index, outer, n, inner, m);
  const chunks_ = (len: number) => chunks(len, budget);
  const t = wgslType(src.dtype);
  const total = outer * n * inner;
  if (total === 0 || m === 0) return (total === 0 ? b.alloc(src.dtype, 0) : (b.full(total, 0, src.dtype) as WebGpuStorage));
  const params = (a0: number, a1: number) => new Params().u32(n, m, inner, total, a0, a1);
  const off = b.alloc('i32', n + 1);
  const list = b.alloc('i32', m);
  const scratch: WebGpuStorage[] = [];
  if (m <= n) {
    const cnt = fillNew(b, n, 0, 'i32'); // written below: not b.full, which may share a constant
    const rank = b.alloc('i32', m);
    const later = b.alloc('i32', m);
    for (const [a0, a1] of chunks_(m)) b.run({ code: IA_RANK, buffers: [index, rank, later, cnt], params: params(a0, a1), groups: groupsFor(m) });
    for (const [a0, a1] of chunks_(n)) b.run({ code: IA_SCAN, buffers: [cnt, off], params: params(a0, a1), groups: 1 });
    b.run({ code: IA_PLACE, buffers: [index, rank, off, list], params: params(0, m), groups: groupsFor(m) });
    scratch.push(cnt, rank, later);
  } else {
    const cnt = b.alloc('i32', n);
    const fill = b.alloc('i32', n);
    for (const [a0, a1] of chunks_(m)) b.run({ code: IA_COUNT, buffers: [index, cnt], params: params(a0, a1), groups: groupsFor(n) });
    for (const [a0, a1] of chunks_(n)) b.run({ code: IA_SCAN, buffers: [cnt, off], params: params(a0, a1), groups: 1 });
    for (const [a0, a1] of chunks_(m)) b.run({ code: IA_FILL, buffers: [index, off, fill, list], params: params(a0, a1), groups: groupsFor(n) });
    scratch.push(cnt, fill);
  }
  const o = b.alloc(src.dtype, total);
  const vec = inner % 4 === 0;
  const [inner4, total4] = vec ? [inner / 4, total / 4] : [inner, total];
  for (const [a0, a1] of chunks_(m)) {
    b.run({
      code: shaderText(`iaAccumulate|${t}|${vec}`, () => iaAccumulate(t, vec)),
      buffers: [src, off, list, o],
      params: new Params().u32(n, m, inner4, total4, a0, a1),
      groups: groupsFor(total4),
    });
  }
  for (const s of [...scratch, off, list]) b.dispose(s);
  return o;
}
