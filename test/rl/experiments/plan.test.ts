/**
 * The reproduce plan (src/rl/experiments/plan.ts): every finding has the arms the paper compares,
 * each arm differs from MiniRL in exactly the intended way, every trainer config validates, and
 * identical configurations are run once and shared (F4's canonical arm is F2's MiniRL + R2, N = 2).
 */
import { describe, expect, it } from 'vitest';
import {
  FULL_SCALE, NO_CLIP, QUICK_SCALE, f1Arms, f2f3Arms, f4Arms, reproducePlan,
} from '../../../src/rl/experiments/index.js';
import { trainerConfig } from '../../../src/rl/trainer/index.js';
import { LOG_RATIO_CLAMP } from '../../../src/rl/is-corrections.js';

describe('reproduce plan', () => {
  it('F1 compares MiniRL with its three on-policy variants, all at N = 1', () => {
    const arms = f1Arms();
    expect(arms.map((a) => a.id)).toEqual(['minirl', 'minirl-no-is', 'minirl-length-norm', 'minirl-r3']);
    for (const a of arms) expect(a.trainer.miniBatches).toBe(1);
    expect(arms[1]!.trainer.loss).toBe('reinforce'); // Σ_t Â·log π_θ: no π_old/μ weight
    expect(arms[2]!.trainer.lossOptions).toEqual({ aggregation: 'seq-mean-token-mean' });
    expect(arms[3]!.trainer.replay).toBe('r3');
  });

  it('F2/F3 arms: no-clip arms never clip (epsHigh above every clamped ratio), R2/R3 as named', () => {
    expect(NO_CLIP.epsHigh + 1).toBeGreaterThan(Math.exp(LOG_RATIO_CLAMP));
    expect(1 - NO_CLIP.epsLow).toBe(0);
    for (const N of [2, 4, 8]) {
      const arms = f2f3Arms(N);
      expect(arms.map((a) => [a.trainer.replay ?? 'none', a.trainer.lossOptions === undefined ? 'clip' : 'noclip'])).toEqual([
        ['none', 'noclip'], ['r2', 'noclip'], ['r2', 'clip'], ['r3', 'clip'],
      ]);
      for (const a of arms) expect(a.trainer.miniBatches).toBe(N);
    }
  });

  it('F4 runs the same recipe from the three demonstration sources', () => {
    const arms = f4Arms(2);
    expect(arms.map((a) => a.coldStartSource)).toEqual(['canonical', 'reformatted', 'noisy']);
    for (const a of arms) expect(a.trainer).toEqual({ loss: 'minirl', miniBatches: 2, replay: 'r2' });
  });

  it.each([['full', FULL_SCALE], ['quick', QUICK_SCALE]] as const)('%s plan: ≥ seeds per arm, configs valid, duplicates shared', (_name, scale) => {
    const plan = reproducePlan(scale);
    const nArms = 4 + 4 * scale.offPolicyN.length + 3;
    expect(plan.groups.reduce((p, g) => p + g.arms.length, 0)).toBe(nArms);
    // F4 canonical = F2/F3 MiniRL + R2 at N = 2: one shared run per seed
    expect(plan.runs.length).toBe(nArms * scale.seeds.length - scale.seeds.length);
    expect(new Set(plan.runs.map((r) => r.dir)).size).toBe(plan.runs.length);
    expect(plan.coldStarts.length).toBe(3 * scale.seeds.length);
    for (const g of plan.groups) {
      for (const { runs } of g.arms) {
        expect(runs.map((r) => r.seed)).toEqual(scale.seeds);
        for (const r of runs) {
          const c = trainerConfig(r.trainer);
          expect(c.promptsPerStep % c.miniBatches).toBe(0);
          expect(c.profile).toBe(scale.profile);
          expect(c.steps).toBe(scale.steps);
        }
      }
    }
    const f4 = plan.groups.find((g) => g.experiment === 'f4')!;
    const n2 = plan.groups.find((g) => g.experiment === 'f2f3' && g.N === 2)!;
    expect(f4.arms[0]!.runs).toEqual(n2.arms.find((a) => a.arm.id === 'minirl-r2')!.runs);
  });

  it('full scale has ≥ 3 seeds and N ∈ {2, 4, 8}; --only selects experiments', () => {
    expect(FULL_SCALE.seeds.length).toBeGreaterThanOrEqual(3);
    expect(FULL_SCALE.offPolicyN).toEqual([2, 4, 8]);
    const p = reproducePlan(FULL_SCALE, ['f1']);
    expect(p.groups.map((g) => g.experiment)).toEqual(['f1']);
    expect(p.runs.length).toBe(4 * FULL_SCALE.seeds.length);
  });
});
