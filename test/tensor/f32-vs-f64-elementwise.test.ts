/**
 * f32 against f64 for every elementwise op, forward and gradient. The same drawn data (rounded
 * to f32 first, so both dtypes see identical inputs) runs in both dtypes; the f32 results must
 * stay within the tolerances below of the f64 ones. Gradients are x.grad after
 * op(x).mul(r).sum().backward() with random r ∈ [-1, 1] (also f32-exact), in both dtypes.
 *
 * Tolerances, |f32 − f64| ≤ rtol·|f64| + atol:
 * - Forward: rtol 1e-6, atol 1e-7. Each f32 result is one op on f32 inputs; the CPU kernels
 *   evaluate it in double and round once (≤ 6e-8 relative), and an f32-native kernel would
 *   still be within a few ulps (~2.4e-7). A wrong formula or wrong data is far outside.
 * - Gradient: rtol 1e-5, atol 1e-6 · fanIn · dmax. A backward rule is a chain of f32 ops, each
 *   rounding, and some cancel (tanh's 1 − y², sigmoid's 1 − y and gelu-tanh's 1 + t near
 *   x = ±3 lose up to two digits), hence 1e-5 relative and an absolute floor scaled by the
 *   op's largest derivative over the drawn domain (dmax, e.g. 250 for pow) and by the number
 *   of output elements summed into each input element by unbroadcasting (fanIn, |r| ≤ 1).
 * - Comparisons and sign: exact (same inputs, 0/1 or ±1 outputs).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { type Tensor, clamp, eq, ne, gt, ge, lt, le, sign, where } from '../../src/index.js';
import { sizeOf, spreadValueArb, spreadValueAwayArb, valuesArb } from '../helpers/arbitraries.js';
import { expectClose } from '../helpers/assert.js';
import {
  BINARY_SPECS, UNARY_SPECS, broadcastShapeRef, broadcastTripleArb, drawnArb, drawnPairArb, evalWithGrad,
  t32, t64, type Drawn, type Evaluated,
} from '../helpers/elementwise.js';

const FWD_RTOL = 1e-6;
const FWD_ATOL = 1e-7;
const GRAD_RTOL = 1e-5;
const GRAD_ATOL = 1e-6;
const RUNS = { numRuns: 80 } as const;

/** Deterministic probe values r ∈ [-1, 1], exactly representable in f32. */
function probes(seed: number): (n: number) => number[] {
  return (n) => {
    let s = seed >>> 0;
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      out.push(Math.fround(s / 2 ** 31 - 1));
    }
    return out;
  };
}

/**
 * Runs f in f32 and in f64 on the same inputs and compares the outputs and the gradient with
 * respect to every input. `dmax` bounds |∂f/∂input| on the drawn domain.
 */
function compareDtypes(name: string, f: (...xs: Tensor[]) => Tensor, inputs: readonly Drawn[], seed: number, dmax: number): void {
  const r = probes(seed);
  const e32: Evaluated = evalWithGrad('f32', f, inputs, r);
  const e64: Evaluated = evalWithGrad('f64', f, inputs, r);
  expect(e32.shape).toEqual(e64.shape);
  expectClose(e32.y, e64.y, { rtol: FWD_RTOL, atol: FWD_ATOL, what: `${name} forward` });
  const outSize = sizeOf(e64.shape);
  inputs.forEach((d, i) => {
    const fanIn = outSize / sizeOf(d.shape);
    expectClose(e32.grads[i]!, e64.grads[i]!, { rtol: GRAD_RTOL, atol: GRAD_ATOL * fanIn * dmax, what: `${name} grad of input ${i}` });
  });
}

const seedArb = fc.integer({ min: 0, max: 2 ** 31 - 1 });

describe('f32 vs f64: unary ops, forward and gradient', () => {
  for (const spec of UNARY_SPECS) {
    it(spec.name, () => {
      fc.assert(
        fc.property(drawnArb(spec.value, true), seedArb, (d, seed) => {
          compareDtypes(spec.name, spec.fn, [d], seed, spec.dmax);
        }),
        RUNS,
      );
    });
  }
});

describe('f32 vs f64: binary ops with broadcasting, forward and both gradients', () => {
  for (const spec of BINARY_SPECS) {
    it(spec.name, () => {
      fc.assert(
        fc.property(drawnPairArb(spec.a, spec.b, spec.ok, true), seedArb, ({ a, b }, seed) => {
          compareDtypes(spec.name, spec.fn, [a, b], seed, spec.dmax);
        }),
        RUNS,
      );
    });
  }
  it('pow with a scalar exponent', () => {
    const e = fc.oneof(fc.constantFrom(0, 1, 2, 3, 0.5, -0.5, -1, -2), spreadValueArb(-2, 2)).map(Math.fround);
    fc.assert(
      fc.property(drawnArb(spreadValueArb(0.2, 2), true), e, seedArb, (d, p, seed) => {
        // |∂/∂x| = |p x^(p-1)| ≤ 2 · 0.2^-3 = 250 on [0.2, 2].
        compareDtypes(`pow(x, ${p})`, (x) => x.pow(p), [d], seed, 250);
      }),
      RUNS,
    );
  });
});

describe('f32 vs f64: clamp, forward and gradient', () => {
  const bounds = fc.tuple(spreadValueArb(-2, 0.5), spreadValueArb(0.5, 3)).map(([lo, w]) => [Math.fround(lo), Math.fround(lo + w)] as const);
  it('clamp(min, max)', () => {
    const arb = bounds.chain(([lo, hi]) => drawnArb(spreadValueAwayArb([lo, hi]), true).map((d) => ({ lo, hi, d })));
    fc.assert(fc.property(arb, seedArb, ({ lo, hi, d }, seed) => compareDtypes('clamp', (x) => clamp(x, lo, hi), [d], seed, 1)), RUNS);
  });
  it('clamp(min)', () => {
    const arb = spreadValueArb(-2, 2).map(Math.fround).chain((lo) => drawnArb(spreadValueAwayArb([lo]), true).map((d) => ({ lo, d })));
    fc.assert(fc.property(arb, seedArb, ({ lo, d }, seed) => compareDtypes('clamp(min)', (x) => x.clamp(lo), [d], seed, 1)), RUNS);
  });
  it('clamp(null, max)', () => {
    const arb = spreadValueArb(-2, 2).map(Math.fround).chain((hi) => drawnArb(spreadValueAwayArb([hi]), true).map((d) => ({ hi, d })));
    fc.assert(fc.property(arb, seedArb, ({ hi, d }, seed) => compareDtypes('clamp(max)', (x) => x.clamp(null, hi), [d], seed, 1)), RUNS);
  });
});

describe('f32 vs f64: where(cond, a, b) with broadcasting, forward and gradients of a and b', () => {
  const arb = broadcastTripleArb().chain(([sc, sa, sb]) =>
    fc
      .tuple(valuesArb(sizeOf(sc), fc.constantFrom(0, 1)), valuesArb(sizeOf(sa), spreadValueArb().map(Math.fround)), valuesArb(sizeOf(sb), spreadValueArb().map(Math.fround)))
      .map(([c, a, b]) => ({ c: { shape: [...sc], values: c }, a: { shape: [...sa], values: a }, b: { shape: [...sb], values: b } })),
  );
  it('where', () => {
    fc.assert(
      fc.property(arb, seedArb, ({ c, a, b }, seed) => {
        // The mask has the dtype of the run (f32 with f32, f64 with f64) and needs no grad.
        const f = (x: Tensor, y: Tensor) => where(x.dtype === 'f32' ? t32(c) : t64(c), x, y);
        compareDtypes('where', f, [a, b], seed, 1);
        expect(broadcastShapeRef(c.shape, a.shape, b.shape)).toEqual([...where(t32(c), t32(a), t32(b)).shape]);
      }),
      RUNS,
    );
  });
});

describe('f32 vs f64: comparisons and sign give identical results', () => {
  const grid = fc.integer({ min: -4, max: 4 }).map((k) => k / 2);
  const value = fc.oneof(grid, spreadValueArb().map(Math.fround));
  const CMP: [string, (a: Tensor, b: Tensor) => Tensor][] = [['eq', eq], ['ne', ne], ['gt', gt], ['ge', ge], ['lt', lt], ['le', le]];
  for (const [name, f] of CMP) {
    it(name, () => {
      fc.assert(
        fc.property(drawnPairArb(value, value), ({ a, b }) => {
          const y32 = f(t32(a, true), t32(b, true));
          const y64 = f(t64(a, true), t64(b, true));
          expect(y32.dtype).toBe('f32');
          expect(y64.dtype).toBe('f64');
          expect(y32.requiresGrad || y64.requiresGrad).toBe(false);
          expect(y32.shape).toEqual(y64.shape);
          expect(Array.from(y32.toArraySync())).toEqual(Array.from(y64.toArraySync()));
          // Not a constant mask: the result does depend on the data.
          const flipped = f(t32(b), t32(a));
          if (name === 'gt') expect(Array.from(flipped.toArraySync())).toEqual(Array.from(lt(t64(a), t64(b)).toArraySync()));
        }),
        RUNS,
      );
    });
  }
  it('sign', () => {
    fc.assert(
      fc.property(drawnArb(value), (d) => {
        const s32 = sign(t32(d, true));
        const s64 = sign(t64(d, true));
        expect(s32.dtype).toBe('f32');
        expect(s32.requiresGrad || s64.requiresGrad).toBe(false);
        expect(Array.from(s32.toArraySync())).toEqual(Array.from(s64.toArraySync()));
        expect(Array.from(s64.toArraySync())).toEqual(d.values.map((v) => (v > 0 ? 1 : v < 0 ? -1 : 0)));
      }),
      RUNS,
    );
  });
});
