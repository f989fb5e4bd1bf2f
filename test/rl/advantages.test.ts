/**
 * Advantage estimators (src/rl/advantages.ts) against plain-JS references written independently
 * of the implementation (per index: find the group, slice it, reduce), on fast-check draws; the
 * identities that define them (group sums vanish, RLOO = R minus the mean of the others, unit
 * group variance under the biased std); hand-computed values; dtypes; and every bad input.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError, DeviceError, ShapeError, ValueError, tensor } from '../../src/index.js';
import { batchNorm, groupMean, groupNorm, rloo } from '../../src/rl/advantages.js';
import { expectClose } from '../helpers/assert.js';
import { arr } from '../helpers/tensors.js';

const RUNS = 200;

// ---- plain-JS references --------------------------------------------------------------------
const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
const std = (xs: number[], unbiased: boolean) => {
  const m = mean(xs);
  const ss = xs.reduce((s, x) => s + (x - m) * (x - m), 0);
  return Math.sqrt(ss / (unbiased ? xs.length - 1 : xs.length));
};
const groupOf = (r: number[], G: number, i: number) => r.slice(Math.floor(i / G) * G, Math.floor(i / G) * G + G);

const refGroupMean = (r: number[], G: number) => r.map((x, i) => x - mean(groupOf(r, G, i)));
const refGroupNorm = (r: number[], G: number, eps: number, unbiased: boolean) =>
  r.map((x, i) => {
    const g = groupOf(r, G, i);
    if (g.length === 1 && unbiased) return x / (1 + eps); // verl: singleton mean 0, std 1
    return (x - mean(g)) / (std(g, unbiased) + eps);
  });
// RLOO as "R_i minus the mean of the other G − 1 rewards" (a different formula from the code's).
const refRloo = (r: number[], G: number) =>
  r.map((x, i) => {
    const start = Math.floor(i / G) * G;
    const others = r.slice(start, start + G).filter((_, j) => start + j !== i);
    return x - mean(others);
  });
const refBatchNorm = (r: number[], eps: number, unbiased: boolean) => refGroupNorm(r, r.length, eps, unbiased);

// Rewards: B = nGroups·G. Values either continuous or 0/1 (accuracy rewards, with ties).
const batchArb = (minG = 1) =>
  fc.record({ G: fc.integer({ min: minG, max: 6 }), n: fc.integer({ min: 1, max: 4 }), binary: fc.boolean() }).chain(({ G, n, binary }) =>
    fc.record({
      G: fc.constant(G),
      r: fc.array(binary ? fc.integer({ min: 0, max: 1 }) : fc.double({ min: -10, max: 10, noNaN: true }), { minLength: G * n, maxLength: G * n }),
    }));
const epsArb = fc.oneof(fc.constant(1e-6), fc.constant(1e-4), fc.constant(0), fc.double({ min: 1e-8, max: 0.5, noNaN: true }));

describe('advantages against plain-JS references (fast-check)', () => {
  it('groupMean = R − group mean', () => {
    fc.assert(fc.property(batchArb(), ({ G, r }) => expectClose(arr(groupMean(r, G)), refGroupMean(r, G), { tol: 1e-6 })), { numRuns: RUNS });
  });
  it('groupMean in f64 matches to 1e-12 and sums to zero in every group', () => {
    fc.assert(fc.property(batchArb(), ({ G, r }) => {
      const a = arr(groupMean(tensor(r, { dtype: 'f64' }), G));
      expectClose(a, refGroupMean(r, G), { tol: 1e-12 });
      for (let s = 0; s < r.length; s += G) expect(Math.abs(a.slice(s, s + G).reduce((p, q) => p + q, 0))).toBeLessThan(1e-9);
    }), { numRuns: RUNS });
  });
  it('groupNorm = (R − mean)/(std + eps), unbiased and biased std, any eps', () => {
    fc.assert(fc.property(batchArb(), epsArb, fc.boolean(), ({ G, r }, eps, unbiased) => {
      // eps = 0 on a constant group divides 0 by 0; the estimator's eps exists to prevent that.
      fc.pre(eps > 0 || r.every((_, i) => std(groupOf(r, G, i), unbiased) > 0 || (G === 1 && unbiased)));
      const a = arr(groupNorm(tensor(r, { dtype: 'f64' }), G, { eps, std: unbiased ? 'unbiased' : 'biased' }));
      expectClose(a, refGroupNorm(r, G, eps, unbiased), { tol: 1e-10 });
    }), { numRuns: RUNS });
  });
  it('groupNorm defaults are eps = 1e-6 and the unbiased std', () => {
    fc.assert(fc.property(batchArb(), ({ G, r }) => {
      expectClose(arr(groupNorm(tensor(r, { dtype: 'f64' }), G)), refGroupNorm(r, G, 1e-6, true), { tol: 1e-10 });
    }), { numRuns: RUNS });
  });
  it('rloo = R minus the mean of the other G − 1 rewards (= G/(G−1)·(R − mean))', () => {
    fc.assert(fc.property(batchArb(2), ({ G, r }) => expectClose(arr(rloo(tensor(r, { dtype: 'f64' }), G)), refRloo(r, G), { tol: 1e-10 })), { numRuns: RUNS });
  });
  it('batchNorm = whitening over the whole batch', () => {
    fc.assert(fc.property(batchArb(), epsArb, fc.boolean(), ({ r }, eps, unbiased) => {
      fc.pre(eps > 0 || std(r, unbiased) > 0 || (r.length === 1 && unbiased));
      const a = arr(batchNorm(tensor(r, { dtype: 'f64' }), { eps, std: unbiased ? 'unbiased' : 'biased' }));
      expectClose(a, refBatchNorm(r, eps, unbiased), { tol: 1e-10 });
    }), { numRuns: RUNS });
  });
  it('with eps = 0 and the biased std, every non-constant group has mean 0 and variance 1', () => {
    fc.assert(fc.property(batchArb(2), ({ G, r }) => {
      const a = arr(groupNorm(tensor(r, { dtype: 'f64' }), G, { eps: 0, std: 'biased' }));
      for (let s = 0; s < r.length; s += G) {
        const g = r.slice(s, s + G);
        if (std(g, false) < 1e-6) continue;
        const ag = a.slice(s, s + G);
        expect(Math.abs(mean(ag))).toBeLessThan(1e-9);
        expect(Math.abs(mean(ag.map((x) => x * x)) - 1)).toBeLessThan(1e-9);
      }
    }), { numRuns: RUNS });
  });
  it('advantages are invariant to a constant shift of a group and permute with it', () => {
    fc.assert(fc.property(batchArb(2), fc.double({ min: -5, max: 5, noNaN: true }), fc.nat(), ({ G, r }, shift, seed) => {
      const shifted = r.map((x, i) => (i < G ? x + shift : x));
      expectClose(arr(groupMean(tensor(shifted, { dtype: 'f64' }), G)), arr(groupMean(tensor(r, { dtype: 'f64' }), G)), { tol: 1e-9 });
      expectClose(arr(rloo(tensor(shifted, { dtype: 'f64' }), G)), arr(rloo(tensor(r, { dtype: 'f64' }), G)), { tol: 1e-9 });
      // Rotating the responses inside group 0 rotates its advantages.
      const k = seed % G;
      const rot = [...r.slice(k, G), ...r.slice(0, k), ...r.slice(G)];
      const a = arr(groupNorm(tensor(r, { dtype: 'f64' }), G));
      const b = arr(groupNorm(tensor(rot, { dtype: 'f64' }), G));
      expectClose(b, [...a.slice(k, G), ...a.slice(0, k), ...a.slice(G)], { tol: 1e-12 });
    }), { numRuns: RUNS });
  });
});

describe('advantages: hand-computed values, dtypes, conventions', () => {
  it('GRPO on accuracy rewards: one mixed group, one all-correct group (A = 0)', () => {
    // Group 1: mean 0.5, unbiased std = sqrt(((0.5²)·4)/3) = sqrt(1/3); Â = ±0.5/(sqrt(1/3) + 1e-6).
    const s = Math.sqrt(1 / 3);
    const a = arr(groupNorm(tensor([1, 0, 0, 1, 1, 1, 1, 1], { dtype: 'f64' }), 4));
    expectClose(a, [0.5 / (s + 1e-6), -0.5 / (s + 1e-6), -0.5 / (s + 1e-6), 0.5 / (s + 1e-6), 0, 0, 0, 0], { tol: 1e-12 });
    expect(a[0]).toBeCloseTo(0.8660239, 6);
  });
  it('MiniRL groupMean, RLOO and batchNorm by hand', () => {
    expectClose(arr(groupMean([3, 1, 2, 10, 20, 30], 3)), [1, -1, 0, -10, 0, 10], { tol: 1e-12 });
    // RLOO, G = 3: 3 − (1+2)/2 = 1.5, 1 − 2.5 = −1.5, 2 − 2 = 0.
    expectClose(arr(rloo(tensor([3, 1, 2], { dtype: 'f64' }), 3)), [1.5, -1.5, 0], { tol: 1e-12 });
    // batchNorm [1, 2, 3, 4]: mean 2.5, unbiased std sqrt(5/3).
    const s = Math.sqrt(5 / 3);
    expectClose(arr(batchNorm(tensor([1, 2, 3, 4], { dtype: 'f64' }), { eps: 0 })), [-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s], { tol: 1e-12 });
    // biased std sqrt(5/4).
    const sb = Math.sqrt(5 / 4);
    expectClose(arr(batchNorm(tensor([1, 2, 3, 4], { dtype: 'f64' }), { eps: 0, std: 'biased' })), [-1.5 / sb, -0.5 / sb, 0.5 / sb, 1.5 / sb], { tol: 1e-12 });
  });
  it('singleton groups: verl convention under the unbiased std, zero under the biased std', () => {
    expectClose(arr(groupNorm(tensor([2, -1], { dtype: 'f64' }), 1)), [2 / (1 + 1e-6), -1 / (1 + 1e-6)], { tol: 1e-12 });
    expectClose(arr(groupNorm(tensor([2, -1], { dtype: 'f64' }), 1, { std: 'biased' })), [0, 0], { tol: 1e-12 });
    expectClose(arr(groupMean([2, -1], 1)), [0, 0], { tol: 1e-12 });
  });
  it('output is a [B] f32 tensor unless a tensor of another float dtype comes in', () => {
    for (const fn of [(r: never) => groupMean(r, 2), (r: never) => groupNorm(r, 2), (r: never) => rloo(r, 2), (r: never) => batchNorm(r)]) {
      const fromArray = fn([1, 2, 3, 5] as never);
      expect(fromArray.dtype).toBe('f32');
      expect(fromArray.shape).toEqual([4]);
      expect(fn(Float64Array.from([1, 2, 3, 5]) as never).dtype).toBe('f32');
      expect(fn(tensor([1, 2, 3, 5]) as never).dtype).toBe('f32');
      expect(fn(tensor([1, 2, 3, 5], { dtype: 'f64' }) as never).dtype).toBe('f64');
      expect(fn(tensor([1, 2, 3, 5], { dtype: 'i32' }) as never).dtype).toBe('f32');
      expect(fromArray.requiresGrad).toBe(false);
    }
  });
});

describe('advantages: bad input', () => {
  it('B % G !== 0 → ShapeError', () => {
    expect(() => groupMean([1, 2, 3], 2)).toThrow(ShapeError);
    expect(() => groupNorm([1, 2, 3, 4, 5], 2)).toThrow(/groupNorm: 5 rewards do not split into groups of groupSize 2/);
    expect(() => rloo([1, 2, 3], 2)).toThrow(ShapeError);
  });
  it('groupSize that is not a positive integer, or 1 for RLOO → ConfigError', () => {
    expect(() => groupMean([1, 2], 0)).toThrow(ConfigError);
    expect(() => groupMean([1, 2], 1.5)).toThrow(/groupMean: groupSize must be a positive integer, got 1.5/);
    expect(() => groupNorm([1, 2], -2)).toThrow(ConfigError);
    expect(() => rloo([1, 2], 1)).toThrow(/rloo: groupSize must be >= 2/);
  });
  it('NaN / ±Inf / non-number rewards → ValueError naming the index', () => {
    expect(() => groupMean([1, NaN], 2)).toThrow(/groupMean: rewards\[1\] is NaN/);
    expect(() => groupNorm([Infinity, 0], 2)).toThrow(ValueError);
    expect(() => rloo(tensor([0, -Infinity], { dtype: 'f64' }), 2)).toThrow(/rloo: rewards\[1\] is -Infinity/);
    expect(() => batchNorm(['1', 2] as never)).toThrow(/batchNorm: rewards\[0\] is not a number/);
    expect(() => batchNorm({} as never)).toThrow(ValueError);
  });
  it('empty or non-1-D rewards → ShapeError', () => {
    expect(() => groupMean([], 1)).toThrow(/groupMean: rewards are empty/);
    expect(() => batchNorm(tensor([[1, 2], [3, 4]]))).toThrow(/batchNorm: rewards must be 1-D \[B\], got shape \[2, 2\]/);
  });
  it('unknown or invalid options → ConfigError', () => {
    expect(() => groupNorm([1, 2], 2, { epsilon: 1 } as never)).toThrow(/groupNorm: unknown option 'epsilon'/);
    expect(() => groupNorm([1, 2], 2, { eps: -1 })).toThrow(/option 'eps' must be a finite number >= 0/);
    expect(() => batchNorm([1, 2], { eps: NaN })).toThrow(ConfigError);
    expect(() => batchNorm([1, 2], { std: 'population' as never })).toThrow(/batchNorm: option 'std' must be 'unbiased' or 'biased'/);
  });
  it('a disposed tensor → DeviceError', () => {
    const t = tensor([1, 2]);
    t.dispose();
    expect(() => groupMean(t, 2)).toThrow(DeviceError);
  });
});
