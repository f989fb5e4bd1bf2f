/**
 * Fused kernels for the inference engine's decode step on WebGPU. On the software adapter a
 * decode step is ~250 tiny dispatches, each costing 30–80 µs of fixed overhead whatever its
 * size, so a chain of elementwise ops on a few thousand numbers costs its dispatch count, not
 * its arithmetic. These kernels replace such chains with one dispatch each.
 *
 * Each must be bit-identical to the composed ops it replaces (their results are what the
 * trainer computes, and the `exact` profile promises μ == π bit for bit): every intermediate is
 * one f32 operation rounded to f32, in the composed order. Products that feed an addition pass
 * through `r()`, an XOR with a uniform that is always 0, so a compiler cannot contract them
 * into a fused multiply-add (the same barrier as kernels/optim.ts). The composed versions stay
 * the reference: test/tensor/webgpu/fused.test.ts compares them bit for bit.
 *
 * rope: the HF "rotate half" rotary embedding of src/nn/attention.ts applyRope,
 *   out = x·cos + rotate_half(x)·sin,   rotate_half([x1, x2]) = [−x2, x1]
 * reading x in the projection's [B, T, H, hd] layout and writing [B, H, T, hd], so the heads
 * transpose that precedes applyRope is folded in as well (composed: transpose, slice, slice,
 * neg, cat, mul, mul, add: up to 8 dispatches).
 *
 * rmsNorm: y = x · rsqrt(mean(x², −1) + ε) · g of src/nn/layers.ts (composed: square, sum,
 * mul by 1/d, add ε, rsqrt, mul, mul: 7 dispatches). One invocation per row, the sum of the
 * rounded squares accumulated in f32 from +0 in index order, exactly as kernels/reduce.ts's sum
 * does it; 1/d and ε arrive rounded to f32, as the composed ops' scalar constants do.
 * addRmsNorm also writes s = x + r first and normalises s (a residual add and the next norm,
 * as every transformer block has them: 8 dispatches become 1).
 *
 * decodeAttention: one query per sequence (decode) against its cached keys and values,
 *   o = softmax(q·Kᵀ / scale) · V
 * (composed: matmul, div, softmax, matmul: 4 dispatches). One invocation per (batch, head) row.
 * The dot products accumulate `acc += a * b` in index order from 0, as the matmul kernel does
 * (kernels/matmul.ts: no barrier there either, so whatever the compiler does with that
 * statement it does in both; the bitwise test checks it on the adapter at hand); the softmax
 * follows kernels/reduce.ts's (max pass with NaN first, exp(x − m) stored and summed, scaled by
 * 1 / Σ).
 *
 * appendKV: the KV cache's growth, cat([oldK, k], 2) and cat([oldV, v], 2), as one dispatch
 * instead of four block copies (pure copies: the same bits by construction).
 *
 * weightedRows: the MoE output mix Σ_j rows[t, j, :] · w[t, j] (composed: mul, then sum over j,
 * which kernels/reduce.ts accumulates in f32 from 0 in index order): 2 dispatches become 1.
 *
 * siluMul: SwiGLU's silu(g)·u with elementwise.ts's silu expression (x · sigm(x), the same
 * branch-stable sigmoid), the product rounded before the second multiply: 2 dispatches become 1.
 *
 * chosenExperts: the MoE block for decode-sized batches. The 'dense' dispatch runs every expert
 * on every token (moe-small: 16 experts for 2 chosen, 8× the work; the three expert matmuls were
 * most of a decode step) and then gathers the chosen rows. Here one kernel computes, for each
 * token's k chosen experts only, h = silu(x·Wgᵀ)·(x·Wuᵀ) reading the experts' weights in place,
 * and a second computes Σ_j w_j · (h_j·Wdᵀ): 2 dispatches instead of 8, and no unused rows.
 * Every output element is a dot product accumulated `acc += a * b` in index order from 0, as
 * the matmul kernel computes the same row (no barrier, as there), and the rest follows siluMul
 * and weightedRows, so the values are the dense dispatch's bit for bit (tested).
 */
import { DTypeError } from '../../errors.js';
import type { GpuContext } from '../context.js';
import { Params } from '../params.js';
import type { WebGpuStorage } from '../storage.js';
import { groupsFor, main1d } from './common.js';

const ROPE = `struct Params { n: u32, zero: u32, T: u32, H: u32, hd: u32, half: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> C: array<f32>;
@group(0) @binding(3) var<storage, read> S: array<f32>;
@group(0) @binding(4) var<storage, read_write> O: array<f32>;
// A rounding point the compiler cannot remove: p.zero is 0 at run time.
fn r(x: f32) -> f32 { return bitcast<f32>(bitcast<u32>(x) ^ p.zero); }
${main1d()}
  if (i >= p.n) { return; }
  // i indexes the output [B, H, T, hd]
  let j = i % p.hd;
  let t = (i / p.hd) % p.T;
  let bh = i / (p.hd * p.T);
  let h = bh % p.H;
  let b = bh / p.H;
  let row = ((b * p.T + t) * p.H + h) * p.hd; // the same head row in x [B, T, H, hd]
  var rot: f32;
  if (j < p.half) { rot = -X[row + j + p.half]; } else { rot = X[row + j - p.half]; }
  let tj = t * p.hd + j;
  O[i] = r(X[row + j] * C[tj]) + r(rot * S[tj]);
}`;

/**
 * RoPE of x [B, T, H, hd] (f32) with tables cos, sin [T, hd]; returns [B, H, T, hd], the values
 * of applyRope(transpose(x, 1, 2)) bit for bit.
 */
export function rope(b: GpuContext, x: WebGpuStorage, cos: WebGpuStorage, sin: WebGpuStorage, B: number, T: number, H: number, hd: number): WebGpuStorage {
  if (x.dtype !== 'f32' || cos.dtype !== 'f32' || sin.dtype !== 'f32') throw new DTypeError(`webgpu rope: f32 only, got x ${x.dtype}, tables ${cos.dtype}/${sin.dtype}`);
  const n = B * T * H * hd;
  const out = b.alloc('f32', n);
  if (n === 0) return out;
  const params = new Params().u32(n, 0, T, H, hd, hd / 2, 0, 0);
  b.run({ code: ROPE, buffers: [x, cos, sin, out], params, groups: groupsFor(n) });
  return out;
}

const rmsNormCode = (add: boolean) => `struct Params { rows: u32, d: u32, zero: u32, pad: u32, invD: f32, eps: f32, pad1: f32, pad2: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> G: array<f32>;
@group(0) @binding(3) var<storage, read_write> Y: array<f32>;${add ? `
@group(0) @binding(4) var<storage, read> R: array<f32>;
@group(0) @binding(5) var<storage, read_write> S: array<f32>;` : ''}
fn r(x: f32) -> f32 { return bitcast<f32>(bitcast<u32>(x) ^ p.zero); }
fn xs(k: u32) -> f32 { return ${add ? 'r(X[k] + R[k])' : 'X[k]'}; }
${main1d()}
  if (i >= p.rows) { return; }
  let base = i * p.d;
  var acc = f32(0);
  for (var j = 0u; j < p.d; j++) { let v = xs(base + j); ${add ? 'S[base + j] = v; ' : ''}acc += r(v * v); }
  let inv = r(1.0 / sqrt(r(r(acc * p.invD) + p.eps)));
  for (var j = 0u; j < p.d; j++) { Y[base + j] = r(r(xs(base + j) * inv) * G[j]); }
}`;
const RMSNORM = rmsNormCode(false);
const ADD_RMSNORM = rmsNormCode(true);

/** Rows longer than this take the composed path (llvmpipe stops an invocation's loops after 65535 iterations in all). */
export const RMSNORM_MAX_DIM = 16384;

/** RMSNorm of x [rows, d] with gain g [d] (f32), the composed ops' values bit for bit. */
export function rmsNorm(b: GpuContext, x: WebGpuStorage, g: WebGpuStorage, rows: number, d: number, eps: number): WebGpuStorage {
  if (x.dtype !== 'f32' || g.dtype !== 'f32') throw new DTypeError(`webgpu rmsNorm: f32 only, got x ${x.dtype}, weight ${g.dtype}`);
  if (d > RMSNORM_MAX_DIM) throw new DTypeError(`webgpu rmsNorm: rows of ${d} exceed the fused kernel's ${RMSNORM_MAX_DIM}`);
  const out = b.alloc('f32', rows * d);
  if (rows * d === 0) return out;
  const params = new Params().u32(rows, d, 0, 0).f32(1 / d, eps, 0, 0);
  b.run({ code: RMSNORM, buffers: [x, g, out], params, groups: groupsFor(rows) });
  return out;
}

/** s = x + r and RMSNorm(s) with gain g, for x, r [rows, d] (f32): the composed add and rmsNorm's values bit for bit. */
export function addRmsNorm(
  b: GpuContext, x: WebGpuStorage, r: WebGpuStorage, g: WebGpuStorage, rows: number, d: number, eps: number,
): [WebGpuStorage, WebGpuStorage] {
  if (x.dtype !== 'f32' || r.dtype !== 'f32' || g.dtype !== 'f32') throw new DTypeError(`webgpu addRmsNorm: f32 only, got ${x.dtype}, ${r.dtype}, ${g.dtype}`);
  if (d > RMSNORM_MAX_DIM) throw new DTypeError(`webgpu addRmsNorm: rows of ${d} exceed the fused kernel's ${RMSNORM_MAX_DIM}`);
  const sum = b.alloc('f32', rows * d);
  const out = b.alloc('f32', rows * d);
  if (rows * d === 0) return [sum, out];
  const params = new Params().u32(rows, d, 0, 0).f32(1 / d, eps, 0, 0);
  b.run({ code: ADD_RMSNORM, buffers: [x, g, out, r, sum], params, groups: groupsFor(rows) });
  return [sum, out];
}

const DECODE_ATTN = `struct Params { rows: u32, Tk: u32, hd: u32, zero: u32, scale: f32, ninf: f32, pad0: f32, pad1: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> Q: array<f32>;
@group(0) @binding(2) var<storage, read> K: array<f32>;
@group(0) @binding(3) var<storage, read> V: array<f32>;
@group(0) @binding(4) var<storage, read_write> P: array<f32>;
@group(0) @binding(5) var<storage, read_write> O: array<f32>;
fn isNan(v: f32) -> bool { return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u; }
${main1d()}
  if (i >= p.rows) { return; }
  let q0 = i * p.hd;
  let kv = i * p.Tk * p.hd;
  let pr = i * p.Tk;
  for (var j = 0u; j < p.Tk; j++) {
    var acc = 0.0;
    for (var d = 0u; d < p.hd; d++) { acc += Q[q0 + d] * K[kv + j * p.hd + d]; }
    P[pr + j] = acc / p.scale;
  }
  var m = p.ninf;
  for (var j = 0u; j < p.Tk; j++) {
    let v = P[pr + j];
    if (isNan(v)) { m = v; break; }
    if (v > m) { m = v; }
  }
  var sum = 0.0;
  for (var j = 0u; j < p.Tk; j++) { let e = exp(P[pr + j] - m); P[pr + j] = e; sum += e; }
  let inv = 1.0 / sum;
  for (var j = 0u; j < p.Tk; j++) { P[pr + j] = P[pr + j] * inv; }
  for (var d = 0u; d < p.hd; d++) {
    var acc = 0.0;
    for (var j = 0u; j < p.Tk; j++) { acc += P[pr + j] * V[kv + j * p.hd + d]; }
    O[q0 + d] = acc;
  }
}`;

/** decodeAttention runs one row per invocation, within this many loop iterations (llvmpipe stops an invocation's loops after 65535). */
export const DECODE_ATTENTION_MAX_ITERATIONS = 60000;

/** Loop iterations one decodeAttention invocation runs (llvmpipe stops an invocation's loops after 65535). */
export function decodeAttentionIterations(Tk: number, hd: number): number {
  return 2 * Tk * hd + 4 * Tk + 2 * hd;
}

/**
 * softmax(q·Kᵀ / scale)·V for q [rows, hd] (one query per batch-head row), K and V
 * [rows, Tk, hd] (f32); returns o [rows, hd], the composed ops' values bit for bit.
 */
export function decodeAttention(b: GpuContext, q: WebGpuStorage, k: WebGpuStorage, v: WebGpuStorage, rows: number, Tk: number, hd: number, scale: number): WebGpuStorage {
  if (q.dtype !== 'f32' || k.dtype !== 'f32' || v.dtype !== 'f32') throw new DTypeError('webgpu decodeAttention: f32 only');
  if (decodeAttentionIterations(Tk, hd) > DECODE_ATTENTION_MAX_ITERATIONS) throw new DTypeError(`webgpu decodeAttention: ${Tk} keys of ${hd} exceed the kernel's loop budget`);
  const out = b.alloc('f32', rows * hd);
  if (rows * hd === 0) return out;
  const probs = b.alloc('f32', rows * Tk);
  const params = new Params().u32(rows, Tk, hd, 0).f32(scale, -Infinity, 0, 0);
  b.run({ code: DECODE_ATTN, buffers: [q, k, v, probs, out], params, groups: groupsFor(rows) });
  b.dispose(probs);
  return out;
}

const APPEND_KV = `struct Params { n: u32, past: u32, t: u32, hd: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> K0: array<f32>;
@group(0) @binding(2) var<storage, read> K1: array<f32>;
@group(0) @binding(3) var<storage, read> V0: array<f32>;
@group(0) @binding(4) var<storage, read> V1: array<f32>;
@group(0) @binding(5) var<storage, read_write> KO: array<f32>;
@group(0) @binding(6) var<storage, read_write> VO: array<f32>;
${main1d()}
  if (i >= p.n) { return; }
  let len = p.past + p.t;
  let d = i % p.hd;
  let pos = (i / p.hd) % len;
  let row = i / (p.hd * len);
  if (pos < p.past) {
    let k = (row * p.past + pos) * p.hd + d;
    KO[i] = K0[k];
    VO[i] = V0[k];
  } else {
    let k = (row * p.t + pos - p.past) * p.hd + d;
    KO[i] = K1[k];
    VO[i] = V1[k];
  }
}`;

/** [cat(k0, k1), cat(v0, v1)] along the position axis, for k0, v0 [rows, past, hd] and k1, v1 [rows, t, hd] (f32). */
export function appendKV(
  b: GpuContext, k0: WebGpuStorage, k1: WebGpuStorage, v0: WebGpuStorage, v1: WebGpuStorage, rows: number, past: number, t: number, hd: number,
): [WebGpuStorage, WebGpuStorage] {
  for (const x of [k0, k1, v0, v1]) if (x.dtype !== 'f32') throw new DTypeError(`webgpu appendKV: f32 only, got ${x.dtype}`);
  const n = rows * (past + t) * hd;
  const ko = b.alloc('f32', n);
  const vo = b.alloc('f32', n);
  if (n === 0) return [ko, vo];
  b.run({ code: APPEND_KV, buffers: [k0, k1, v0, v1, ko, vo], params: new Params().u32(n, past, t, hd), groups: groupsFor(n) });
  return [ko, vo];
}

const WEIGHTED_ROWS = `struct Params { n: u32, k: u32, d: u32, zero: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> W: array<f32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;
fn r(x: f32) -> f32 { return bitcast<f32>(bitcast<u32>(x) ^ p.zero); }
${main1d()}
  if (i >= p.n) { return; }
  let t = i / p.d;
  let c = i % p.d;
  var acc = 0.0;
  for (var j = 0u; j < p.k; j++) { acc += r(X[(t * p.k + j) * p.d + c] * W[t * p.k + j]); }
  O[i] = acc;
}`;

/** Σ_j x[t, j, :]·w[t, j] for x [n, k, d] and w [n, k] (f32); returns [n, d], the composed mul and sum's bits. */
export function weightedRows(b: GpuContext, x: WebGpuStorage, w: WebGpuStorage, n: number, k: number, d: number): WebGpuStorage {
  if (x.dtype !== 'f32' || w.dtype !== 'f32') throw new DTypeError(`webgpu weightedRows: f32 only, got ${x.dtype}, ${w.dtype}`);
  const out = b.alloc('f32', n * d);
  if (n * d === 0) return out;
  b.run({ code: WEIGHTED_ROWS, buffers: [x, w, out], params: new Params().u32(n * d, k, d, 0), groups: groupsFor(n * d) });
  return out;
}

const SILU_MUL = `struct Params { n: u32, zero: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> G: array<f32>;
@group(0) @binding(2) var<storage, read> U: array<f32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;
fn r(x: f32) -> f32 { return bitcast<f32>(bitcast<u32>(x) ^ p.zero); }
fn sigm(x: f32) -> f32 { if (x >= 0.0) { return 1.0 / (1.0 + exp(-x)); } let e = exp(x); return e / (1.0 + e); }
${main1d()}
  if (i >= p.n) { return; }
  let g = G[i];
  O[i] = r(g * sigm(g)) * U[i];
}`;

/** silu(g)·u elementwise (same shapes, f32), the composed silu and mul's bits. */
export function siluMul(b: GpuContext, g: WebGpuStorage, u: WebGpuStorage): WebGpuStorage {
  if (g.dtype !== 'f32' || u.dtype !== 'f32') throw new DTypeError(`webgpu siluMul: f32 only, got ${g.dtype}, ${u.dtype}`);
  const n = g.size;
  const out = b.alloc('f32', n);
  if (n === 0) return out;
  b.run({ code: SILU_MUL, buffers: [g, u, out], params: new Params().u32(n, 0, 0, 0), groups: groupsFor(n) });
  return out;
}

const EXPERTS_UP = `struct Params { n4: u32, k: u32, d4: u32, h: u32, zero: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> X: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> IDS: array<i32>;
@group(0) @binding(3) var<storage, read> WG: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> WU: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> H: array<f32>;
fn r(x: f32) -> f32 { return bitcast<f32>(bitcast<u32>(x) ^ p.zero); }
fn sigm(x: f32) -> f32 { if (x >= 0.0) { return 1.0 / (1.0 + exp(-x)); } let e = exp(x); return e / (1.0 + e); }
${main1d()}
  if (i >= p.n4) { return; }
  // i = (row, o4): row = t·k + j, outputs o = 4·o4 .. 4·o4 + 3 of that row
  let h4 = p.h / 4u;
  let row = i / h4;
  let o0 = (i % h4) * 4u;
  let t = row / p.k;
  let e = u32(IDS[row]);
  var g = vec4<f32>(0.0);
  var u = vec4<f32>(0.0);
  for (var q = 0u; q < p.d4; q++) {
    let xv = X[t * p.d4 + q];
    for (var o = 0u; o < 4u; o++) {
      let w = (e * p.h + o0 + o) * p.d4 + q;
      let a = WG[w];
      let b = WU[w];
      var ga = g[o];
      ga += xv.x * a.x; ga += xv.y * a.y; ga += xv.z * a.z; ga += xv.w * a.w;
      g[o] = ga;
      var ua = u[o];
      ua += xv.x * b.x; ua += xv.y * b.y; ua += xv.z * b.z; ua += xv.w * b.w;
      u[o] = ua;
    }
  }
  for (var o = 0u; o < 4u; o++) { let gv = g[o]; H[row * p.h + o0 + o] = r(gv * sigm(gv)) * u[o]; }
}`;

const EXPERTS_DOWN = `struct Params { n4: u32, k: u32, h4: u32, d: u32, zero: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> H: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> IDS: array<i32>;
@group(0) @binding(3) var<storage, read> WD: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> GW: array<f32>;
@group(0) @binding(5) var<storage, read_write> O: array<f32>;
fn r(x: f32) -> f32 { return bitcast<f32>(bitcast<u32>(x) ^ p.zero); }
${main1d()}
  if (i >= p.n4) { return; }
  let d4 = p.d / 4u;
  let t = i / d4;
  let c0 = (i % d4) * 4u;
  var out = vec4<f32>(0.0);
  for (var j = 0u; j < p.k; j++) {
    let row = t * p.k + j;
    let e = u32(IDS[row]);
    var y = vec4<f32>(0.0);
    for (var q = 0u; q < p.h4; q++) {
      let hv = H[row * p.h4 + q];
      for (var o = 0u; o < 4u; o++) {
        let a = WD[(e * p.d + c0 + o) * p.h4 + q];
        var ya = y[o];
        ya += hv.x * a.x; ya += hv.y * a.y; ya += hv.z * a.z; ya += hv.w * a.w;
        y[o] = ya;
      }
    }
    let w = GW[row];
    for (var o = 0u; o < 4u; o++) { out[o] = out[o] + r(y[o] * w); }
  }
  for (var o = 0u; o < 4u; o++) { O[t * p.d + c0 + o] = out[o]; }
}`;

/** Whether chosenExperts takes these sizes (vec4 rows; llvmpipe's loop budget per invocation). */
export function chosenExpertsFits(k: number, d: number, h: number): boolean {
  return d % 4 === 0 && h % 4 === 0 && 4 * (d / 4) <= 60000 && k * 4 * (h / 4) + k <= 60000;
}

/**
 * Σ_j w[t, j] · SwiGLU_{ids[t, j]}(x[t]) for x [n, d], ids [n, k] (i32), weights wg, wu
 * [E, h, d] and wd [E, d, h], gate weights gw [n, k] (f32); returns [n, d], the dense
 * dispatch's values (run every expert, gather the chosen rows, mix) bit for bit.
 */
export function chosenExperts(
  b: GpuContext, x: WebGpuStorage, ids: WebGpuStorage, wg: WebGpuStorage, wu: WebGpuStorage, wd: WebGpuStorage, gw: WebGpuStorage,
  n: number, k: number, d: number, h: number,
): WebGpuStorage {
  for (const t of [x, wg, wu, wd, gw]) if (t.dtype !== 'f32') throw new DTypeError(`webgpu chosenExperts: f32 only, got ${t.dtype}`);
  if (ids.dtype !== 'i32') throw new DTypeError(`webgpu chosenExperts: ids must be i32, got ${ids.dtype}`);
  if (!chosenExpertsFits(k, d, h)) throw new DTypeError(`webgpu chosenExperts: sizes d ${d}, h ${h}, k ${k} do not fit the kernel`);
  const out = b.alloc('f32', n * d);
  if (n * d === 0) return out;
  const hid = b.alloc('f32', n * k * h);
  const up = n * k * (h / 4);
  b.run({ code: EXPERTS_UP, buffers: [x, ids, wg, wu, hid], params: new Params().u32(up, k, d / 4, h, 0, 0, 0, 0), groups: groupsFor(up) });
  const down = n * (d / 4);
  b.run({ code: EXPERTS_DOWN, buffers: [hid, ids, wd, gw, out], params: new Params().u32(down, k, h / 4, d, 0, 0, 0, 0), groups: groupsFor(down) });
  b.dispose(hid);
  return out;
}
