/**
 * `theoryReport`: every figure of docs/theory.md as data (for theory.json) and as an SVG chart
 * (the project's own writer, src/rl/report/svg.ts). The experiments themselves are in
 * experiments.ts; src/cli/theory.ts writes the files.
 */
import { lineChart, type Series } from '../report/svg.js';
import type { DynamicsRecord } from './dynamics.js';
import type { EstimatorName } from './estimators.js';
import {
  THEORY_DEFAULTS, biasVarianceVsLength, biasVsStaleness, checkOptions, dynamicsMoE, dynamicsOnPolicyRelative,
  dynamicsOnPolicyShared, dynamicsStaleness, moeSeedTable, routingFlip, EXACT_ZERO, type DynamicsRun, type TheoryOptions,
} from './experiments.js';

const seriesOf = (runs: DynamicsRun[], field: keyof DynamicsRecord): Series[] =>
  runs.map((r) => ({ name: r.label, points: r.records.map((x) => [x.step, x[field]] as const) }));

export function theoryReport(options: TheoryOptions = {}) {
  const o: Required<TheoryOptions> = { ...THEORY_DEFAULTS, ...options };
  checkOptions(o);
  const charts: Record<string, string> = {};

  const bv = biasVarianceVsLength(o);
  for (const delta of o.deltas) {
    const series: Series[] = [];
    for (const name of o.estimators as EstimatorName[]) {
      if (name === 'seq-is') continue; // bias 0 to round-off: nothing to draw on a log axis
      // At T = 1 every token-level weight is the sequence weight: bias 0 to round-off, not drawn.
      series.push({ name: `bias² ${name}`, points: bv.filter((p) => p.delta === delta && p.estimator === name && p.bias2 > EXACT_ZERO).map((p) => [p.T, p.bias2] as const) });
    }
    for (const name of ['token-is', 'seq-is'] as const) {
      if (!o.estimators.includes(name)) continue;
      series.push({ name: `variance ${name}`, points: bv.filter((p) => p.delta === delta && p.estimator === name).map((p) => [p.T, p.variance] as const) });
    }
    charts[`bias-variance-T-delta${delta}.svg`] = lineChart({
      title: `Bias² and variance against T (δ = ${delta})`,
      xLabel: 'response length T', yLabel: 'squared norm', yScale: 'log', series,
    });
  }

  const st = biasVsStaleness(o.seed);
  const stNames = [...new Set(st.map((p) => p.estimator))];
  charts['bias-staleness.svg'] = lineChart({
    title: 'Bias against staleness (μ = π_old)',
    xLabel: 's, where θ = θ_old + s·∇J/‖∇J‖', yLabel: '‖E_μ g − ∇J_seq(θ)‖', yScale: 'log',
    series: stNames.map((name) => ({ name, points: st.filter((p) => p.estimator === name && p.step > 0).map((p) => [p.step, p.bias] as const) })),
  });

  const rf = routingFlip(o.seed);
  charts['routing-flip.svg'] = lineChart({
    title: `π_θ/π_old through a routing tie (s* = ${rf.tie.toFixed(3)})`,
    xLabel: 's (router moved along d)', yLabel: 'π_θ(y)/π_old(y)', yScale: 'linear',
    series: [
      { name: 'no replay', points: rf.points.map((p) => [p.s, p.none] as const) },
      { name: 'R2 (e^π_old)', points: rf.points.map((p) => [p.s, p.r2] as const) },
      { name: 'R3 (e^μ_old)', points: rf.points.map((p) => [p.s, p.r3] as const) },
    ],
  });

  const d1 = dynamicsOnPolicyShared();
  charts['dyn-onpolicy-shared.svg'] = lineChart({
    title: `(i-a) Engine +${d1.delta} on one token, T = ${d1.T}: J_seq`,
    xLabel: 'global step', yLabel: 'J_seq(θ)', yScale: 'linear', series: seriesOf(d1.runs, 'jSeq'),
  });
  const d1b = dynamicsOnPolicyRelative(o.seed);
  charts['dyn-onpolicy-relative.svg'] = lineChart({
    title: `(i-b) Engine error ${d1b.delta}·|z|, T = ${d1b.T}: J_seq`,
    xLabel: 'global step', yLabel: 'J_seq(θ)', yScale: 'linear', series: seriesOf(d1b.runs, 'jSeq'),
  });
  charts['dyn-onpolicy-relative-kl.svg'] = lineChart({
    title: '(i-b) KL(μ‖π_old) per token', xLabel: 'global step', yLabel: 'KL per token', yScale: 'log',
    series: seriesOf(d1b.runs, 'klToken'),
  });

  const d2 = dynamicsStaleness(o.seed);
  charts['dyn-staleness.svg'] = lineChart({
    title: '(ii) N updates per rollout: J_seq',
    xLabel: 'global step', yLabel: 'J_seq(θ)', yScale: 'linear', series: seriesOf(d2.runs, 'jSeq'),
  });

  const d3 = dynamicsMoE(o.seed);
  for (const N of [1, 2, 4, 8]) {
    charts[`dyn-moe-N${N}.svg`] = lineChart({
      title: `(iii) MoE, route-flip δ = ${d3.delta}, N = ${N}: J_seq`,
      xLabel: 'global step', yLabel: 'J_seq(θ)', yScale: 'linear', series: seriesOf(d3.runs[N]!, 'jSeq'),
    });
  }
  charts['dyn-moe-kl.svg'] = lineChart({
    title: '(iii) MoE, N = 1: KL(μ‖π_old) per token',
    xLabel: 'global step', yLabel: 'KL per token', yScale: 'log',
    series: seriesOf(d3.runs[1]!.filter((r) => r.label === 'MiniRL' || r.label === 'MiniRL + R3'), 'klToken'),
  });
  const seeds = moeSeedTable([0, 1, 2, 3, 4, 5].map((k) => o.seed + k));

  const data = {
    options: o,
    biasVariance: bv,
    staleness: st,
    routingFlip: rf,
    dynamics: { onPolicyShared: d1, onPolicyRelative: d1b, staleness: d2, moe: d3, moeSeeds: seeds },
  };
  return { data, charts };
}
