/**
 * Helpers for the elementwise property suites (test/autograd/elementwise.test.ts and
 * test/tensor/f32-vs-f64-elementwise.test.ts): one table of unary and binary ops with their
 * domains, plain-JS references and derivative bounds; an independent erf; a broadcasting
 * reference (index maps computed here, not with src's broadcastStrides); and a runner that
 * evaluates an op and its gradient in one dtype.
 */
import fc from 'fast-check';
import {
  type Tensor, tensor, add, sub, mul, div, pow, maximum, minimum,
  neg, exp, log, sqrt, rsqrt, abs, tanh, sigmoid, relu, silu, gelu, softplus, erf, log1p, expm1,
  sin, cos, square, reciprocal,
} from '../../src/index.js';
import { type Shape, broadcastPairArb, shapeArb, sizeOf, spreadValueArb, spreadValueAwayArb, valuesArb } from './arbitraries.js';

// ---------------------------------------------------------------------------------------------
// An erf that does not share code or method with src/tensor/cpu/scalar-math.ts: the alternating
// Maclaurin series erf(x) = 2/√π Σ (-1)^n x^(2n+1) / (n! (2n+1)). For |x| ≤ 3 the largest term
// is below 200, so cancellation costs at most ~1e-13 absolute; the suite checks it against
// published values before trusting it as a reference.
// ---------------------------------------------------------------------------------------------
export function trustedErf(x: number): number {
  if (Math.abs(x) > 3.5) throw new Error(`trustedErf: |x| = ${Math.abs(x)} is outside the range where the series is accurate`);
  const x2 = x * x;
  let term = x; // (-1)^n x^(2n+1) / n!
  let sum = x;
  for (let n = 1; n < 200; n++) {
    term *= -x2 / n;
    const t = term / (2 * n + 1);
    sum += t;
    if (Math.abs(t) < 1e-18 * Math.abs(sum)) break;
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

// ---------------------------------------------------------------------------------------------
// Broadcasting reference.
// ---------------------------------------------------------------------------------------------

/** NumPy broadcast of shapes (assumes they are compatible, as the arbitraries guarantee). */
export function broadcastShapeRef(...shapes: readonly Shape[]): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    s.forEach((d, i) => {
      const oi = rank - s.length + i;
      if (d !== 1) out[oi] = d;
    });
  }
  return out;
}

/** For each flat index of `outShape`, the flat index of `inShape` that broadcasting reads. */
export function broadcastIndexMap(inShape: Shape, outShape: Shape): number[] {
  const n = sizeOf(outShape);
  const off = outShape.length - inShape.length;
  const inStrides: number[] = [];
  let acc = 1;
  for (let i = inShape.length - 1; i >= 0; i--) {
    inStrides[i] = acc;
    acc *= inShape[i]!;
  }
  const map: number[] = [];
  for (let i = 0; i < n; i++) {
    let rem = i;
    let idx = 0;
    for (let d = outShape.length - 1; d >= 0; d--) {
      const c = rem % outShape[d]!;
      rem = Math.floor(rem / outShape[d]!);
      const di = d - off;
      if (di >= 0 && inShape[di] !== 1) idx += c * inStrides[di]!;
    }
    map.push(idx);
  }
  return map;
}

/** Elementwise reference of a broadcasting binary function. */
export function binaryRef(f: (a: number, b: number) => number, sa: Shape, a: readonly number[], sb: Shape, b: readonly number[]): { shape: number[]; values: number[] } {
  const shape = broadcastShapeRef(sa, sb);
  const ma = broadcastIndexMap(sa, shape);
  const mb = broadcastIndexMap(sb, shape);
  return { shape, values: ma.map((ia, i) => f(a[ia]!, b[mb[i]!]!)) };
}

/** Three shapes that broadcast together (cond, a, b of where()). */
export function broadcastTripleArb(): fc.Arbitrary<[Shape, Shape, Shape]> {
  return anyShapeArb().chain((out) => deriveShapes(out, 3)).map((s) => [s[0]!, s[1]!, s[2]!] as [Shape, Shape, Shape]);
}

// ---------------------------------------------------------------------------------------------
// Drawn data. The shared arbitraries are biased toward tiny cases (most shapes hold 1–3
// elements, and fc.double puts most of its mass near 0 and on the bounds); the suites mix them
// with unbiased draws so that large broadcasts and values spread over the whole domain occur too.
// ---------------------------------------------------------------------------------------------

/** Dense shapes: ranks 0–4, every dim in 1..3 (up to 81 elements), drawn without size bias. */
function denseShapeArb(): fc.Arbitrary<Shape> {
  return fc.noBias(fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 0, maxLength: 4 }));
}

/** shapeArb (ranks 0–4, size-1 dims common) or a dense shape. */
export function anyShapeArb(): fc.Arbitrary<Shape> {
  return fc.oneof(shapeArb(), denseShapeArb());
}

/** Derives `n` shapes that broadcast to `out` (drop leading dims, set some dims to 1). */
function deriveShapes(out: Shape, n: number): fc.Arbitrary<Shape[]> {
  const derive = fc
    .tuple(fc.integer({ min: 0, max: out.length }), fc.array(fc.integer({ min: 0, max: 2 }), { minLength: out.length, maxLength: out.length }))
    .map(([drop, ones]) => out.slice(drop).map((d, i) => (ones[i + drop] === 0 ? 1 : d)));
  return fc.array(derive, { minLength: n, maxLength: n });
}

/** broadcastPairArb, or a pair derived from a dense output shape. */
export function anyBroadcastPairArb(): fc.Arbitrary<[Shape, Shape]> {
  const dense = denseShapeArb().chain((out) => fc.noBias(deriveShapes(out, 2))).map((s) => [s[0]!, s[1]!] as [Shape, Shape]);
  return fc.oneof(broadcastPairArb(), dense);
}

export interface Drawn {
  shape: number[];
  values: number[];
}

export interface DrawnPair {
  a: Drawn;
  b: Drawn;
}

/** A shape (ranks 0–4, size-1 dims common) with values from `v`, optionally rounded to f32. */
export function drawnArb(v: fc.Arbitrary<number>, f32Exact = false, shape: fc.Arbitrary<Shape> = anyShapeArb()): fc.Arbitrary<Drawn> {
  return shape.chain((s) => valuesArb(sizeOf(s), f32Exact ? v.map(Math.fround) : v).map((values) => ({ shape: [...s], values })));
}

/**
 * A broadcast pair of shapes with values for each side; `ok(a, b)` must hold for every pair of
 * elements that meet in the broadcast output (e.g. |a − b| > gap for maximum/minimum).
 */
export function drawnPairArb(
  va: fc.Arbitrary<number>,
  vb: fc.Arbitrary<number>,
  ok: ((a: number, b: number) => boolean) | null = null,
  f32Exact = false,
): fc.Arbitrary<DrawnPair> {
  const round = (v: fc.Arbitrary<number>) => (f32Exact ? v.map(Math.fround) : v);
  const arb = anyBroadcastPairArb().chain(([sa, sb]) =>
    fc.tuple(valuesArb(sizeOf(sa), round(va)), valuesArb(sizeOf(sb), round(vb))).map(([a, b]) => ({
      a: { shape: [...sa], values: a },
      b: { shape: [...sb], values: b },
    })),
  );
  if (ok === null) return arb;
  return arb.filter(({ a, b }) => binaryRef((x, y) => (ok(x, y) ? 1 : 0), a.shape, a.values, b.shape, b.values).values.every((t) => t === 1));
}

export function t64(d: Drawn, requiresGrad = false): Tensor {
  return tensor(Float64Array.from(d.values), { shape: d.shape, requiresGrad });
}
export function t32(d: Drawn, requiresGrad = false): Tensor {
  return tensor(Float32Array.from(d.values), { shape: d.shape, requiresGrad });
}

// ---------------------------------------------------------------------------------------------
// The op table.
// ---------------------------------------------------------------------------------------------

export interface UnarySpec {
  name: string;
  fn: (x: Tensor) => Tensor;
  /** Plain-JS reference (Math.* where JavaScript has the function). */
  ref: (x: number) => number;
  /** Values inside the op's domain, away from kinks. */
  value: fc.Arbitrary<number>;
  /** Bound on |f'(x)| over `value`'s range: scales absolute tolerances of gradient comparisons. */
  dmax: number;
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const std = spreadValueArb(-3, 3);
const positive = spreadValueArb(0.1, 3);
const awayFromZero = spreadValueAwayArb([0]);

export const UNARY_SPECS: readonly UnarySpec[] = [
  { name: 'neg', fn: neg, ref: (x) => -x, value: std, dmax: 1 },
  { name: 'exp', fn: exp, ref: Math.exp, value: std, dmax: Math.exp(3) },
  { name: 'log', fn: log, ref: Math.log, value: positive, dmax: 10 },
  { name: 'sqrt', fn: sqrt, ref: Math.sqrt, value: positive, dmax: 0.5 / Math.sqrt(0.1) },
  { name: 'rsqrt', fn: rsqrt, ref: (x) => 1 / Math.sqrt(x), value: positive, dmax: 0.5 * 0.1 ** -1.5 },
  { name: 'abs', fn: abs, ref: Math.abs, value: awayFromZero, dmax: 1 },
  { name: 'tanh', fn: tanh, ref: Math.tanh, value: std, dmax: 1 },
  { name: 'sigmoid', fn: sigmoid, ref: (x) => 1 / (1 + Math.exp(-x)), value: std, dmax: 0.25 },
  { name: 'relu', fn: relu, ref: (x) => Math.max(0, x), value: awayFromZero, dmax: 1 },
  { name: 'silu', fn: silu, ref: (x) => x / (1 + Math.exp(-x)), value: std, dmax: 1.1 },
  { name: 'gelu', fn: (x) => gelu(x), ref: (x) => x * 0.5 * (1 + trustedErf(x / Math.SQRT2)), value: std, dmax: 1.13 },
  { name: 'gelu(tanh)', fn: (x) => gelu(x, 'tanh'), ref: (x) => 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x ** 3))), value: std, dmax: 1.13 },
  { name: 'softplus', fn: softplus, ref: (x) => Math.log1p(Math.exp(x)), value: std, dmax: 1 },
  { name: 'erf', fn: erf, ref: trustedErf, value: std, dmax: 1.13 },
  { name: 'log1p', fn: log1p, ref: Math.log1p, value: spreadValueArb(-0.9, 3).filter((v) => v > -0.9), dmax: 10 },
  { name: 'expm1', fn: expm1, ref: Math.expm1, value: std, dmax: Math.exp(3) },
  { name: 'sin', fn: sin, ref: Math.sin, value: std, dmax: 1 },
  { name: 'cos', fn: cos, ref: Math.cos, value: std, dmax: 1 },
  { name: 'square', fn: square, ref: (x) => x * x, value: std, dmax: 6 },
  { name: 'reciprocal', fn: reciprocal, ref: (x) => 1 / x, value: spreadValueAwayArb([0], 0.2), dmax: 25 },
];

export interface BinarySpec {
  name: string;
  fn: (a: Tensor, b: Tensor) => Tensor;
  ref: (a: number, b: number) => number;
  a: fc.Arbitrary<number>;
  b: fc.Arbitrary<number>;
  /** Must hold for every pair of elements that meet (keeps maximum/minimum away from ties). */
  ok: ((a: number, b: number) => boolean) | null;
  /** Bound on |∂f/∂a| and |∂f/∂b| over the drawn values. */
  dmax: number;
}

/** maximum/minimum: a and b are never within 1e-3 of each other, so the winner is unambiguous. */
export const MIN_MAX_GAP = 1e-3;
const apart = (a: number, b: number) => Math.abs(a - b) > MIN_MAX_GAP;

export const BINARY_SPECS: readonly BinarySpec[] = [
  { name: 'add', fn: add, ref: (a, b) => a + b, a: std, b: std, ok: null, dmax: 1 },
  { name: 'sub', fn: sub, ref: (a, b) => a - b, a: std, b: std, ok: null, dmax: 1 },
  { name: 'mul', fn: mul, ref: (a, b) => a * b, a: std, b: std, ok: null, dmax: 3 },
  // |b| ≥ 0.25: |∂/∂b| = |a|/b² ≤ 48.
  { name: 'div', fn: div, ref: (a, b) => a / b, a: std, b: spreadValueAwayArb([0], 0.25), ok: null, dmax: 48 },
  // a ∈ [0.2, 2], b ∈ [-2, 2]: |∂/∂a| = |b a^(b-1)| ≤ 2·0.2^-3 = 250.
  { name: 'pow', fn: pow, ref: Math.pow, a: spreadValueArb(0.2, 2), b: spreadValueArb(-2, 2), ok: null, dmax: 250 },
  { name: 'maximum', fn: maximum, ref: Math.max, a: std, b: std, ok: apart, dmax: 1 },
  { name: 'minimum', fn: minimum, ref: Math.min, a: std, b: std, ok: apart, dmax: 1 },
];

// ---------------------------------------------------------------------------------------------
// Evaluate an op and the gradient of sum(op(...) · r) in one float dtype.
// ---------------------------------------------------------------------------------------------

export interface Evaluated {
  y: number[];
  shape: number[];
  grads: number[][];
}

/**
 * Builds the inputs in `dtype` with requiresGrad, runs `f`, then `f(...).mul(r).sum().backward()`
 * and reads every input's .grad (zeros when it got none). `r` must have the output's size.
 */
export function evalWithGrad(dtype: 'f32' | 'f64', f: (...xs: Tensor[]) => Tensor, inputs: readonly Drawn[], r: (n: number) => number[]): Evaluated {
  const make = dtype === 'f32' ? t32 : t64;
  const xs = inputs.map((d) => make(d, true));
  const y = f(...xs);
  const rv = r(y.size);
  const rt = make({ shape: [...y.shape], values: rv });
  y.mul(rt).sum().backward();
  return {
    y: Array.from(y.toArraySync()),
    shape: [...y.shape],
    grads: xs.map((x) => (x.grad ? Array.from(x.grad.toArraySync()) : new Array<number>(x.size).fill(0))),
  };
}
