/**
 * The AdamW update as one CPU loop. Composed from tensor ops (src/nn/optim.ts, kept there as
 * the reference "v1"), a step runs 14 elementwise passes over every parameter and allocates 14
 * parameter-sized arrays; moe-small has 6.3 M parameters, so that was a third of a training
 * step. This kernel reads p, g, m, v once and writes the new p, m, v once.
 *
 * It is bit-identical to the composed ops, on purpose: each composed op is one IEEE operation
 * on f32 operands rounded to f32 (its result is stored in a Float32Array), and a scalar operand
 * is itself rounded to f32 first (ops lift numbers to 0-d tensors of the tensor's dtype). Here
 * every intermediate goes through `r` (Math.fround for f32, the identity for f64) in the same
 * order. Evaluating an f32 +, −, ×, ÷ or √ in float64 and rounding once gives the correctly
 * rounded f32 result (53 ≥ 2·24 + 2), so the two agree bit for bit; test/nn/optim-fused.test.ts
 * checks it against the composed reference.
 */
import type { AdamWScalars } from '../backend.js';
import type { TypedArray } from '../dtype.js';

const ident = (x: number) => x;

/**
 * Writes the updated parameter, first and second moments into pOut, mOut, vOut (fresh arrays of
 * the inputs' length and dtype); the inputs are only read.
 */
export function adamwInto(
  p: TypedArray, g: TypedArray, m: TypedArray, v: TypedArray,
  pOut: TypedArray, mOut: TypedArray, vOut: TypedArray, s: AdamWScalars,
): void {
  const r = p instanceof Float32Array ? Math.fround : ident;
  // The composed ops' scalar operands, each rounded to the dtype as a 0-d tensor would be.
  const b1 = r(s.beta1);
  const c1 = r(1 - s.beta1);
  const b2 = r(s.beta2);
  const c2 = r(1 - s.beta2);
  const decay = s.lr * s.weightDecay !== 0;
  const keep = r(1 - s.lr * s.weightDecay);
  const sq2 = r(Math.sqrt(s.bc2));
  const eps = r(s.eps);
  const step = r(s.lr / s.bc1);
  const n = p.length;
  if (p instanceof Float32Array) {
    const f = Math.fround;
    for (let i = 0; i < n; i++) {
      const gi = g[i]!;
      const mi = f(f(m[i]! * b1) + f(gi * c1));
      const vi = f(f(v[i]! * b2) + f(f(gi * gi) * c2));
      const pi = decay ? f(p[i]! * keep) : p[i]!;
      const denom = f(f(f(Math.sqrt(vi)) / sq2) + eps);
      mOut[i] = mi;
      vOut[i] = vi;
      pOut[i] = pi - f(f(mi / denom) * step);
    }
  } else {
    for (let i = 0; i < n; i++) {
      const gi = g[i]!;
      const mi = m[i]! * b1 + gi * c1;
      const vi = v[i]! * b2 + gi * gi * c2;
      const pi = decay ? p[i]! * keep : p[i]!;
      const denom = Math.sqrt(vi) / sq2 + eps;
      mOut[i] = mi;
      vOut[i] = vi;
      pOut[i] = pi - (mi / denom) * step;
    }
  }
}
