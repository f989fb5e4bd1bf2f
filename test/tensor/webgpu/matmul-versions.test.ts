/**
 * WebGPU matmul v2 (tiles fitted to small m and n; src/tensor/webgpu/kernels/matmul.ts) against
 * v1 (one 16×16 tiling) and against every other tile configuration: a tile's size decides only
 * which invocation computes an element, never how, so all of them must give the same bits. That
 * is also what keeps v2 row invariant although its tile height depends on m: row i of A·B
 * computed in a 3-row product (4-row tiles) equals the same row computed in a 40-row product
 * (16-row tiles). Every layout, batched, edge sizes.
 */
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { matmulT, tensor, withFlags } from '../../../src/index.js';
import type { MatmulParams } from '../../../src/tensor/backend.js';
import type { WebGpuStorage } from '../../../src/tensor/webgpu/index.js';
import { matmul as gpuMatmul } from '../../../src/tensor/webgpu/kernels/matmul.js';
import { describeGpu, gpu } from '../../helpers/gpu.js';

function values(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

const bits = (a: ArrayLike<number>) => Array.from(new Uint32Array(Float32Array.from(a).buffer));

describeGpu('webgpu matmul: every tiling gives the same bits', () => {
  it('v2 equals v1 and every tile configuration, all layouts, batched', async () => {
    const b = gpu!;
    if (b.info.path === 'hardware') return; // the fitted tiles are a software-adapter choice
    const caseArb = fc.record({
      m: fc.integer({ min: 1, max: 20 }), k: fc.integer({ min: 1, max: 40 }), n: fc.integer({ min: 1, max: 20 }),
      batch: fc.integer({ min: 1, max: 3 }), tA: fc.boolean(), tB: fc.boolean(), seed: fc.integer({ min: 1, max: 1e6 }),
    });
    await fc.assert(
      fc.asyncProperty(caseArb, async ({ m, k, n, batch, tA, tB, seed }) => {
        const av = values(batch * m * k, seed);
        const bv = values(batch * k * n, seed + 1);
        const p: MatmulParams = { m, k, n, transA: tA, transB: tB, batchShape: [batch], aBatchStrides: [1], bBatchStrides: [1] };
        const sa = b.fromArray(av) as WebGpuStorage;
        const sb = b.fromArray(bv) as WebGpuStorage;
        const outs: number[][] = [];
        for (const v of [1, 2] as const) {
          const o = withFlags({ 'webgpu.matmulVersion': v }, () => gpuMatmul(b, sa, sb, p));
          outs.push(bits(await b.read(o)));
          b.dispose(o);
        }
        for (const t of [{ tm: 4, tn: 4, wg: 16 }, { tm: 8, tn: 16, wg: 16 }, { tm: 16, tn: 8, wg: 16 }, { tm: 4, tn: 4, wg: 64 }]) {
          const o = gpuMatmul(b, sa, sb, p, t);
          outs.push(bits(await b.read(o)));
          b.dispose(o);
        }
        for (let i = 1; i < outs.length; i++) expect(outs[i], `${m}x${k}x${n}×${batch} ${tA}${tB} config #${i}`).toEqual(outs[0]);
        b.dispose(sa);
        b.dispose(sb);
      }),
      { numRuns: 40 },
    );
  });

  it('row invariance across tile heights: rows of a 3-row product equal the same rows of a 40-row one', async () => {
    const [k, n] = [64, 24];
    const a = tensor(values(40 * k, 7), { shape: [40, k], device: 'webgpu' });
    const w = tensor(values(n * k, 8), { shape: [n, k], device: 'webgpu' });
    for (const v of [1, 2] as const) {
      const [all, few, one] = await Promise.all(withFlags({ 'webgpu.matmulVersion': v }, () => [
        matmulT(a, w, false, true), matmulT(a.slice(0, 5, 8), w, false, true), matmulT(a.slice(0, 6, 7), w, false, true),
      ]).map((t) => t.toArray()));
      expect(bits(few)).toEqual(bits(all.slice(5 * n, 8 * n)));
      expect(bits(one)).toEqual(bits(all.slice(6 * n, 7 * n)));
    }
  });
});
