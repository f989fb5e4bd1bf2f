/**
 * Exact dynamics (src/rl/theory/dynamics.ts) and every claim docs/theory.md makes about its
 * curves. Each ending point is checked against a direct computation: a closed form, a
 * root-find on the expected gradient, the reward's own maximum, or a much longer run.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError, grad } from '../../../src/index.js';
import {
  MOE_ARMS, MAX_UPDATES, dynamicsMoE, dynamicsOnPolicyRelative, dynamicsStaleness, expectedGradient, halfOnesJ,
  jSeq, jSeqValue, logitErrorEngine, moeSeedTable, moeSetup, onPolicyRelativeSetup, onPolicySharedSetup, perSequence,
  routeFlipEngine, runDynamics, sequenceSpace, stalenessSetup, table, tabularPolicy, theoryReport, tokenLogProbs,
  exactEngine, type DynamicsRecord,
} from '../../../src/rl/theory/index.js';
import { valueArb, valuesArb } from '../../helpers/arbitraries.js';

const lastOf = (r: DynamicsRecord[]): DynamicsRecord => r[r.length - 1]!;
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

describe('the dynamics engine', () => {
  it('with the sequence weight, ascent equals exact J_seq ascent (autograd ∇J_seq) to 1e-10', () => {
    const sp = sequenceSpace(2, 3);
    const k = sp.numPrefixes * 2;
    const arr = (n: number) => valuesArb(n, valueArb(-1, 1));
    fc.assert(fc.property(arr(k), arr(k), arr(sp.numSeqs), (theta0, e, reward) => {
      const policy = tabularPolicy(sp);
      const engine = logitErrorEngine(0.7, e);
      const steps = 8;
      const lr = 0.5;
      const got = runDynamics({ policy, theta0, reward, engine, estimator: 'seq-is', steps, lr });
      // Independent ascent: θ ← θ + lr·∇J_seq(θ), the gradient from the project's autograd.
      let theta = Float64Array.from(theta0);
      const R = perSequence(sp, reward);
      for (let s = 0; s < steps; s++) {
        const g = grad((x) => jSeq(sp, x, R), [table(sp, theta)])[0]!.toArraySync() as Float64Array;
        expect(Math.abs(got.records[s]!.jSeq - jSeqValue(policy, theta, reward))).toBeLessThan(1e-10);
        theta = Float64Array.from(theta, (v, i) => v + lr * g[i]!);
      }
      for (let i = 0; i < theta.length; i++) expect(Math.abs(got.theta[i]! - theta[i]!)).toBeLessThan(1e-10);
    }), { numRuns: 15 });
  });

  it('N = 1: the clip mask never acts (r = 1 at θ = θ_old), so MiniRL with and without it agree bit for bit', () => {
    const { policy, theta0, reward } = stalenessSetup(0);
    const run = (estimator: 'minirl' | 'minirl-noclip') => runDynamics({ policy, theta0, reward, engine: exactEngine, estimator, steps: 10, lr: 1 }).records;
    expect(run('minirl')).toEqual(run('minirl-noclip'));
  });

  it('bad input is a ConfigError naming the field', () => {
    const { policy, theta0, reward } = stalenessSetup(0);
    const base = { policy, theta0, reward, engine: exactEngine, estimator: 'minirl' as const, steps: 2, lr: 0.1 };
    expect(() => runDynamics({ ...base, estimator: 'ppo' as never })).toThrow(/estimator: unknown estimator 'ppo'/);
    expect(() => runDynamics({ ...base, steps: -1 })).toThrow(/steps/);
    expect(() => runDynamics({ ...base, steps: MAX_UPDATES, miniBatches: 2 })).toThrow(/exceeds the limit 100000/);
    expect(() => runDynamics({ ...base, miniBatches: 0 })).toThrow(/miniBatches/);
    expect(() => runDynamics({ ...base, steps: 20_000, miniBatches: 4 })).toThrow(/MAX_TOKEN_UPDATES/);
    expect(() => runDynamics({ ...base, lr: 0 })).toThrow(/lr/);
    expect(() => runDynamics({ ...base, lr: Number.NaN })).toThrow(/lr/);
    expect(() => runDynamics({ ...base, optimizer: 'rmsprop' as never })).toThrow(/optimizer/);
    expect(() => runDynamics({ ...base, replay: 'r2' })).toThrow(/needs a MoE policy/);
    expect(() => runDynamics({ ...base, replay: 'r4' as never })).toThrow(/replay/);
    expect(() => runDynamics({ ...base, reward: [1, 2] })).toThrow(/reward: expected 64 values/);
    expect(() => runDynamics({ ...base, reward: Array(64).fill(Number.NaN) })).toThrow(/reward\[0\]/);
    expect(() => runDynamics({ ...base, theta0: [1] })).toThrow(/theta0 must have 14 parameters/);
    expect(() => runDynamics({ ...base, theta0: Array(14).fill(Infinity) })).toThrow(/theta0\[0\]/);
    expect(() => logitErrorEngine(11, [])).toThrow(/\|δ\| ≤ 10/);
    expect(() => logitErrorEngine(0.1, [1, 2]).sample(policy, Float64Array.from(theta0))).toThrow(/direction: expected/);
    for (const bad of [{ lengths: [13] }, { lengths: [0] }, { deltas: [Number.NaN] }, { deltas: [20] }, { estimators: ['nope'] }, { seed: -1 }, { lengths: [] }]) {
      expect(() => theoryReport(bad)).toThrow(ConfigError);
    }
    expect(() => theoryReport({ lengths: [13] })).toThrow(/lengths: T = 13 is outside the enumerable range 1…12/);
  });
});

describe('(i-a) on-policy, a fixed engine error on one token, shared logits', () => {
  const { policy, reward, engine, theta0, delta, T, sp } = onPolicySharedSetup();
  const pOf = (theta: ArrayLike<number>) => sigmoid(theta[1]! - theta[0]!);

  it('the token-level fixed point is P_π(1) = σ(−δ) (root-find on the expected gradient), the sequence one ½', () => {
    const component = (est: 'minirl' | 'no-is' | 'seq-is', p: number) => {
      const theta = Float64Array.from([0, Math.log(p / (1 - p))]);
      const mu = engine.sample(policy, theta);
      const g = expectedGradient(est, { policy, theta, reward, logpOld: tokenLogProbs(sp, policy.logits(theta)), logpMu: tokenLogProbs(sp, mu.logits) });
      return g[1]! - g[0]!; // along θ1 − θ0
    };
    const root = (est: 'minirl' | 'no-is' | 'seq-is') => {
      let [lo, hi] = [0.05, 0.95];
      expect(component(est, lo)).toBeGreaterThan(0);
      expect(component(est, hi)).toBeLessThan(0);
      for (let i = 0; i < 80; i++) {
        const mid = (lo + hi) / 2;
        if (component(est, mid) > 0) lo = mid; else hi = mid;
      }
      return (lo + hi) / 2;
    };
    expect(Math.abs(root('minirl') - sigmoid(-delta))).toBeLessThan(1e-12);
    expect(Math.abs(root('no-is') - sigmoid(-delta))).toBeLessThan(1e-12);
    expect(Math.abs(root('seq-is') - 0.5)).toBeLessThan(1e-12);
  });

  it('300 Adam steps end at those fixed points: no-IS and MiniRL at J = C(T,T/2)(pq)^{T/2} with p = σ(−δ), seq-IS at the optimum', () => {
    const end = (estimator: 'no-is' | 'minirl' | 'seq-is') => runDynamics({ policy, theta0, reward, engine, estimator, steps: 300, lr: 0.05, optimizer: 'adam' });
    for (const est of ['no-is', 'minirl'] as const) {
      const r = end(est);
      expect(Math.abs(pOf(r.theta) - sigmoid(-delta))).toBeLessThan(1e-3);
      expect(Math.abs(lastOf(r.records).jSeq - halfOnesJ(T, sigmoid(-delta)))).toBeLessThan(1e-4);
    }
    const s = end('seq-is');
    expect(Math.abs(pOf(s.theta) - 0.5)).toBeLessThan(1e-3);
    expect(Math.abs(lastOf(s.records).jSeq - halfOnesJ(T, 0.5))).toBeLessThan(1e-4);
    // At the token-level fixed point μ samples each token with probability ½, so the per-token
    // KL(μ‖π) is −½·ln(4p(1−p)) and J/J* = (4p(1−p))^{T/2} = exp(−T·KL) exactly.
    const r = end('minirl').records;
    const kl = lastOf(r).klToken;
    const p = sigmoid(-delta);
    expect(Math.abs(-0.5 * Math.log(4 * p * (1 - p)) - kl)).toBeLessThan(1e-4);
    expect(Math.abs(halfOnesJ(T, p) / halfOnesJ(T, 0.5) - Math.exp(-T * (-0.5 * Math.log(4 * p * (1 - p)))))).toBeLessThan(1e-12);
    // The gap in the figure: 0.2135 against 0.2734 at δ = 0.5, T = 8.
    expect(halfOnesJ(T, sigmoid(-delta))).toBeLessThan(0.22);
    expect(halfOnesJ(T, 0.5)).toBeGreaterThan(0.27);
  });
});

describe('(i-b) on-policy, an engine error that grows with |z|', () => {
  const d = dynamicsOnPolicyRelative(0);
  const byLabel = Object.fromEntries(d.runs.map((r) => [r.label, r.records]));

  it('MiniRL and seq-IS reach the optimum (max R = T = 6); no IS stalls at J ≤ 5.8 while its KL grows past 10× theirs', () => {
    expect(d.optimum).toBe(6);
    expect(lastOf(byLabel['minirl']!).jSeq).toBeGreaterThan(5.99);
    expect(lastOf(byLabel['seq-is']!).jSeq).toBeGreaterThan(5.99);
    expect(lastOf(byLabel['no-is']!).jSeq).toBeLessThan(5.8);
    expect(lastOf(byLabel['no-is']!).klToken).toBeGreaterThan(10 * lastOf(byLabel['minirl']!).klToken);
  });

  it('a run 3× longer: no IS is still at J ≤ 5.8 (a plateau, not a slow climb) and its KL keeps growing', () => {
    const s = onPolicyRelativeSetup(0);
    const long = runDynamics({ policy: s.policy, theta0: s.theta0, reward: s.reward, engine: s.engine, estimator: 'no-is', steps: 1800, lr: 0.05, optimizer: 'adam' }).records;
    expect(lastOf(long).jSeq).toBeLessThan(5.8);
    expect(Math.abs(lastOf(long).jSeq - lastOf(byLabel['no-is']!).jSeq)).toBeLessThan(1e-3);
    expect(lastOf(long).klToken).toBeGreaterThan(2 * lastOf(byLabel['no-is']!).klToken);
  });
});

describe('(ii) staleness: N updates per rollout, with and without the clip mask', () => {
  const d = dynamicsStaleness(0);
  const rec = (label: string) => d.runs.find((r) => r.label === label)!.records;

  it('N = 8: with the mask J dips no lower than 0.15 and ends ≥ 0.85; without it J falls to ≤ 0.01 and ends ≤ 0.15', () => {
    expect(Math.min(...rec('N=8 clip').map((r) => r.jSeq))).toBeGreaterThan(0.15);
    expect(lastOf(rec('N=8 clip')).jSeq).toBeGreaterThan(0.85);
    expect(Math.min(...rec('N=8 no clip').map((r) => r.jSeq))).toBeLessThan(0.01);
    expect(lastOf(rec('N=8 no clip')).jSeq).toBeLessThan(0.15);
    expect(lastOf(rec('N=4 no clip')).jSeq).toBeLessThan(lastOf(rec('N=4 clip')).jSeq - 0.3);
  });

  it('ending points against long runs: with the mask N = 8 reaches the optimum 1; without it the detour ends by step 300', () => {
    const { policy, theta0, reward } = stalenessSetup(0);
    const long = (estimator: 'minirl' | 'minirl-noclip') => runDynamics({ policy, theta0, reward, engine: exactEngine, estimator, steps: 300, miniBatches: 8, lr: 1 }).records;
    expect(lastOf(long('minirl')).jSeq).toBeGreaterThan(0.99);
    expect(lastOf(long('minirl-noclip')).jSeq).toBeGreaterThan(0.95);
  });
});

describe('(iii) MoE: no replay, R2, R3, with and without the clip mask', () => {
  const d = dynamicsMoE(0);
  const at = (N: number, label: string) => d.runs[N]!.find((r) => r.label === label)!.records;

  it('seed 0, N = 8: without the mask, no replay and R3 collapse to J ≤ 0.01; R2 alone, the mask alone, and both reach ≥ 0.99', () => {
    expect(lastOf(at(8, 'MiniRL (no clip)')).jSeq).toBeLessThan(0.01);
    expect(lastOf(at(8, 'MiniRL + R3 (no clip)')).jSeq).toBeLessThan(0.01);
    for (const label of ['MiniRL + R2 (no clip)', 'MiniRL', 'MiniRL + R2', 'MiniRL + R3']) expect(lastOf(at(8, label)).jSeq).toBeGreaterThan(0.99);
    expect(lastOf(at(4, 'MiniRL (no clip)')).jSeq).toBeLessThan(0.01);
  });

  it('N = 1: R2 is a no-op (bit for bit); R3 lowers the training–inference KL the trainer sees at the start', () => {
    expect(at(1, 'MiniRL + R2')).toEqual(at(1, 'MiniRL'));
    expect(at(1, 'MiniRL + R3')[0]!.klToken).toBeLessThan(at(1, 'MiniRL')[0]!.klToken);
  });

  it('the collapse is an ending point: 100 steps later the collapsed arm is still at J ≤ 0.01', () => {
    const { policy, theta0, scoreNoise, reward } = moeSetup(0);
    const arm = MOE_ARMS.find((a) => a.label === 'MiniRL (no clip)')!;
    const r = runDynamics({ policy, theta0, reward, engine: routeFlipEngine(1, scoreNoise), estimator: arm.estimator, replay: arm.replay, steps: 100, miniBatches: 8, lr: 0.2, optimizer: 'adam' }).records;
    expect(lastOf(r).jSeq).toBeLessThan(0.01);
  });

  it('over seeds 0–5 at N ∈ {4, 8}: MiniRL (no clip) collapses in 2 of 6, R2 (no clip) and MiniRL + R2 in none', () => {
    const table = moeSeedTable([0, 1, 2, 3, 4, 5]);
    const collapsed = (label: string, N: number) => table.filter((s) => s.byN[N]!.find((x) => x.label === label)!.final < 0.5).length;
    for (const N of [4, 8]) {
      expect(collapsed('MiniRL (no clip)', N)).toBe(2);
      expect(collapsed('MiniRL + R2 (no clip)', N)).toBe(0);
      expect(collapsed('MiniRL + R2', N)).toBe(0);
      expect(collapsed('MiniRL', N)).toBe(0);
    }
  });
});
