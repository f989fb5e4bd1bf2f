/**
 * Run-directory writers: metrics.jsonl (metrics-log.ts), the SVG line-chart writer (svg.ts) and
 * the run plots drawn from the metrics (plots.ts).
 */
export * from './svg.js';
export * from './metrics-log.js';
export * from './plots.js';
