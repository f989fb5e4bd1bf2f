/**
 * The CPU sum and softmax kernels (src/tensor/cpu/kernels/reduce/current.ts) against the
 * reference (reduce/reference.ts): sums over every [outer, n, inner] split (the interchanged loops
 * of leading-axis sums), softmax, logSoftmax and logsumexp along any axis, f32 and f64, with NaN,
 * ±0, ±Inf and large magnitudes (−1e30, the attention mask's score) among the values: outputs
 * agree bit for bit.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { logsumexpInto, reduceInto, softmaxInto } from '../../../src/tensor/cpu/kernels/reduce/current.js';
import { logsumexpIntoV1, reduceIntoV1, softmaxIntoV1 } from '../../../src/tensor/cpu/kernels/reduce/reference.js';
import { expectBitwise } from '../../helpers/assert.js';

const special = fc.constantFrom(NaN, 0, -0, Infinity, -Infinity, 1e30, -1e30, 88, -104, -744, -745.5, -746.5, -800);
const valueArb = fc.oneof({ weight: 6, arbitrary: fc.double({ min: -20, max: 20, noNaN: true }) }, { weight: 1, arbitrary: special });
const caseArb = fc
  .record({ outer: fc.integer({ min: 1, max: 4 }), n: fc.integer({ min: 1, max: 9 }), inner: fc.integer({ min: 1, max: 7 }), dtype: fc.constantFrom('f32' as const, 'f64' as const) })
  .chain((c) => fc.array(valueArb, { minLength: c.outer * c.n * c.inner, maxLength: c.outer * c.n * c.inner }).map((v) => ({ ...c, v })));

const make = (dtype: 'f32' | 'f64', n: number | number[]) => (dtype === 'f32' ? new Float32Array(n as number) : new Float64Array(n as number));
const from = (dtype: 'f32' | 'f64', v: number[]) => (dtype === 'f32' ? Float32Array.from(v) : Float64Array.from(v));

describe('CPU reduce kernels vs v1 (bit for bit)', () => {
  it('sum, max, min over every [outer, n, inner] split', () => {
    fc.assert(
      fc.property(caseArb, fc.constantFrom('sum' as const, 'max' as const, 'min' as const), ({ outer, n, inner, dtype, v }, op) => {
        const x = from(dtype, v);
        const a = make(dtype, outer * inner);
        const b = make(dtype, outer * inner);
        reduceInto(op, x, a, outer, n, inner);
        reduceIntoV1(op, x, b, outer, n, inner);
        expectBitwise(a, b, `${op} ${dtype} [${outer}, ${n}, ${inner}]`);
      }),
      { numRuns: 400 },
    );
  });

  it('softmax, logSoftmax and logsumexp along the middle axis', () => {
    fc.assert(
      fc.property(caseArb, fc.boolean(), ({ outer, n, inner, dtype, v }, log) => {
        const x = from(dtype, v);
        const a = make(dtype, x.length);
        const b = make(dtype, x.length);
        softmaxInto(x, a, outer, n, inner, log);
        softmaxIntoV1(x, b, outer, n, inner, log);
        expectBitwise(a, b, `${log ? 'logSoftmax' : 'softmax'} ${dtype} [${outer}, ${n}, ${inner}]`);
        const c = make(dtype, outer * inner);
        const d = make(dtype, outer * inner);
        logsumexpInto(x, c, outer, n, inner);
        logsumexpIntoV1(x, d, outer, n, inner);
        expectBitwise(c, d, `logsumexp ${dtype} [${outer}, ${n}, ${inner}]`);
      }),
      { numRuns: 400 },
    );
  });
});
