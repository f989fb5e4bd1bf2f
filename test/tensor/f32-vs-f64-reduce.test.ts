/**
 * f32 against f64 for the reductions, the softmax family, the index ops and matmul: the same
 * drawn data (rounded to f32 first, so both dtypes see exactly the same input values) must give
 * the same forward values and the same gradients (of Σ r ⊙ y for a fixed probe r) within a
 * stated tolerance.
 *
 * Tolerance. The CPU kernels accumulate every reduction in float64 and round once when
 * storing, so an op that is a single kernel on f32-representable inputs (sum over one dim,
 * max, min, logsumexp, softmax, logSoftmax, topk, gather, embedding) must give exactly
 * fround(f64 result): that is checked bit for bit. matmul is the exception: f32 products
 * (the WebAssembly SIMD kernel and its JS fallback) accumulate in f32, every product and sum
 * rounded, in order p = 0..k−1, so its f32 forward is checked bit for bit against that rule
 * (matmulRef with f32 accumulation) and against f64 within the tolerance below (k ≤ 5 and
 * inputs in [-3, 3] keep its error k·2^-24·Σ|a·b| under the absolute term). Composite forwards (mean, multi-dim sums,
 * scatterAdd with repeated indices) and every gradient chain (2–5 kernels, each rounding to f32
 * with unit roundoff 2^-24 ≈ 6e-8) are checked with
 *     |y32 − y64| ≤ 1e-5·|y64| + 1e-6·(1 + Σ|inputs|),
 * where the absolute term covers cancellation in f32 partial sums, whose rounding error scales
 * with the magnitude of what was summed (≤ Σ|inputs|), not with the (possibly tiny) result.
 * Inputs are in [-3, 3] and tensors hold at most 81 elements.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  argmax, embedding, gather, logSoftmax, logsumexp, matmul, max, mean, min, scatterAdd, softmax, sum, tensor, topk, type Tensor,
} from '../../src/index.js';
import { broadcastPairArb, shapeArb, sizeOf } from '../helpers/arbitraries.js';
import { expectBitwise, expectClose } from '../helpers/assert.js';
import {
  dimArb, dimsArb, distinctGridArb, indexValuesArb, matmulRef, normDimsRef, realsArb, type DimSpec,
} from '../helpers/reduce.js';
import { arr, i32 } from '../helpers/tensors.js';

const RUNS = { numRuns: 100 } as const;
const RTOL = 1e-5;
const ATOL_PER_MAGNITUDE = 1e-6;

interface Input {
  shape: number[];
  values: number[];
}

interface Result {
  y: number[];
  shape: readonly number[];
  grads: number[][];
}

/** Runs f on float inputs of one dtype; returns y and the gradients of Σ r ⊙ y with r_t = sin(t + 1). */
function runIn(dtype: 'f32' | 'f64', inputs: readonly Input[], f: (...xs: Tensor[]) => Tensor): Result {
  const xs = inputs.map(({ shape, values }) =>
    tensor(dtype === 'f32' ? Float32Array.from(values) : Float64Array.from(values.map(Math.fround)), { shape, requiresGrad: true }),
  );
  const y = f(...xs);
  expect(y.dtype).toBe(dtype);
  if (y.requiresGrad && y.size > 0) {
    const r = Array.from({ length: y.size }, (_, t) => Math.fround(Math.sin(t + 1)));
    const rt = tensor(dtype === 'f32' ? Float32Array.from(r) : Float64Array.from(r), { shape: y.shape });
    y.mul(rt).sum().backward();
  }
  return { y: arr(y), shape: y.shape, grads: xs.map((x) => (x.grad ? arr(x.grad) : new Array<number>(x.size).fill(0))) };
}

/** Compares f in f32 and f64: forward bitwise (exact = true) or within tolerance, gradients within tolerance. */
function compare(inputs: readonly Input[], f: (...xs: Tensor[]) => Tensor, exact: boolean, what: string): void {
  const a = runIn('f32', inputs, f);
  const b = runIn('f64', inputs, f);
  expect(a.shape).toEqual(b.shape);
  const atol = ATOL_PER_MAGNITUDE * (1 + inputs.reduce((p, x) => p + x.values.reduce((q, v) => q + Math.abs(Math.fround(v)), 0), 0));
  if (exact) expectBitwise(a.y, b.y.map(Math.fround), `${what} forward`);
  else expectClose(a.y, b.y, { rtol: RTOL, atol, what: `${what} forward`, nonFinite: 'match' });
  a.grads.forEach((g, i) => expectClose(g, b.grads[i]!, { rtol: RTOL, atol, what: `${what} grad ${i}`, nonFinite: 'match' }));
}

function reductionCase(values: (n: number) => fc.Arbitrary<number[]> = (n) => realsArb(n)) {
  return shapeArb(0, 4, 3).chain((shape) =>
    fc.record({ shape: fc.constant(shape), dim: dimsArb(shape.length), keepdim: fc.boolean(), values: values(sizeOf(shape)) }),
  );
}

const distinct = (n: number) => distinctGridArb(n, 1e-3);
/** The reduced dims form one run of adjacent dims, which the CPU reduces in a single kernel pass. */
const isOneRun = (dim: DimSpec, rank: number) => normDimsRef(dim, rank).every((d, i, ds) => i === 0 || d === ds[i - 1]! + 1);

describe('f32 vs f64: reductions', () => {
  it('sum (bitwise forward when the reduced dims are adjacent: one kernel pass)', () => {
    fc.assert(
      fc.property(reductionCase(), ({ shape, dim, keepdim, values }) =>
        compare([{ shape, values }], (x) => sum(x, dim, keepdim), isOneRun(dim, shape.length), 'sum'),
      ),
      RUNS,
    );
  });

  it('sum of long rows: f32 rounds once, at the end (bitwise fround of the f64 sum)', () => {
    const arb = fc
      .record({ m: fc.integer({ min: 1, max: 4 }), n: fc.integer({ min: 3, max: 16 }) })
      .chain(({ m, n }) => fc.record({ shape: fc.constant<number[]>([m, n]), values: realsArb(m * n) }));
    fc.assert(fc.property(arb, ({ shape, values }) => compare([{ shape, values }], (x) => sum(x, -1), true, 'row sum')), RUNS);
  });

  it('mean', () => {
    fc.assert(fc.property(reductionCase(), ({ shape, dim, keepdim, values }) => compare([{ shape, values }], (x) => mean(x, dim, keepdim), false, 'mean')), RUNS);
  });

  it('max and min (distinct values; bitwise forward)', () => {
    fc.assert(
      fc.property(reductionCase(distinct), ({ shape, dim, keepdim, values }) => {
        compare([{ shape, values }], (x) => max(x, dim, keepdim), true, 'max');
        compare([{ shape, values }], (x) => min(x, dim, keepdim), true, 'min');
      }),
      RUNS,
    );
  });

  it('logsumexp over one or several dims (bitwise forward)', () => {
    fc.assert(
      fc.property(reductionCase(), ({ shape, dim, keepdim, values }) =>
        compare([{ shape, values }], (x) => logsumexp(x, dim ?? shape.map((_, i) => i), keepdim), true, 'logsumexp'),
      ),
      RUNS,
    );
  });

  it('argmax: identical indices (ties included)', () => {
    const arb = shapeArb(0, 4, 3).chain((shape) =>
      fc.record({
        shape: fc.constant(shape),
        dim: fc.option(dimArb(shape.length), { nil: undefined }),
        values: fc.oneof(
          realsArb(sizeOf(shape)),
          fc.array(fc.integer({ min: -2, max: 2 }), { minLength: sizeOf(shape), maxLength: sizeOf(shape) }),
        ),
      }),
    );
    fc.assert(
      fc.property(arb, ({ shape, dim, values }) => {
        const a = argmax(tensor(Float32Array.from(values), { shape }), dim);
        const b = argmax(tensor(Float64Array.from(values.map(Math.fround)), { shape }), dim);
        expect(a.dtype).toBe('i32');
        expect(b.dtype).toBe('i32');
        expect(a.shape).toEqual(b.shape);
        expect(arr(a)).toEqual(arr(b));
      }),
      RUNS,
    );
  });
});

describe('f32 vs f64: softmax family', () => {
  it('softmax and logSoftmax along every dim (bitwise forward)', () => {
    const arb = shapeArb(1, 4, 3).chain((shape) => fc.record({ shape: fc.constant(shape), values: realsArb(sizeOf(shape)) }));
    fc.assert(
      fc.property(arb, ({ shape, values }) => {
        for (let d = -shape.length; d < shape.length; d++) {
          compare([{ shape, values }], (x) => softmax(x, d), true, `softmax(${d})`);
          compare([{ shape, values }], (x) => logSoftmax(x, d), true, `logSoftmax(${d})`);
        }
      }),
      { numRuns: 40 },
    );
  });
});

describe('f32 vs f64: index ops', () => {
  const withDim = (minRank: number, maxDim: number, values: (n: number) => fc.Arbitrary<number[]> = (n) => realsArb(n)) =>
    shapeArb(minRank, 4, maxDim).chain((shape) =>
      fc.record({ shape: fc.constant(shape), dim: dimArb(shape.length), values: values(sizeOf(shape)) }),
    );

  it('topk: bitwise values, identical indices, gradients within tolerance', () => {
    const arb = withDim(1, 3, distinct).chain((c) =>
      fc.record({ c: fc.constant(c), k: fc.integer({ min: 0, max: c.shape[c.dim < 0 ? c.dim + c.shape.length : c.dim]! }) }),
    );
    fc.assert(
      fc.property(arb, ({ c: { shape, dim, values }, k }) => {
        compare([{ shape, values }], (x) => topk(x, k, dim).values, true, 'topk');
        const ia = topk(tensor(Float32Array.from(values), { shape }), k, dim).indices;
        const ib = topk(tensor(Float64Array.from(values.map(Math.fround)), { shape }), k, dim).indices;
        expect(arr(ia)).toEqual(arr(ib));
      }),
      RUNS,
    );
  });

  const indexCase = withDim(1, 3).chain(({ shape, dim, values }) => {
    const d = dim < 0 ? dim + shape.length : dim;
    return fc.integer({ min: 1, max: 4 }).chain((m) => {
      const ishape = shape.map((v, i) => (i === d ? m : v));
      return fc.record({
        shape: fc.constant(shape),
        dim: fc.constant(dim),
        values: fc.constant(values),
        ishape: fc.constant(ishape),
        index: indexValuesArb(ishape, shape[d]!),
        src: realsArb(sizeOf(ishape)),
      });
    });
  });

  it('gather (bitwise forward) and scatterAdd', () => {
    fc.assert(
      fc.property(indexCase, ({ shape, dim, values, ishape, index, src }) => {
        const idx = i32(ishape, index);
        compare([{ shape, values }], (x) => gather(x, dim, idx), true, 'gather');
        compare([{ shape, values }, { shape: ishape, values: src }], (x, s) => scatterAdd(x, dim, idx, s), false, 'scatterAdd');
      }),
      RUNS,
    );
  });

  it('embedding (bitwise forward; repeated indices accumulate in the gradient)', () => {
    const arb = fc.record({ V: fc.integer({ min: 1, max: 4 }), D: fc.integer({ min: 1, max: 3 }), ishape: shapeArb(0, 3, 4) }).chain((c) =>
      fc.record({ c: fc.constant(c), index: indexValuesArb(c.ishape, c.V), w: realsArb(c.V * c.D) }),
    );
    fc.assert(
      fc.property(arb, ({ c: { V, D, ishape }, index, w }) => {
        const idx = i32(ishape, index);
        compare([{ shape: [V, D], values: w }], (weight) => embedding(weight, idx), true, 'embedding');
      }),
      RUNS,
    );
  });
});

describe('f32 vs f64: matmul', () => {
  it('2-D, batched with broadcasting, 1-D on either side (f32 forward bitwise the f32-accumulated sum)', () => {
    const arb = fc
      .record({
        batch: broadcastPairArb(2, 3),
        m: fc.integer({ min: 1, max: 4 }),
        k: fc.integer({ min: 1, max: 5 }),
        n: fc.integer({ min: 1, max: 4 }),
        aVec: fc.boolean(),
        bVec: fc.boolean(),
      })
      .chain(({ batch: [ba, bb], m, k, n, aVec, bVec }) => {
        const aShape = aVec ? [k] : [...ba, m, k];
        const bShape = bVec ? [k] : [...bb, k, n];
        return fc.record({ aShape: fc.constant(aShape), bShape: fc.constant(bShape), a: realsArb(sizeOf(aShape)), b: realsArb(sizeOf(bShape)) });
      });
    fc.assert(
      fc.property(arb, ({ aShape, bShape, a, b }) => {
        compare([{ shape: aShape, values: a }, { shape: bShape, values: b }], (p, q) => matmul(p, q), false, 'matmul');
        const y32 = matmul(tensor(Float32Array.from(a), { shape: aShape }), tensor(Float32Array.from(b), { shape: bShape }));
        expectBitwise(arr(y32), matmulRef(a, aShape, b, bShape, 'f32').values, 'matmul f32 forward');
      }),
      { numRuns: 80 },
    );
  });
});
