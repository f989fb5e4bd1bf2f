/** `stablerl plot RUN_DIR`: (re)writes a run's SVG plots from its metrics.jsonl. */
import { join } from 'node:path';
import { ConfigError } from '../tensor/index.js';
import { readMetrics, writeRunPlots } from '../rl/report/index.js';

export const PLOT_HELP = 'stablerl plot RUN_DIR\n\nReads RUN_DIR/metrics.jsonl and writes reward.svg, entropy.svg, kl.svg, clipfrac.svg.';

export function plotCommand(positional: string[]): void {
  const dir = positional[0];
  if (!dir) throw new ConfigError('plot needs a run directory: stablerl plot RUN_DIR');
  const files = writeRunPlots(dir, readMetrics(join(dir, 'metrics.jsonl')));
  process.stdout.write(`wrote ${files.join(', ')}\n`);
}
