/**
 * The CPU matmul kernels and their two references (kernels/matmul/):
 *  - v1 references: matmulNaive accumulates in float64 (one rounding at the store) and is what
 *    f64 and mixed f32/f64 products compute; matmulNaiveF32 rounds every product and every sum
 *    to f32, and is what f32 products compute (the WebAssembly SIMD kernel matches it bit for bit).
 *  - v2, matmulJs (the JS 3 x 4 register tile): with f64 accumulation it must equal
 *    matmulNaive bit for bit for every size, offset, transpose and array type; with f32
 *    accumulation (its role as the fallback of the WebAssembly kernel) it must equal
 *    matmulNaiveF32 bit for bit.
 *  - matmulInto, what the backend calls: f32 operands must give matmulNaiveF32's bits, f64
 *    operands matmulNaive's.
 * Every kernel is also checked for batch invariance (a row computed alone equals that row inside any batch).
 * Comparisons are on the bytes of the whole output array, so writes outside the m*n block are
 * caught too. The WebAssembly kernel's own properties (threads, blocks) are in
 * matmul-wasm.test.ts (kernels/matmul/wasm.ts).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expectSameBits, fillBinades as fill, sameBits } from '../../../helpers/bits.js';
import { type FloatArray, matmulInto } from '../../../../src/tensor/cpu/kernels/matmul/index.js';
import { matmulJs } from '../../../../src/tensor/cpu/kernels/matmul/js.js';
import { matmulNaive, matmulNaiveF32 } from '../../../../src/tensor/cpu/kernels/matmul/reference.js';

type Ctor = Float32ArrayConstructor | Float64ArrayConstructor;
const CTORS: Record<'f32' | 'f64', Ctor> = { f32: Float32Array, f64: Float64Array };

interface Case {
  dtype: 'f32' | 'f64';
  m: number;
  k: number;
  n: number;
  aOff: number;
  bOff: number;
  outOff: number;
  transA: boolean;
  transB: boolean;
  seed: number;
}

type Kernel = (
  a: FloatArray, aOff: number, b: FloatArray, bOff: number, out: FloatArray, outOff: number,
  m: number, k: number, n: number, transA: boolean, transB: boolean,
) => void;

/** The kernels under test, each with the reference it must equal. */
const jsF64: Kernel = (a, ao, b, bo, o, oo, m, k, n, tA, tB) => matmulJs(a, ao, b, bo, o, oo, m, k, n, tA, tB, false);
const jsF32: Kernel = (a, ao, b, bo, o, oo, m, k, n, tA, tB) => matmulJs(a, ao, b, bo, o, oo, m, k, n, tA, tB, true);

/**
 * Runs a kernel and a reference on the same inputs and sentinel-filled outputs; returns
 * [fast, reference]. Defaults: matmulJs in f64 mode against matmulNaive.
 */
function runBoth(c: Case, fast: Kernel = jsF64, ref: Kernel = matmulNaive): [FloatArray, FloatArray] {
  const C = CTORS[c.dtype];
  const a = fill(new C(c.aOff + c.m * c.k + 3), c.seed);
  const b = fill(new C(c.bOff + c.k * c.n + 3), c.seed ^ 0x5bd1e995);
  const outLen = c.outOff + c.m * c.n + 3;
  const got = new C(outLen).fill(7.25);
  const want = new C(outLen).fill(7.25);
  fast(a, c.aOff, b, c.bOff, got, c.outOff, c.m, c.k, c.n, c.transA, c.transB);
  ref(a, c.aOff, b, c.bOff, want, c.outOff, c.m, c.k, c.n, c.transA, c.transB);
  return [got, want];
}

/** Sizes 0..37, biased towards 0, 1 and sizes around the 3 x 4 tile. */
const dimArb = fc.oneof(fc.constantFrom(0, 1, 2, 3, 4, 5, 7, 8), fc.integer({ min: 0, max: 37 }));

const caseArb: fc.Arbitrary<Case> = fc.record({
  dtype: fc.constantFrom('f32' as const, 'f64' as const),
  m: dimArb,
  k: dimArb,
  n: dimArb,
  aOff: fc.integer({ min: 0, max: 9 }),
  bOff: fc.integer({ min: 0, max: 9 }),
  outOff: fc.integer({ min: 0, max: 9 }),
  transA: fc.boolean(),
  transB: fc.boolean(),
  seed: fc.integer({ min: 1, max: 0x7fffffff }),
});

describe('the references and every kernel', () => {
  it('computes a known product in every layout', () => {
    // A = [[1,2,3],[4,5,6]] (2x3), B = [[7,8],[9,10],[11,12]] (3x2), A@B = [[58,64],[139,154]].
    const A = [1, 2, 3, 4, 5, 6];
    const At = [1, 4, 2, 5, 3, 6]; // stored [k, m]
    const B = [7, 8, 9, 10, 11, 12];
    const Bt = [7, 9, 11, 8, 10, 12]; // stored [n, k]
    for (const C of [Float32Array, Float64Array]) {
      for (const [transA, transB] of [[false, false], [true, false], [false, true], [true, true]] as const) {
        const kernels = [matmulNaive, matmulNaiveF32, jsF64, matmulInto, ...(C === Float32Array ? [jsF32] : [])];
        for (const f of kernels) {
          const out = new C(4);
          f(C.from(transA ? At : A), 0, C.from(transB ? Bt : B), 0, out, 0, 2, 3, 2, transA, transB);
          expect(Array.from(out)).toEqual([58, 64, 139, 154]);
        }
      }
    }
  });
});

describe('matmulJs (v2) with float64 accumulation', () => {
  it('equals matmulNaive bitwise (sizes 0..37, offsets, all transposes, f32 and f64)', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const [got, want] = runBoth(c);
        expectSameBits(got, want, c);
      }),
      { numRuns: 400 },
    );
  });

  it('is batch invariant: a row computed alone equals that row of the full product', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('f32' as const, 'f64' as const),
        fc.integer({ min: 1, max: 37 }),
        dimArb,
        dimArb,
        fc.boolean(),
        fc.integer({ min: 1, max: 0x7fffffff }),
        (dtype, m, k, n, transB, seed) => {
          const C = CTORS[dtype];
          const a = fill(new C(m * k), seed);
          const b = fill(new C(k * n), seed + 1);
          const full = new C(m * n);
          jsF64(a, 0, b, 0, full, 0, m, k, n, false, transB);
          const row = new C(n);
          for (let i = 0; i < m; i++) {
            jsF64(a, i * k, b, 0, row, 0, 1, k, n, false, transB);
            expectSameBits(row, full.subarray(i * n, (i + 1) * n), { dtype, m, k, n, transB, i });
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it('is batch invariant across k-chunks, cache blocks and edge tiles at larger sizes', () => {
    // k = 2100 is split into 3 chunks of 700 (partial sums through the float64 scratch); A
    // blocks are then 93 rows and B blocks 372 columns, so m = 100 and n = 383 cross both
    // with edge tiles, and each row lands in a different block and tile than when alone.
    const m = 100, k = 2100, n = 383;
    for (const transB of [false, true]) {
      const a = fill(new Float32Array(m * k), 11);
      const b = fill(new Float32Array(k * n), 12);
      const full = new Float32Array(m * n);
      jsF64(a, 0, b, 0, full, 0, m, k, n, false, transB);
      if (!transB) {
        // (The reference is slow at this size; once is enough.)
        const want = new Float32Array(m * n);
        matmulNaive(a, 0, b, 0, want, 0, m, k, n, false, transB);
        expectSameBits(full, want, { m, k, n, transB });
      }
      const row = new Float32Array(n);
      for (const i of [0, 1, 2, 3, 92, 93, 94, 99]) {
        jsF64(a, i * k, b, 0, row, 0, 1, k, n, false, transB);
        expectSameBits(row, full.subarray(i * n, (i + 1) * n), { i, transB });
      }
    }
  });

  it('equals matmulNaive when k is split into many chunks', () => {
    // Just over the no-split limit (3 chunks), 22 chunks, and 257 chunks.
    const layouts = [[false, false], [true, false], [false, true], [true, true]] as const;
    for (const [m, k, n] of [[8, 2049, 9], [7, 22000, 9], [5, 262_200, 6]] as const) {
      for (const [transA, transB] of k > 100_000 ? layouts.slice(0, 2) : layouts) {
        for (const dtype of k > 100_000 ? (['f32'] as const) : (['f32', 'f64'] as const)) {
          const c = { dtype, m, k, n, aOff: 1, bOff: 2, outOff: 3, transA, transB, seed: m + n };
          const [got, want] = runBoth(c);
          expectSameBits(got, want, c);
        }
      }
    }
  });

  it('writes zeros when k = 0 and leaves the rest of out alone', () => {
    for (const C of [Float32Array, Float64Array]) {
      const out = new C(2 + 3 * 4 + 2).fill(9);
      jsF64(new C(0), 0, new C(0), 0, out, 2, 3, 0, 4, false, false);
      expect(Array.from(out)).toEqual([9, 9, ...new Array(12).fill(0), 9, 9]);
      expect(out.slice(2, 14).every((x) => Object.is(x, 0))).toBe(true);
    }
  });

  it('writes nothing when m = 0 or n = 0', () => {
    for (const C of [Float32Array, Float64Array]) {
      for (const [m, n] of [[0, 5], [5, 0], [0, 0]] as const) {
        for (const [transA, transB] of [[false, false], [true, true]] as const) {
          const out = new C(8).fill(9);
          jsF64(fill(new C(5 * 6), 3), 0, fill(new C(6 * 5), 4), 0, out, 1, m, 6, n, transA, transB);
          expect(Array.from(out)).toEqual(new Array(8).fill(9));
        }
      }
    }
  });

  it('is exact for mixed array types (f32 A, f64 B, either output)', () => {
    for (const OutC of [Float32Array, Float64Array]) {
      for (const [m, k, n] of [[1, 9, 6], [5, 13, 7], [8, 3, 11]] as const) {
        for (const [transA, transB] of [[false, false], [true, false], [false, true], [true, true]] as const) {
          const a = fill(new Float32Array(m * k), m * 31 + k);
          const b = fill(new Float64Array(k * n), n * 17 + k);
          const got = new OutC(m * n);
          const want = new OutC(m * n);
          jsF64(a, 0, b, 0, got, 0, m, k, n, transA, transB);
          matmulNaive(a, 0, b, 0, want, 0, m, k, n, transA, transB);
          expectSameBits(got, want, { m, k, n, transA, transB, out: OutC.name });
        }
      }
    }
  });
});

describe('matmulJs (v2) with f32 accumulation (the WebAssembly kernel\'s fallback)', () => {
  it('equals matmulNaiveF32 bitwise (sizes 0..37, offsets, all transposes)', () => {
    fc.assert(
      fc.property(caseArb, (c0) => {
        const c = { ...c0, dtype: 'f32' as const };
        const [got, want] = runBoth(c, jsF32, matmulNaiveF32);
        expectSameBits(got, want, c);
      }),
      { numRuns: 300 },
    );
  });

  it('equals matmulNaiveF32 when k is split into chunks, and is batch invariant there', () => {
    const layouts = [[false, false], [true, false], [false, true], [true, true]] as const;
    for (const [m, k, n] of [[8, 2049, 9], [7, 22000, 9]] as const) {
      for (const [transA, transB] of layouts) {
        const c = { dtype: 'f32' as const, m, k, n, aOff: 1, bOff: 2, outOff: 3, transA, transB, seed: m + n };
        const [got, want] = runBoth(c, jsF32, matmulNaiveF32);
        expectSameBits(got, want, c);
      }
    }
    const m = 100, k = 2100, n = 383;
    const a = fill(new Float32Array(m * k), 11);
    const b = fill(new Float32Array(k * n), 12);
    const full = new Float32Array(m * n);
    jsF32(a, 0, b, 0, full, 0, m, k, n, false, true);
    const row = new Float32Array(n);
    for (const i of [0, 1, 2, 3, 92, 93, 94, 99]) {
      jsF32(a, i * k, b, 0, row, 0, 1, k, n, false, true);
      expectSameBits(row, full.subarray(i * n, (i + 1) * n), { i });
    }
  });

  it('differs from float64 accumulation (the test data is sensitive to the rounding)', () => {
    const c = { dtype: 'f32' as const, m: 9, k: 300, n: 11, aOff: 0, bOff: 0, outOff: 0, transA: false, transB: false, seed: 5 };
    const [f32acc] = runBoth(c, jsF32, matmulNaiveF32);
    const [f64acc] = runBoth(c, jsF64, matmulNaive);
    expect(sameBits(f32acc, f64acc)).toBe(false);
  });
});

describe('matmulInto (what the CPU backend runs)', () => {
  it('gives matmulNaiveF32 for f32 operands and matmulNaive for f64 ones', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const [got, want] = runBoth(c, matmulInto, c.dtype === 'f32' ? matmulNaiveF32 : matmulNaive);
        expectSameBits(got, want, c);
      }),
      { numRuns: 300 },
    );
  });

  it('uses float64 accumulation for mixed f32/f64 operands', () => {
    for (const OutC of [Float32Array, Float64Array]) {
      const [m, k, n] = [5, 13, 7];
      const a = fill(new Float32Array(m * k), 1);
      const b = fill(new Float64Array(k * n), 2);
      const got = new OutC(m * n);
      const want = new OutC(m * n);
      matmulInto(a, 0, b, 0, got, 0, m, k, n, false, true);
      matmulNaive(a, 0, b, 0, want, 0, m, k, n, false, true);
      expectSameBits(got, want, { out: OutC.name });
    }
  });

  it('writes zeros when k = 0 and nothing when m = 0 or n = 0', () => {
    for (const C of [Float32Array, Float64Array]) {
      const out = new C(2 + 3 * 4 + 2).fill(9);
      matmulInto(new C(0), 0, new C(0), 0, out, 2, 3, 0, 4, true, false);
      expect(Array.from(out)).toEqual([9, 9, ...new Array(12).fill(0), 9, 9]);
      expect(out.slice(2, 14).every((x) => Object.is(x, 0))).toBe(true);
      for (const [m, n] of [[0, 5], [5, 0]] as const) {
        const o = new C(8).fill(9);
        matmulInto(fill(new C(30), 3), 0, fill(new C(30), 4), 0, o, 1, m, 6, n, false, false);
        expect(Array.from(o)).toEqual(new Array(8).fill(9));
      }
    }
  });
});
