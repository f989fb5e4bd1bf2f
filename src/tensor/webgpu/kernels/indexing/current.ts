/**
 * The WebGPU indexSelect and indexAdd, version 2 (flag 'webgpu.indexingVersion' = 2, the
 * default): indexSelect moves a vec4 per invocation where rows are a multiple of 4, and indexAdd
 * groups the source positions by row first (see below). The same bits as v1.ts.
 */
import type { GpuContext } from '../../context.js';
import { Params } from '../../params.js';
import type { WebGpuStorage } from '../../storage.js';
import { groupsFor, main1d, shaderText, wgslType } from '../common.js';
import { fill as fillNew } from '../elementwise/index.js';

/**
 * indexSelect with inner % 4 == 0 (embedding rows, the MoE layer's gathered expert weights):
 * one invocation moves a vec4, a quarter of the storage loads (llvmpipe pays per load, per lane).
 * The same bits land in the same places as v1.ts's INDEX_SELECT.
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

/** indexSelect for inner % 4 == 0, one vec4 per invocation (see index.ts indexSelect). */
export function indexSelectVec4(
  b: GpuContext, x: WebGpuStorage, index: WebGpuStorage, outer: number, n: number, inner: number, m: number,
): WebGpuStorage {
  const total = outer * m * inner;
  const o = b.alloc(x.dtype, total);
  if (total === 0) return o;
  const t4 = total / 4;
  b.run({ code: INDEX_SELECT_VEC4, buffers: [x, index, o], params: new Params().u32(t4, n, inner / 4, m), groups: groupsFor(t4) });
  return o;
}

/*
 * indexAdd v2: the same sums in the same order, without scanning every source position for
 * every output element. The positions j are first grouped by their row (a CSR list: for each
 * row r the j with index[j] == r, ascending), then each output element (o, r, c) adds only its
 * own row's sources: acc = 0, acc += src[o, j, c] for its j in ascending order. Every element
 * receives exactly v1.ts's additions in its order, so the two agree bit for bit.
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
 * Out-of-range indices belong to no row, so they add nothing (as in v1.ts).
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
 * (see above). `budget` (loop iterations per dispatch) is lowered only by tests, to exercise
 * the chunking with small inputs.
 */
export function indexAddV2(
  b: GpuContext, src: WebGpuStorage, index: WebGpuStorage, outer: number, n: number, inner: number, m: number,
  budget = IA_BUDGET,
): WebGpuStorage {
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
