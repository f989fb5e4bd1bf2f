/**
 * Batched matmul on the CPU backend through the public API. When every batch element shares
 * one B and A's matrices lie back to back (not transposed), the backend runs the whole batch as
 * one product with batch*m rows, so B is copied and packed once (attention's projections,
 * x [B, T, D] · Wᵀ). That is only allowed because matmul rows are batch invariant; this checks
 * it bit for bit against each batch element computed on its own as a 2-D product, for f32
 * (f32 accumulation, matmulNaiveF32) and f64, with batch dims of size 1, several batch dims,
 * and the layouts that must keep the per-element loop (A transposed, A broadcast, B batched).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sameBits } from '../../../helpers/bits.js';
import { matmulT, tensor, type Tensor } from '../../../../src/index.js';
import { matmulNaive, matmulNaiveF32 } from '../../../../src/tensor/cpu/kernels/matmul/reference.js';

function values(n: number, seed: number): number[] {
  let s = seed >>> 0 || 1;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out.push(Math.fround(((s / 4294967296) - 0.5) * 2 ** ((s % 13) - 6)));
  }
  return out;
}

const size = (shape: readonly number[]): number => shape.reduce((p, d) => p * d, 1);

/** The expected bytes: each batch element of the broadcast product as its own 2-D reference. */
function reference(
  dtype: 'f32' | 'f64', a: number[], aShape: number[], b: number[], bShape: number[],
  transA: boolean, transB: boolean, batchShape: number[], m: number, k: number, n: number,
): Float32Array | Float64Array {
  const C = dtype === 'f32' ? Float32Array : Float64Array;
  const ref = dtype === 'f32' ? matmulNaiveF32 : matmulNaive;
  const A = C.from(a);
  const B = C.from(b);
  const out = new C(size(batchShape) * m * n);
  const aBatch = aShape.slice(0, -2);
  const bBatch = bShape.slice(0, -2);
  const index = (batch: number[], coords: number[]): number => {
    let off = 0;
    const skip = coords.length - batch.length;
    batch.forEach((d, i) => (off = off * d + (d === 1 ? 0 : coords[skip + i]!)));
    return off;
  };
  for (let t = 0; t < size(batchShape); t++) {
    const coords: number[] = [];
    let r = t;
    for (let i = batchShape.length - 1; i >= 0; i--) {
      coords.unshift(r % batchShape[i]!);
      r = Math.floor(r / batchShape[i]!);
    }
    ref(A, index(aBatch, coords) * m * k, B, index(bBatch, coords) * k * n, out, t * m * n, m, k, n, transA, transB);
  }
  return out;
}

describe('CPU batched matmul', () => {
  it('equals each batch element computed alone, bit for bit (shared B folded into one product, and the rest)', () => {
    const arb = fc.record({
      dtype: fc.constantFrom('f32' as const, 'f64' as const),
      aBatch: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 3 }),
      bKind: fc.constantFrom('shared', 'shared-with-ones', 'batched'),
      m: fc.integer({ min: 1, max: 13 }),
      k: fc.integer({ min: 1, max: 20 }),
      n: fc.integer({ min: 1, max: 19 }),
      transA: fc.boolean(),
      transB: fc.boolean(),
      seed: fc.integer({ min: 1, max: 1e9 }),
    });
    fc.assert(
      fc.property(arb, ({ dtype, aBatch, bKind, m, k, n, transA, transB, seed }) => {
        const bBatch = bKind === 'shared' ? [] : bKind === 'shared-with-ones' ? aBatch.map(() => 1) : aBatch;
        const aShape = [...aBatch, ...(transA ? [k, m] : [m, k])];
        const bShape = [...bBatch, ...(transB ? [n, k] : [k, n])];
        const a = values(size(aShape), seed);
        const b = values(size(bShape), seed + 7);
        const A: Tensor = tensor(dtype === 'f32' ? Float32Array.from(a) : Float64Array.from(a), { shape: aShape });
        const B: Tensor = tensor(dtype === 'f32' ? Float32Array.from(b) : Float64Array.from(b), { shape: bShape });
        const y = matmulT(A, B, transA, transB);
        expect(y.shape).toEqual([...aBatch, m, n]);
        const want = reference(dtype, a, aShape, b, bShape, transA, transB, aBatch, m, k, n);
        const got = y.toArraySync() as Float32Array | Float64Array;
        expect(sameBits(got, want)).toBe(true);
        for (const t of [A, B, y]) t.dispose();
      }),
      { numRuns: 200 },
    );
  });

  it('broadcasts A over a batched B without folding (A is then shared, not B)', () => {
    const [m, k, n] = [4, 6, 5];
    const a = values(m * k, 3);
    const b = values(3 * k * n, 4);
    const y = matmulT(tensor(Float32Array.from(a), { shape: [m, k] }), tensor(Float32Array.from(b), { shape: [3, k, n] }), false, false);
    const want = reference('f32', a, [m, k], b, [3, k, n], false, false, [3], m, k, n);
    expect(sameBits(y.toArraySync() as Float32Array, want)).toBe(true);
  });
});
