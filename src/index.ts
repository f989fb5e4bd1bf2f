/**
 * stablerl: tensors, reverse-mode autograd and (in later layers) MoE models and RL losses,
 * from scratch in TypeScript. Everything is exported flat here; `stablerl/tensor` and
 * `stablerl/autograd` are narrower entry points.
 */
export * from './tensor/index.js';
export * from './autograd/index.js';
export * as nn from './nn/index.js';
export * as moe from './moe/index.js';
export * as rl from './rl/index.js';
