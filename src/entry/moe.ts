/** The `stablerl/moe` entry: router, experts, MoE layer, routing traces, MoE transformer, inference engine. */
import '../autograd/index.js';
export * from '../moe/index.js';
