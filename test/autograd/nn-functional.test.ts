/**
 * nn-functional ops: softmax / logSoftmax, topk, gather, scatterAdd, embedding and matmul.
 * Gradients against central differences (gradcheck, f64, rtol 1e-6, atol 1e-8), values against
 * plain-JS references, and batch invariance (a row computed alone equals the same row computed
 * inside a batch, bit for bit).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DTypeError, embedding, gather, gradcheck, IndexError, logSoftmax, logsumexp, matmul, scatterAdd, ShapeError, softmax, sum, tensor, topk,
  ValueError, type Tensor,
} from '../../src/index.js';
import { broadcastPairArb, distinctValuesArb, shapeArb, sizeOf, valuesArb } from '../helpers/arbitraries.js';
import { expectBitwise, expectClose, GC } from '../helpers/assert.js';
import {
  dimArb, distinctGridArb, gatherRef, indexValuesArb, matmulRef, realArb, realsArb, scatterAddRef, softmaxRef,
  topkRef,
} from '../helpers/reduce.js';
import { arr, f32, f64, i32 } from '../helpers/tensors.js';

const RUNS = { numRuns: 100 } as const;

const shapeWithValues = (minRank: number, maxRank: number, maxDim = 3, v = realArb()) =>
  shapeArb(minRank, maxRank, maxDim).chain((shape) => fc.record({ shape: fc.constant(shape), values: valuesArb(sizeOf(shape), v) }));

describe('softmax / logSoftmax', () => {
  it('gradcheck and values along every dim (positive and negative) of drawn shapes, rank 1–4', () => {
    fc.assert(
      fc.property(shapeWithValues(1, 4, 3, realArb(-5, 5)), fc.boolean(), ({ shape, values }, negative) => {
        const x = f64(shape, values);
        for (let d = 0; d < shape.length; d++) {
          const dim = negative ? d - shape.length : d;
          for (const [op, log] of [[softmax, false], [logSoftmax, true]] as const) {
            const y = op(x, dim);
            expect(y.shape).toEqual(shape);
            expectClose(arr(y), softmaxRef(values, shape, d, log), { rtol: 1e-14, atol: 1e-15, what: `${log ? 'logSoftmax' : 'softmax'} dim ${dim}`, nonFinite: 'match' });
            expect(gradcheck((t) => op(t, dim), [x], GC)).toBe(true);
          }
        }
      }),
      RUNS,
    );
  });

  it('default dim is the last one; method forms agree', () => {
    const x = f64([2, 3], [1, 2, 3, -1, 0, 4]);
    expect(arr(softmax(x))).toEqual(arr(x.softmax(-1)));
    expect(arr(logSoftmax(x))).toEqual(arr(x.logSoftmax(1)));
  });
});

describe('topk', () => {
  const topkCase = (values: (n: number) => fc.Arbitrary<number[]>) =>
    shapeArb(1, 4, 4).chain((shape) =>
      dimArb(shape.length).chain((dim) => {
        const n = shape[dim < 0 ? dim + shape.length : dim]!;
        return fc.record({ shape: fc.constant(shape), dim: fc.constant(dim), k: fc.integer({ min: 0, max: n }), values: values(sizeOf(shape)) });
      }),
    );

  it('values gradcheck (distinct values); values/indices match the reference; indices i32, sorted, no grad', () => {
    const distinct = (n: number) => (n <= 3 ? distinctValuesArb(n, 1e-3) : distinctGridArb(n, 1e-3));
    fc.assert(
      fc.property(topkCase(distinct), ({ shape, dim, k, values }) => {
        const x = tensor(Float64Array.from(values), { shape, requiresGrad: true });
        const d = dim < 0 ? dim + shape.length : dim;
        const r = topk(x, k, dim);
        const [v, idx] = r;
        expect(v).toBe(r.values);
        expect(idx).toBe(r.indices);
        const ref = topkRef(values, shape, d, k);
        expect(v.shape).toEqual(ref.shape);
        expect(idx.shape).toEqual(ref.shape);
        expect(idx.dtype).toBe('i32');
        expect(idx.requiresGrad).toBe(false);
        expect(idx.gradNode).toBeNull();
        expect(v.requiresGrad).toBe(true);
        expect(arr(v)).toEqual(ref.values);
        expect(arr(idx)).toEqual(ref.indices);
        // Sorted descending along dim, and values[j] = x[indices[j]].
        if (k > 0) {
          expect(arr(gather(x.detach(), d, idx))).toEqual(arr(v));
          if (k > 1) {
            const diff = arr(v.slice(d, 0, k - 1).sub(v.slice(d, 1, k)));
            expect(diff.every((t) => t > 0)).toBe(true);
          }
          expect(gradcheck((t) => topk(t, k, dim).values, [x.detach()], GC)).toBe(true);
        }
      }),
      RUNS,
    );
  });

  it('ties go to the lower index (drawn small integers against a stable-sort reference, f32 and f64)', () => {
    const ints = (n: number) => fc.array(fc.integer({ min: -2, max: 2 }), { minLength: n, maxLength: n });
    fc.assert(
      fc.property(topkCase(ints), fc.boolean(), ({ shape, dim, k, values }, dbl) => {
        const x = (dbl ? f64 : f32)(shape, values);
        const ref = topkRef(values, shape, dim < 0 ? dim + shape.length : dim, k);
        const { values: v, indices } = x.topk(k, dim);
        expect(arr(v)).toEqual(ref.values);
        expect(arr(indices)).toEqual(ref.indices);
      }),
      RUNS,
    );
  });

  it('ties: topk([1, 3, 3, 2, 3], 3) → values [3, 3, 3], indices [1, 2, 4]; gradient goes to those', () => {
    const x = tensor([1, 3, 3, 2, 3], { dtype: 'f64', requiresGrad: true });
    const { values, indices } = topk(x, 3);
    expect(arr(values)).toEqual([3, 3, 3]);
    expect(arr(indices)).toEqual([1, 2, 4]);
    expect(indices.dtype).toBe('i32');
    expect(indices.requiresGrad).toBe(false);
    values.mul(tensor([1, 10, 100], { dtype: 'f64' })).sum().backward();
    expect(arr(x.grad!)).toEqual([0, 1, 10, 0, 100]);
  });
});

/** Input shape (rank 0–4), a dim, an index along that dim of size m, index values and src values. */
const indexCase = shapeArb(0, 4, 3).chain((shape) =>
  (shape.length === 0 ? fc.constant(0) : dimArb(shape.length)).chain((dim) => {
    const d = shape.length === 0 ? 0 : dim < 0 ? dim + shape.length : dim;
    const n = shape.length === 0 ? 1 : shape[d]!;
    return fc.integer({ min: shape.length === 0 ? 1 : 0, max: shape.length === 0 ? 1 : 4 }).chain((m) => {
      const indexShape = shape.length === 0 ? [] : shape.map((v, i) => (i === d ? m : v));
      return fc.record({
        shape: fc.constant(shape),
        dim: fc.constant(dim),
        d: fc.constant(d),
        indexShape: fc.constant(indexShape),
        index: indexValuesArb(indexShape, n),
        x: realsArb(sizeOf(shape)),
        src: realsArb(sizeOf(indexShape)),
      });
    });
  }),
);

describe('gather / scatterAdd', () => {
  it('gather: values match the reference; gradcheck w.r.t. the input (repeated indices accumulate)', () => {
    fc.assert(
      fc.property(indexCase, (c) => {
        const x = f64(c.shape, c.x);
        const index = i32(c.indexShape, c.index);
        const y = gather(x, c.dim, index);
        expect(y.shape).toEqual(c.indexShape);
        expect(y.dtype).toBe('f64');
        expect(arr(y)).toEqual(gatherRef(c.x, c.shape, c.d, c.index, c.indexShape));
        expect(arr(x.gather(c.dim, index))).toEqual(arr(y));
        expect(gradcheck((t) => gather(t, c.dim, index), [x], GC)).toBe(true);
      }),
      RUNS,
    );
  });

  it('scatterAdd: values match the reference; gradcheck w.r.t. the base and src', () => {
    fc.assert(
      fc.property(indexCase, (c) => {
        const x = f64(c.shape, c.x);
        const src = f64(c.indexShape, c.src);
        const index = i32(c.indexShape, c.index);
        const y = scatterAdd(x, c.dim, index, src);
        expect(y.shape).toEqual(c.shape);
        expectClose(arr(y), scatterAddRef(c.x, c.shape, c.d, c.index, c.indexShape, c.src), { rtol: 1e-15, atol: 1e-15, what: 'scatterAdd', nonFinite: 'match' });
        expect(arr(x.scatterAdd(c.dim, index, src))).toEqual(arr(y));
        expect(gradcheck((t, s) => scatterAdd(t, c.dim, index, s), [x, src], GC)).toBe(true);
        // Index passed through gradcheck's inputs (non-float inputs are passed as is).
        expect(gradcheck((t, ix, s) => scatterAdd(t, c.dim, ix, s), [x, index, src], GC)).toBe(true);
      }),
      RUNS,
    );
  });

  it('gather with repeated indices: grad counts the picks', () => {
    const x = tensor([[1, 2, 3], [4, 5, 6]], { dtype: 'f64', requiresGrad: true });
    const y = gather(x, 1, i32([2, 4], [0, 0, 2, 0, 1, 1, 1, 2]));
    expect(y.tolistSync()).toEqual([[1, 1, 3, 1], [5, 5, 5, 6]]);
    y.sum().backward();
    expect(x.grad!.tolistSync()).toEqual([[3, 0, 1], [0, 3, 1]]);
  });
});

describe('embedding', () => {
  const embCase = fc.record({ V: fc.integer({ min: 1, max: 4 }), D: fc.integer({ min: 1, max: 3 }), ishape: shapeArb(0, 3, 4) }).chain((c) =>
    fc.record({
      V: fc.constant(c.V),
      D: fc.constant(c.D),
      ishape: fc.constant(c.ishape),
      index: indexValuesArb(c.ishape, c.V),
      w: realsArb(c.V * c.D),
      g: realsArb(sizeOf(c.ishape) * c.D),
    }),
  );

  it('rows match the reference; gradcheck w.r.t. weight; repeated indices accumulate', () => {
    fc.assert(
      fc.property(embCase, ({ V, D, ishape, index, w, g }) => {
        const weight = tensor(Float64Array.from(w), { shape: [V, D], requiresGrad: true });
        const idx = i32(ishape, index);
        const y = embedding(weight, idx);
        expect(y.shape).toEqual([...ishape, D]);
        expect(arr(y)).toEqual(index.flatMap((r) => w.slice(r * D, (r + 1) * D)));
        expect(arr(weight.embedding(idx))).toEqual(arr(y));
        expect(arr(embedding(idx, weight))).toEqual(arr(y));
        // Gradient: row r of ∂weight = Σ over positions p with index[p] = r of g[p].
        y.mul(f64([...ishape, D], g)).sum().backward();
        const expected = new Array<number>(V * D).fill(0);
        index.forEach((r, p) => {
          for (let j = 0; j < D; j++) expected[r * D + j] += g[p * D + j]!;
        });
        expectClose(arr(weight.grad!), expected, { rtol: 1e-15, atol: 1e-15, what: 'dweight', nonFinite: 'match' });
        expect(gradcheck((t) => embedding(t, idx), [weight.detach()], GC)).toBe(true);
      }),
      RUNS,
    );
  });

  it('repeated index [[1, 1], [0, 1]]: row 1 receives three gradients', () => {
    const weight = tensor([[1, 2], [3, 4], [5, 6]], { dtype: 'f64', requiresGrad: true });
    const y = weight.embedding(i32([2, 2], [1, 1, 0, 1]));
    expect(y.tolistSync()).toEqual([[[3, 4], [3, 4]], [[1, 2], [3, 4]]]);
    y.sum().backward();
    expect(weight.grad!.tolistSync()).toEqual([[1, 1], [3, 3], [0, 0]]);
  });
});

/** matmul operands: optional 1-D on either side, broadcasting batch dims (up to rank 2 each). */
const matmulCase = fc
  .record({
    batch: broadcastPairArb(2, 3),
    m: fc.integer({ min: 1, max: 4 }),
    k: fc.integer({ min: 1, max: 4 }),
    n: fc.integer({ min: 1, max: 4 }),
    aVec: fc.boolean(),
    bVec: fc.boolean(),
  })
  .map(({ batch: [ba, bb], m, k, n, aVec, bVec }) => ({
    aShape: aVec ? [k] : [...ba, m, k],
    bShape: bVec ? [k] : [...bb, k, n],
  }))
  .chain(({ aShape, bShape }) =>
    fc.record({ aShape: fc.constant(aShape), bShape: fc.constant(bShape), a: realsArb(sizeOf(aShape)), b: realsArb(sizeOf(bShape)) }),
  );

describe('matmul', () => {
  it('values match the naive reference and gradcheck passes (2-D, batched broadcasting, 1-D on either side)', () => {
    fc.assert(
      fc.property(matmulCase, ({ aShape, bShape, a, b }) => {
        const A = f64(aShape, a);
        const B = f64(bShape, b);
        const y = matmul(A, B);
        const ref = matmulRef(a, aShape, b, bShape);
        expect(y.shape).toEqual(ref.shape);
        // Same products summed in the same order (p = 0..k−1) in float64: bitwise.
        expectBitwise(arr(y), ref.values, `matmul ${JSON.stringify(aShape)} @ ${JSON.stringify(bShape)}`);
        expectBitwise(arr(A.matmul(B)), ref.values, 'method');
        expect(gradcheck((p, q) => matmul(p, q), [A, B], GC)).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it('named cases: [2,1,3,4] @ [5,4,2] → [2,5,3,2], 1-D @ 2-D, 2-D @ 1-D, 1-D @ 1-D, 1-D @ batched', () => {
    const cases: [number[], number[], number[]][] = [
      [[2, 1, 3, 4], [5, 4, 2], [2, 5, 3, 2]],
      [[3], [3, 2], [2]],
      [[2, 3], [3], [2]],
      [[4], [4], []],
      [[3], [2, 3, 2], [2, 2]],
      [[2, 2, 3], [3], [2, 2]],
      [[1, 2, 3], [4, 3, 1], [4, 2, 1]],
    ];
    cases.forEach(([as, bs, out], i) => {
      const a = Array.from({ length: sizeOf(as) }, (_, j) => Math.sin(j + 1 + i));
      const b = Array.from({ length: sizeOf(bs) }, (_, j) => Math.cos(2 * j + i));
      const y = matmul(f64(as, a), f64(bs, b));
      expect(y.shape).toEqual(out);
      expectBitwise(arr(y), matmulRef(a, as, b, bs).values, `case ${i}`);
      expect(gradcheck((p, q) => matmul(p, q), [f64(as, a), f64(bs, b)], GC)).toBe(true);
    });
    expect(matmul(tensor([1, 2, 3]), tensor([4, 5, 6])).itemSync()).toBe(32);
  });

  it('associativity: (AB)C ≈ A(BC) within 1e-10 relative to (|A||B||C|)', () => {
    const arb = fc
      .record({ m: fc.integer({ min: 1, max: 6 }), k: fc.integer({ min: 1, max: 6 }), l: fc.integer({ min: 1, max: 6 }), n: fc.integer({ min: 1, max: 6 }) })
      .chain(({ m, k, l, n }) =>
        fc.record({
          dims: fc.constant([m, k, l, n] as const),
          a: realsArb(m * k, -10, 10),
          b: realsArb(k * l, -10, 10),
          c: realsArb(l * n, -10, 10),
        }),
      );
    fc.assert(
      fc.property(arb, ({ dims: [m, k, l, n], a, b, c }) => {
        const A = f64([m, k], a);
        const B = f64([k, l], b);
        const C = f64([l, n], c);
        const left = arr(A.matmul(B).matmul(C));
        const right = arr(A.matmul(B.matmul(C)));
        // Elementwise bound: the rounding error of either order is at most ~(k + l)·2^-53 · (|A||B||C|)_ij.
        const abs = (t: Tensor) => t.abs();
        const scale = arr(abs(A).matmul(abs(B)).matmul(abs(C)));
        // Plus 1e-300 absolute: with subnormal inputs the scale itself can underflow to 0.
        left.forEach((v, i) => expect(Math.abs(v - right[i]!)).toBeLessThanOrEqual(1e-10 * scale[i]! + 1e-300));
      }),
      RUNS,
    );
  });
});

describe('batch invariance: a row alone equals the same row in a batch, bit for bit (f32 and f64)', () => {
  const dtypes = [f32, f64] as const;

  it('matmul: row i of A @ B equals A[i:i+1] @ B; batch i of a 3-D product equals that batch alone', () => {
    const arb = fc
      .record({ b: fc.integer({ min: 1, max: 3 }), m: fc.integer({ min: 1, max: 8 }), k: fc.integer({ min: 1, max: 9 }), n: fc.integer({ min: 1, max: 9 }) })
      .chain((s) => fc.record({ s: fc.constant(s), a: realsArb(s.b * s.m * s.k, -100, 100), w: realsArb(s.k * s.n, -100, 100) }));
    fc.assert(
      fc.property(arb, ({ s: { b, m, k, n }, a, w }) => {
        for (const make of dtypes) {
          const A = make([b * m, k], a);
          const W = make([k, n], w);
          const full = A.matmul(W);
          for (let i = 0; i < b * m; i++) expectBitwise(arr(A.slice(0, i, i + 1).matmul(W)), arr(full.slice(0, i, i + 1)), `row ${i}`);
          const A3 = make([b, m, k], a);
          const full3 = A3.matmul(W);
          for (let i = 0; i < b; i++) expectBitwise(arr(A3.slice(0, i, i + 1).matmul(W)), arr(full3.slice(0, i, i + 1)), `batch ${i}`);
          // And one row as a 1-D vector @ W.
          expectBitwise(arr(A.slice(0, 0, 1).reshape([k]).matmul(W)), arr(full.slice(0, 0, 1)), 'vector row');
        }
      }),
      RUNS,
    );
  });

  it('sum / logsumexp / softmax / logSoftmax over the last dim: row i alone equals row i of the batch', () => {
    const arb = fc
      .record({ m: fc.integer({ min: 1, max: 6 }), n: fc.integer({ min: 1, max: 9 }) })
      .chain((s) => fc.record({ m: fc.constant(s.m), n: fc.constant(s.n), x: realsArb(s.m * s.n, -100, 100) }));
    const ops: [string, (t: Tensor) => Tensor][] = [
      ['sum', (t) => sum(t, -1, true)],
      ['logsumexp', (t) => logsumexp(t, -1, true)],
      ['softmax', (t) => softmax(t, -1)],
      ['logSoftmax', (t) => logSoftmax(t, -1)],
    ];
    fc.assert(
      fc.property(arb, ({ m, n, x }) => {
        for (const make of dtypes) {
          const X = make([m, n], x);
          for (const [name, op] of ops) {
            const full = op(X);
            for (let i = 0; i < m; i++) expectBitwise(arr(op(X.slice(0, i, i + 1))), arr(full.slice(0, i, i + 1)), `${name} row ${i}`);
          }
        }
      }),
      RUNS,
    );
  });
});

describe('errors name the op and the offending shape or dtype', () => {
  it('topk', () => {
    const x = tensor([1, 2, 3]);
    expect(() => topk(x, 4)).toThrow(ValueError);
    expect(() => topk(x, 4)).toThrow(/topk: k = 4 must be an integer in 0\.\.3 \(the size of dim 0 of \[3\]\)/);
    expect(() => topk(tensor(1), 1)).toThrow(ShapeError);
    expect(() => topk(tensor(1), 1)).toThrow(/topk: input must have at least 1 dim/);
  });
  it('gather / scatterAdd', () => {
    const x = tensor([[1, 2], [3, 4]]);
    expect(() => gather(x, 0, i32([1, 2], [0, 2]))).toThrow(IndexError);
    expect(() => gather(x, 0, i32([1, 2], [0, 2]))).toThrow(/gather: index 2 at flat position 1 is out of range for dim 0 of size 2/);
    expect(() => gather(x, 0, i32([1, 2], [-1, 0]))).toThrow(/gather: index -1 at flat position 0/);
    expect(() => gather(x, 1, tensor([[0], [1]]))).toThrow(DTypeError);
    expect(() => gather(x, 1, tensor([[0], [1]]))).toThrow(/gather: index must be i32, got f32/);
    expect(() => gather(x, 0, i32([2, 3], [0, 0, 0, 0, 0, 0]))).toThrow(ShapeError);
    expect(() => gather(x, 0, i32([2, 3], [0, 0, 0, 0, 0, 0]))).toThrow(/gather: index shape \[2, 3\] must match input shape \[2, 2\] in every dim except dim 0/);
    expect(() => scatterAdd(x, 1, i32([2, 1], [0, 1]), tensor([[1], [2], [3]]))).toThrow(ShapeError);
    expect(() => scatterAdd(x, 1, i32([2, 1], [0, 1]), tensor([[1], [2], [3]]))).toThrow(/scatterAdd: src shape \[3, 1\] must equal index shape \[2, 1\]/);
    expect(() => scatterAdd(x, 1, i32([2, 1], [0, 1]), tensor([[1], [2]], { dtype: 'f64' }))).toThrow(DTypeError);
    expect(() => scatterAdd(x, 1, i32([2, 1], [0, 1]), tensor([[1], [2]], { dtype: 'f64' }))).toThrow(/scatterAdd: dtypes differ \(f32 and src f64\)/);
  });
  it('embedding', () => {
    const w = tensor([[1, 2], [3, 4], [5, 6]]);
    expect(() => embedding(w, i32([2], [0, 3]))).toThrow(IndexError);
    expect(() => embedding(w, i32([2], [0, 3]))).toThrow(/embedding: index 3 at flat position 1 is out of range for the vocabulary \(weight rows\) of size 3/);
    expect(() => embedding(tensor([1, 2, 3]), i32([1], [0]))).toThrow(ShapeError);
    expect(() => embedding(tensor([1, 2, 3]), i32([1], [0]))).toThrow(/embedding: weight must be 2-D \[vocab, dim\], got \[3\]/);
  });
  it('matmul', () => {
    expect(() => matmul(tensor([[1, 2, 3]]), tensor([[1, 2, 3]]))).toThrow(ShapeError);
    expect(() => matmul(tensor([[1, 2, 3]]), tensor([[1, 2, 3]]))).toThrow(/matmul: \[1, 3\] @ \[1, 3\]: inner dims differ \(3 vs 1\)/);
    const a = tensor(new Float32Array(12), { shape: [2, 2, 3] });
    const b = tensor(new Float32Array(18), { shape: [3, 3, 2] });
    expect(() => matmul(a, b)).toThrow(ShapeError);
    expect(() => matmul(a, b)).toThrow(/matmul: shapes \[2\] and \[3\] cannot be broadcast together/);
    expect(() => matmul(tensor([1, 2]), tensor([1, 2], { dtype: 'f64' }))).toThrow(DTypeError);
    expect(() => matmul(tensor([1, 2]), tensor([1, 2], { dtype: 'f64' }))).toThrow(/matmul: dtypes differ \(f32 and f64\)/);
    expect(() => matmul(i32([2], [1, 2]), i32([2], [1, 2]))).toThrow(/matmul: dtype i32 is not supported/);
    expect(() => matmul(tensor(2), tensor([1, 2]))).toThrow(/matmul: both operands need at least 1 dim, got \[\] and \[2\]/);
  });
});
