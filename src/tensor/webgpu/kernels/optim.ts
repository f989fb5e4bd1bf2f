/**
 * The AdamW update as one WebGPU kernel. Composed from tensor ops (src/nn/optim.ts
 * adamwUpdateComposed, the reference), a step is 14 elementwise dispatches per parameter, each
 * reading and writing parameter-sized buffers; moe-small's 6.3 M parameters made that about a
 * third of a WebGPU training step. This kernel reads p, g, m, v once and writes the new p, m, v
 * once, 4 elements per invocation (vec4 loads: llvmpipe pays per load, per lane).
 *
 * It must be bit-identical to the composed ops, which compute every intermediate as one f32
 * operation rounded to f32 in its own dispatch, with scalar operands rounded to f32 first (the
 * same values arrive here as f32 uniforms). Inside one shader a compiler may contract a·b + c
 * into a fused multiply-add (WGSL does not forbid it), which rounds once instead of twice. So
 * every product that feeds an addition passes through `r()`, an XOR of its bits with a uniform
 * that is always 0: an identity the compiler cannot see through, so the product is rounded
 * before the add, as in the composed path. (On llvmpipe the kernel is bit-identical even
 * without it; the barrier is for drivers that do contract.) test/tensor/webgpu/optim.test.ts
 * compares the two bit for bit.
 */
import type { AdamWScalars } from '../../backend.js';
import { DTypeError } from '../../errors.js';
import type { GpuContext } from '../context.js';
import { Params } from '../params.js';
import type { WebGpuStorage } from '../storage.js';
import { groupsFor, main1d } from './common.js';


const ADAMW = `struct Params { n4: u32, zero: u32, decay: u32, pad: u32,
  b1: f32, c1: f32, b2: f32, c2: f32,
  keep: f32, sq2: f32, eps: f32, step: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> P: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> G: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> M: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> V: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read_write> PO: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> MO: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read_write> VO: array<vec4<f32>>;
// A rounding point the compiler cannot remove: p.zero is 0 at run time.
fn r(x: vec4<f32>) -> vec4<f32> { return bitcast<vec4<f32>>(bitcast<vec4<u32>>(x) ^ vec4<u32>(p.zero)); }
${main1d()}
  if (i >= p.n4) { return; }
  let g = G[i];
  let m = r(r(M[i] * p.b1) + r(g * p.c1));
  let v = r(r(V[i] * p.b2) + r(r(g * g) * p.c2));
  var w = P[i];
  if (p.decay != 0u) { w = r(w * p.keep); }
  let denom = r(r(sqrt(v) / p.sq2) + p.eps);
  MO[i] = m;
  VO[i] = v;
  PO[i] = w - r(r(m / denom) * p.step);
}`;

/** New p, m, v (fresh storages) from p, g, m, v; the inputs are only read. f32 only. */
export function adamw(
  b: GpuContext, p: WebGpuStorage, g: WebGpuStorage, m: WebGpuStorage, v: WebGpuStorage, s: AdamWScalars,
): [WebGpuStorage, WebGpuStorage, WebGpuStorage] {
  if (p.dtype !== 'f32') throw new DTypeError(`webgpu adamw: parameters must be f32, got ${p.dtype}`);
  const n = p.size;
  const po = b.alloc('f32', n);
  const mo = b.alloc('f32', n);
  const vo = b.alloc('f32', n);
  if (n === 0) return [po, mo, vo];
  const n4 = Math.ceil(n / 4); // buffers are multiples of 256 bytes: the tail vec4 stays inside them
  const params = new Params()
    .u32(n4, 0, s.lr * s.weightDecay !== 0 ? 1 : 0, 0)
    .f32(s.beta1, 1 - s.beta1, s.beta2, 1 - s.beta2, 1 - s.lr * s.weightDecay, Math.sqrt(s.bc2), s.eps, s.lr / s.bc1);
  b.run({ code: ADAMW, buffers: [p, g, m, v, po, mo, vo], params, groups: groupsFor(n4) });
  return [po, mo, vo];
}
