/**
 * Shape ops: gradients (gradcheck in f64, rtol 1e-6) over drawn shapes of rank 0–4, and values
 * against plain-JavaScript references (coordinate math for permute/transpose/expand, Python
 * list slicing, concatenation and stacking of nested lists).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cat, gradcheck, stack, tensor, type Tensor } from '../../src/index.js';
import { broadcastPairArb, shapeArb, shapedArb, sizeOf, valuesArb, type Shape } from '../helpers/arbitraries.js';
import { allCoords, at, catRef, distinctRamp, type Nested, nestRef, permutationArb, sliceRef, stackRef } from '../helpers/shape.js';
import { f32, f64 } from '../helpers/tensors.js';

const TOL = { rtol: 1e-6 };
// These properties are cheap (well under a second at 60 runs), so they run more cases.
const RUNS = { numRuns: 100 } as const;

/** An f64 tensor of `shape` with drawn values. */
const f64Arb = (shape: fc.Arbitrary<Shape>) => shapedArb(shape).map(({ shape: s, values }) => f64(s, values));

/** A rank-r tensor whose values are distinct and position-dependent (misplacements show). */
const ramp = (shape: readonly number[], offset = 0) => f64(shape, distinctRamp(sizeOf(shape), offset));

const listOf = (t: Tensor) => t.tolistSync() as Nested;

describe('reshape / flatten / squeeze / unsqueeze', () => {
  /** A target shape with the same size: the dims shuffled, some merged, 1s inserted, maybe one -1. */
  const reshapeCaseArb = shapeArb().chain((s) =>
    fc
      .record({
        perm: permutationArb(s.length),
        merge: fc.array(fc.boolean(), { minLength: s.length, maxLength: s.length }),
        ones: fc.array(fc.nat(), { maxLength: 2 }),
        neg: fc.option(fc.nat(), { nil: undefined }),
        values: valuesArb(sizeOf(s)),
      })
      .map(({ perm, merge, ones, neg, values }) => {
        const target: number[] = [];
        perm.forEach((p, i) => {
          if (merge[i] && target.length > 0) target[target.length - 1]! *= s[p]!;
          else target.push(s[p]!);
        });
        for (const o of ones) target.splice(o % (target.length + 1), 0, 1);
        const expected = [...target];
        const arg = [...target];
        if (neg !== undefined && arg.length > 0) arg[neg % arg.length] = -1;
        return { s, arg, expected, values };
      }),
  );

  it('reshape (incl. -1) keeps the row-major data and infers the free dim', () => {
    fc.assert(
      fc.property(reshapeCaseArb, ({ s, arg, expected, values }) => {
        const x = f64(s, values);
        const y = x.reshape(arg);
        expect(y.shape).toEqual(expected);
        expect(y.toArraySync()).toEqual(Float64Array.from(values));
        // Variadic form agrees.
        expect(x.reshape(...arg).shape).toEqual(expected);
      }),
      RUNS,
    );
  });

  it('reshape gradcheck', () => {
    fc.assert(
      fc.property(reshapeCaseArb, ({ s, arg, values }) => {
        expect(gradcheck((x) => x.reshape(arg).mul(ramp(x.reshape(arg).shape)), [f64(s, values)], TOL)).toBe(true);
      }),
      RUNS,
    );
  });

  type FlattenCase = { s: Shape; a: number; e: number; expected: number[] };
  const flattenCaseArb = shapeArb().chain((s): fc.Arbitrary<FlattenCase> => {
    const r = s.length;
    if (r === 0) return fc.constant({ s, a: 0, e: -1, expected: [1] });
    return fc
      .tuple(fc.integer({ min: 0, max: r - 1 }), fc.integer({ min: 0, max: r - 1 }), fc.boolean(), fc.boolean())
      .map(([p, q, negA, negE]) => {
        const [lo, hi] = p <= q ? [p, q] : [q, p];
        const expected = [...s.slice(0, lo), sizeOf(s.slice(lo, hi + 1)), ...s.slice(hi + 1)];
        return { s, a: negA ? lo - r : lo, e: negE ? hi - r : hi, expected };
      });
  });

  it('flatten(start, end) shape, data and gradcheck', () => {
    fc.assert(
      fc.property(flattenCaseArb.chain((c) => valuesArb(sizeOf(c.s)).map((v) => ({ ...c, v }))), ({ s, a, e, expected, v }) => {
        const x = f64(s, v);
        const y = x.flatten(a, e);
        expect(y.shape).toEqual(expected);
        expect(y.toArraySync()).toEqual(Float64Array.from(v));
        expect(gradcheck((t) => t.flatten(a, e).mul(ramp(expected)), [x], TOL)).toBe(true);
      }),
      RUNS,
    );
  });

  it('flatten() with no arguments gives a 1-D tensor', () => {
    expect(ramp([2, 3, 2]).flatten().shape).toEqual([12]);
    expect(ramp([]).flatten().shape).toEqual([1]);
  });

  it('squeeze() / squeeze(dim) follow torch (a non-1 dim is left alone) and gradcheck', () => {
    const caseArb = shapeArb().chain((s) =>
      fc.tuple(
        fc.constant(s),
        s.length === 0 ? fc.constant(undefined) : fc.option(fc.integer({ min: -s.length, max: s.length - 1 }), { nil: undefined }),
        valuesArb(sizeOf(s)),
      ),
    );
    fc.assert(
      fc.property(caseArb, ([s, dim, v]) => {
        const x = f64(s, v);
        const y = x.squeeze(dim);
        const d = dim === undefined ? undefined : dim < 0 ? dim + s.length : dim;
        const expected = d === undefined ? s.filter((n) => n !== 1) : s[d] === 1 ? s.filter((_, i) => i !== d) : s;
        expect(y.shape).toEqual(expected);
        expect(y.toArraySync()).toEqual(Float64Array.from(v));
        expect(gradcheck((t) => t.squeeze(dim).mul(ramp(expected)), [x], TOL)).toBe(true);
      }),
      RUNS,
    );
  });

  it('unsqueeze(dim) for dim in [-(r+1), r] and gradcheck', () => {
    const caseArb = shapeArb(0, 3).chain((s) =>
      fc.tuple(fc.constant(s), fc.integer({ min: -(s.length + 1), max: s.length }), valuesArb(sizeOf(s))),
    );
    fc.assert(
      fc.property(caseArb, ([s, dim, v]) => {
        const x = f64(s, v);
        const d = dim < 0 ? dim + s.length + 1 : dim;
        const expected = [...s.slice(0, d), 1, ...s.slice(d)];
        const y = x.unsqueeze(dim);
        expect(y.shape).toEqual(expected);
        expect(y.toArraySync()).toEqual(Float64Array.from(v));
        expect(gradcheck((t) => t.unsqueeze(dim).mul(ramp(expected)), [x], TOL)).toBe(true);
      }),
      RUNS,
    );
  });
});

describe('permute / transpose', () => {
  const permCaseArb = shapeArb(0, 4).chain((s) => fc.tuple(fc.constant(s), permutationArb(s.length), valuesArb(sizeOf(s))));

  it('permute values: out[c] = x[c∘perm⁻¹] (coordinate reference)', () => {
    fc.assert(
      fc.property(permCaseArb, ([s, perm, v]) => {
        const x = f64(s, v);
        const y = x.permute(perm);
        expect(y.shape).toEqual(perm.map((p) => s[p]));
        const xl = nestRef(v, s);
        const yl = listOf(y);
        for (const c of allCoords(y.shape)) {
          const src = new Array<number>(s.length);
          perm.forEach((p, i) => (src[p] = c[i]!));
          expect(at(yl, c)).toBe(at(xl, src));
        }
        // Negative dims name the same permutation.
        expect(x.permute(perm.map((p) => p - s.length)).toArraySync()).toEqual(y.toArraySync());
      }),
      RUNS,
    );
  });

  it('permute gradcheck', () => {
    fc.assert(
      fc.property(permCaseArb, ([s, perm, v]) => {
        const outShape = perm.map((p) => s[p]!);
        expect(gradcheck((t) => t.permute(perm).mul(ramp(outShape)), [f64(s, v)], TOL)).toBe(true);
      }),
      RUNS,
    );
  });

  const transposeCaseArb = shapeArb(1, 4).chain((s) =>
    fc.tuple(
      fc.constant(s),
      fc.integer({ min: -s.length, max: s.length - 1 }),
      fc.integer({ min: -s.length, max: s.length - 1 }),
      valuesArb(sizeOf(s)),
    ),
  );

  it('transpose(d0, d1) swaps two coordinates (values) and gradchecks', () => {
    fc.assert(
      fc.property(transposeCaseArb, ([s, d0, d1, v]) => {
        const r = s.length;
        const [a, b] = [(d0 + r) % r, (d1 + r) % r];
        const x = f64(s, v);
        const y = x.transpose(d0, d1);
        const expected = [...s];
        [expected[a], expected[b]] = [s[b]!, s[a]!];
        expect(y.shape).toEqual(expected);
        const xl = nestRef(v, s);
        const yl = listOf(y);
        for (const c of allCoords(expected)) {
          const src = [...c];
          [src[a], src[b]] = [c[b]!, c[a]!];
          expect(at(yl, c)).toBe(at(xl, src));
        }
        expect(gradcheck((t) => t.transpose(d0, d1).mul(ramp(expected)), [x], TOL)).toBe(true);
      }),
      RUNS,
    );
  });

  it('transpose() defaults to the last two dims; transposing twice is the identity', () => {
    const x = ramp([2, 3, 4]);
    expect(x.transpose().shape).toEqual([2, 4, 3]);
    expect(x.transpose().transpose().toArraySync()).toEqual(x.toArraySync());
    expect(x.transpose().toArraySync()).toEqual(x.transpose(1, 2).toArraySync());
  });

  it('transpose(0, 0) and transpose(-1, 0) of a 0-d tensor return it (dims wrap as in torch)', () => {
    const x = f64([], [2.5]);
    expect(x.transpose(0, 0).shape).toEqual([]);
    expect(x.transpose(-1, 0).itemSync()).toBe(2.5);
  });
});

describe('expand and broadcasting', () => {
  /** From a shape with size-1 dims: grow some 1s, keep others (or write -1), add 0–2 leading dims. */
  const expandCaseArb = shapeArb(0, 3).chain((s) =>
    fc
      .record({
        lead: fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2 }),
        grow: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: s.length, maxLength: s.length }),
        keepAsNeg: fc.array(fc.boolean(), { minLength: s.length, maxLength: s.length }),
        v: valuesArb(sizeOf(s)),
      })
      .map(({ lead, grow, keepAsNeg, v }) => {
        const expected = [...lead, ...s.map((d, i) => (d === 1 ? grow[i]! : d))];
        const arg = [...lead, ...s.map((d, i) => (d !== 1 && keepAsNeg[i] ? -1 : d === 1 ? grow[i]! : d))];
        return { s, arg, expected, v };
      }),
  );

  it('expand values: stretched dims repeat, leading dims repeat the whole tensor', () => {
    fc.assert(
      fc.property(expandCaseArb, ({ s, arg, expected, v }) => {
        const y = f64(s, v).expand(arg);
        expect(y.shape).toEqual(expected);
        const xl = nestRef(v, s);
        const yl = listOf(y);
        const lead = expected.length - s.length;
        for (const c of allCoords(expected)) {
          const src = c.slice(lead).map((ci, i) => (s[i] === 1 ? 0 : ci));
          expect(at(yl, c)).toBe(at(xl, src));
        }
      }),
      RUNS,
    );
  });

  it('expand gradcheck (gradient sums over the stretched and leading dims)', () => {
    fc.assert(
      fc.property(expandCaseArb, ({ s, arg, expected, v }) => {
        expect(gradcheck((t) => t.expand(arg).mul(ramp(expected)), [f64(s, v)], TOL)).toBe(true);
      }),
      RUNS,
    );
  });

  it('a.add(b) / a.mul(b) equal the same op after explicit expand, bitwise (f32)', () => {
    const caseArb = broadcastPairArb().chain(([sa, sb]) =>
      fc.tuple(fc.constant(sa), fc.constant(sb), valuesArb(sizeOf(sa)), valuesArb(sizeOf(sb))),
    );
    fc.assert(
      fc.property(caseArb, ([sa, sb, va, vb]) => {
        // Independent broadcast rule: align right, size 1 stretches.
        const r = Math.max(sa.length, sb.length);
        const pa = [...new Array<number>(r - sa.length).fill(1), ...sa];
        const pb = [...new Array<number>(r - sb.length).fill(1), ...sb];
        const out = pa.map((d, i) => (d === 1 ? pb[i]! : d));
        const a = f32(sa, va);
        const b = f32(sb, vb);
        const y = a.add(b);
        expect(y.shape).toEqual(out);
        expect(y.toArraySync()).toEqual(a.expand(out).add(b.expand(out)).toArraySync());
        expect(a.mul(b).toArraySync()).toEqual(a.expand(out).mul(b.expand(out)).toArraySync());
      }),
      RUNS,
    );
  });
});

describe('cat / stack', () => {
  /** 2–3 tensors that agree outside `dim`, with sizes along it in [minLen, 3]. */
  const catCaseArb = (minLen: number) =>
    shapeArb(1, 4).chain((s) =>
      fc
        .tuple(
          fc.integer({ min: -s.length, max: s.length - 1 }),
          fc.array(fc.integer({ min: minLen, max: 3 }), { minLength: 2, maxLength: 3 }),
        )
        .chain(([dim, lens]) => {
          const d = dim < 0 ? dim + s.length : dim;
          const shapes = lens.map((n) => s.map((v, i) => (i === d ? n : v)));
          return fc.tuple(fc.constant(dim), fc.constant(d), fc.tuple(...shapes.map((sh) => valuesArb(sizeOf(sh)))), fc.constant(shapes));
        }),
    );

  it('cat values equal concatenation of nested lists (incl. empty parts and negative dims)', () => {
    fc.assert(
      fc.property(catCaseArb(0), ([dim, d, vals, shapes]) => {
        const xs = shapes.map((sh, i) => f64(sh, vals[i]!));
        const y = cat(xs, dim);
        const expectedShape = [...shapes[0]!];
        expectedShape[d] = shapes.reduce((p, sh) => p + sh[d]!, 0);
        expect(y.shape).toEqual(expectedShape);
        const ref = catRef(shapes.map((sh, i) => nestRef(vals[i]!, sh) as Nested[]), d);
        expect(y.tolistSync()).toEqual(ref);
        // Method form: xs[0].cat(rest, dim).
        expect(xs[0]!.cat(xs.slice(1), dim).toArraySync()).toEqual(y.toArraySync());
      }),
      RUNS,
    );
  });

  it('cat gradcheck (each input gets its own slice of the gradient)', () => {
    fc.assert(
      fc.property(catCaseArb(1), ([dim, d, vals, shapes]) => {
        const xs = shapes.map((sh, i) => f64(sh, vals[i]!));
        const outShape = [...shapes[0]!];
        outShape[d] = shapes.reduce((p, sh) => p + sh[d]!, 0);
        expect(gradcheck((...ts) => cat(ts, dim).mul(ramp(outShape)), xs, TOL)).toBe(true);
      }),
      RUNS,
    );
  });

  const stackCaseArb = shapeArb(0, 3).chain((s) =>
    fc.tuple(
      fc.constant(s),
      fc.integer({ min: -(s.length + 1), max: s.length }),
      fc.array(valuesArb(sizeOf(s)), { minLength: 2, maxLength: 3 }),
    ),
  );

  it('stack values equal stacking nested lists, and gradcheck', () => {
    fc.assert(
      fc.property(stackCaseArb, ([s, dim, vals]) => {
        const d = dim < 0 ? dim + s.length + 1 : dim;
        const xs = vals.map((v) => f64(s, v));
        const y = stack(xs, dim);
        const expectedShape = [...s.slice(0, d), vals.length, ...s.slice(d)];
        expect(y.shape).toEqual(expectedShape);
        expect(y.tolistSync()).toEqual(stackRef(vals.map((v) => nestRef(v, s)), d));
        expect(xs[0]!.stack(xs.slice(1), dim).toArraySync()).toEqual(y.toArraySync());
        expect(gradcheck((...ts) => stack(ts, dim).mul(ramp(expectedShape)), xs, TOL)).toBe(true);
      }),
      RUNS,
    );
  });
});

describe('slice', () => {
  const sliceCaseArb = shapeArb(1, 4).chain((s) =>
    fc.tuple(
      fc.constant(s),
      fc.integer({ min: -s.length, max: s.length - 1 }),
      fc.integer({ min: -6, max: 6 }),
      fc.option(fc.integer({ min: -6, max: 6 }), { nil: undefined }),
      valuesArb(sizeOf(s)),
    ),
  );

  it('slice(dim, start, end) equals Python list slicing (negative and out-of-range bounds clamp)', () => {
    fc.assert(
      fc.property(sliceCaseArb, ([s, dim, start, end, v]) => {
        const d = dim < 0 ? dim + s.length : dim;
        const y = f64(s, v).slice(dim, start, end);
        const ref = sliceRef(nestRef(v, s) as Nested[], d, start, end);
        const n = s[d]!;
        const norm = (i: number) => Math.min(n, Math.max(0, i < 0 ? i + n : i));
        const len = Math.max(0, norm(end ?? n) - norm(start));
        expect(y.shape).toEqual(s.map((x, i) => (i === d ? len : x)));
        expect(y.tolistSync()).toEqual(ref);
      }),
      RUNS,
    );
  });

  it('slice gradcheck (zeros outside the slice)', () => {
    fc.assert(
      fc.property(sliceCaseArb, ([s, dim, start, end, v]) => {
        const x = f64(s, v);
        const outShape = x.slice(dim, start, end).shape;
        expect(gradcheck((t) => t.slice(dim, start, end).mul(ramp(outShape)), [x], TOL)).toBe(true);
      }),
      RUNS,
    );
  });

  it('slice examples: x[1:], x[-2:], x[:-1], x[5:9], x[2:1]', () => {
    const x = tensor([0, 1, 2, 3, 4], { dtype: 'f64' });
    expect(x.slice(0, 1).tolistSync()).toEqual([1, 2, 3, 4]);
    expect(x.slice(0, -2).tolistSync()).toEqual([3, 4]);
    expect(x.slice(0, 0, -1).tolistSync()).toEqual([0, 1, 2, 3]);
    expect(x.slice(0, 5, 9).tolistSync()).toEqual([]);
    expect(x.slice(0, 2, 1).shape).toEqual([0]);
    expect(x.slice(0, -99, 99).tolistSync()).toEqual([0, 1, 2, 3, 4]);
  });
});

describe('clone and to()', () => {
  it('clone copies values into a new tensor and gradchecks', () => {
    fc.assert(
      fc.property(f64Arb(shapeArb()), (x) => {
        const y = x.clone();
        expect(y).not.toBe(x);
        expect(y.shape).toEqual(x.shape);
        expect(y.toArraySync()).toEqual(x.toArraySync());
        expect(gradcheck((t) => t.clone().mul(t), [x], TOL)).toBe(true);
      }),
      RUNS,
    );
  });

  it("to('f64') is exact and to('f32') brings back the same bits; gradients cross the cast", () => {
    fc.assert(
      fc.property(shapedArb(shapeArb()), shapedArb(shapeArb()), ({ shape, values }, w) => {
        const x = f32(shape, values);
        const x64 = x.to('f64');
        expect(x64.dtype).toBe('f64');
        expect(x64.toArraySync()).toEqual(Float64Array.from(x.toArraySync()));
        expect(x64.to('f32').toArraySync()).toEqual(x.toArraySync());
        // d/dx sum(x.to('f64') * c) = c, delivered in x's dtype.
        const xg = f32(shape, values).setRequiresGrad();
        const c = ramp(shape, w.values.length);
        xg.to('f64').mul(c).sum().backward();
        expect(xg.grad!.dtype).toBe('f32');
        expect(xg.grad!.toArraySync()).toEqual(Float32Array.from(c.toArraySync()));
      }),
      RUNS,
    );
  });

  it("to('f64') on an f64 tensor is the identity for values and gradients (gradcheck)", () => {
    fc.assert(
      fc.property(f64Arb(shapeArb()), (x) => {
        expect(gradcheck((t) => t.to('f64').mul(t.to('f64')), [x], TOL)).toBe(true);
      }),
      { numRuns: 20 },
    );
  });
});
