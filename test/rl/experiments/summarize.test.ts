/**
 * The reproduce summary's definitions on hand-made metrics: windows, peak, drop and the collapse
 * flag, mean ± sd over seeds, seed-mean curves only where every seed has a point, and the files
 * summarizeReproduce writes from a run directory.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  COLLAPSE_DROP, QUICK_SCALE, meanCurve, reproducePlan, stat, summarizeReproduce, summarizeRun, summaryMarkdown,
} from '../../../src/rl/experiments/index.js';

const recs = (rewards: number[], extra: (i: number) => Record<string, unknown> = () => ({})) =>
  rewards.map((reward, step) => ({ step, reward, entropy: 1 - step / 100, klK1: 1e-3, klK3: 2e-3, routingDisagreement: 0.1,
    clipfrac: 0, ppoKl: 0, responseLength: 4, ...extra(step) }));

describe('summarizeRun', () => {
  it('window 5 over 20 steps: start, peak, final, drop, collapse', () => {
    const r = [...Array(10).fill(0.2), ...Array(5).fill(0.9), ...Array(5).fill(0.5)];
    const s = summarizeRun({ dir: 'x', seed: 0 }, recs(r, (i) => (i === 19 ? { evalAccuracy: 0.4 } : i === 9 ? { evalAccuracy: 0.7 } : {})), 0.3);
    expect(s.rewardStart).toBeCloseTo(0.2, 12);
    expect(s.rewardPeak).toBeCloseTo(0.9, 12);
    expect(s.rewardFinal).toBeCloseTo(0.5, 12);
    expect(s.drop).toBeCloseTo(0.4, 12);
    expect(s.collapsed).toBe(true);
    expect([s.eval0, s.evalFinal, s.evalPeak]).toEqual([0.3, 0.4, 0.7]);
    expect(s.klK3).toBeCloseTo(2e-3, 15);
    expect(s.entropyStart).toBeCloseTo(1 - 0.02, 12);
  });

  it('a steady rise is not a collapse; a drop just under the threshold is not either', () => {
    const rise = Array.from({ length: 20 }, (_, i) => i / 20);
    expect(summarizeRun({ dir: 'x', seed: 0 }, recs(rise), null).collapsed).toBe(false);
    const dip = [...Array(15).fill(0.8), ...Array(5).fill(0.8 - COLLAPSE_DROP + 0.01)];
    const s = summarizeRun({ dir: 'x', seed: 0 }, recs(dip), null);
    expect(s.collapsed).toBe(false);
    expect(s.evalFinal).toBeNull();
  });

  it('stat: mean and sample sd, ignoring missing values', () => {
    const s = stat([1, 2, 3, null, NaN]);
    expect(s).toEqual({ mean: 2, sd: 1, n: 3 });
    expect(stat([]).n).toBe(0);
  });

  it('meanCurve keeps only steps every seed reached, at x = step + 1', () => {
    const c = meanCurve([recs([0, 1, 1]), recs([1, 0])], 'reward', 'a');
    expect(c.points).toEqual([[1, 0.5], [2, 0.5]]);
  });
});

describe('summarizeReproduce', () => {
  it('reads each run of the plan and writes four plots per group and a table per group', () => {
    const root = mkdtempSync(join(tmpdir(), 'stablerl-sum-'));
    const plan = reproducePlan({ ...QUICK_SCALE, steps: 8 }, ['f1']);
    for (const { source, seed } of plan.coldStarts) {
      mkdirSync(join(root, 'coldstart'), { recursive: true });
      writeFileSync(join(root, 'coldstart', `${source}-seed${seed}.json`), JSON.stringify({ evalAccuracy: 0.25 + seed / 10 }));
    }
    plan.runs.forEach((r, k) => {
      mkdirSync(join(root, r.dir), { recursive: true });
      const rewards = Array.from({ length: 8 }, (_, i) => (k % 4 === 1 ? 0.6 - i * 0.06 : 0.3 + i * 0.05));
      writeFileSync(join(root, r.dir, 'metrics.jsonl'), recs(rewards, (i) => (i === 7 ? { evalAccuracy: 0.5 } : {})).map((x) => `${JSON.stringify(x)}\n`).join(''));
    });
    const groups = summarizeReproduce(plan, root, join(root, 'plots'));
    expect(groups).toHaveLength(1);
    const g = groups[0]!;
    expect(g.arms.map((a) => a.runs.length)).toEqual([2, 2, 2, 2]);
    // plan.runs is arm-major, seed-minor (2 seeds): runs 1 and 5 fell, seed 1 of arms 0 and 2
    expect(g.arms.map((a) => a.collapsed)).toEqual([1, 0, 1, 0]);
    expect(g.arms[0]!.stats.eval0.mean).toBeCloseTo(0.3, 12);
    for (const p of g.plots) expect(readFileSync(join(root, 'plots', p), 'utf8')).toMatch(/^<svg/);
    const md = summaryMarkdown(plan, groups, 'plots/');
    expect(md).toMatch(/### F1: on-policy \(N = 1\)/);
    expect(md).toMatch(/\| MiniRL w\/o train-infer IS \| [0-2]\/2 \|/);
    expect(md).toMatch(/!\[f1-klK3\.svg\]\(plots\/f1-klK3\.svg\)/);
  });
});

describe('welchT', () => {
  it('is the mean difference over its standard error, signed b − a', async () => {
    const { welchT } = await import('../../../src/rl/experiments/index.js');
    expect(welchT({ mean: 0, sd: 1, n: 4 }, { mean: 1, sd: 1, n: 4 })).toBeCloseTo(1 / Math.sqrt(0.5), 12);
    expect(welchT({ mean: 1, sd: 0, n: 3 }, { mean: 1, sd: 0, n: 3 })).toBe(0);
    expect(welchT({ mean: 1, sd: 0, n: 3 }, { mean: 0.5, sd: 0, n: 3 })).toBe(-Infinity);
  });
});
