/**
 * The WebGPU backend's Routines (src/tensor/backend.ts): the fused kernels of ./kernels/fused.ts,
 * group.ts and optim.ts behind the backend contract. Each routine declines (returns null) what
 * its kernel cannot do, f32-only kernels given another dtype and sizes past a kernel's loop
 * budget, so the caller runs the composed ops instead; what a routine accepts it computes with
 * the composed ops' bits (test/tensor/webgpu/fused.test.ts, optim.test.ts, test/moe/*webgpu*).
 */
import type { Routines, Storage } from '../backend.js';
import type { GpuContext } from './context.js';
import type { WebGpuStorage } from './storage.js';
import * as FU from './kernels/fused.js';
import { groupChunks } from './kernels/group.js';
import { adamw } from './kernels/optim.js';

const gpu = (s: Storage) => s as WebGpuStorage;
const f32 = (...xs: Storage[]) => xs.every((x) => x.dtype === 'f32');

/** weightedRows sums k products per output element in one loop. */
const WEIGHTED_ROWS_MAX_K = 1024;

export function webgpuRoutines(b: GpuContext): Routines {
  return {
    rmsNorm: (x, g, rows, d, eps) => (f32(x, g) && d <= FU.RMSNORM_MAX_DIM ? FU.rmsNorm(b, gpu(x), gpu(g), rows, d, eps) : null),
    addRmsNorm: (x, r, g, rows, d, eps) =>
      f32(x, r, g) && d <= FU.RMSNORM_MAX_DIM ? FU.addRmsNorm(b, gpu(x), gpu(r), gpu(g), rows, d, eps) : null,
    rope: (x, cos, sin, B, T, H, hd) => (f32(x, cos, sin) ? FU.rope(b, gpu(x), gpu(cos), gpu(sin), B, T, H, hd) : null),
    decodeAttention: (q, k, v, rows, Tk, hd, scale) =>
      f32(q, k, v) && FU.decodeAttentionIterations(Tk, hd) <= FU.DECODE_ATTENTION_MAX_ITERATIONS
        ? FU.decodeAttention(b, gpu(q), gpu(k), gpu(v), rows, Tk, hd, scale)
        : null,
    appendKV: (k0, k1, v0, v1, rows, past, t, hd) =>
      f32(k0, k1, v0, v1) ? FU.appendKV(b, gpu(k0), gpu(k1), gpu(v0), gpu(v1), rows, past, t, hd) : null,
    siluMul: (g, u) => (f32(g, u) ? FU.siluMul(b, gpu(g), gpu(u)) : null),
    weightedRows: (x, w, n, k, d) => (f32(x, w) && k <= WEIGHTED_ROWS_MAX_K ? FU.weightedRows(b, gpu(x), gpu(w), n, k, d) : null),
    chosenExperts: (x, ids, wg, wu, wd, gw, n, k, d, h) =>
      f32(x, wg, wu, wd, gw) && ids.dtype === 'i32' && FU.chosenExpertsFits(k, d, h)
        ? FU.chosenExperts(b, gpu(x), gpu(ids), gpu(wg), gpu(wu), gpu(wd), gpu(gw), n, k, d, h)
        : null,
    groupChunks: (ids, l, k, e, m) => (ids.dtype === 'i32' ? groupChunks(b, gpu(ids), l, k, e, m) : null),
    adamw: (p, g, m, v, s) => (f32(p, g, m, v) ? adamw(b, gpu(p), gpu(g), gpu(m), gpu(v), s) : null),
  };
}
