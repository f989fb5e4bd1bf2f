/**
 * Fused CPU kernels for vector-Jacobian products that autograd otherwise composes from several
 * elementwise ops, each a full pass that allocates its own output. They exist for speed only and
 * are bit-identical to the composition they replace: every intermediate is rounded to the dtype
 * (`r`: Math.fround for f32, the identity for f64) in the composition's order, as each composed
 * op's output array would round it, and float64 evaluation of one f32 +, −, × or ÷ followed by
 * one rounding is the correctly rounded f32 result. autograd uses them on the CPU when the
 * backward pass is not itself recorded (no createGraph); the composed rule stays as the
 * reference (test/autograd/fused-vjp.test.ts).
 */
import type { TypedArray } from '../dtype.js';
import { sigmoid } from './scalar-math.js';

/**
 * silu'(x)·g, composed in elementwise.ts as mul(g, mul(s, add(1, mul(x, sub(1, s))))) with
 * s = sigmoid(x): six passes and a second sigmoid, here one pass, and no exp at all when the
 * forward pass kept s (`sig`, see siluWithSigmoidInto).
 */
export function siluGradInto(x: TypedArray, g: TypedArray, out: TypedArray, sig?: TypedArray): void {
  const n = x.length;
  if (x instanceof Float32Array) {
    const f = Math.fround;
    for (let i = 0; i < n; i++) {
      const v = x[i]!;
      const s = sig === undefined ? f(sigmoid(v)) : sig[i]!;
      out[i] = g[i]! * f(s * f(1 + f(v * f(1 - s))));
    }
  } else {
    for (let i = 0; i < n; i++) {
      const v = x[i]!;
      const s = sig === undefined ? sigmoid(v) : sig[i]!;
      out[i] = g[i]! * (s * (1 + v * (1 - s)));
    }
  }
}

/**
 * silu(x) = x·sigmoid(x) (the same double product, rounded once, as the unary kernel), and
 * sigmoid(x) rounded to the dtype into `sig`: what the composed vjp's sigmoid(x) would be, kept
 * so the backward pass (siluGradInto with `sig`) needs no second exp.
 */
export function siluWithSigmoidInto(x: TypedArray, out: TypedArray, sig: TypedArray): void {
  const n = x.length;
  for (let i = 0; i < n; i++) {
    const v = x[i]!;
    const s = sigmoid(v);
    out[i] = v * s;
    sig[i] = s;
  }
}
