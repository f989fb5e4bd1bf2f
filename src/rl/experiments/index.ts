/**
 * src/rl/experiments: the paper's four findings as runnable arms (plan.ts) and the numbers a
 * verdict rests on (summarize.ts). `stablerl reproduce` (src/cli/reproduce.ts) runs them.
 */
export * from './plan.js';
export * from './summarize.js';
