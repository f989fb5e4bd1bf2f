/**
 * Regression: Mesa's llvmpipe silently stops an invocation's loops after 65535 iterations in
 * total. Kernels whose loops scale with a problem size (matmul's k, the source positions of
 * scatterAdd/indexAdd, long reduction rows) walk them in chunks; these cases exceed the limit
 * and must still equal the CPU (matmul within f32 accumulation error, the index sums bitwise).
 */
import { expect, it } from 'vitest';
import { matmulT, randint, randn, Rng } from '../../../src/index.js';
import { firstMismatch } from '../../helpers/assert.js';
import { describeGpu } from '../../helpers/gpu.js';

describeGpu('webgpu kernels past the 65535-iteration loop limit', () => {
  it('matmul with k = 70000 in all four layouts, and row-invariant', async () => {
    const rng = new Rng(11);
    const [m, k, n] = [5, 70_000, 6];
    for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      const a = randn(ta ? [k, m] : [m, k], { rng });
      const b = randn(tb ? [n, k] : [k, n], { rng });
      const cpu = matmulT(a, b, ta, tb).toArraySync();
      const gpuOut = await matmulT(a.to('webgpu'), b.to('webgpu'), ta, tb).toArray();
      // f32 sums of k products of N(0,1) values: error grows like sqrt(k)·2^-24·k-ish; 1e-3·sqrt(k) is ~20× that.
      expect(firstMismatch(gpuOut, cpu, { atol: 1e-3 * Math.sqrt(k), nonFinite: 'match' })).toBe(-1);
      // A value truncated at 65535 terms would be off by a sum of ~4465 products (|·| ~ 67).
      if (!ta) {
        const row = await matmulT(a.slice(0, 2, 3).to('webgpu'), b.to('webgpu'), false, tb).toArray();
        expect(Array.from(row)).toEqual(Array.from(gpuOut.slice(2 * n, 3 * n)));
      }
    }
  });

  it('embedding backward (indexAdd) over 70001 tokens equals the CPU bitwise', async () => {
    const rng = new Rng(12);
    const w = randn([4, 3], { rng, requiresGrad: true });
    const wg = w.detach().to('webgpu').setRequiresGrad();
    const idx = randint(0, 4, [70_001], { rng });
    const r = randn([70_001, 3], { rng });
    w.embedding(idx).mul(r).sum().backward();
    wg.embedding(idx.to('webgpu')).mul(r.to('webgpu')).sum().backward();
    expect(Array.from(await wg.grad!.toArray())).toEqual(Array.from(w.grad!.toArraySync()));
  });

  it('sum over a 100000-long row is not truncated', async () => {
    const x = randn([100_000], { rng: new Rng(13) }).abs();
    const cpu = x.sum().itemSync();
    const g = await x.to('webgpu').sum().item();
    expect(Math.abs(g - cpu)).toBeLessThan(1e-4 * cpu);
  });
});
