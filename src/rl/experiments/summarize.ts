/**
 * Turning the reproduce runs' metrics.jsonl files into numbers a verdict can rest on: per run,
 * the start/peak/final reward and eval accuracy, a collapse flag, the mean training–inference KL,
 * routing disagreement, entropy and staleness; per arm, the mean and standard deviation over
 * seeds; per experiment group, one table (summary.md) and four plots (seed-mean curves per arm).
 *
 * Definitions (stated again in the summary so a reader can check them):
 *   window      w = max(1, min(5, ⌊steps / 4⌋)) consecutive steps
 *   start       mean train reward over the first w steps
 *   final       mean train reward over the last w steps
 *   peak        the highest mean train reward over any w consecutive steps
 *   drop        peak − final;   collapsed ⇔ drop ≥ 0.2 (a fifth of the reward scale lost from the
 *               run's own best, the miniature of the paper's "collapse")
 *   eval0/evalN eval accuracy before RL (shared by every arm of a cold start) / at the last step
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readMetrics, type MetricsRecord } from '../report/metrics-log.js';
import { writeFileAtomic } from '../report/plots.js';
import { lineChart, type Series } from '../report/svg.js';
import type { ExperimentGroup, ReproducePlan, RunSpec } from './plan.js';

export const COLLAPSE_DROP = 0.2;

export interface RunSummary {
  dir: string;
  seed: number;
  steps: number;
  rewardStart: number;
  rewardPeak: number;
  rewardFinal: number;
  drop: number;
  collapsed: boolean;
  eval0: number | null;
  evalFinal: number | null;
  evalPeak: number | null;
  klK1: number;
  klK3: number;
  routingDisagreement: number;
  entropyStart: number;
  entropyFinal: number;
  clipfrac: number;
  ppoKl: number;
  responseLength: number;
}

export interface Stat {
  mean: number;
  sd: number;
  n: number;
}

export interface ArmSummary {
  id: string;
  label: string;
  runs: RunSummary[];
  collapsed: number;
  stats: Record<'rewardStart' | 'rewardPeak' | 'rewardFinal' | 'drop' | 'eval0' | 'evalFinal' | 'evalPeak' | 'klK1' | 'klK3'
    | 'routingDisagreement' | 'entropyStart' | 'entropyFinal' | 'clipfrac' | 'ppoKl' | 'responseLength', Stat>;
}

export interface GroupSummary {
  experiment: string;
  title: string;
  N: number;
  arms: ArmSummary[];
  plots: string[];
}

const mean = (a: readonly number[]) => (a.length === 0 ? NaN : a.reduce((p, q) => p + q, 0) / a.length);

export function stat(values: readonly (number | null)[]): Stat {
  const v = values.filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  const m = mean(v);
  const sd = v.length > 1 ? Math.sqrt(v.reduce((p, q) => p + (q - m) ** 2, 0) / (v.length - 1)) : 0;
  return { mean: m, sd, n: v.length };
}

const num = (r: MetricsRecord, k: string): number | null => (typeof r[k] === 'number' ? (r[k] as number) : null);

export function summarizeRun(run: Pick<RunSpec, 'dir' | 'seed'>, records: readonly MetricsRecord[], eval0: number | null): RunSummary {
  const rewards = records.map((r) => num(r, 'reward') ?? NaN);
  const n = rewards.length;
  const w = Math.max(1, Math.min(5, Math.floor(n / 4)));
  let peak = -Infinity;
  for (let i = 0; i + w <= n; i++) peak = Math.max(peak, mean(rewards.slice(i, i + w)));
  const final = mean(rewards.slice(n - w));
  const evals = records.map((r) => num(r, 'evalAccuracy')).filter((x): x is number => x !== null);
  const col = (k: string) => mean(records.map((r) => num(r, k) ?? NaN).filter(Number.isFinite));
  const ent = records.map((r) => num(r, 'entropy') ?? NaN);
  return {
    dir: run.dir,
    seed: run.seed,
    steps: n,
    rewardStart: mean(rewards.slice(0, w)),
    rewardPeak: peak,
    rewardFinal: final,
    drop: peak - final,
    collapsed: peak - final >= COLLAPSE_DROP,
    eval0,
    evalFinal: evals.length > 0 ? evals[evals.length - 1]! : null,
    evalPeak: evals.length > 0 ? Math.max(...evals, eval0 ?? -Infinity) : null,
    klK1: col('klK1'),
    klK3: col('klK3'),
    routingDisagreement: col('routingDisagreement'),
    entropyStart: mean(ent.slice(0, w)),
    entropyFinal: mean(ent.slice(n - w)),
    clipfrac: col('clipfrac'),
    ppoKl: col('ppoKl'),
    responseLength: col('responseLength'),
  };
}

const STAT_KEYS = ['rewardStart', 'rewardPeak', 'rewardFinal', 'drop', 'eval0', 'evalFinal', 'evalPeak', 'klK1', 'klK3',
  'routingDisagreement', 'entropyStart', 'entropyFinal', 'clipfrac', 'ppoKl', 'responseLength'] as const;

/** The seed-mean of `field` at each step over the runs (steps present in every run). */
export function meanCurve(all: readonly (readonly MetricsRecord[])[], field: string, name: string): Series {
  const bySteps = new Map<number, number[]>();
  for (const recs of all) {
    for (const r of recs) {
      const s = num(r, 'step');
      const v = num(r, field);
      if (s === null || v === null) continue;
      const a = bySteps.get(s) ?? [];
      a.push(v);
      bySteps.set(s, a);
    }
  }
  const points: [number, number][] = [...bySteps.entries()]
    .filter(([, v]) => v.length === all.length)
    .sort((a, b) => a[0] - b[0])
    .map(([s, v]) => [s + 1, mean(v)]);
  return { name, points };
}

function fmt(s: Stat, digits = 3): string {
  if (s.n === 0) return '–';
  const e = Math.abs(s.mean) > 0 && Math.abs(s.mean) < 1e-2;
  const f = (x: number) => (e ? x.toExponential(1) : x.toFixed(digits));
  return s.n > 1 ? `${f(s.mean)} ± ${f(s.sd)}` : f(s.mean);
}

/** Reads every run of the plan under `root`, writes per-group plots under `outDir`, returns the summaries. */
export function summarizeReproduce(plan: ReproducePlan, root: string, outDir: string): GroupSummary[] {
  mkdirSync(outDir, { recursive: true });
  const eval0Of = (run: RunSpec): number | null => {
    const p = join(root, 'coldstart', `${run.coldStartSource}-seed${run.seed}.json`);
    if (!existsSync(p)) return null;
    const v = (JSON.parse(readFileSync(p, 'utf8')) as { evalAccuracy?: unknown }).evalAccuracy;
    return typeof v === 'number' ? v : null;
  };
  const out: GroupSummary[] = [];
  for (const g of plan.groups) {
    const slug = g.experiment === 'f2f3' ? `f2f3-N${g.N}` : g.experiment;
    const arms: ArmSummary[] = [];
    const curves: Record<string, Series[]> = { reward: [], evalAccuracy: [], entropy: [], klK3: [] };
    for (const { arm, runs } of g.arms) {
      const recs = runs.map((r) => {
        const p = join(root, r.dir, 'metrics.jsonl');
        return existsSync(p) ? readMetrics(p, { onTruncated: () => {} }) : [];
      });
      const done = runs.map((r, i) => ({ r, recs: recs[i]! })).filter((x) => x.recs.length > 0);
      const runSums = done.map(({ r, recs: rr }) => summarizeRun(r, rr, eval0Of(r)));
      const stats = Object.fromEntries(STAT_KEYS.map((k) => [k, stat(runSums.map((s) => s[k]))])) as ArmSummary['stats'];
      arms.push({ id: arm.id, label: arm.label, runs: runSums, collapsed: runSums.filter((s) => s.collapsed).length, stats });
      const got = done.map((x) => x.recs);
      if (got.length === 0) continue;
      for (const f of Object.keys(curves)) curves[f]!.push(meanCurve(got, f, arm.label));
      // eval before RL, at step 0, so the accuracy curve starts where every arm started
      const e0 = stat(done.map(({ r }) => eval0Of(r)));
      const ev = curves.evalAccuracy![curves.evalAccuracy!.length - 1]!;
      if (e0.n === got.length) curves.evalAccuracy![curves.evalAccuracy!.length - 1] = { name: ev.name, points: [[0, e0.mean], ...ev.points] };
    }
    const n = plan.scale.seeds.length;
    const specs: [string, string, string, 'linear' | 'log'][] = [
      ['reward', 'train reward', 'reward', 'linear'],
      ['evalAccuracy', 'eval accuracy', 'accuracy', 'linear'],
      ['entropy', 'entropy (full vocabulary)', 'nats', 'linear'],
      ['klK3', 'training–inference KL D_KL[μ_old‖π_old] (k3)', 'KL (log scale)', 'log'],
    ];
    const plots: string[] = [];
    for (const [field, what, yLabel, yScale] of specs) {
      const file = `${slug}-${field}.svg`;
      writeFileAtomic(join(outDir, file), lineChart({
        width: 900, title: `${g.title}: ${what}, mean of ${n} seeds`, xLabel: 'global step', yLabel, yScale, series: curves[field]!,
      }));
      plots.push(file);
    }
    out.push({ experiment: g.experiment, title: g.title, N: g.N, arms, plots });
  }
  return out;
}

/**
 * Welch's t of mean(b) − mean(a) over seeds: the difference in units of its standard error
 * sqrt(sd_a²/n_a + sd_b²/n_b). |t| ≥ 2 is what docs/results.md calls a clear difference; with 3
 * seeds per arm this is a coarse screen, not a significance test.
 */
export function welchT(a: Stat, b: Stat): number {
  const se = Math.sqrt((a.n > 0 ? a.sd ** 2 / a.n : NaN) + (b.n > 0 ? b.sd ** 2 / b.n : NaN));
  const d = b.mean - a.mean;
  return se > 0 ? d / se : d === 0 ? 0 : Math.sign(d) * Infinity;
}

/** The arm each group's others are compared with: MiniRL (F1), MiniRL + R2 (F2/F3), canonical (F4). */
export function referenceArm(g: Pick<GroupSummary, 'experiment' | 'arms'>): ArmSummary {
  const id = g.experiment === 'f1' ? 'minirl' : g.experiment === 'f2f3' ? 'minirl-r2' : 'coldstart-canonical';
  return g.arms.find((a) => a.id === id) ?? g.arms[0]!;
}

/** Markdown tables of the summaries, with the definitions they rest on. */
export function summaryMarkdown(plan: ReproducePlan, groups: readonly GroupSummary[], plotPrefix = ''): string {
  const s = plan.scale;
  const lines: string[] = [];
  lines.push(`Scale: task ${s.task} ${JSON.stringify(s.taskOptions)}, engine profile \`${s.profile}\`, seeds ${s.seeds.join(', ')}, `
    + `${s.steps} RL steps of ${s.promptsPerStep} prompts × ${s.groupSize} responses, lr ${s.lr}, cold start ${s.coldStartSteps} steps × ${s.coldStartBatch}, `
    + `eval on ${s.evalPrompts} held-out prompts every ${s.evalEvery} steps.`);
  lines.push('');
  lines.push(`Cells are mean ± sd over seeds. Window w = min(5, steps/4) steps; start/peak/final are mean train rewards over a window `
    + `(peak: the best window); drop = peak − final; a run is counted as collapsed when drop ≥ ${COLLAPSE_DROP}. `
    + 'eval0 is the accuracy before RL, evalN at the last step. KL is the mean over steps of D_KL[μ_old‖π_old] (k3); '
    + 'route ≠ is the fraction of token-layer expert choices where engine and trainer differ; ppoKl is the mean staleness.');
  for (const g of groups) {
    lines.push('', `### ${g.title}`, '');
    lines.push('| arm | collapsed | reward start | reward peak | reward final | drop | eval0 | evalN | entropy start → final | KL k3 | route ≠ | clipfrac | ppoKl | length |');
    lines.push('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
    for (const a of g.arms) {
      const t = a.stats;
      lines.push(`| ${a.label} | ${a.collapsed}/${a.runs.length} | ${fmt(t.rewardStart)} | ${fmt(t.rewardPeak)} | ${fmt(t.rewardFinal)} | ${fmt(t.drop)} | `
        + `${fmt(t.eval0)} | ${fmt(t.evalFinal)} | ${fmt(t.entropyStart, 2)} → ${fmt(t.entropyFinal, 2)} | ${fmt(t.klK3)} | ${fmt(t.routingDisagreement)} | `
        + `${fmt(t.clipfrac)} | ${fmt(t.ppoKl)} | ${fmt(t.responseLength, 2)} |`);
    }
    const ref = referenceArm(g);
    const tf = (t: number) => (Number.isFinite(t) ? t.toFixed(1) : String(t));
    lines.push('', `Differences from ${ref.label} (arm − reference, Welch t in brackets; |t| ≥ 2 counts as clear):`, '');
    lines.push('| arm | Δ reward final | Δ reward peak | Δ evalN | Δ entropy final | KL k3 ratio |');
    lines.push('|---|---|---|---|---|---|');
    for (const a of g.arms) {
      if (a === ref) continue;
      const d = (k: keyof ArmSummary['stats']) => `${(a.stats[k].mean - ref.stats[k].mean).toFixed(3)} (${tf(welchT(ref.stats[k], a.stats[k]))})`;
      lines.push(`| ${a.label} | ${d('rewardFinal')} | ${d('rewardPeak')} | ${d('evalFinal')} | ${d('entropyFinal')} | ${(a.stats.klK3.mean / ref.stats.klK3.mean).toFixed(2)} |`);
    }
    lines.push('', g.plots.map((p) => `![${p}](${plotPrefix}${p})`).join('\n'));
  }
  return `${lines.join('\n')}\n`;
}

export type { ExperimentGroup };
