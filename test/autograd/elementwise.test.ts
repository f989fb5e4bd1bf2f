/**
 * Property tests for the elementwise ops: every differentiable op passes gradcheck in f64 at
 * rtol 1e-6 on drawn shapes (ranks 0–4, size-1 dims) and values inside its domain; forward
 * values match plain-JS references; comparisons and sign carry no gradient; broadcasting is
 * the same as expanding first; sigmoid/softplus stay finite in f32 far out; i32 arithmetic
 * stays i32 and float-only ops refuse i32 with a DTypeError naming the op.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  type Tensor, DTypeError, tensor, gradcheck,
  add, sub, mul, div, pow, maximum, minimum, eq, ne, gt, ge, lt, le, where, erf, gelu, sigmoid, softplus,
  exp, log, sign, neg, abs,
} from '../../src/index.js';
import { shapeArb, sizeOf, spreadValueArb, spreadValueAwayArb, valuesArb } from '../helpers/arbitraries.js';
import { expectClose } from '../helpers/assert.js';
import {
  BINARY_SPECS, UNARY_SPECS, binaryRef, broadcastIndexMap, broadcastShapeRef, broadcastTripleArb, drawnArb, drawnPairArb,
  t32, t64, trustedErf, type Drawn,
} from '../helpers/elementwise.js';
import { arr } from '../helpers/tensors.js';

const GC = { rtol: 1e-6 } as const;
const RUNS_GC = { numRuns: 100 } as const;
const RUNS_FWD = { numRuns: 150 } as const;


describe('erf reference', () => {
  // Published values (Abramowitz & Stegun table 7.1; checked against mpmath).
  const KNOWN: [number, number][] = [
    [0.5, 0.5204998778130465],
    [1, 0.8427007929497149],
    [2, 0.9953222650189527],
    [3, 0.9999779095030014],
  ];
  // The alternating series cancels terms up to ~190 at |x| = 3, so it is good to ~3e-14 there:
  // checked at 1e-13, ten times inside the 1e-12 forward tolerance it serves.
  it('the test suite erf (Maclaurin series) reproduces known values to 1e-13', () => {
    for (const [x, v] of KNOWN) {
      expect(Math.abs(trustedErf(x) - v)).toBeLessThan(1e-13);
      expect(Math.abs(trustedErf(-x) + v)).toBeLessThan(1e-13);
    }
    expect(trustedErf(0)).toBe(0);
  });
  it('the library erf and gelu reproduce known values', () => {
    const xs = KNOWN.flatMap(([x]) => [x, -x]);
    const got = arr(erf(tensor(Float64Array.from(xs))));
    const want = KNOWN.flatMap(([, v]) => [v, -v]);
    expectClose(got, want, { rtol: 1e-14, what: 'erf' });
    // gelu(1) = Φ(1)
    expect(Math.abs(gelu(tensor(Float64Array.from([1]))).itemSync() - 0.8413447460685429)).toBeLessThan(1e-15);
    expect(Math.abs(gelu(tensor(Float64Array.from([-1]))).itemSync() + (1 - 0.8413447460685429))).toBeLessThan(1e-15);
  });
});

describe('unary ops: gradcheck in f64 (rtol 1e-6)', () => {
  for (const spec of UNARY_SPECS) {
    it(`${spec.name}`, () => {
      fc.assert(
        fc.property(drawnArb(spec.value), (d) => {
          expect(gradcheck(spec.fn, [t64(d)], GC)).toBe(true);
        }),
        RUNS_GC,
      );
    });
  }
});

describe('unary ops: forward values match plain JS (f64, relative 1e-12)', () => {
  for (const spec of UNARY_SPECS) {
    it(`${spec.name}`, () => {
      fc.assert(
        fc.property(drawnArb(spec.value), (d) => {
          const y = spec.fn(t64(d));
          expect(y.shape).toEqual(d.shape);
          expect(y.dtype).toBe('f64');
          // 1e-300 only absorbs subnormal inputs, where relative precision does not exist.
          expectClose(arr(y), d.values.map(spec.ref), { rtol: 1e-12, atol: 1e-300, what: spec.name });
        }),
        RUNS_FWD,
      );
    });
  }
});

describe('binary ops with broadcasting: gradcheck in f64 w.r.t. both inputs (rtol 1e-6)', () => {
  for (const spec of BINARY_SPECS) {
    it(`${spec.name}`, () => {
      fc.assert(
        fc.property(drawnPairArb(spec.a, spec.b, spec.ok), ({ a, b }) => {
          expect(gradcheck(spec.fn, [t64(a), t64(b)], GC)).toBe(true);
        }),
        RUNS_GC,
      );
    });
  }
});

describe('binary ops with broadcasting: forward values and shape equal the JS reference exactly', () => {
  for (const spec of BINARY_SPECS) {
    it(`${spec.name}`, () => {
      fc.assert(
        fc.property(drawnPairArb(spec.a, spec.b, spec.ok), ({ a, b }) => {
          const y = spec.fn(t64(a), t64(b));
          const ref = binaryRef(spec.ref, a.shape, a.values, b.shape, b.values);
          expect(y.shape).toEqual(ref.shape);
          expect(arr(y)).toEqual(ref.values);
        }),
        RUNS_FWD,
      );
    });
  }
});

describe('pow with a scalar on one side', () => {
  it('x.pow(p): scalar exponent, gradcheck w.r.t. the base', () => {
    const p = fc.oneof(fc.constantFrom(0, 1, 2, 3, 0.5, -0.5, -1, -2), spreadValueArb(-2, 2));
    fc.assert(
      fc.property(drawnArb(spreadValueArb(0.2, 2)), p, (d, e) => {
        expect(gradcheck((x) => x.pow(e), [t64(d)], GC)).toBe(true);
        expectClose(arr(t64(d).pow(e)), d.values.map((v) => Math.pow(v, e)), { rtol: 1e-15, what: 'pow' });
      }),
      RUNS_GC,
    );
  });
  it('pow(s, x): scalar base, gradcheck w.r.t. the exponent', () => {
    fc.assert(
      fc.property(spreadValueArb(0.2, 3), drawnArb(spreadValueArb(-2, 2)), (s, d) => {
        expect(gradcheck((x) => pow(s, x), [t64(d)], GC)).toBe(true);
      }),
      RUNS_GC,
    );
  });
});

describe('binary ops with a scalar operand (either side): gradcheck in f64', () => {
  const cases: [string, (x: Tensor, s: number) => Tensor, number[]][] = [
    ['x + s', (x, s) => x.add(s), []],
    ['s - x', (x, s) => sub(s, x), []],
    ['x * s', (x, s) => x.mul(s), []],
    ['s / x', (x, s) => div(s, x), [0]],
    ['x / s', (x, s) => x.div(s), []],
  ];
  for (const [name, f, kinks] of cases) {
    it(name, () => {
      fc.assert(
        fc.property(drawnArb(spreadValueAwayArb(kinks, 0.25)), spreadValueAwayArb([0], 0.25), (d, s) => {
          expect(gradcheck((x) => f(x, s), [t64(d)], GC)).toBe(true);
        }),
        RUNS_GC,
      );
    });
  }
  // Regression (found by the property below): full() skipped the fill for -0, so a scalar
  // operand -0 became +0 and lost its sign.
  it('regression: a scalar -0 operand keeps its sign', () => {
    const x = t64({ shape: [2], values: [1, 0.5] });
    expect(arr(x.div(-0))).toEqual([-Infinity, -Infinity]);
    expect(Object.is(arr(minimum(-0, x))[1], -0)).toBe(true);
    expect(Object.is(arr(t64({ shape: [], values: [-0] }).add(-0))[0], -0)).toBe(true);
  });
  it('maximum(x, s) and minimum(s, x), x away from s', () => {
    const arb = spreadValueArb(-2, 2).chain((s) => drawnArb(spreadValueAwayArb([s])).map((d) => ({ s, d })));
    fc.assert(
      fc.property(arb, ({ s, d }) => {
        expect(gradcheck((x) => maximum(x, s), [t64(d)], GC)).toBe(true);
        expect(gradcheck((x) => minimum(s, x), [t64(d)], GC)).toBe(true);
        expect(arr(maximum(t64(d), s))).toEqual(d.values.map((v) => Math.max(v, s)));
        expect(arr(minimum(s, t64(d)))).toEqual(d.values.map((v) => Math.min(v, s)));
      }),
      RUNS_GC,
    );
  });
});

describe('clamp: inputs away from the bounds, gradcheck in f64', () => {
  // lo ∈ [-2, 0.5], hi = lo + [0.5, 3]; values in [-3, 3] at least 1e-3 from either bound.
  const bounds = fc.tuple(spreadValueArb(-2, 0.5), spreadValueArb(0.5, 3)).map(([lo, w]) => [lo, lo + w] as const);
  it('clamp(min, max)', () => {
    const arb = bounds.chain(([lo, hi]) => drawnArb(spreadValueAwayArb([lo, hi])).map((d) => ({ lo, hi, d })));
    fc.assert(
      fc.property(arb, ({ lo, hi, d }) => {
        expect(gradcheck((x) => x.clamp(lo, hi), [t64(d)], GC)).toBe(true);
        expect(arr(t64(d).clamp(lo, hi))).toEqual(d.values.map((v) => Math.min(Math.max(v, lo), hi)));
      }),
      RUNS_GC,
    );
  });
  it('clamp(min) only', () => {
    const arb = spreadValueArb(-2, 2).chain((lo) => drawnArb(spreadValueAwayArb([lo])).map((d) => ({ lo, d })));
    fc.assert(
      fc.property(arb, ({ lo, d }) => {
        expect(gradcheck((x) => x.clamp(lo), [t64(d)], GC)).toBe(true);
        expect(arr(t64(d).clamp(lo))).toEqual(d.values.map((v) => Math.max(v, lo)));
      }),
      RUNS_GC,
    );
  });
  it('clamp(null, max) and clamp(undefined, max): max only', () => {
    const arb = spreadValueArb(-2, 2).chain((hi) => drawnArb(spreadValueAwayArb([hi])).map((d) => ({ hi, d })));
    fc.assert(
      fc.property(arb, ({ hi, d }) => {
        expect(gradcheck((x) => x.clamp(null, hi), [t64(d)], GC)).toBe(true);
        expect(gradcheck((x) => x.clamp(undefined, hi), [t64(d)], GC)).toBe(true);
        expect(arr(t64(d).clamp(null, hi))).toEqual(d.values.map((v) => Math.min(v, hi)));
      }),
      RUNS_GC,
    );
  });
});

describe('where(cond, a, b) with broadcasting among cond, a and b', () => {
  const arb = broadcastTripleArb().chain(([sc, sa, sb]) =>
    fc
      .tuple(valuesArb(sizeOf(sc), fc.constantFrom(0, 1)), valuesArb(sizeOf(sa), spreadValueArb()), valuesArb(sizeOf(sb), spreadValueArb()))
      .map(([c, a, b]) => ({ c: { shape: [...sc], values: c }, a: { shape: [...sa], values: a }, b: { shape: [...sb], values: b } })),
  );
  it('gradcheck w.r.t. a and b (rtol 1e-6)', () => {
    fc.assert(
      fc.property(arb, ({ c, a, b }) => {
        const cond = t64(c);
        expect(gradcheck((x, y) => where(cond, x, y), [t64(a), t64(b)], GC)).toBe(true);
      }),
      RUNS_GC,
    );
  });
  it('values and shape match the JS reference (function and method forms)', () => {
    fc.assert(
      fc.property(arb, ({ c, a, b }) => {
        const shape = broadcastShapeRef(c.shape, a.shape, b.shape);
        const [mc, ma, mb] = [c, a, b].map((d) => broadcastIndexMap(d.shape, shape)) as [number[], number[], number[]];
        const want = mc.map((ic, i) => (c.values[ic] !== 0 ? a.values[ma[i]!]! : b.values[mb[i]!]!));
        const y = where(t64(c), t64(a), t64(b));
        expect(y.shape).toEqual(shape);
        expect(arr(y)).toEqual(want);
        expect(arr(t64(a).where(t64(c), t64(b)))).toEqual(want);
      }),
      RUNS_FWD,
    );
  });
});

describe('comparisons and sign: no gradient, values match JS', () => {
  // Values on a coarse grid so ties (eq, ge, le) are common.
  const grid = fc.integer({ min: -4, max: 4 }).map((k) => k / 2);
  const CMP: [string, (a: Tensor, b: Tensor) => Tensor, (a: number, b: number) => boolean][] = [
    ['eq', eq, (a, b) => a === b],
    ['ne', ne, (a, b) => a !== b],
    ['gt', gt, (a, b) => a > b],
    ['ge', ge, (a, b) => a >= b],
    ['lt', lt, (a, b) => a < b],
    ['le', le, (a, b) => a <= b],
  ];
  for (const [name, f, ref] of CMP) {
    it(`${name}: requiresGrad false with no gradNode; f64 → f64 mask, f32 and i32 → f32 mask`, () => {
      fc.assert(
        fc.property(drawnPairArb(grid, grid), ({ a, b }) => {
          const want = binaryRef((x, y) => (ref(x, y) ? 1 : 0), a.shape, a.values, b.shape, b.values);
          const ta = t64(a, true);
          const tb = t64(b, true);
          for (const y of [f(ta, tb), (ta as unknown as Record<string, (o: Tensor) => Tensor>)[name]!.call(ta, tb)]) {
            expect(y.requiresGrad).toBe(false);
            expect(y.gradNode).toBeNull();
            expect(y.dtype).toBe('f64');
            expect(y.shape).toEqual(want.shape);
            expect(arr(y)).toEqual(want.values);
          }
          const y32 = f(t32(a, true), t32(b, true));
          expect(y32.requiresGrad).toBe(false);
          expect(y32.dtype).toBe('f32');
          expect(arr(y32)).toEqual(want.values);
          const ai = tensor(Int32Array.from(a.values.map((v) => 2 * v)), { shape: a.shape });
          const bi = tensor(Int32Array.from(b.values.map((v) => 2 * v)), { shape: b.shape });
          const yi = f(ai, bi);
          expect(yi.dtype).toBe('f32');
          expect(arr(yi)).toEqual(want.values);
        }),
        RUNS_FWD,
      );
    });
  }
  it('comparison with a scalar on either side', () => {
    fc.assert(
      fc.property(drawnArb(grid), grid, (d, s) => {
        expect(arr(t64(d, true).gt(s))).toEqual(d.values.map((v) => (v > s ? 1 : 0)));
        expect(arr(lt(s, t64(d, true)))).toEqual(d.values.map((v) => (s < v ? 1 : 0)));
      }),
      RUNS_FWD,
    );
  });
  it('sign: requiresGrad false, values match Math.sign, and acts as a constant in backward', () => {
    fc.assert(
      fc.property(drawnArb(fc.oneof(grid, spreadValueArb())), (d) => {
        const x = t64(d, true);
        const s = sign(x);
        expect(s.requiresGrad).toBe(false);
        expect(s.gradNode).toBeNull();
        expect(arr(s)).toEqual(d.values.map((v) => (v > 0 ? 1 : v < 0 ? -1 : 0)));
        // d/dx [sign(x)·x] = sign(x) (sign is piecewise constant, so no term from it).
        x.sign().mul(x).sum().backward();
        expect(arr(x.grad!)).toEqual(d.values.map((v) => (v > 0 ? 1 : v < 0 ? -1 : 0)));
      }),
      RUNS_FWD,
    );
  });
});

describe('broadcasting algebra: op(a, b) equals op(a.expand(out), b.expand(out)) bitwise', () => {
  for (const spec of BINARY_SPECS) {
    it(spec.name, () => {
      fc.assert(
        fc.property(drawnPairArb(spec.a, spec.b, spec.ok), ({ a, b }) => {
          const out = broadcastShapeRef(a.shape, b.shape);
          const direct = spec.fn(t64(a), t64(b));
          const expanded = spec.fn(t64(a).expand(out), t64(b).expand(out));
          expect(direct.shape).toEqual(out);
          expect(expanded.shape).toEqual(out);
          expect(arr(direct)).toEqual(arr(expanded));
        }),
        RUNS_FWD,
      );
    });
  }
});

describe('numerics: sigmoid and softplus in f32 far from 0', () => {
  const EDGES = [1e4, -1e4, 88, -88, 100, -100, 1000, -1000, 0, 20, -20];
  const farArb = fc.oneof(fc.constantFrom(...EDGES), spreadValueArb(-1e4, 1e4), spreadValueArb(-120, 120));
  // f64 references, stable on the whole range.
  const sigRef = (x: number) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));
  const spRef = (x: number) => (x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x)));
  // f32 tolerance: 2 ulps relative (2^-22), plus 2^-126 absolute (f32's smallest normal) so
  // results that are subnormal in f32 (sigmoid(-100) ≈ 3.7e-44) are judged absolutely.
  const REL = 2 ** -22;
  const ABS = 2 ** -126;
  // Gradients are composed of f32 ops (sigmoid: y·(1 − y)), so 1 − y costs up to half an ulp
  // of 1 in absolute terms: 2^-24 absolute, 1e-5 relative.
  const G_REL = 1e-5;
  const G_ABS = 2 ** -24;

  function check(values: number[]) {
    const xs = values.map(Math.fround);
    const d: Drawn = { shape: [xs.length], values: xs };
    for (const [name, f, ref, dref] of [
      ['sigmoid', sigmoid, sigRef, (x: number) => sigRef(x) * sigRef(-x)],
      ['softplus', softplus, spRef, sigRef],
    ] as const) {
      const x = t32(d, true);
      const y = f(x);
      expect(y.dtype).toBe('f32');
      const got = arr(y);
      for (const v of got) expect(Number.isFinite(v)).toBe(true);
      expectClose(got, xs.map(ref), { rtol: REL, atol: ABS, what: `${name} f32` });
      y.sum().backward();
      const g = arr(x.grad!);
      for (const v of g) expect(Number.isFinite(v)).toBe(true);
      expectClose(g, xs.map(dref), { rtol: G_REL, atol: G_ABS, what: `${name}' f32` });
    }
  }

  it('exactly ±1e4, ±1000, ±100, ±88, ±20, 0', () => {
    check(EDGES);
    const y = arr(sigmoid(t32({ shape: [4], values: [1e4, -1e4, 88, -88] })));
    expect(y[0]).toBe(1);
    expect(y[1]).toBe(0);
    expect(arr(softplus(t32({ shape: [2], values: [1e4, -1e4] })))).toEqual([1e4, 0]);
  });
  it('property: drawn inputs up to ±1e4 give finite values within f32 tolerance of f64', () => {
    fc.assert(fc.property(fc.array(farArb, { minLength: 1, maxLength: 24 }), (vs) => check(vs)), RUNS_FWD);
  });
});

describe('i32 elementwise', () => {
  const small = fc.integer({ min: -1000, max: 1000 });
  const I32_BINARY: [string, (a: Tensor, b: Tensor) => Tensor, (a: number, b: number) => number][] = [
    ['add', add, (a, b) => (a + b) | 0],
    ['sub', sub, (a, b) => (a - b) | 0],
    ['mul', mul, (a, b) => Math.imul(a, b)],
    ['maximum', maximum, Math.max],
    ['minimum', minimum, Math.min],
  ];
  const ti = (d: Drawn) => tensor(Int32Array.from(d.values), { shape: d.shape });
  for (const [name, f, ref] of I32_BINARY) {
    it(`${name} on i32 (broadcasting) returns i32 with exact values`, () => {
      fc.assert(
        fc.property(drawnPairArb(small, small), ({ a, b }) => {
          const y = f(ti(a), ti(b));
          const want = binaryRef(ref, a.shape, a.values, b.shape, b.values);
          expect(y.dtype).toBe('i32');
          expect(y.shape).toEqual(want.shape);
          expect(arr(y)).toEqual(want.values);
        }),
        RUNS_FWD,
      );
    });
  }
  // Regression guard (the property below found the bug): computing the double product and
  // storing it loses the low bits once |a·b| > 2^53; i32 mul must wrap exactly as add/sub do.
  it('regression: i32 mul wraps modulo 2^32, (2^31 - 1)^2 = 1', () => {
    const a = tensor(Int32Array.from([2 ** 31 - 1, 65537, -(2 ** 31)]));
    expect(arr(a.mul(a))).toEqual([1, 131073, 0]);
    expect(arr(a.mul(a))).toEqual([Math.imul(2 ** 31 - 1, 2 ** 31 - 1), Math.imul(65537, 65537), 0]);
  });
  it('add/sub/mul on the full i32 range wrap modulo 2^32 (two’s complement)', () => {
    const full = fc.oneof(fc.integer(), fc.constantFrom(2 ** 31 - 1, -(2 ** 31), 65536, 46341, -1));
    fc.assert(
      fc.property(drawnPairArb(full, full), ({ a, b }) => {
        for (const [name, f, ref] of I32_BINARY.slice(0, 3)) {
          expect(arr(f(ti(a), ti(b))), name).toEqual(binaryRef(ref, a.shape, a.values, b.shape, b.values).values);
        }
      }),
      RUNS_FWD,
    );
  });
  it('neg and abs on i32 return i32', () => {
    fc.assert(
      fc.property(drawnArb(small), (d) => {
        const n = neg(ti(d));
        const m = abs(ti(d));
        expect(n.dtype).toBe('i32');
        expect(m.dtype).toBe('i32');
        expect(arr(n)).toEqual(d.values.map((v) => (v === 0 ? 0 : -v)));
        expect(arr(m)).toEqual(d.values.map((v) => Math.abs(v)));
        expect(arr(ti(d).add(3))).toEqual(d.values.map((v) => v + 3));
      }),
      RUNS_FWD,
    );
  });
  it('exp, log and div refuse i32 with a DTypeError naming the op and the dtype', () => {
    fc.assert(
      fc.property(drawnArb(small, false, shapeArb(0, 3)), (d) => {
        expect(() => exp(ti(d))).toThrow(DTypeError);
        expect(() => exp(ti(d))).toThrow(/^exp: .*i32/);
        expect(() => log(ti(d))).toThrow(DTypeError);
        expect(() => log(ti(d))).toThrow(/^log: .*i32/);
        expect(() => div(ti(d), ti(d))).toThrow(DTypeError);
        expect(() => div(ti(d), ti(d))).toThrow(/^div: .*i32/);
        expect(() => ti(d).div(2)).toThrow(/^div: .*i32/);
      }),
      { numRuns: 10 },
    );
  });
});
