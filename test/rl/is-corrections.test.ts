/**
 * Training–inference IS corrections (src/rl/is-corrections.ts): every kind against a plain-JS
 * reference written row by row from docs/paper.md §5.3 (fast-check draws of log-probs with small,
 * moderate and extreme discrepancies, ragged masks, options and both advantage shapes), the
 * defaults, detachment (no gradient reaches logNum/logDen through the weights), the ±20 log-ratio
 * clamp (no Inf/NaN for any finite log-ratio), zero weight on masked tokens, hand-computed stats
 * (mean/min/max, masked and clipped fractions, ESS) and every bad input.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError, DeviceError, DTypeError, ShapeError, ValueError, grad, tensor, type Tensor } from '../../src/index.js';
import {
  IS_CORRECTION_KINDS, isCorrection, isCorrectionAsync, isCorrectionDefaults,
  type ISCorrectionKind, type ISCorrectionOptions, type ISCorrectionStats,
} from '../../src/rl/is-corrections.js';
import { expectClose } from '../helpers/assert.js';
import { arr } from '../helpers/tensors.js';

const RUNS = 150;
const f64 = (x: number[][] | number[]) => tensor(x, { dtype: 'f64' });

// ---- plain-JS reference (docs/paper.md §5.3) ------------------------------------------------
interface Opts { cap: number; low: number; high: number; threshold: number }
const DEFAULTS: Record<ISCorrectionKind, Partial<Opts>> = {
  'token-tis': { cap: 2 },
  'token-mis': { low: 0.5, high: 5 },
  'seq-tis': { cap: 2 },
  'seq-mis': { low: 0, high: 2 },
  'geo-mean-rejection': { low: 0.999, high: 1.001 },
  'k3-rejection': { threshold: 0.01 },
  'opsm': { threshold: 1e-4 },
};
const clamp20 = (x: number) => Math.min(20, Math.max(-20, x));

function reference(
  kind: ISCorrectionKind, num: number[][], den: number[][], mask: number[][], adv: number[] | number[][] | null, given: Partial<Opts>,
): { w: number[][]; clipped: boolean[][] } {
  const o: Opts = { cap: Infinity, low: 0, high: Infinity, threshold: Infinity, ...DEFAULTS[kind], ...given };
  const w = num.map((row) => row.map(() => 0));
  const clipped = num.map((row) => row.map(() => false));
  num.forEach((row, b) => {
    const idx = row.map((_, t) => t).filter((t) => mask[b]![t] === 1);
    if (idx.length === 0) return;
    const lr = idx.map((t) => clamp20(num[b]![t]! - den[b]![t]!));
    const sum = lr.reduce((s, x) => s + x, 0);
    const meanLr = sum / idx.length;
    idx.forEach((t, j) => {
      const rho = Math.exp(lr[j]!);
      const seqRho = Math.exp(clamp20(sum));
      switch (kind) {
        case 'token-tis':
          w[b]![t] = Math.min(o.cap, Math.max(o.low, rho));
          clipped[b]![t] = rho > o.cap || rho < o.low;
          break;
        case 'token-mis':
          w[b]![t] = rho >= o.low && rho <= o.high ? rho : 0;
          break;
        case 'seq-tis':
          w[b]![t] = Math.min(o.cap, Math.max(o.low, seqRho));
          clipped[b]![t] = seqRho > o.cap || seqRho < o.low;
          break;
        case 'seq-mis':
          w[b]![t] = seqRho >= o.low && seqRho <= o.high ? seqRho : 0;
          break;
        case 'geo-mean-rejection': {
          const g = Math.exp(meanLr);
          w[b]![t] = g >= o.low && g <= o.high ? 1 : 0;
          break;
        }
        case 'k3-rejection': {
          const k3 = lr.map((l) => Math.exp(l) - l - 1).reduce((s, x) => s + x, 0) / idx.length;
          w[b]![t] = k3 > o.threshold ? 0 : 1;
          break;
        }
        case 'opsm': {
          const a = Array.isArray(adv![b]) ? (adv![b] as number[])[t]! : (adv![b] as number);
          const kl = idx.map((s) => den[b]![s]! - num[b]![s]!).map((d) => -clamp20(-d)).reduce((s, x) => s + x, 0) / idx.length;
          w[b]![t] = a < 0 && kl > o.threshold ? 0 : 1;
          break;
        }
      }
    });
  });
  return { w, clipped };
}

function referenceStats(w: number[][], mask: number[][], clipped: boolean[][]): ISCorrectionStats {
  const vals: number[] = [];
  let nClip = 0;
  w.forEach((row, b) => row.forEach((x, t) => {
    if (mask[b]![t] !== 1) return;
    vals.push(x);
    if (clipped[b]![t]) nClip++;
  }));
  const N = vals.length;
  const s = vals.reduce((p, q) => p + q, 0);
  const s2 = vals.reduce((p, q) => p + q * q, 0);
  return {
    mean: s / N,
    min: Math.min(...vals),
    max: Math.max(...vals),
    // Every IS weight is ≥ exp(−20) > 0, so on a valid token a weight of 0 means "rejected".
    maskedFraction: vals.filter((x) => x === 0).length / N,
    clippedFraction: nClip / N,
    ess: s2 > 0 ? (s * s) / (N * s2) : 0,
  };
}

/** Weights within 1e-12·max(1, |want|); rejected and masked tokens must be exactly 0, not merely tiny. */
const WEIGHTS = { tol: 1e-12, exactZeros: true, what: 'weight' } as const;
function expectStats(got: ISCorrectionStats, want: ISCorrectionStats, tol = 1e-12): void {
  for (const k of Object.keys(want) as (keyof ISCorrectionStats)[]) expectClose(got[k], want[k], { tol, what: `stats.${k}` });
}

// ---- arbitraries ----------------------------------------------------------------------------
const deltaArb = fc.oneof(
  { weight: 3, arbitrary: fc.double({ min: -0.003, max: 0.003, noNaN: true }) }, // passes the geo band
  { weight: 3, arbitrary: fc.double({ min: -3, max: 3, noNaN: true }) },
  { weight: 1, arbitrary: fc.double({ min: -60, max: 60, noNaN: true }) }, // beyond the ±20 clamp
  { weight: 1, arbitrary: fc.constant(0) },
);
const batchArb = fc.record({ B: fc.integer({ min: 1, max: 4 }), T: fc.integer({ min: 1, max: 6 }), uniform: fc.boolean() }).chain(({ B, T, uniform }) => {
  const mat = <V>(a: fc.Arbitrary<V>) => fc.array(fc.array(a, { minLength: T, maxLength: T }), { minLength: B, maxLength: B });
  return fc.record({
    den: mat(fc.double({ min: -8, max: 0, noNaN: true })),
    // With 'uniform' every token of a sequence shares one discrepancy (sequence-level kinds see
    // a spread of geometric means, not only averages of independent draws).
    delta: uniform ? fc.array(deltaArb, { minLength: B, maxLength: B }).map((d) => d.map((x) => Array<number>(T).fill(x))) : mat(deltaArb),
    mask: mat(fc.oneof({ weight: 3, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.constant(0) })),
    advRow: fc.array(fc.double({ min: -2, max: 2, noNaN: true }), { minLength: B, maxLength: B }),
    advTok: mat(fc.double({ min: -2, max: 2, noNaN: true })),
    perToken: fc.boolean(),
  }).filter((x) => x.mask.some((r) => r.includes(1)))
    .map((x) => ({ ...x, num: x.den.map((r, b) => r.map((v, t) => v + x.delta[b]![t]!)) }));
});
const positive = (lo: number, hi: number) => fc.double({ min: lo, max: hi, noNaN: true });
function optionsArb(kind: ISCorrectionKind): fc.Arbitrary<Partial<Opts>> {
  const maybe = <V>(a: fc.Arbitrary<V>) => fc.option(a, { nil: undefined });
  const strip = (o: Record<string, number | undefined>) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<Opts>;
  switch (kind) {
    case 'token-tis':
    case 'seq-tis':
      return fc.record({ cap: maybe(fc.oneof(positive(0.5, 10), fc.constant(Infinity))), low: maybe(positive(0, 0.5)) }).map(strip);
    case 'token-mis':
    case 'seq-mis':
      return fc.record({ low: maybe(positive(0, 1)), high: maybe(fc.oneof(positive(1, 10), fc.constant(Infinity))) }).map(strip);
    case 'geo-mean-rejection':
      return fc.record({ low: maybe(positive(0.99, 1)), high: maybe(positive(1, 1.01)) }).map(strip);
    case 'k3-rejection':
    case 'opsm':
      return fc.record({ threshold: maybe(fc.oneof(positive(0, 0.5), fc.constant(0))) }).map(strip);
  }
}

describe('isCorrection against the plain-JS reference (fast-check)', () => {
  for (const kind of IS_CORRECTION_KINDS) {
    it(`${kind}: weights and stats match, masked tokens get 0, nothing is Inf/NaN`, () => {
      fc.assert(fc.property(batchArb, optionsArb(kind), (x, opts) => {
        const adv = x.perToken ? x.advTok : x.advRow;
        const { weights, stats } = isCorrection(kind, { logNum: f64(x.num), logDen: f64(x.den), mask: f64(x.mask), advantages: f64(adv) }, opts);
        expect(weights.shape).toEqual([x.num.length, x.num[0]!.length]);
        expect(weights.dtype).toBe('f64');
        expect(weights.requiresGrad).toBe(false);
        const got = arr(weights);
        const { w, clipped } = reference(kind, x.num, x.den, x.mask, adv, opts);
        expectClose(got, w.flat(), WEIGHTS);
        expectStats(stats, referenceStats(w, x.mask, clipped));
        got.forEach((g, i) => {
          expect(Number.isFinite(g)).toBe(true);
          if (x.mask.flat()[i] === 0) expect(g).toBe(0);
        });
        for (const v of Object.values(stats)) expect(Number.isFinite(v)).toBe(true);
        expect(stats.ess).toBeGreaterThanOrEqual(0);
        expect(stats.ess).toBeLessThanOrEqual(1 + 1e-12);
      }), { numRuns: RUNS });
    });
  }

  it('f32 inputs give f32 weights equal to the f64 result rounded', () => {
    fc.assert(fc.property(batchArb, fc.constantFrom(...IS_CORRECTION_KINDS), (x, kind) => {
      const num = x.num.map((r) => r.map(Math.fround));
      const den = x.den.map((r) => r.map(Math.fround));
      const adv = x.advRow.map(Math.fround);
      const a = isCorrection(kind, { logNum: tensor(num), logDen: tensor(den), mask: tensor(x.mask), advantages: tensor(adv) });
      const b = isCorrection(kind, { logNum: f64(num), logDen: f64(den), mask: f64(x.mask), advantages: f64(adv) });
      expect(a.weights.dtype).toBe('f32');
      expect(arr(a.weights)).toEqual(arr(b.weights).map(Math.fround));
      expect(a.stats).toEqual(b.stats);
    }), { numRuns: 50 });
  });

  it('isCorrectionAsync gives the same result as isCorrection', async () => {
    const x = { logNum: f64([[-1, -2, -0.5]]), logDen: f64([[-1.2, -1.5, -0.5]]), mask: f64([[1, 1, 0]]), advantages: f64([-1]) };
    for (const kind of IS_CORRECTION_KINDS) {
      const a = await isCorrectionAsync(kind, x);
      const b = isCorrection(kind, x);
      expect(arr(a.weights)).toEqual(arr(b.weights));
      expect(a.stats).toEqual(b.stats);
    }
  });
});

describe('weights are detached', () => {
  it('a loss Σ w·c gives no gradient to logNum or logDen; Σ w·logNum gives exactly w', () => {
    fc.assert(fc.property(batchArb, fc.constantFrom(...IS_CORRECTION_KINDS), (x, kind) => {
      const mask = f64(x.mask);
      const advantages = f64(x.advRow);
      const c = f64(x.den.map((r) => r.map((_, t) => 1 + t)));
      const [gNum, gDen] = grad((logNum, logDen) => isCorrection(kind, { logNum, logDen, mask, advantages }).weights.mul(c).sum(), [f64(x.num), f64(x.den)]);
      expect(arr(gNum!).every((g) => g === 0)).toBe(true);
      expect(arr(gDen!).every((g) => g === 0)).toBe(true);
      // With a differentiable factor, the gradient is the weight itself: no ∇w term.
      let w: Tensor | null = null;
      const [g2Num, g2Den] = grad((logNum, logDen) => {
        w = isCorrection(kind, { logNum, logDen, mask, advantages }).weights;
        return w.mul(logNum).sum();
      }, [f64(x.num), f64(x.den)]);
      expect(arr(g2Num!)).toEqual(arr(w!));
      expect(arr(g2Den!).every((g) => g === 0)).toBe(true);
    }), { numRuns: 40 });
  });
  it('inputs that require grad give a leaf with requiresGrad = false', () => {
    const logNum = tensor([[-1, -2]], { dtype: 'f64', requiresGrad: true });
    const logDen = tensor([[-1.5, -2]], { dtype: 'f64', requiresGrad: true });
    const { weights } = isCorrection('token-tis', { logNum, logDen, mask: f64([[1, 1]]) });
    expect(weights.requiresGrad).toBe(false);
    expect(weights.isLeaf).toBe(true);
  });
});

describe('the ±20 log-ratio clamp', () => {
  const huge = [1000, -1000, 1e300, -1e300, 20.5, -20.5, 700, -745];
  it('extreme token log-ratios give exp(±20) (before cap/band), never Inf or NaN', () => {
    const num = [huge];
    const den = [huge.map(() => 0)];
    const mask = [huge.map(() => 1)];
    const e20 = Math.exp(20);
    const em20 = Math.exp(-20);
    const tis = isCorrection('token-tis', { logNum: f64(num), logDen: f64(den), mask: f64(mask) }, { cap: Infinity });
    expect(arr(tis.weights)).toEqual(huge.map((d) => (d > 0 ? e20 : em20)));
    const mis = isCorrection('token-mis', { logNum: f64(num), logDen: f64(den), mask: f64(mask) }, { low: 0, high: Infinity });
    expect(arr(mis.weights)).toEqual(huge.map((d) => (d > 0 ? e20 : em20)));
    for (const kind of IS_CORRECTION_KINDS) {
      const r = isCorrection(kind, { logNum: f64(num), logDen: f64(den), mask: f64(mask), advantages: f64([-1]) });
      expect(arr(r.weights).every(Number.isFinite)).toBe(true);
      expect(Object.values(r.stats).every(Number.isFinite)).toBe(true);
    }
  });
  it('the sequence log-ratio is clamped too: 50 tokens at +10 give exp(20), not exp(500)', () => {
    const T = 50;
    const x = { logNum: f64([Array<number>(T).fill(10)]), logDen: f64([Array<number>(T).fill(0)]), mask: f64([Array<number>(T).fill(1)]) };
    expect(arr(isCorrection('seq-tis', x, { cap: Infinity }).weights)).toEqual(Array<number>(T).fill(Math.exp(20)));
    expect(arr(isCorrection('seq-mis', x, { high: Infinity }).weights)).toEqual(Array<number>(T).fill(Math.exp(20)));
    const neg = { ...x, logNum: f64([Array<number>(T).fill(-10)]) };
    expect(arr(isCorrection('seq-tis', neg, { cap: Infinity }).weights)).toEqual(Array<number>(T).fill(Math.exp(-20)));
    // The k3 estimate of a clamped ratio is finite: mean(e^20 − 20 − 1) rejects, without NaN.
    const k3 = isCorrection('k3-rejection', { ...x, logNum: f64([Array<number>(T).fill(1e6)]) });
    expect(arr(k3.weights)).toEqual(Array<number>(T).fill(0));
  });
});

describe('hand-computed weights and stats', () => {
  const L = Math.log;
  it('token-tis, cap 2: ratios [0.5, 1, 4, (masked 8)] → [0.5, 1, 2, 0]', () => {
    const r = isCorrection('token-tis', { logNum: f64([[L(0.5), 0, L(4), L(8)]]), logDen: f64([[0, 0, 0, 0]]), mask: f64([[1, 1, 1, 0]]) });
    expectClose(arr(r.weights), [0.5, 1, 2, 0], WEIGHTS);
    // mean 3.5/3, ESS = 3.5² / (3 · (0.25 + 1 + 4)) = 12.25 / 15.75.
    expectStats(r.stats, { mean: 3.5 / 3, min: 0.5, max: 2, maskedFraction: 0, clippedFraction: 1 / 3, ess: 12.25 / 15.75 });
  });
  it('token-tis with a low floor 0.8: [0.5, 1, 4] → [0.8, 1, 2], two of three clipped', () => {
    const r = isCorrection('token-tis', { logNum: f64([[L(0.5), 0, L(4)]]), logDen: f64([[0, 0, 0]]), mask: f64([[1, 1, 1]]) }, { low: 0.8 });
    expectClose(arr(r.weights), [0.8, 1, 2], WEIGHTS);
    expect(r.stats.clippedFraction).toBeCloseTo(2 / 3, 15);
  });
  it('token-mis (IcePop) [0.5, 5]: ratios [0.25, 1, 2, 10] → [0, 1, 2, 0]', () => {
    const r = isCorrection('token-mis', { logNum: f64([[L(0.25), 0, L(2), L(10)]]), logDen: f64([[0, 0, 0, 0]]), mask: f64([[1, 1, 1, 1]]) });
    expectClose(arr(r.weights), [0, 1, 2, 0], WEIGHTS);
    // ESS = 3² / (4 · 5) = 0.45.
    expectStats(r.stats, { mean: 0.75, min: 0, max: 2, maskedFraction: 0.5, clippedFraction: 0, ess: 0.45 });
  });
  it('seq-tis / seq-mis: sequence ratios 1.5 (kept) and 3 (capped / rejected)', () => {
    // Row 0: ratios 1.5·1 (second token masked-in, log 0) → 1.5. Row 1: 1.5·2 = 3, third token padding.
    const x = {
      logNum: f64([[L(1.5), 0, 0], [L(1.5), L(2), 5]]),
      logDen: f64([[0, 0, 0], [0, 0, 0]]),
      mask: f64([[1, 1, 1], [1, 1, 0]]),
    };
    const tis = isCorrection('seq-tis', x);
    expectClose(arr(tis.weights), [[1.5, 1.5, 1.5], [2, 2, 0]].flat(), WEIGHTS);
    // 5 valid tokens: mean (4.5 + 4)/5 = 1.7; Σw² = 3·2.25 + 2·4 = 14.75; ESS = 8.5² / (5·14.75).
    expectStats(tis.stats, { mean: 1.7, min: 1.5, max: 2, maskedFraction: 0, clippedFraction: 0.4, ess: 72.25 / 73.75 });
    const mis = isCorrection('seq-mis', x);
    expectClose(arr(mis.weights), [[1.5, 1.5, 1.5], [0, 0, 0]].flat(), WEIGHTS);
    // Σw = 4.5, Σw² = 6.75 over N = 5.
    expectStats(mis.stats, { mean: 0.9, min: 0, max: 1.5, maskedFraction: 0.4, clippedFraction: 0, ess: 20.25 / 33.75 });
    // Lower edge: with low 1.6 the first sequence is rejected and the second kept (high Infinity).
    expectClose(arr(isCorrection('seq-mis', x, { low: 1.6, high: Infinity }).weights), [[0, 0, 0], [3, 3, 0]].flat(), WEIGHTS);
  });
  it('geo-mean-rejection: geometric mean 1.0005 kept, 1.002 rejected (band 0.999–1.001)', () => {
    const x = {
      logNum: f64([[L(1.0005), L(1.0005)], [L(1.004), 0]]),
      logDen: f64([[0, 0], [0, 0]]),
      mask: f64([[1, 1], [1, 1]]),
    };
    // Row 1: exp(mean(log 1.004, 0)) = sqrt(1.004) ≈ 1.002 > 1.001.
    const r = isCorrection('geo-mean-rejection', x);
    expectClose(arr(r.weights), [[1, 1], [0, 0]].flat(), WEIGHTS);
    expectStats(r.stats, { mean: 0.5, min: 0, max: 1, maskedFraction: 0.5, clippedFraction: 0, ess: 0.5 });
  });
  it('geo-mean-rejection and k3-rejection average over valid tokens only, not the padded width', () => {
    // Two valid tokens at ratio 1.0015 and two padding tokens: geometric mean 1.0015 > 1.001 →
    // rejected (averaging over T = 4 would give ≈ 1.00075 and keep it).
    const x = { logNum: f64([[L(1.0015), L(1.0015), 0, 0]]), logDen: f64([[0, 0, 0, 0]]), mask: f64([[1, 1, 0, 0]]) };
    expectClose(arr(isCorrection('geo-mean-rejection', x).weights), [0, 0, 0, 0], WEIGHTS);
    expectStats(isCorrection('geo-mean-rejection', x).stats, { mean: 0, min: 0, max: 0, maskedFraction: 1, clippedFraction: 0, ess: 0 });
    // k3 of ratio 1.2 = 0.2 − log 1.2 ≈ 0.01768 > 0.01 → rejected (over T = 4: ≈ 0.0088, kept).
    const y = { logNum: f64([[L(1.2), L(1.2), 0, 0]]), logDen: f64([[0, 0, 0, 0]]), mask: f64([[1, 1, 0, 0]]) };
    expectClose(arr(isCorrection('k3-rejection', y).weights), [0, 0, 0, 0], WEIGHTS);
    // OPSM too: mean(logDen − logNum) over the 2 valid tokens is 0.15 > 0.1 (over T = 4: 0.075).
    const z = { logNum: f64([[-0.15, -0.15, 0, 0]]), logDen: f64([[0, 0, 0, 0]]), mask: f64([[1, 1, 0, 0]]), advantages: f64([-1]) };
    expectClose(arr(isCorrection('opsm', z, { threshold: 0.1 }).weights), [0, 0, 0, 0], WEIGHTS);
  });
  it('k3-rejection: mean_t(ρ − log ρ − 1) against the threshold', () => {
    // Row 0: ρ = [1, 1.1] → k3 = [0, 0.1 − log 1.1 ≈ 0.00469] → mean 0.002345 (kept at 0.01).
    // Row 1: ρ = [2, 1]   → k3 = [1 − log 2 ≈ 0.3069, 0] → mean 0.153 (rejected).
    const x = { logNum: f64([[0, L(1.1)], [L(2), 0]]), logDen: f64([[0, 0], [0, 0]]), mask: f64([[1, 1], [1, 1]]) };
    expectClose(arr(isCorrection('k3-rejection', x).weights), [[1, 1], [0, 0]].flat(), WEIGHTS);
    // With threshold 0.002 both are rejected; with 0.2 both kept.
    expectClose(arr(isCorrection('k3-rejection', x, { threshold: 0.002 }).weights), [[0, 0], [0, 0]].flat(), WEIGHTS);
    expectClose(arr(isCorrection('k3-rejection', x, { threshold: 0.2 }).weights), [[1, 1], [1, 1]].flat(), WEIGHTS);
    expect(isCorrection('k3-rejection', x, { threshold: 0.002 }).stats.ess).toBe(0);
  });
  it('opsm: drops a sequence only when A < 0 and mean(logDen − logNum) > δ', () => {
    // mean(logDen − logNum): row 0: 0.5 (off-policy), row 1: 0.5, row 2: 0 (on-policy), row 3: 0.5.
    const x = {
      logNum: f64([[-1.5, -1.5], [-1.5, -1.5], [-1, -1], [-1.5, -9]]),
      logDen: f64([[-1, -1], [-1, -1], [-1, -1], [-1, 0]]),
      mask: f64([[1, 1], [1, 1], [1, 1], [1, 0]]),
      advantages: f64([-1, 1, -1, -0.5]),
    };
    const r = isCorrection('opsm', x);
    expectClose(arr(r.weights), [[0, 0], [1, 1], [1, 1], [0, 0]].flat(), WEIGHTS);
    expectStats(r.stats, { mean: 4 / 7, min: 0, max: 1, maskedFraction: 3 / 7, clippedFraction: 0, ess: 4 / 7 });
    // δ above the discrepancy keeps everything.
    expectClose(arr(isCorrection('opsm', x, { threshold: 0.6 }).weights), [[1, 1], [1, 1], [1, 1], [1, 0]].flat(), WEIGHTS);
    // [B, T] advantages: the A < 0 test is per token.
    const perTok = isCorrection('opsm', { ...x, advantages: f64([[-1, 1], [1, 1], [-1, -1], [-1, -1]]) });
    expectClose(arr(perTok.weights), [[0, 1], [1, 1], [1, 1], [0, 0]].flat(), WEIGHTS);
  });
  it('a sequence with no valid token gets weight 0 everywhere and is not counted', () => {
    const r = isCorrection('seq-tis', { logNum: f64([[0, 0], [5, 5]]), logDen: f64([[0, 0], [0, 0]]), mask: f64([[1, 1], [0, 0]]) });
    expectClose(arr(r.weights), [[1, 1], [0, 0]].flat(), WEIGHTS);
    expectStats(r.stats, { mean: 1, min: 1, max: 1, maskedFraction: 0, clippedFraction: 0, ess: 1 });
  });
  it('the defaults are the documented ones', () => {
    for (const kind of IS_CORRECTION_KINDS) {
      expect(isCorrectionDefaults(kind)).toMatchObject(DEFAULTS[kind] as ISCorrectionOptions);
    }
  });
});

describe('isCorrection: bad input', () => {
  const ok = () => ({ logNum: f64([[-1, -2]]), logDen: f64([[-1, -2]]), mask: f64([[1, 1]]) });
  it('unknown kind → ConfigError listing the kinds', () => {
    expect(() => isCorrection('icepop' as never, ok())).toThrow(ConfigError);
    expect(() => isCorrection('icepop' as never, ok())).toThrow(/unknown kind "icepop"; expected one of token-tis, token-mis/);
  });
  it('unknown option, or one that does not apply to the kind → ConfigError', () => {
    expect(() => isCorrection('token-tis', ok(), { clip: 2 } as never)).toThrow(/isCorrection\('token-tis'\): unknown option 'clip'; 'token-tis' accepts 'cap', 'low'/);
    expect(() => isCorrection('token-mis', ok(), { cap: 2 })).toThrow(/option 'cap' does not apply to this kind; 'token-mis' accepts 'low', 'high'/);
    expect(() => isCorrection('k3-rejection', ok(), { high: 2 })).toThrow(ConfigError);
  });
  it('option values out of range → ConfigError naming the option', () => {
    expect(() => isCorrection('token-tis', ok(), { cap: NaN })).toThrow(/option 'cap' must be a number, got NaN/);
    expect(() => isCorrection('token-tis', ok(), { cap: 0 })).toThrow(/option 'cap' must be > 0/);
    expect(() => isCorrection('token-tis', ok(), { cap: 2, low: 3 })).toThrow(/option 'low' \(3\) must be <= 'cap' \(2\)/);
    expect(() => isCorrection('token-mis', ok(), { low: -1 })).toThrow(/option 'low' must be finite and >= 0/);
    expect(() => isCorrection('seq-mis', ok(), { low: 3, high: 2 })).toThrow(/option 'low' \(3\) must be <= 'high' \(2\)/);
    expect(() => isCorrection('geo-mean-rejection', ok(), { high: -1 })).toThrow(/option 'high' must be > 0/);
    expect(() => isCorrection('k3-rejection', ok(), { threshold: -0.1 })).toThrow(/option 'threshold' must be >= 0/);
    expect(() => isCorrection('opsm', { ...ok(), advantages: f64([1]) }, { threshold: '1' as never })).toThrow(/option 'threshold' must be a number/);
  });
  it('shape disagreements → ShapeError naming the argument', () => {
    expect(() => isCorrection('token-tis', { ...ok(), logDen: f64([[-1, -2, -3]]) })).toThrow(/logDen shape \[1, 3\] does not match logNum shape \[1, 2\]/);
    expect(() => isCorrection('token-tis', { ...ok(), mask: f64([1, 1]) })).toThrow(/mask shape \[2\] does not match logNum shape \[1, 2\]/);
    expect(() => isCorrection('token-tis', { ...ok(), logNum: f64([-1, -2]) })).toThrow(/logNum must be \[B, T\], got shape \[2\]/);
    expect(() => isCorrection('opsm', { ...ok(), advantages: f64([1, 2]) })).toThrow(/advantages shape \[2\] must be \[B\] = \[1\] or \[B, T\] = \[1, 2\]/);
    expect(() => isCorrection('token-tis', { logNum: f64([[]]), logDen: f64([[]]), mask: f64([[]]) })).toThrow(ShapeError);
  });
  it('all-zero or non-0/1 mask → ValueError naming mask', () => {
    expect(() => isCorrection('token-tis', { ...ok(), mask: f64([[0, 0]]) })).toThrow(/isCorrection\('token-tis'\): mask is all zero/);
    expect(() => isCorrection('seq-mis', { ...ok(), mask: f64([[1, 0.5]]) })).toThrow(/mask must hold only 0 and 1, found 0.5 at flat index 1/);
  });
  it('NaN or ±Inf in logNum, logDen or advantages → ValueError naming it', () => {
    expect(() => isCorrection('token-tis', { ...ok(), logNum: f64([[-1, NaN]]) })).toThrow(/logNum has a non-finite value \(NaN\) at flat index 1/);
    expect(() => isCorrection('token-mis', { ...ok(), logDen: f64([[-Infinity, -1]]) })).toThrow(/logDen has a non-finite value \(-Infinity\) at flat index 0/);
    expect(() => isCorrection('opsm', { ...ok(), advantages: f64([Infinity]) })).toThrow(/advantages has a non-finite value/);
    // Padding is checked too: a NaN hidden under mask 0 is still an error.
    expect(() => isCorrection('token-tis', { ...ok(), logNum: f64([[-1, NaN]]), mask: f64([[1, 0]]) })).toThrow(ValueError);
  });
  it('missing or wrong-typed inputs → typed errors', () => {
    expect(() => isCorrection('opsm', ok())).toThrow(/advantages \(\[B\] or \[B, T\]\) are required by 'opsm'/);
    expect(() => isCorrection('token-tis', { ...ok(), logDen: undefined as never })).toThrow(/logDen must be a Tensor, got undefined/);
    expect(() => isCorrection('token-tis', { ...ok(), mask: tensor([[1, 1]], { dtype: 'i32' }) })).toThrow(DTypeError);
    expect(() => isCorrection('token-tis', { ...ok(), logDen: tensor([[-1, -2]]) })).toThrow(/logDen has dtype f32 but logNum has f64/);
    const gone = f64([[0, 0]]);
    gone.dispose();
    expect(() => isCorrection('token-tis', { ...ok(), logNum: gone })).toThrow(DeviceError);
  });
});
