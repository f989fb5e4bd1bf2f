/**
 * The run directory's SVG plots (reward, accuracy, entropy, KL on a log axis, clipfrac), drawn
 * with svg.ts from metrics.jsonl records.
 *
 *   reward.svg    train reward (`reward`) and eval accuracy (`evalAccuracy`, sparse) vs step
 *   entropy.svg   full-vocabulary entropy (`entropy`) vs step
 *   kl.svg        training–inference KL D_KL[μ_old ‖ π_old], k1 (`klK1`) and k3 (`klK3`), log axis
 *                 (k1 can be ≤ 0: such points are skipped and the chart says how many)
 *   clipfrac.svg  clip fraction (`clipfrac`) vs step
 *
 * x is the record's `step`; a record without a finite numeric step is not plotted. A field that
 * is absent (or not a number) is skipped for that record; a field listed in the record's
 * `nonFinite` array (written as null by MetricsLog) is plotted as a skipped non-finite point, so
 * the chart's note counts it. Each file is written atomically (temp file in the same directory,
 * then rename), so a reader never sees a half-written plot.
 */
import { mkdirSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MetricsRecord } from './metrics-log.js';
import { lineChart, type LineChartSpec, type Series } from './svg.js';

/** The plot files writeRunPlots writes, in order. */
export const PLOT_FILES = ['reward.svg', 'entropy.svg', 'kl.svg', 'clipfrac.svg'] as const;

/** Writes `text` to `path` atomically (temp file beside it, then rename). */
export function writeFileAtomic(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, text);
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      /* the temp file may not exist */
    }
    throw e;
  }
}

/** The (step, field) points of the records: absent fields skipped, non-finite ones as NaN. */
export function seriesOf(records: ReadonlyArray<MetricsRecord>, field: string, name = field): Series {
  const points: [number, number][] = [];
  for (const r of records) {
    const step = r.step;
    if (typeof step !== 'number' || !Number.isFinite(step)) continue;
    const v = r[field];
    if (typeof v === 'number') points.push([step, v]);
    else if (v === null && Array.isArray(r.nonFinite) && r.nonFinite.includes(field)) points.push([step, NaN]);
  }
  return { name, points };
}

/** The chart specs writeRunPlots draws, keyed by file name. */
export function runPlotSpecs(records: ReadonlyArray<MetricsRecord>): Record<(typeof PLOT_FILES)[number], LineChartSpec> {
  return {
    'reward.svg': {
      title: 'Reward and eval accuracy',
      xLabel: 'step',
      yLabel: 'reward / accuracy',
      yScale: 'linear',
      series: [seriesOf(records, 'reward', 'train reward'), seriesOf(records, 'evalAccuracy', 'eval accuracy')],
    },
    'entropy.svg': {
      title: 'Entropy (full vocabulary)',
      xLabel: 'step',
      yLabel: 'entropy (nats)',
      yScale: 'linear',
      series: [seriesOf(records, 'entropy', 'entropy')],
    },
    'kl.svg': {
      title: 'Training–inference KL D_KL[μ_old ‖ π_old]',
      xLabel: 'step',
      yLabel: 'KL (log scale)',
      yScale: 'log',
      series: [seriesOf(records, 'klK1', 'k1'), seriesOf(records, 'klK3', 'k3')],
    },
    'clipfrac.svg': {
      title: 'Clip fraction',
      xLabel: 'step',
      yLabel: 'clipfrac',
      yScale: 'linear',
      series: [seriesOf(records, 'clipfrac', 'clipfrac')],
    },
  };
}

/** Writes reward.svg, entropy.svg, kl.svg and clipfrac.svg into runDir; returns their paths. */
export function writeRunPlots(runDir: string, records: ReadonlyArray<MetricsRecord>): string[] {
  mkdirSync(runDir, { recursive: true });
  const specs = runPlotSpecs(records);
  return PLOT_FILES.map((file) => {
    const path = join(runDir, file);
    writeFileAtomic(path, lineChart(specs[file]));
    return path;
  });
}
