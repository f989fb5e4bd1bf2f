/**
 * Exact theory on enumerable policies (docs/paper.md §9, docs/theory.md): sequence spaces,
 * policies (tabular, shared-parameter, a tiny MoE), engines with a controlled discrepancy, the
 * exact mean and variance of every estimator, and expected-gradient dynamics.
 */
export * from './space.js';
export * from './tabular.js';
export * from './policy.js';
export * from './exact.js';
export * from './estimators.js';
export * from './engines.js';
export * from './moe-policy.js';
export * from './dynamics.js';
export * from './setups.js';
export * from './experiments.js';
export * from './report.js';
