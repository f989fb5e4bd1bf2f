/**
 * src/nn: Module and parameters, Linear, Embedding, RMSNorm, causal self-attention with RoPE
 * and a KV cache, AdamW and gradient clipping, and safetensors checkpoints.
 */
export * from './module.js';
export * from './layers.js';
export * from './init.js';
export * from './optim.js';
export * from './attention.js';
export * from './safetensors.js';
export * from './checkpoint.js';
