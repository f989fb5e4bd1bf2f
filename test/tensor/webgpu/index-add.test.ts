/**
 * indexAdd v2 (CSR list, src/tensor/webgpu/kernels/indexing/current.ts) against v1 (v1.ts:
 * the scan of every source position per output element), called on the backend directly. v2 promises the same
 * additions in the same order, so the two must agree bit for bit: f32 and i32, outer > 1, both
 * ways of building the list (m ≤ n by position, m > n by row), out-of-range indices (skipped),
 * rows nobody hits, rows of 4k columns (the vec4 accumulation), and every loop split into several dispatches (a tiny budget stands in for
 * llvmpipe's 65535-iteration limit).
 */
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { indexAddV2 as indexAdd } from '../../../src/tensor/webgpu/kernels/indexing/current.js';
import { indexAddV1 } from '../../../src/tensor/webgpu/kernels/indexing/v1.js';
import type { WebGpuStorage } from '../../../src/tensor/webgpu/index.js';
import { describeGpu, gpu } from '../../helpers/gpu.js';

const caseArb = fc
  .record({
    outer: fc.integer({ min: 1, max: 3 }),
    n: fc.integer({ min: 1, max: 40 }),
    inner: fc.oneof(fc.integer({ min: 1, max: 5 }), fc.constantFrom(8, 12)),
    m: fc.integer({ min: 0, max: 60 }),
    dtype: fc.constantFrom<'f32' | 'i32'>('f32', 'i32'),
    budget: fc.constantFrom(1, 3, 7, 32768),
    badRate: fc.constantFrom(0, 0.2),
    seed: fc.integer({ min: 1, max: 2 ** 30 }),
  });

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describeGpu('webgpu indexAdd v2 equals v1 bit for bit', () => {
  it('random shapes, dtypes, repeated and out-of-range indices, chunked loops', async () => {
    const b = gpu!;
    await fc.assert(
      fc.asyncProperty(caseArb, async ({ outer, n, inner, m, dtype, budget, badRate, seed }) => {
        const r = lcg(seed);
        // few distinct rows half the time, so rows get long lists
        const span = r() < 0.5 ? Math.max(1, Math.floor(n / 4)) : n;
        const idx = Int32Array.from({ length: m }, () => (r() < badRate ? (r() < 0.5 ? -1 - Math.floor(r() * 3) : n + Math.floor(r() * 3)) : Math.floor(r() * span)));
        const src = dtype === 'f32'
          ? Float32Array.from({ length: outer * m * inner }, () => (r() - 0.5) * 2 ** Math.floor(r() * 20 - 10))
          : Int32Array.from({ length: outer * m * inner }, () => Math.floor((r() - 0.5) * 2e9));
        const s = b.fromArray(src) as WebGpuStorage;
        const ix = b.fromArray(idx) as WebGpuStorage;
        const v1 = indexAddV1(b, s, ix, outer, n, inner, m);
        const v2 = indexAdd(b, s, ix, outer, n, inner, m, budget);
        const [a1, a2] = [await b.read(v1), await b.read(v2)];
        expect(a2.length).toBe(outer * n * inner);
        expect(new Uint32Array(a2.buffer)).toEqual(new Uint32Array(a1.buffer));
        for (const t of [s, ix, v1, v2]) b.dispose(t);
      }),
      { numRuns: 60 },
    );
  });

  it('leaves no scratch buffer alive', async () => {
    const b = gpu!;
    const s = b.fromArray(Float32Array.from([1, 2, 3, 4])) as WebGpuStorage;
    const ix = b.fromArray(Int32Array.from([1, 0, 1, 1])) as WebGpuStorage;
    const before = b.liveBuffers();
    for (const [n, budget] of [[2, 32768], [8, 32768], [2, 1], [8, 1]] as const) {
      const o = indexAdd(b, s, ix, 1, n, 1, 4, budget);
      expect(Array.from(await b.read(o)).slice(0, 2)).toEqual([2, 8]);
      b.dispose(o);
    }
    expect(b.liveBuffers()).toBe(before);
    b.dispose(s);
    b.dispose(ix);
  });
});
