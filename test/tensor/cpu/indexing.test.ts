/**
 * indexAdd (src/tensor/cpu/kernels/indexing/current.ts: first term written, output not
 * pre-zeroed) against the reference (indexing/reference.ts: adds into zeros): repeated, missing
 * and out-of-order indices, several outer slices, f32 and f64, values with ±0, ±Inf and NaN, and an output that holds
 * garbage on entry: results agree bit for bit (in particular a lone −0 term gives +0).
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { indexAddInto } from '../../../src/tensor/cpu/kernels/indexing/current.js';
import { indexAddIntoV1 } from '../../../src/tensor/cpu/kernels/indexing/reference.js';
import { expectBitwise } from '../../helpers/assert.js';

const valueArb = fc.oneof({ weight: 5, arbitrary: fc.double({ min: -4, max: 4, noNaN: true }) }, { weight: 1, arbitrary: fc.constantFrom(0, -0, Infinity, -Infinity, NaN) });

describe('CPU indexAdd vs v1 (bit for bit)', () => {
  it('random indices, outer slices and values; garbage in the output on entry', () => {
    fc.assert(
      fc.property(
        fc.record({ outer: fc.integer({ min: 1, max: 3 }), n: fc.integer({ min: 1, max: 6 }), inner: fc.integer({ min: 1, max: 5 }), m: fc.integer({ min: 0, max: 9 }), f32: fc.boolean() }).chain((c) =>
          fc.record({
            c: fc.constant(c),
            idx: fc.array(fc.integer({ min: 0, max: c.n - 1 }), { minLength: c.m, maxLength: c.m }),
            vals: fc.array(valueArb, { minLength: c.outer * c.m * c.inner, maxLength: c.outer * c.m * c.inner }),
          }),
        ),
        ({ c, idx, vals }) => {
          const make = (k: number) => (c.f32 ? new Float32Array(k) : new Float64Array(k));
          const src = c.f32 ? Float32Array.from(vals) : Float64Array.from(vals);
          const index = Int32Array.from(idx);
          const got = make(c.outer * c.n * c.inner).fill(12345.5);
          const want = make(c.outer * c.n * c.inner);
          indexAddInto(src, index, got, c.outer, c.n, c.inner, c.m);
          indexAddIntoV1(src, index, want, c.outer, c.n, c.inner, c.m);
          expectBitwise(got, want, `indexAdd ${JSON.stringify(c)} [${idx}]`);
        },
      ),
      { numRuns: 500 },
    );
  });
});
