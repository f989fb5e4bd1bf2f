// Switches the WebGPU backend between its original kernels and the current ones, so a benchmark
// can time both in one process (the machine's load then affects both alike). 'v1' restores:
// scalar elementwise kernels (EW_VERSION), one 16×16 matmul tiling (MATMUL_VERSION), indexAdd v1
// and the scalar indexSelect (IX_VERSION), identity copies that copy (SHARE_IDENTITY_COPIES),
// staged uploads (UPLOADS), a fill dispatch per scalar constant (CONSTANTS), and the composed
// AdamW on the GPU, and the inference engine's first decode path (per-layer id read-backs, no
// fused RoPE / RMSNorm / attention / KV growth / expert kernels). Host-side savings (cached bind
// groups and shader text) stay on in both.
// The MoE layer's dispatch is chosen by the caller (the original GPU path was 'dense').
import { nn, moe } from '../../dist/index.js';
import { FUSED_ATTENTION, FUSED_ROPE } from '../../dist/nn/attention.js';
import { FUSED_RMSNORM } from '../../dist/nn/layers.js';
import { CONSTANTS, SHARE_IDENTITY_COPIES, UPLOADS } from '../../dist/tensor/webgpu/backend.js';
import { EW_VERSION } from '../../dist/tensor/webgpu/kernels/elementwise.js';
import { IX_VERSION } from '../../dist/tensor/webgpu/kernels/indexing.js';
import { MATMUL_VERSION } from '../../dist/tensor/webgpu/kernels/matmul.js';

/** 'v1' or 'v2'; returns a function that restores the previous setting. */
export function useWebGpuKernels(v) {
  const E = moe.InferenceEngine;
  const old = [EW_VERSION.current, MATMUL_VERSION.current, IX_VERSION.current, SHARE_IDENTITY_COPIES.current, UPLOADS.writeBuffer, CONSTANTS.cache, nn.AdamW.fused];
  const oldDecode = [E.deviceRouting, E.fusedMix, FUSED_ROPE.current, FUSED_RMSNORM.current, FUSED_ATTENTION.current];
  const two = v === 'v2';
  EW_VERSION.current = MATMUL_VERSION.current = IX_VERSION.current = two ? 2 : 1;
  SHARE_IDENTITY_COPIES.current = UPLOADS.writeBuffer = CONSTANTS.cache = two;
  nn.AdamW.fused = two;
  E.deviceRouting = E.fusedMix = FUSED_ROPE.current = FUSED_RMSNORM.current = FUSED_ATTENTION.current = two;
  return () => {
    [E.deviceRouting, E.fusedMix, FUSED_ROPE.current, FUSED_RMSNORM.current, FUSED_ATTENTION.current] = oldDecode;
    [EW_VERSION.current, MATMUL_VERSION.current, IX_VERSION.current, SHARE_IDENTITY_COPIES.current, UPLOADS.writeBuffer, CONSTANTS.cache, nn.AdamW.fused] = old;
  };
}
