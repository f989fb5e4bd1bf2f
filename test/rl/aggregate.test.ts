/**
 * Loss aggregation (src/rl/aggregate.ts), property 7 of the loss family: every mode against values
 * computed by hand on a ragged mask (an empty row included), then against a plain-JS transcription
 * of verl's `agg_loss` on fast-check draws; its gradient is exactly the coefficients c_t (0 on
 * masked tokens, bit for bit); micro-batches normalised by the whole batch's counts add up to the
 * batch; appended masked padding changes nothing (except the documented default lossScale = T);
 * every bad input throws a typed error naming the argument.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError, DTypeError, ShapeError, ValueError, gradcheck, grad, tensor, type Tensor } from '../../src/index.js';
import {
  AGGREGATIONS, aggregate, aggregationCoefficients, aggregationCounts, type Aggregation,
} from '../../src/rl/aggregate.js';
import { expectClose } from '../helpers/assert.js';
import { arr, f64 } from '../helpers/tensors.js';


describe('hand-computed values on a ragged mask', () => {
  // 3 sequences, T = 4: lengths 3, 1 and 0 (a fully masked row). Masked entries hold junk.
  const L = [1, 2, 3, 99, 4, 99, 99, 99, 99, 99, 99, 99];
  const M = [1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0];
  const lossMat = f64([3, 4], L);
  const mask = f64([3, 4], M);
  // N = 4 valid tokens, S = 2 non-empty sequences, row sums 6 and 4, row means 2 and 4.
  const want: Record<Aggregation, number> = {
    'token-mean': (1 + 2 + 3 + 4) / 4, // 2.5
    'token-sum': 10,
    'seq-mean-token-sum': (6 + 4) / 2, // 5
    'seq-mean-token-mean': (6 / 3 + 4 / 1) / 2, // 3
    'seq-mean-token-sum-norm': (6 + 4) / 2 / 4, // lossScale defaults to T = 4: 1.25
  };
  for (const mode of AGGREGATIONS) {
    it(mode, () => {
      expect(aggregate(lossMat, mask, mode).itemSync()).toBe(want[mode]);
    });
  }
  it('seq-mean-token-sum-norm with lossScale 10', () => {
    expect(aggregate(lossMat, mask, 'seq-mean-token-sum-norm', { lossScale: 10 }).itemSync()).toBe(0.5);
  });
  it('global counts replace the local ones', () => {
    expect(aggregate(lossMat, mask, 'token-mean', { globalTokens: 8 }).itemSync()).toBe(10 / 8);
    expect(aggregate(lossMat, mask, 'seq-mean-token-sum', { globalSeqs: 5 }).itemSync()).toBe(2);
    expect(aggregate(lossMat, mask, 'seq-mean-token-mean', { globalSeqs: 4 }).itemSync()).toBe(6 / 4);
    expect(aggregate(lossMat, mask, 'seq-mean-token-sum-norm', { globalSeqs: 5, lossScale: 2 }).itemSync()).toBe(1);
  });
  it('counts', () => {
    expect(aggregationCounts(mask)).toEqual({ tokens: 4, seqs: 2 });
  });
  it('f32 in, f32 out', () => {
    const y = aggregate(tensor(Float32Array.from(L), { shape: [3, 4] }), mask, 'seq-mean-token-mean');
    expect(y.dtype).toBe('f32');
    expect(y.itemSync()).toBe(3);
  });
  it('the mask may be i32 or f32 whatever the loss dtype', () => {
    const mi = tensor(Int32Array.from(M), { shape: [3, 4] });
    expect(aggregate(lossMat, mi, 'token-mean').itemSync()).toBe(2.5);
  });
});

// ---- plain-JS transcription of verl's agg_loss (with exact exclusion of empty rows) ----------
function refAggregate(L: number[], M: number[], B: number, T: number, mode: Aggregation, o: { lossScale?: number; globalTokens?: number; globalSeqs?: number } = {}): number {
  const rows = Array.from({ length: B }, (_, b) => ({
    sum: L.slice(b * T, b * T + T).reduce((s, x, t) => s + (M[b * T + t] ? x : 0), 0),
    n: M.slice(b * T, b * T + T).reduce((s, x) => s + x, 0),
  }));
  const N = o.globalTokens ?? rows.reduce((s, r) => s + r.n, 0);
  const S = o.globalSeqs ?? rows.filter((r) => r.n > 0).length;
  const total = rows.reduce((s, r) => s + r.sum, 0);
  switch (mode) {
    case 'token-mean':
      return total / N;
    case 'token-sum':
      return total;
    case 'seq-mean-token-sum':
      return total / S;
    case 'seq-mean-token-mean':
      return rows.reduce((s, r) => s + (r.n > 0 ? r.sum / r.n : 0), 0) / S;
    case 'seq-mean-token-sum-norm':
      return total / S / (o.lossScale ?? T);
  }
}

/** B×T values and a ragged 0/1 mask with at least one valid token (rows may be empty). */
const batchArb = fc
  .record({ B: fc.integer({ min: 1, max: 5 }), T: fc.integer({ min: 1, max: 6 }) })
  .chain(({ B, T }) =>
    fc.record({
      B: fc.constant(B),
      T: fc.constant(T),
      L: fc.array(fc.double({ min: -5, max: 5, noNaN: true }), { minLength: B * T, maxLength: B * T }),
      // Ragged lengths (a prefix of each row is valid), plus an occasional hole.
      lens: fc.array(fc.integer({ min: 0, max: T }), { minLength: B, maxLength: B }),
      holes: fc.array(fc.boolean(), { minLength: B * T, maxLength: B * T }),
    }),
  )
  .map(({ B, T, L, lens, holes }) => {
    const M = Array.from({ length: B * T }, (_, i) => (i % T < lens[Math.floor(i / T)]! && !(holes[i] && i % T === 1) ? 1 : 0));
    if (!M.some((m) => m === 1)) M[0] = 1;
    return { B, T, L, M };
  });
const modeArb = fc.constantFrom(...AGGREGATIONS);

describe('every mode against the reference on random ragged masks', () => {
  it('values, gradient = coefficients (exact zeros on masked tokens), gradcheck', () => {
    fc.assert(
      fc.property(batchArb, modeArb, ({ B, T, L, M }, mode) => {
        const lossMat = f64([B, T], L);
        const mask = f64([B, T], M);
        expectClose(aggregate(lossMat, mask, mode).itemSync(), refAggregate(L, M, B, T, mode), { tol: 1e-12 });
        const [g] = grad((x) => aggregate(x, mask, mode), [lossMat]);
        const c = arr(aggregationCoefficients(mask, mode, {}, 'f64'));
        const gv = arr(g!);
        gv.forEach((v, i) => {
          if (M[i] === 0) expect(v === 0).toBe(true);
          else expectClose(v, c[i]!, { tol: 1e-15 });
        });
        expect(gradcheck((x) => aggregate(x, mask, mode), [lossMat], { rtol: 1e-6, atol: 1e-8 })).toBe(true);
      }),
      { numRuns: 150 },
    );
  });

  it('micro-batches normalised by the whole batch add up to the batch (values and gradients)', () => {
    fc.assert(
      fc.property(batchArb, modeArb, fc.integer({ min: 1, max: 4 }), ({ B, T, L, M }, mode, cut) => {
        const mask = f64([B, T], M);
        const { tokens, seqs } = aggregationCounts(mask);
        const o = { globalTokens: tokens, globalSeqs: seqs, ...(mode === 'seq-mean-token-sum-norm' ? { lossScale: 7 } : {}) };
        const full = aggregate(f64([B, T], L), mask, mode, mode === 'seq-mean-token-sum-norm' ? { lossScale: 7 } : {}).itemSync();
        let acc = 0;
        const gAcc: number[] = [];
        const size = Math.max(1, Math.min(cut, B));
        for (let s = 0; s < B; s += size) {
          const e = Math.min(B, s + size);
          const Lm = L.slice(s * T, e * T);
          const Mm = M.slice(s * T, e * T);
          const lm = f64([e - s, T], Lm);
          const mm = f64([e - s, T], Mm);
          // A micro-batch may have no valid token; the unchecked form still contributes 0.
          const run = (x: Tensor) => (Mm.some((v) => v === 1) ? aggregate(x, mm, mode, o) : x.sum().mul(0));
          acc += run(lm).itemSync();
          gAcc.push(...arr(grad(run, [lm])[0]!));
        }
        expectClose(acc, full, { tol: 1e-12 });
        const gFull = arr(grad((x) => aggregate(x, mask, mode, mode === 'seq-mean-token-sum-norm' ? { lossScale: 7 } : {}), [f64([B, T], L)])[0]!);
        gAcc.forEach((v, i) => expectClose(v, gFull[i]!, { tol: 1e-14 }));
      }),
      { numRuns: 120 },
    );
  });

  it('appended masked padding changes nothing (lossScale given); the default lossScale = T moves with it', () => {
    fc.assert(
      fc.property(batchArb, modeArb, fc.integer({ min: 1, max: 3 }), fc.double({ min: -1e3, max: 1e3, noNaN: true }), ({ B, T, L, M }, mode, pad, junk) => {
        const o = mode === 'seq-mean-token-sum-norm' ? { lossScale: 3 } : {};
        const T2 = T + pad;
        const L2: number[] = [];
        const M2: number[] = [];
        for (let b = 0; b < B; b++) {
          L2.push(...L.slice(b * T, b * T + T), ...Array(pad).fill(junk));
          M2.push(...M.slice(b * T, b * T + T), ...Array(pad).fill(0));
        }
        const a = aggregate(f64([B, T], L), f64([B, T], M), mode, o).itemSync();
        const b2 = aggregate(f64([B, T2], L2), f64([B, T2], M2), mode, o).itemSync();
        expectClose(b2, a, { tol: 1e-13 });
        if (mode === 'seq-mean-token-sum-norm') {
          const d1 = aggregate(f64([B, T], L), f64([B, T], M), mode).itemSync();
          const d2 = aggregate(f64([B, T2], L2), f64([B, T2], M2), mode).itemSync();
          expectClose(d2 * T2, d1 * T, { tol: 1e-12 });
        }
      }),
      { numRuns: 100 },
    );
  });
});

describe('bad input', () => {
  const l = f64([2, 2], [1, 2, 3, 4]);
  const m = f64([2, 2], [1, 1, 0, 1]);
  it('unknown mode', () => {
    expect(() => aggregate(l, m, 'mean' as Aggregation)).toThrow(ConfigError);
    expect(() => aggregate(l, m, 'mean' as Aggregation)).toThrow(/unknown aggregation "mean"; expected one of token-mean, token-sum/);
  });
  it('lossScale with another mode, or out of range', () => {
    expect(() => aggregate(l, m, 'token-mean', { lossScale: 4 })).toThrow(/option 'lossScale' only applies to aggregation 'seq-mean-token-sum-norm', not 'token-mean'/);
    expect(() => aggregate(l, m, 'seq-mean-token-sum-norm', { lossScale: 0 })).toThrow(/option 'lossScale' must be a finite number > 0, got 0/);
    expect(() => aggregate(l, m, 'token-mean', { globalTokens: NaN })).toThrow(/option 'globalTokens' must be a finite number > 0, got NaN/);
    expect(() => aggregate(l, m, 'token-mean', { globalSeqs: -1 })).toThrow(ConfigError);
  });
  it('unknown option', () => {
    expect(() => aggregate(l, m, 'token-mean', { scale: 2 } as never)).toThrow(/aggregate: unknown option 'scale'/);
  });
  it('shapes', () => {
    expect(() => aggregate(l, f64([2, 3], [1, 1, 1, 1, 1, 1]))).toThrow(ShapeError);
    expect(() => aggregate(l, f64([2, 3], [1, 1, 1, 1, 1, 1]))).toThrow(/mask shape \[2, 3\] does not match lossMat shape \[2, 2\]/);
    expect(() => aggregate(f64([4], [1, 2, 3, 4]), f64([4], [1, 1, 1, 1]))).toThrow(/lossMat must be \[B, T\], got shape \[4\]/);
  });
  it('dtype', () => {
    expect(() => aggregate(tensor(Int32Array.from([1, 2, 3, 4]), { shape: [2, 2] }), m)).toThrow(DTypeError);
  });
  it('mask values and an all-zero mask', () => {
    expect(() => aggregate(l, f64([2, 2], [1, 0.5, 0, 1]))).toThrow(ValueError);
    expect(() => aggregate(l, f64([2, 2], [1, 0.5, 0, 1]))).toThrow(/mask must hold only 0 and 1, found 0.5 at flat index 1/);
    expect(() => aggregate(l, f64([2, 2], [0, 0, 0, 0]))).toThrow(/mask is all zero; there is no valid token to aggregate/);
  });
  it('a non-finite loss on a valid token (a masked one is fine)', () => {
    expect(() => aggregate(f64([2, 2], [1, NaN, 3, 4]), m)).toThrow(/lossMat has a non-finite value \(NaN\) at a valid token, flat index 1/);
    expect(aggregate(f64([2, 2], [1, 2, Infinity, 4]), m, 'token-sum').itemSync()).toBe(7);
    const [g] = grad((x) => aggregate(x, m, 'token-sum'), [f64([2, 2], [1, 2, Infinity, 4])]);
    expect(arr(g!)).toEqual([1, 1, 0, 1]);
  });
});
