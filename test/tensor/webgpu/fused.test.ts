/**
 * The fused decode kernels (src/tensor/webgpu/kernels/fused.ts) against the composed ops they
 * replace, bit for bit: they exist only to cut dispatches, so any difference in a single bit
 * would be a silent numeric change (the engine's exact profile promises μ == π).
 */
import { afterEach, expect, it } from 'vitest';
import { Rng, noGrad, randn, tidy } from '../../../src/index.js';
import { FUSED_ROPE, ropeHeads } from '../../../src/nn/attention.js';
import { describeGpu } from './gpu.js';

describeGpu('fused WebGPU kernels', () => {
  afterEach(() => {
    FUSED_ROPE.current = true;
  });

  it('ropeHeads: the fused kernel equals transpose + applyRope\'s composed ops bit for bit', async () => {
    const rng = new Rng(7);
    for (const [B, T, H, hd, offset, theta] of [[1, 1, 1, 2, 0, 10000], [8, 1, 4, 32, 37, 10000], [3, 5, 2, 16, 0, 500], [2, 9, 4, 8, 120, 10000], [4, 64, 4, 16, 3, 1e6]] as const) {
      const x = randn([B, T, H * hd], { rng, device: 'webgpu' }).mul(3);
      const out: Float32Array[] = [];
      for (const fused of [false, true]) {
        FUSED_ROPE.current = fused;
        const y = noGrad(() => tidy(() => ropeHeads(x, H, offset, theta)));
        expect(y.shape).toEqual([B, H, T, hd]);
        out.push((await y.toArray()) as Float32Array);
        y.dispose();
      }
      x.dispose();
      expect(new Uint32Array(out[1]!.buffer)).toEqual(new Uint32Array(out[0]!.buffer));
    }
  });
});
