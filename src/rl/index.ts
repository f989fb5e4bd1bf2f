/**
 * src/rl: advantages, train–inference IS corrections, the policy-loss family, loss aggregation,
 * KL estimators and entropy (docs/paper.md §3, §5, §6). Everything in the folder is re-exported here.
 */
export * from './advantages.js';
export * from './is-corrections.js';
export * from './aggregate.js';
export * from './kl.js';
export * from './losses/index.js';
export * from './trainer/index.js';
export * as tasks from './tasks/index.js';
export * as report from './report/index.js';
export * as theory from './theory/index.js';
