/**
 * The fused WebGPU AdamW kernel (src/tensor/webgpu/kernels/optim.ts) against the composed tensor
 * ops it replaces (src/nn/optim.ts adamwUpdateComposed, run on the GPU): bit for bit, over
 * random values spanning many magnitudes, with and without weight decay, at early and late steps
 * (bias corrections far from and close to 1), sizes that are not multiples of 4.
 */
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { Tensor, tensor, tidy } from '../../../src/index.js';
import { adamwUpdateComposed } from '../../../src/nn/optim.js';
import { describeGpu, gpu } from '../../helpers/gpu.js';

const bits = (a: ArrayLike<number>) => Array.from(new Uint32Array(Float32Array.from(a).buffer));

describeGpu('webgpu fused AdamW', () => {
  it('equals the composed ops bit for bit', async () => {
    const b = gpu!;
    const caseArb = fc.record({
      n: fc.integer({ min: 1, max: 37 }),
      seed: fc.integer({ min: 1, max: 1e9 }),
      lr: fc.constantFrom(1e-3, 3e-4, 0.1),
      wd: fc.constantFrom(0, 0.01, 0.1),
      step: fc.constantFrom(1, 2, 10, 1000),
    });
    await fc.assert(
      fc.asyncProperty(caseArb, async ({ n, seed, lr, wd, step }) => {
        let s = seed;
        const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
        const val = (scale: number) => Float32Array.from({ length: n }, () => (rnd() - 0.5) * scale * 2 ** Math.floor(rnd() * 16 - 8));
        const [pv, gv, mv] = [val(1), val(1), val(0.1)];
        const vv = Float32Array.from(val(0.01), Math.abs);
        const scalars = { beta1: 0.9, beta2: 0.999, eps: 1e-8, lr, weightDecay: wd, bc1: 1 - 0.9 ** step, bc2: 1 - 0.999 ** step };
        const mk = (a: Float32Array) => tensor(a, { device: 'webgpu' });
        // composed reference, on the GPU
        const [p1, g1, m1, v1] = [pv, gv, mv, vv].map(mk) as [Tensor, Tensor, Tensor, Tensor];
        tidy(() => adamwUpdateComposed(p1, g1, m1, v1, scalars));
        // fused
        const [p2, g2, m2, v2] = [pv, gv, mv, vv].map(mk) as [Tensor, Tensor, Tensor, Tensor];
        const [np, nm, nv] = b.routines.adamw!(p2.storage, g2.storage, m2.storage, v2.storage, scalars)!;
        for (const [t, st] of [[p2, np], [m2, nm], [v2, nv]] as const) {
          const fresh = new Tensor(st, t.shape);
          t.assign(fresh);
          fresh.dispose();
        }
        for (const [what, x, y] of [['p', p1, p2], ['m', m1, m2], ['v', v1, v2]] as const) {
          expect(bits(await y.toArray()), `${what} n=${n} lr=${lr} wd=${wd} t=${step}`).toEqual(bits(await x.toArray()));
        }
        for (const t of [p1, g1, m1, v1, p2, g2, m2, v2]) t.dispose();
      }),
      { numRuns: 40 },
    );
  });
});
