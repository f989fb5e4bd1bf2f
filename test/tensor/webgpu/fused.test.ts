/**
 * The fused decode kernels (src/tensor/webgpu/kernels/fused.ts: RoPE, RMSNorm, add + RMSNorm,
 * decode attention, the KV cache's append, silu·mul: the WebGPU backend's routines; the expert mix is covered by
 * test/moe/engine-webgpu.test.ts)
 * against the composed ops they replace, bit for bit: they exist only to cut dispatches, so any
 * difference in a single bit would be a silent numeric change (the engine's exact profile promises μ == π).
 */
import { expect, it } from 'vitest';
import { Rng, Tensor, noGrad, randn, tensor, tidy, withFlags } from '../../../src/index.js';
import { KVCacheLayer, decodeAttention, ropeHeads } from '../../../src/nn/attention.js';
import { addRmsNorm, rmsNorm } from '../../../src/nn/layers.js';
import { describeGpu } from '../../helpers/gpu.js';

describeGpu('fused WebGPU kernels', () => {
  it('ropeHeads: the fused kernel equals transpose + applyRope\'s composed ops bit for bit', async () => {
    const rng = new Rng(7);
    for (const [B, T, H, hd, offset, theta] of [[1, 1, 1, 2, 0, 10000], [8, 1, 4, 32, 37, 10000], [3, 5, 2, 16, 0, 500], [2, 9, 4, 8, 120, 10000], [4, 64, 4, 16, 3, 1e6]] as const) {
      const x = randn([B, T, H * hd], { rng, device: 'webgpu' }).mul(3);
      const out: Float32Array[] = [];
      for (const fused of [false, true]) {
        const y = withFlags({ 'nn.fusedRope': fused }, () => noGrad(() => tidy(() => ropeHeads(x, H, offset, theta))));
        expect(y.shape).toEqual([B, H, T, hd]);
        out.push((await y.toArray()) as Float32Array);
        y.dispose();
      }
      x.dispose();
      expect(new Uint32Array(out[1]!.buffer)).toEqual(new Uint32Array(out[0]!.buffer));
    }
  });

  it('rmsNorm: the fused kernel equals the composed ops bit for bit (incl. zero rows, large and tiny values)', async () => {
    const rng = new Rng(11);
    for (const [shape, eps, scale] of [[[1, 1], 1e-6, 1], [[8, 128], 1e-6, 1], [[3, 5, 64], 1e-5, 1e3], [[64, 128], 1e-6, 1e-3], [[2, 300], 0.1, 7], [[4, 4096], 1e-6, 1]] as const) {
      const x = randn([...shape], { rng, device: 'webgpu' }).mul(scale);
      const g = randn([shape[shape.length - 1]!], { rng, device: 'webgpu' });
      const out: Float32Array[] = [];
      for (const fused of [false, true]) {
        const y = withFlags({ 'nn.fusedRmsNorm': fused }, () => noGrad(() => tidy(() => rmsNorm(x, g, eps))));
        expect(y.shape).toEqual([...shape]);
        out.push((await y.toArray()) as Float32Array);
        y.dispose();
      }
      for (const t of [x, g]) t.dispose();
      expect(new Uint32Array(out[1]!.buffer)).toEqual(new Uint32Array(out[0]!.buffer));
    }
    // a row of zeros (rsqrt(ε)) and one with an exact-zero gain
    const x = tensor(new Float32Array([0, 0, 0, 0, 1, -2, 3, -4]), { shape: [2, 4], device: 'webgpu' });
    const g = tensor(new Float32Array([1, 0, -1, 2.5]), { device: 'webgpu' });
    const out: Float32Array[] = [];
    for (const fused of [false, true]) {
      const y = withFlags({ 'nn.fusedRmsNorm': fused }, () => noGrad(() => rmsNorm(x, g, 1e-6)));
      out.push((await y.toArray()) as Float32Array);
      y.dispose();
    }
    expect(new Uint32Array(out[1]!.buffer)).toEqual(new Uint32Array(out[0]!.buffer));
  });

  it('addRmsNorm: the fused kernel equals add then rmsNorm bit for bit (sum and norm)', async () => {
    const rng = new Rng(13);
    for (const [shape, eps] of [[[8, 1, 128], 1e-6], [[3, 7, 64], 1e-5], [[1, 2], 0.5]] as const) {
      const x = randn([...shape], { rng, device: 'webgpu' });
      const r = randn([...shape], { rng, device: 'webgpu' }).mul(5);
      const g = randn([shape[shape.length - 1]!], { rng, device: 'webgpu' });
      const out: Float32Array[][] = [];
      for (const fused of [false, true]) {
        const ys = withFlags({ 'nn.fusedRmsNorm': fused }, () => noGrad(() => addRmsNorm(x, r, g, eps)));
        out.push(await Promise.all(ys.map(async (y) => (await y.toArray()) as Float32Array)));
        ys.forEach((y) => y.dispose());
      }
      for (const t of [x, r, g]) t.dispose();
      for (const i of [0, 1]) expect(new Uint32Array(out[1]![i]!.buffer)).toEqual(new Uint32Array(out[0]![i]!.buffer));
    }
  });

  it('decodeAttention: the fused kernel equals matmul, div, softmax, matmul bit for bit', async () => {
    const rng = new Rng(17);
    for (const [B, H, Tk, hd, scale] of [[1, 1, 1, 2, 1], [8, 4, 9, 32, 1], [8, 4, 128, 32, 4], [2, 3, 17, 16, 30], [3, 2, 40, 6, 0.1]] as const) {
      const q = randn([B, H, 1, hd], { rng, device: 'webgpu' }).mul(scale);
      const k = randn([B, H, Tk, hd], { rng, device: 'webgpu' });
      const v = randn([B, H, Tk, hd], { rng, device: 'webgpu' });
      const out: Float32Array[] = [];
      for (const fused of [false, true]) {
        const o = withFlags({ 'nn.fusedAttention': fused }, () => noGrad(() => tidy(() => decodeAttention(q, k, v))));
        expect(o.shape).toEqual([B, H, 1, hd]);
        out.push((await o.toArray()) as Float32Array);
        o.dispose();
      }
      for (const t of [q, k, v]) t.dispose();
      expect(new Uint32Array(out[1]!.buffer)).toEqual(new Uint32Array(out[0]!.buffer));
    }
  });

  it('KVCacheLayer.append: the fused growth equals the two concatenations bit for bit', async () => {
    const rng = new Rng(19);
    const steps = [3, 1, 1, 4, 1].map((t) => [randn([2, 3, t, 8], { rng, device: 'webgpu' }), randn([2, 3, t, 8], { rng, device: 'webgpu' })] as const);
    const out: Float32Array[][] = [];
    for (const fused of [false, true]) {
      const cache = new KVCacheLayer();
      const got: Float32Array[] = [];
      for (const [k, v] of steps) {
        const { keys, values } = withFlags({ 'nn.fusedAttention': fused }, () => noGrad(() => cache.append(k.mul(1), v.mul(1))));
        got.push((await keys.toArray()) as Float32Array, (await values.toArray()) as Float32Array);
      }
      expect(cache.length).toBe(10);
      cache.dispose();
      out.push(got);
    }
    steps.flat().forEach((t) => t.dispose());
    out[0]!.forEach((a, i) => expect(new Uint32Array(out[1]![i]!.buffer)).toEqual(new Uint32Array(a.buffer)));
  });

  it('siluMul: the fused kernel equals silu then mul bit for bit (wide range, ±0, both sigmoid branches)', async () => {
    const rng = new Rng(23);
    const g = randn([4, 37, 64], { rng, device: 'webgpu' }).mul(12);
    const u = randn([4, 37, 64], { rng, device: 'webgpu' });
    const edge = tensor(new Float32Array([0, -0, 1e-30, -1e-30, 88, -88, 100, -100, 1e30, -1e30]), { device: 'webgpu' });
    const ue = tensor(new Float32Array([1, 1, 3, 3, 0.5, 0.5, 2, 2, 1e-20, 1e-20]), { device: 'webgpu' });
    for (const [a, b] of [[g, u], [edge, ue]] as const) {
      const ref = noGrad(() => a.silu().mul(b));
      const fused = new Tensor(a.backend.routines!.siluMul!(a.storage, b.storage)!, a.shape);
      const [x, y] = [(await ref.toArray()) as Float32Array, (await fused.toArray()) as Float32Array];
      expect(new Uint32Array(y.buffer)).toEqual(new Uint32Array(x.buffer));
      ref.dispose();
      fused.dispose();
    }
    for (const t of [g, u, edge, ue]) t.dispose();
  });
});
