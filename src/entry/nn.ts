/** The `stablerl/nn` entry: modules, optimisers, attention, safetensors checkpoints. */
import '../autograd/index.js';
export * from '../nn/index.js';
