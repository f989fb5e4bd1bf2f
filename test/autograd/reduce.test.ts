/**
 * Reductions (sum, mean, max, min, logsumexp, argmax) and softmax rows: gradients against
 * central differences (gradcheck, f64, rtol 1e-6, atol 1e-8), values against plain-JS
 * references, algebraic identities, and f32 numerics at ±1e4.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  argmax, DTypeError, gradcheck, logSoftmax, logsumexp, max, mean, min, ShapeError, softmax, sum, tensor, ValueError, zeros, type Tensor,
} from '../../src/index.js';
import { distinctValuesArb, shapeArb, sizeOf } from '../helpers/arbitraries.js';
import { expectClose, GC } from '../helpers/assert.js';
import {
  dimArb, dimsArb, distinctGridArb, realArb, realsArb, lseRef, maxRef, minRef, normDimsRef, reduceGroups, reduceRef, reducedShapeRef, softmaxRef, sumRef,
  type DimSpec,
} from '../helpers/reduce.js';
import { arr, f32, f64 } from '../helpers/tensors.js';

const RUNS = { numRuns: 100 } as const;

/** A shape of rank 0–4 (size-1 dims included), a `dim` argument for it, keepdim, and values. */
function caseArb(values: (n: number) => fc.Arbitrary<number[]> = (n) => realsArb(n)) {
  return shapeArb(0, 4, 3).chain((shape) =>
    fc.record({
      shape: fc.constant(shape),
      dim: dimsArb(shape.length),
      keepdim: fc.boolean(),
      values: values(sizeOf(shape)),
    }),
  );
}

/** Same, but with exactly one dim (for logsumexp's single-dim path). */
function singleDimCaseArb(values: (n: number) => fc.Arbitrary<number[]> = (n) => realsArb(n)) {
  return shapeArb(0, 4, 3).chain((shape) =>
    fc.record({ shape: fc.constant(shape), dim: dimArb(shape.length), keepdim: fc.boolean(), values: values(sizeOf(shape)) }),
  );
}

/** Multi-dim lists (≥ 2 dims) for rank ≥ 2. */
function multiDimCaseArb(values: (n: number) => fc.Arbitrary<number[]> = (n) => realsArb(n)) {
  return shapeArb(2, 4, 3).chain((shape) =>
    fc.record({
      shape: fc.constant(shape),
      dim: fc.shuffledSubarray(shape.map((_, i) => i), { minLength: 2 }).map((ds) => ds.map((d, i) => (i % 2 === 1 ? d - shape.length : d))),
      keepdim: fc.boolean(),
      values: values(sizeOf(shape)),
    }),
  );
}

/** Distinct values (no ties, so max/min are differentiable): distinctValuesArb for tiny groups, a grid otherwise. */
const distinct = (n: number) => (n <= 3 ? distinctValuesArb(n, 1e-3) : distinctGridArb(n, 1e-3));

function checkReduction(
  op: (x: Tensor, dim: DimSpec, keepdim: boolean) => Tensor,
  ref: (xs: number[]) => number,
  c: { shape: number[]; dim: DimSpec; keepdim: boolean; values: number[] },
  rtol: number,
): void {
  const x = f64(c.shape, c.values);
  const dims = normDimsRef(c.dim, c.shape.length);
  const y = op(x, c.dim, c.keepdim);
  expect(y.shape).toEqual(reducedShapeRef(c.shape, dims, c.keepdim));
  expect(y.dtype).toBe('f64');
  const absSum = reduceRef(c.values.map(Math.abs), c.shape, dims, sumRef);
  const expected = reduceRef(c.values, c.shape, dims, ref);
  // Tolerance scaled by Σ|x| of the group (sums in a different association order) or |result|.
  const got = arr(y);
  expected.forEach((e, i) => expectClose([got[i]!], [e], { atol: rtol * (absSum[i]! + Math.abs(e)), what: `reduction[${i}]`, nonFinite: 'match' }));
  expect(gradcheck((t) => op(t, c.dim, c.keepdim), [x], GC)).toBe(true);
}

describe('reductions: gradcheck and values (f64, shapes rank 0–4, dims single/negative/list/all, keepdim)', () => {
  it('sum', () => {
    fc.assert(fc.property(caseArb(), (c) => checkReduction((x, d, k) => sum(x, d, k), sumRef, c, 1e-14)), RUNS);
  });

  it('mean', () => {
    const meanRef = (xs: number[]) => sumRef(xs) / xs.length;
    fc.assert(fc.property(caseArb(), (c) => checkReduction((x, d, k) => mean(x, d, k), meanRef, c, 1e-14)), RUNS);
  });

  it('logsumexp over a single dim', () => {
    fc.assert(
      fc.property(singleDimCaseArb(), (c) => checkReduction((x, d, k) => logsumexp(x, d as number, k), lseRef, c, 1e-14)),
      RUNS,
    );
  });

  it('logsumexp over several dims (and all dims as a list)', () => {
    fc.assert(fc.property(multiDimCaseArb(), (c) => checkReduction((x, d, k) => logsumexp(x, d as number[], k), lseRef, c, 1e-14)), RUNS);
  });

  it('logsumexp with any drawn dim argument (single, negative, list; "all" passed as the full list since dim is required)', () => {
    fc.assert(
      fc.property(caseArb(), (c) => {
        const dim = c.dim ?? c.shape.map((_, i) => i);
        checkReduction((x, _d, k) => logsumexp(x, dim, k), lseRef, c, 1e-14);
      }),
      { numRuns: 30 },
    );
  });

  it('max with distinct values (one dim, several dims, all dims)', () => {
    fc.assert(fc.property(caseArb(distinct), (c) => checkReduction((x, d, k) => max(x, d, k), maxRef, c, 0)), RUNS);
    fc.assert(fc.property(multiDimCaseArb(distinct), (c) => checkReduction((x, d, k) => max(x, d, k), maxRef, c, 0)), { numRuns: 30 });
  });

  it('min with distinct values (one dim, several dims, all dims)', () => {
    fc.assert(fc.property(caseArb(distinct), (c) => checkReduction((x, d, k) => min(x, d, k), minRef, c, 0)), RUNS);
    fc.assert(fc.property(multiDimCaseArb(distinct), (c) => checkReduction((x, d, k) => min(x, d, k), minRef, c, 0)), { numRuns: 30 });
  });

  it('method forms agree with function forms', () => {
    const x = f64([2, 3], [1, -2, 3, 0.5, 4, -1]);
    expect(arr(x.sum(1))).toEqual(arr(sum(x, 1)));
    expect(arr(x.mean([0, 1]))).toEqual(arr(mean(x)));
    expect(arr(x.max(-1, true))).toEqual([3, 4]);
    expect(arr(x.min(0))).toEqual([0.5, -2, -1]);
    expect(arr(x.logsumexp(0))).toEqual(arr(logsumexp(x, 0)));
  });
});

describe('max/min ties split the gradient evenly', () => {
  it('max of [1, 3, 3] gives grad [0, 0.5, 0.5]', () => {
    const x = tensor([1, 3, 3], { dtype: 'f64', requiresGrad: true });
    const y = x.max();
    expect(y.itemSync()).toBe(3);
    y.backward();
    expect(arr(x.grad!)).toEqual([0, 0.5, 0.5]);
  });

  it('min of [2, -1, 5, -1] gives grad [0, 0.5, 0, 0.5] (f32 too)', () => {
    for (const dtype of ['f32', 'f64'] as const) {
      const x = tensor([2, -1, 5, -1], { dtype, requiresGrad: true });
      x.min().backward();
      expect(arr(x.grad!)).toEqual([0, 0.5, 0, 0.5]);
    }
  });

  it('ties across several dims share the gradient over the whole reduced group', () => {
    // Reducing dims [0, 2] of [2, 2, 2]: group j = 0 holds {3, 0, 1, 2}, group j = 1 holds {3, 2, 3, 1}.
    // Layout [i, j, k]: x[0,0,:] = [3,0], x[0,1,:] = [3,2], x[1,0,:] = [1,2], x[1,1,:] = [3,1].
    const x = tensor([[[3, 0], [3, 2]], [[1, 2], [3, 1]]], { dtype: 'f64', requiresGrad: true });
    const y = x.max([0, 2]);
    expect(arr(y)).toEqual([3, 3]);
    y.mul(tensor([10, 100], { dtype: 'f64' })).sum().backward();
    // Group j = 0: a single 3 (x[0,0,0]) takes the whole weight 10.
    // Group j = 1: x[0,1,0] = 3, x[1,1,0] = 3 → 100 / 2 each.
    expect(arr(x.grad!)).toEqual([10, 0, 50, 0, 0, 0, 50, 0]);
  });
});

describe('algebraic identities', () => {
  it('softmax along any dim sums to 1 (f64 within 1e-12, f32 within 1e-6)', () => {
    const arb = shapeArb(1, 4, 4).chain((shape) =>
      fc.record({ shape: fc.constant(shape), dim: dimArb(shape.length), values: realsArb(sizeOf(shape), -20, 20) }),
    );
    fc.assert(
      fc.property(arb, ({ shape, dim, values }) => {
        for (const [make, tol] of [[f64, 1e-12], [f32, 1e-6]] as const) {
          const s = arr(softmax(make(shape, values), dim).sum(dim));
          expectClose(s, s.map(() => 1), { atol: tol, what: 'row sum', nonFinite: 'match' });
        }
      }),
      RUNS,
    );
  });

  it('logsumexp(x + c) = logsumexp(x) + c', () => {
    const arb = fc.tuple(fc.oneof(singleDimCaseArb(), multiDimCaseArb()), realArb(-50, 50));
    fc.assert(
      fc.property(arb, ([c, k]) => {
        const x = f64(c.shape, c.values);
        const lhs = arr(logsumexp(x.add(k), c.dim as number, c.keepdim));
        const rhs = arr(logsumexp(x, c.dim as number, c.keepdim).add(k));
        // Both sides round x + c and the result once or twice: ~1e-15 relative to |x| + |c|.
        expectClose(lhs, rhs, { atol: 1e-13 * (1 + Math.abs(k) + Math.max(0, ...c.values.map(Math.abs))), what: 'lse shift', nonFinite: 'match' });
      }),
      RUNS,
    );
  });

  it('sum over all dims equals reducing the dims one at a time, in any order', () => {
    const arb = shapeArb(0, 4, 3).chain((shape) =>
      fc.record({
        shape: fc.constant(shape),
        values: realsArb(sizeOf(shape)),
        order: fc.shuffledSubarray(shape.map((_, i) => i), { minLength: shape.length, maxLength: shape.length }),
        keepdim: fc.boolean(),
      }),
    );
    fc.assert(
      fc.property(arb, ({ shape, values, order, keepdim }) => {
        for (const [make, tol, floor] of [[f64, 1e-14, 0], [f32, 1e-6, 1e-44]] as const) {
          // The data as stored (f32 rounds, and flushes tiny doubles to subnormals or 0, whose
          // rounding is absolute: hence the f32 floor just above the smallest subnormal).
          const stored = make === f32 ? values.map(Math.fround) : values;
          const scale = stored.reduce((p, v) => p + Math.abs(v), 0);
          const x = make(shape, values);
          const total = x.sum();
          expect(total.shape).toEqual([]);
          let y = x;
          // Reduce the original dims in `order`; without keepdim, earlier reductions shift indices down.
          order.forEach((o, step) => {
            const cur = keepdim ? o : o - order.slice(0, step).filter((p) => p < o).length;
            y = y.sum(cur, keepdim);
          });
          expect(y.shape).toEqual(keepdim ? shape.map(() => 1) : []);
          // Different association orders: each partial sum rounds at most once per element.
          expectClose(arr(y), arr(total), { atol: tol * scale + floor, what: 'dim-by-dim sum', nonFinite: 'match' });
          expectClose(arr(total), [sumRef(stored)], { atol: tol * scale + floor, what: 'total', nonFinite: 'match' });
        }
      }),
      RUNS,
    );
  });

  it('mean = sum / count', () => {
    fc.assert(
      fc.property(caseArb(), (c) => {
        const x = f64(c.shape, c.values);
        const dims = normDimsRef(c.dim, c.shape.length);
        const count = dims.reduce((p, d) => p * c.shape[d]!, 1);
        const m = mean(x, c.dim, c.keepdim);
        const s = sum(x, c.dim, c.keepdim).div(count);
        expect(m.shape).toEqual(s.shape);
        // mean multiplies by 1/count, which differs from dividing by count by at most ~1 ulp.
        expectClose(arr(m), arr(s), { rtol: 4e-16, what: 'mean', nonFinite: 'match' });
      }),
      RUNS,
    );
  });
});

describe('argmax', () => {
  /** Small integer values, so ties are common and "first maximum" is exercised. */
  const tieArb = shapeArb(0, 4, 3).chain((shape) =>
    fc.record({
      shape: fc.constant(shape),
      dim: fc.option(dimArb(shape.length), { nil: undefined }),
      keepdim: fc.boolean(),
      values: fc.array(fc.integer({ min: -2, max: 2 }), { minLength: sizeOf(shape), maxLength: sizeOf(shape) }),
      dtype: fc.constantFrom('f32' as const, 'f64' as const),
    }),
  );

  it('matches a JS first-maximum reference, is i32 and carries no gradient', () => {
    fc.assert(
      fc.property(tieArb, ({ shape, dim, keepdim, values, dtype }) => {
        const x = tensor(dtype === 'f64' ? Float64Array.from(values) : Float32Array.from(values), { shape, requiresGrad: true });
        const y = argmax(x, dim, keepdim);
        expect(y.dtype).toBe('i32');
        expect(y.requiresGrad).toBe(false);
        expect(y.gradNode).toBeNull();
        const firstMax = (xs: number[]) => xs.indexOf(Math.max(...xs));
        if (dim === undefined) {
          // Omitted dim: a flat index into the row-major data.
          expect(y.shape).toEqual(keepdim ? shape.map(() => 1) : []);
          expect(arr(y)).toEqual([firstMax(values)]);
        } else {
          const dims = normDimsRef(dim, shape.length);
          expect(y.shape).toEqual(reducedShapeRef(shape, dims, keepdim));
          expect(arr(y)).toEqual(reduceRef(values, shape, dims, firstMax));
        }
        expect(arr(x.argmax(dim, keepdim))).toEqual(arr(y));
      }),
      RUNS,
    );
  });

  it('flat index when dim is omitted: [[1, 5], [5, 2]] → 1', () => {
    const y = argmax(tensor([[1, 5], [5, 2]]));
    expect(y.shape).toEqual([]);
    expect(y.dtype).toBe('i32');
    expect(y.itemSync()).toBe(1);
    expect(argmax(tensor([[1, 5], [7, 2]]), undefined, true).tolistSync()).toEqual([[2]]);
  });
});

describe('f32 numerics at ±1e4: no NaN/Inf where the true value is finite', () => {
  /** f64 references computed in JS from the same (f32-representable) inputs. */
  const rows: number[][] = [[1e4, -1e4, 0], [1e4, 1e4], [-1e4, -1e4], [-1e4], [1e4, 1e4 - 1, -1e4, 1e4]];

  it('fixed rows: logSoftmax, logsumexp, softmax forward and backward', () => {
    for (const row of rows) {
      const x = tensor(row, { requiresGrad: true });
      const shape = [row.length];
      const lse = logsumexp(x, 0);
      const ls = logSoftmax(x, 0);
      const sm = softmax(x, 0);
      // f32 output rounds once: relative 2^-24 of the value, plus an absolute floor for tiny softmax entries.
      expectClose(arr(lse), [lseRef(row)], { rtol: 1e-7, what: `lse ${row}`, nonFinite: 'match' });
      expectClose(arr(ls), softmaxRef(row, shape, 0, true), { rtol: 1e-7, what: `logSoftmax ${row}`, nonFinite: 'match' });
      expectClose(arr(sm), softmaxRef(row, shape, 0, false), { rtol: 1e-7, atol: 1e-30, what: `softmax ${row}`, nonFinite: 'match' });
      // Gradients: d lse/dx = softmax. In f32, x − lse carries up to ulp(1e4)/2 ≈ 5e-4 of absolute
      // error before exp, so softmax-valued gradients match to ~1e-3 relative.
      lse.backward();
      const g = arr(x.grad!);
      expect(g.every(Number.isFinite)).toBe(true);
      expectClose(g, softmaxRef(row, shape, 0, false), { rtol: 2e-3, atol: 1e-30, what: `dlse ${row}`, nonFinite: 'match' });
      x.grad = null;
      ls.mul(tensor(row.map((_, i) => (i % 2 === 0 ? 1 : -0.5)))).sum().backward();
      expect(arr(x.grad!).every(Number.isFinite)).toBe(true);
      x.grad = null;
      sm.mul(tensor(row.map((_, i) => i + 1))).sum().backward();
      expect(arr(x.grad!).every(Number.isFinite)).toBe(true);
    }
  });

  it('masked entries (−Inf) in a row: softmax 0, logSoftmax −Inf, logsumexp and all gradients finite', () => {
    for (const dtype of ['f32', 'f64'] as const) {
      const row = [0, -Infinity, 1, -Infinity];
      const x = tensor(row, { dtype, requiresGrad: true });
      const sm = arr(softmax(x, 0));
      const e = 1 / (1 + Math.E);
      expectClose(sm, [e, 0, 1 - e, 0], { rtol: 1e-7, what: 'softmax', nonFinite: 'match' });
      expectClose(arr(logSoftmax(x, 0)), [-Math.log1p(Math.E), -Infinity, -Math.log1p(Math.exp(-1)), -Infinity], { rtol: 1e-7, what: 'logSoftmax', nonFinite: 'match' });
      expectClose(arr(logsumexp(x, 0)), [Math.log1p(Math.E)], { rtol: 1e-7, what: 'lse', nonFinite: 'match' });
      for (const f of [(t: Tensor) => logsumexp(t, 0), (t: Tensor) => softmax(t, 0).mul(tensor([1, 2, 3, 4], { dtype })).sum(), (t: Tensor) => logSoftmax(t, 0).slice(0, 0, 1).sum()]) {
        x.grad = null;
        f(x).backward();
        const g = arr(x.grad!);
        expect(g.every(Number.isFinite)).toBe(true);
        expect(Math.abs(g[1]!)).toBe(0);
        expect(Math.abs(g[3]!)).toBe(0);
      }
    }
  });

  it('drawn rows in [-1e4, 1e4] (f32) match the f64 reference', () => {
    const arb = fc.array(fc.oneof(fc.constantFrom(1e4, -1e4, 0), realArb(-1e4, 1e4)).map(Math.fround), { minLength: 1, maxLength: 6 });
    fc.assert(
      fc.property(fc.array(arb, { minLength: 1, maxLength: 4 }), (rowsIn) => {
        const n = rowsIn[0]!.length;
        const rs = rowsIn.map((r) => [...r, ...new Array<number>(n).fill(0)].slice(0, n));
        const values = rs.flat();
        const shape = [rs.length, n];
        const x = f32(shape, values);
        const lse = arr(logsumexp(x, -1));
        const ls = arr(logSoftmax(x, -1));
        const sm = arr(softmax(x, -1));
        for (const v of [...lse, ...ls, ...sm]) expect(Number.isFinite(v)).toBe(true);
        expectClose(lse, rs.map(lseRef), { rtol: 1e-7, atol: 1e-6, what: 'lse', nonFinite: 'match' });
        expectClose(ls, softmaxRef(values, shape, 1, true), { rtol: 1e-7, atol: 1e-6, what: 'logSoftmax', nonFinite: 'match' });
        expectClose(sm, softmaxRef(values, shape, 1, false), { rtol: 1e-6, atol: 1e-7, what: 'softmax', nonFinite: 'match' });
        for (const g of reduceGroups(shape, [1])) expect(Math.abs(g.reduce((p, j) => p + sm[j]!, 0) - 1)).toBeLessThan(1e-6);
      }),
      RUNS,
    );
  });
});

describe('errors name the op and the offending shape or dtype', () => {
  const x = tensor([[1, 2], [3, 4]]);
  it('bad dims', () => {
    expect(() => sum(x, 2)).toThrow(ShapeError);
    expect(() => sum(x, 2)).toThrow(/sum: dim 2 is out of range for a tensor of rank 2 \(expected -2\.\.1\)/);
    expect(() => max(x, [0, -2])).toThrow(ShapeError);
    expect(() => max(x, [0, -2])).toThrow(/max: dim list \[0, -2\] repeats a dim/);
    expect(() => logsumexp(x, -3)).toThrow(/logsumexp: dim -3 is out of range for a tensor of rank 2/);
    expect(() => softmax(x, 5)).toThrow(/softmax: dim 5 is out of range/);
    expect(() => argmax(x, 2)).toThrow(ShapeError);
  });
  it('integer inputs where a float is needed', () => {
    const ix = tensor(Int32Array.from([1, 2, 3]));
    expect(() => mean(ix)).toThrow(DTypeError);
    expect(() => mean(ix)).toThrow(/mean: input has dtype i32/);
    expect(() => logsumexp(ix, 0)).toThrow(/logsumexp: input has dtype i32/);
    expect(() => softmax(ix)).toThrow(DTypeError);
    expect(() => logSoftmax(ix)).toThrow(/logSoftmax: input has dtype i32/);
  });
  it('empty reductions', () => {
    const empty = zeros([0, 2]);
    expect(() => max(empty, 0)).toThrow(ValueError);
    expect(() => max(empty, 0)).toThrow(/max: cannot reduce an empty dim \(shape \[0, 2\]\)/);
    expect(() => min(empty)).toThrow(/min: cannot reduce an empty dim/);
    expect(() => argmax(empty)).toThrow(ValueError);
    expect(() => argmax(empty)).toThrow(/argmax: the input is empty/);
    expect(arr(sum(empty, 0))).toEqual([0, 0]);
  });
});
