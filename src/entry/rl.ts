/** The `stablerl/rl` entry: advantages, IS corrections, the policy-loss family, KL and entropy. */
import '../autograd/index.js';
export * from '../rl/index.js';
