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
 */
import { DTypeError } from '../../errors.js';
import { Params, type WebGpuBackend, type WebGpuStorage } from '../backend.js';
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
export function rope(b: WebGpuBackend, x: WebGpuStorage, cos: WebGpuStorage, sin: WebGpuStorage, B: number, T: number, H: number, hd: number): WebGpuStorage {
  if (x.dtype !== 'f32' || cos.dtype !== 'f32' || sin.dtype !== 'f32') throw new DTypeError(`webgpu rope: f32 only, got x ${x.dtype}, tables ${cos.dtype}/${sin.dtype}`);
  const n = B * T * H * hd;
  const out = b.alloc('f32', n);
  if (n === 0) return out;
  const params = new Params().u32(n, 0, T, H, hd, hd / 2, 0, 0);
  b.run({ code: ROPE, buffers: [x, cos, sin, out], params, groups: groupsFor(n) });
  return out;
}
