/**
 * The tiny enumerable MoE policy (src/rl/theory/moe-policy.ts) and Routing Replay on it
 * (docs/paper.md §2, Eq. 6): the pullback against central differences under a fixed routing,
 * replay of the policy's own routing as a no-op, and what a routing flip does to π_θ/π_old and
 * to finite differences with and without replay.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/index.js';
import {
  moePolicy, moeSetup, pullback, routeFlipEngine, routingFlip, sequenceSpace, topkIndices, runDynamics, MOE_ARMS,
  type MoEPolicy,
} from '../../../src/rl/theory/index.js';
import { valueArb, valuesArb } from '../../helpers/arbitraries.js';

const sp = sequenceSpace(2, 3);
const policy = moePolicy(sp, { experts: 4, topK: 2 });
const K = policy.numParams;
const P = sp.numPrefixes;

const vecArb = (n: number, lo = -1, hi = 1) => valuesArb(n, valueArb(lo, hi)).map((a) => Float64Array.from(a));

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((s, v, i) => s + v * b[i]!, 0);

describe('moePolicy', () => {
  it('pullback = central differences of ⟨gz, z(θ)⟩ under a fixed (replayed) routing', () => {
    fc.assert(fc.property(vecArb(K), vecArb(K), vecArb(P * 2), (theta, dir, gz) => {
      const routing = policy.route(theta); // replayed: z(θ) is smooth in θ with the ids fixed
      const h = 1e-5;
      const f = (s: number) => dot(gz, policy.logits(Float64Array.from(theta, (v, i) => v + s * dir[i]!), routing));
      const fd = (f(h) - f(-h)) / (2 * h);
      const an = dot(pullback(policy, theta, gz, routing), dir);
      expect(Math.abs(fd - an)).toBeLessThan(1e-6 * Math.max(1, Math.abs(an)));
    }), { numRuns: 40 });
  });

  it('routes by top-k with ties to the lower index; replaying its own routing changes no bit', () => {
    expect(topkIndices([1, 3, 3, 0], 2)).toEqual([1, 2]);
    expect(topkIndices([2, 2, 2, 2], 3)).toEqual([0, 1, 2]);
    fc.assert(fc.property(vecArb(K, -2, 2), (theta) => {
      const live = policy.logits(theta);
      const replayed = policy.logits(theta, policy.route(theta));
      expect(Array.from(replayed)).toEqual(Array.from(live));
      for (let r = 0; r < P; r++) {
        const s = policy.routerScores(theta, r);
        expect(Array.from(policy.route(theta).subarray(2 * r, 2 * r + 2))).toEqual(topkIndices(s, 2));
      }
    }), { numRuns: 30 });
  });

  it('R2 at N = 1 is a no-op: the same dynamics bit for bit as no replay', () => {
    const { policy: pol, theta0, scoreNoise, reward } = moeSetup(0, 4);
    const engine = routeFlipEngine(1, scoreNoise);
    const run = (replay: 'none' | 'r2') =>
      runDynamics({ policy: pol, theta0, reward, engine, estimator: 'minirl', steps: 5, lr: 0.2, optimizer: 'adam', replay }).records;
    expect(run('r2')).toEqual(run('none'));
  });

  it('bad routing or config is a ConfigError naming the field', () => {
    expect(() => moePolicy(sp, { experts: 1, topK: 1 })).toThrow(/experts/);
    expect(() => moePolicy(sp, { experts: 4, topK: 5 })).toThrow(/topK/);
    const theta = new Float64Array(K);
    expect(() => policy.logits(theta, new Int32Array(3))).toThrow(/routing must hold 7×2/);
    expect(() => policy.logits(theta, new Int32Array(P * 2).fill(9))).toThrow(/not an expert id/);
    expect(() => routeFlipEngine(1, new Float64Array(P * 4)).sample({ ...policy, logitsWithScoreError: undefined } as unknown as MoEPolicy, theta)).toThrow(ConfigError);
    expect(() => routeFlipEngine(Number.NaN, [])).toThrow(/delta/);
  });
});

/**
 * Through a routing flip. Along θ(s) = θ_old + s·d, where d raises an unchosen expert's router
 * score and lowers a chosen one's at one prefix row, the two scores tie at s*. Replayed (R2:
 * e^π_old; R3: e^μ_old), the experts stay fixed and π_θ/π_old is smooth in s; live, the row
 * switches experts at s* and the ratio jumps by exactly the difference the switch makes.
 */
describe('a routing flip, with and without replay', () => {
  /** A random world and the flip path of its first row; null when the row's scores are within 1e-3 (already a tie). */
  function flipPath(theta: Float64Array) {
    const row = 0;
    const s0 = policy.routerScores(theta, row);
    const order = topkIndices(s0, 4);
    const [eIn, eOut] = [order[1]!, order[2]!];
    const gap = s0[eIn]! - s0[eOut]!;
    if (gap < 1e-3) return null;
    const x = policy.features(row);
    const xx = dot(x, x);
    const d = policy.featureDim;
    const dir = new Float64Array(K);
    for (let i = 0; i < d; i++) { dir[eOut * d + i] = x[i]! / xx; dir[eIn * d + i] = (-0.5 * x[i]!) / xx; }
    const at = (s: number) => Float64Array.from(theta, (v, i) => v + s * dir[i]!);
    return { tie: gap / 1.5, at, oldRouting: policy.route(theta), row };
  }
  const logp0 = (z: Float64Array) => z[0]! - Math.log(Math.exp(z[0]!) + Math.exp(z[1]!)); // log π(y = 0 | empty prefix)

  it('replayed, log π is continuous at the tie and central differences match the pullback; live, it jumps and they fail', () => {
    let jumps = 0;
    fc.assert(fc.property(vecArb(K, -2, 2), (theta) => {
      const path = flipPath(theta);
      if (!path) return;
      const { tie, at, oldRouting } = path;
      const h = 1e-7;
      // Replay (R2): the experts of θ_old throughout.
      const r2 = (s: number) => logp0(policy.logits(at(s), oldRouting));
      const fdReplay = (r2(tie + h) - r2(tie - h)) / (2 * h);
      const probs = policy.logits(at(tie), oldRouting);
      const p0 = Math.exp(logp0(probs));
      const gz = new Float64Array(P * 2);
      gz[0] = 1 - p0; // ∂log π(0)/∂z[row 0, 0]
      gz[1] = -(1 - p0); // ∂log π(0)/∂z[row 0, 1] = −π(1)
      const analytic = dot(pullback(policy, at(tie), gz, oldRouting), flipDir(at, tie));
      expect(Math.abs(fdReplay - analytic)).toBeLessThan(1e-5 * Math.max(1, Math.abs(analytic)));
      // Live: the routing on each side of the tie differs, and the jump is the switch's effect.
      const before = policy.route(at(tie - h));
      const after = policy.route(at(tie + h));
      expect(Array.from(before.subarray(0, 2)).sort()).not.toEqual(Array.from(after.subarray(0, 2)).sort());
      // Over a much narrower gap the smooth part of the change vanishes and the jump is what is left.
      const hj = 1e-11;
      const narrow = logp0(policy.logits(at(tie + hj))) - logp0(policy.logits(at(tie - hj)));
      const switchEffect = logp0(policy.logits(at(tie), after)) - logp0(policy.logits(at(tie), before));
      expect(Math.abs(narrow - switchEffect)).toBeLessThan(1e-7 * Math.max(1, Math.abs(analytic)));
      const jump = logp0(policy.logits(at(tie + h))) - logp0(policy.logits(at(tie - h)));
      if (Math.abs(switchEffect) > 1e-3) {
        jumps++;
        // Central differences across the tie are off by about jump/2h from either one-sided slope.
        const fdLive = jump / (2 * h);
        expect(Math.abs(fdLive - analytic)).toBeGreaterThan(1e3);
      }
    }), { numRuns: Number(process.env.THEORY_RUNS ?? 40) });
    if (process.env.THEORY_RUNS) console.log('jumps', jumps);
    expect(jumps).toBeGreaterThan(20);
  });

  /** The direction `at` moves along, recovered from two points (at is affine in s). */
  function flipDir(at: (s: number) => Float64Array, s: number): Float64Array {
    const a = at(s + 1);
    const b = at(s);
    return Float64Array.from(a, (v, i) => v - b[i]!);
  }

  it('the routing-flip figure: no replay jumps at s*, R2 and R3 move by < 0.02 per step of the path', () => {
    const rf = routingFlip(0);
    const i = rf.points.findIndex((p) => p.s > rf.tie);
    expect(i).toBeGreaterThan(0);
    expect(Math.abs(rf.points[i]!.none - rf.points[i - 1]!.none)).toBeGreaterThan(0.3);
    for (let j = 1; j < rf.points.length; j++) {
      expect(Math.abs(rf.points[j]!.r2 - rf.points[j - 1]!.r2)).toBeLessThan(0.02);
      expect(Math.abs(rf.points[j]!.r3 - rf.points[j - 1]!.r3)).toBeLessThan(0.02);
      if (j !== i) expect(Math.abs(rf.points[j]!.none - rf.points[j - 1]!.none)).toBeLessThan(0.02);
    }
    // Before the tie, no replay and R2 are the same policy (the live routes are e^π_old).
    for (let j = 0; j < i; j++) expect(rf.points[j]!.none).toBe(rf.points[j]!.r2);
    expect(rf.experts.trainerAtOld).not.toEqual(rf.experts.engineAtOld);
    expect(MOE_ARMS.length).toBe(6);
  });
});
