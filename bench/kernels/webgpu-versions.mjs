// The flag settings (src/tensor/flags.ts) that put the WebGPU backend back on its original
// kernels, so a benchmark can time them beside the current ones in one process (the machine's
// load then affects both alike): scalar elementwise kernels, one 16×16 matmul tiling, indexAdd
// v1 and the scalar indexSelect, identity copies that copy, staged uploads, a fill dispatch per
// scalar constant, the composed AdamW, and the inference engine's composed decode path
// (per-layer id read-backs, no fused RoPE / RMSNorm / attention / KV growth / expert kernels).
// Host-side savings (cached bind groups and shader text) stay on in both.
// The MoE layer's dispatch is chosen by the caller (the original GPU path was 'dense').
// Usage: await withFlags(WEBGPU_V1_FLAGS, async () => ...)

/** Every flag at its original setting; the current kernels are the registry's defaults. */
export const WEBGPU_V1_FLAGS = Object.freeze({
  'webgpu.elementwiseVersion': 1,
  'webgpu.matmulVersion': 1,
  'webgpu.indexingVersion': 1,
  'webgpu.shareIdentityCopies': false,
  'webgpu.writeBufferUploads': false,
  'webgpu.cacheConstants': false,
  'nn.fusedAdamW': false,
  'moe.deviceRouting': false,
  'moe.fusedMix': false,
  'nn.fusedRope': false,
  'nn.fusedRmsNorm': false,
  'nn.fusedAttention': false,
});
