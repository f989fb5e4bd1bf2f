/**
 * src/moe: the router and its gate modes, SwiGLU experts, the MoE layer (no token dropping,
 * load-balancing and z losses), routing traces (record / replay) and the MoE transformer.
 */
export * from './config.js';
export * from './router.js';
export * from './experts.js';
export * from './layer.js';
export * from './trace.js';
export * from './transformer.js';
export * from './numerics.js';
export * from './engine.js';
export * from './sequence-log-probs.js';
