/**
 * The WebAssembly SIMD f32 matmul (kernels/matmul/wasm.ts, emitted by wasm/gemm-f32.ts)
 * against the exact f32 reference matmulNaiveF32 (sequential k, every product and sum rounded
 * to f32), bit for bit: random shapes around the 5 x 8 register tile and across the kc / mc
 * / nc cache blocks, k = 0, m = 1, offsets, all four transpose layouts, on one thread and
 * split between two (rows or columns). Batch invariance is checked directly too: a row
 * computed alone, or with another thread count, gives the same bits as inside the full
 * product. The kernel must be available here (Node 20 has WebAssembly SIMD and threads): a
 * silent fallback would make these tests test the JS kernel instead, so that fails loudly.
 * (Where a result is NaN, only its NaN-ness is compared: NaN bits differ between WebAssembly
 * and JS; the inputs elsewhere are finite.)
 */
import { spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectSameBits, fillBinades as fill } from '../../../helpers/bits.js';
import { cpuMatmulImpl, matmulInto } from '../../../../src/tensor/cpu/kernels/matmul/index.js';
import { matmulJs } from '../../../../src/tensor/cpu/kernels/matmul/js.js';
import { matmulNaiveF32 } from '../../../../src/tensor/cpu/kernels/matmul/reference.js';
import {
  configureWasmMatmul,
  matmulWasmF32,
  releaseWasmMatmul,
  startWasmMatmulWorkers,
  wasmMatmulStatus,
} from '../../../../src/tensor/cpu/kernels/matmul/wasm.js';

interface Case {
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

/** matmulWasmF32 (must run) and matmulNaiveF32 on the same inputs, sentinel-filled outputs. */
function runBoth(c: Case): [Float32Array, Float32Array] {
  const a = fill(new Float32Array(c.aOff + c.m * c.k + 3), c.seed);
  const b = fill(new Float32Array(c.bOff + c.k * c.n + 3), c.seed ^ 0x5bd1e995);
  const got = new Float32Array(c.outOff + c.m * c.n + 3).fill(7.25);
  const want = new Float32Array(c.outOff + c.m * c.n + 3).fill(7.25);
  expect(matmulWasmF32(a, c.aOff, b, c.bOff, got, c.outOff, c.m, c.k, c.n, c.transA, c.transB)).toBe(true);
  matmulNaiveF32(a, c.aOff, b, c.bOff, want, c.outOff, c.m, c.k, c.n, c.transA, c.transB);
  return [got, want];
}

/** Sizes 0..45, biased towards 0, 1 and sizes around the 5 x 8 tile. */
const dimArb = fc.oneof(fc.constantFrom(0, 1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 16, 17), fc.integer({ min: 0, max: 45 }));
const caseArb: fc.Arbitrary<Case> = fc.record({
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

const LAYOUTS = [[false, false], [true, false], [false, true], [true, true]] as const;
let initial: { threads: number; parallelMinMacs: number };

beforeAll(() => {
  initial = configureWasmMatmul();
  const st = wasmMatmulStatus();
  if (!st.available) throw new Error(`the WebAssembly matmul must run in these tests: ${st.reason}`);
});
afterAll(() => {
  configureWasmMatmul(initial);
});

describe('WebAssembly SIMD f32 matmul (v3)', () => {
  it('is the kernel f32 matmuls use here, and says so', () => {
    expect(cpuMatmulImpl()).toMatch(/^wasm-simd f32/);
  });

  for (const threads of [1, 2]) {
    describe(`on ${threads} thread${threads > 1 ? 's' : ''}`, () => {
      beforeAll(() => {
        configureWasmMatmul({ threads, parallelMinMacs: 0 });
        if (threads > 1) expect(startWasmMatmulWorkers()).toBe(threads);
      });

      it('equals matmulNaiveF32 bitwise (sizes 0..45, offsets, all transposes)', () => {
        fc.assert(
          fc.property(caseArb, (c) => {
            const [got, want] = runBoth(c);
            expectSameBits(got, want, c);
          }),
          { numRuns: 300 },
        );
      });

      it('equals matmulNaiveF32 across k-chunks, row blocks and column blocks', () => {
        // k = 700 runs as 3 chunks of 234 (sums wait in C between chunks); m = 131 crosses the
        // 120-row A block, n = 530 the 512-column B block, both with edge tiles.
        for (const [m, k, n] of [[131, 700, 37], [9, 700, 530]] as const) {
          for (const [transA, transB] of LAYOUTS) {
            const c = { m, k, n, aOff: 3, bOff: 1, outOff: 2, transA, transB, seed: m * 7 + n };
            const [got, want] = runBoth(c);
            expectSameBits(got, want, c);
          }
        }
      });

      it('equals the JS f32 kernel on a product large enough to split between threads', () => {
        const [m, k, n] = [250, 700, 1100];
        for (const [transA, transB] of LAYOUTS) {
          const a = fill(new Float32Array(m * k), 21);
          const b = fill(new Float32Array(k * n), 22);
          const got = new Float32Array(m * n);
          const want = new Float32Array(m * n);
          matmulWasmF32(a, 0, b, 0, got, 0, m, k, n, transA, transB);
          matmulJs(a, 0, b, 0, want, 0, m, k, n, transA, transB, true);
          expectSameBits(got, want, { m, k, n, transA, transB });
        }
      });
    });
  }

  it('is batch invariant: a row alone, or any thread count, gives the bits of the full product', () => {
    configureWasmMatmul({ threads: 2, parallelMinMacs: 0 });
    startWasmMatmulWorkers();
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 300 }),
        fc.integer({ min: 1, max: 70 }),
        fc.boolean(),
        fc.integer({ min: 1, max: 0x7fffffff }),
        (m, k, n, transB, seed) => {
          const a = fill(new Float32Array(m * k), seed);
          const b = fill(new Float32Array(k * n), seed + 1);
          configureWasmMatmul({ threads: 2 });
          const full2 = new Float32Array(m * n);
          matmulWasmF32(a, 0, b, 0, full2, 0, m, k, n, false, transB);
          configureWasmMatmul({ threads: 1 });
          const full1 = new Float32Array(m * n);
          matmulWasmF32(a, 0, b, 0, full1, 0, m, k, n, false, transB);
          expectSameBits(full1, full2, { m, k, n, transB, threads: '1 vs 2' });
          const row = new Float32Array(n);
          for (let i = 0; i < m; i++) {
            matmulWasmF32(a, i * k, b, 0, row, 0, 1, k, n, false, transB);
            expectSameBits(row, full2.subarray(i * n, (i + 1) * n), { m, k, n, transB, i });
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it('equals matmulNaiveF32 when k is split into many chunks (sums wait in C between chunks)', () => {
    configureWasmMatmul({ threads: 2, parallelMinMacs: 0 });
    for (const [m, k, n] of [[8, 2049, 9], [7, 22000, 9], [5, 262_200, 6]] as const) {
      for (const [transA, transB] of m === 5 ? LAYOUTS.slice(0, 2) : LAYOUTS) {
        const c = { m, k, n, aOff: 1, bOff: 2, outOff: 3, transA, transB, seed: m + n };
        const [got, want] = runBoth(c);
        expectSameBits(got, want, c);
      }
    }
  });

  it('gives NaN exactly where the reference does, and the reference\'s bits everywhere else', () => {
    // NaN's sign and payload are not part of the contract: x86 WebAssembly makes 0·∞ a negative
    // NaN, V8's JS a positive one. Every other value, ±∞ included, must match bit for bit.
    const a = Float32Array.from([0, Infinity, NaN, 1, -Infinity, 2, 3, -0, 5, 6, 7, 8]);
    const b = Float32Array.from([Infinity, 0, 1, NaN, 2, -Infinity, 1, 1, 2, 2, 3, 3]);
    const got = new Float32Array(9);
    const want = new Float32Array(9);
    matmulWasmF32(a, 0, b, 0, got, 0, 3, 4, 3, false, false);
    matmulNaiveF32(a, 0, b, 0, want, 0, 3, 4, 3, false, false);
    for (let i = 0; i < 9; i++) {
      if (Number.isNaN(want[i])) expect(Number.isNaN(got[i])).toBe(true);
      else expect(Object.is(got[i], want[i])).toBe(true);
    }
    expect(want.some(Number.isNaN) && want.some((v) => v === Infinity || v === -Infinity)).toBe(true);
  });

  it('writes zeros for k = 0 and nothing for m = 0 or n = 0', () => {
    const out = new Float32Array(2 + 3 * 4 + 2).fill(9);
    expect(matmulWasmF32(new Float32Array(0), 0, new Float32Array(0), 0, out, 2, 3, 0, 4, false, true)).toBe(true);
    expect(Array.from(out)).toEqual([9, 9, ...new Array(12).fill(0), 9, 9]);
    const o = new Float32Array(8).fill(9);
    matmulWasmF32(fill(new Float32Array(30), 3), 0, fill(new Float32Array(30), 4), 0, o, 1, 0, 6, 5, false, false);
    matmulWasmF32(fill(new Float32Array(30), 3), 0, fill(new Float32Array(30), 4), 0, o, 1, 5, 6, 0, false, false);
    expect(Array.from(o)).toEqual(new Array(8).fill(9));
  });

  it('stays right after its memory grows, and after being released', () => {
    configureWasmMatmul({ threads: 2, parallelMinMacs: 0 });
    for (const [m, k, n] of [[3, 4, 5], [400, 300, 500], [6, 7, 9]] as const) {
      const c = { m, k, n, aOff: 0, bOff: 0, outOff: 0, transA: false, transB: true, seed: m + k + n };
      if (m > 100) {
        const a = fill(new Float32Array(m * k), 1);
        const b = fill(new Float32Array(k * n), 2);
        const got = new Float32Array(m * n);
        const want = new Float32Array(m * n);
        matmulWasmF32(a, 0, b, 0, got, 0, m, k, n, false, true);
        matmulJs(a, 0, b, 0, want, 0, m, k, n, false, true, true);
        expectSameBits(got, want, c);
      } else {
        const [got, want] = runBoth(c);
        expectSameBits(got, want, c);
      }
    }
    releaseWasmMatmul();
    const c = { m: 11, k: 13, n: 17, aOff: 1, bOff: 1, outOff: 1, transA: true, transB: false, seed: 3 };
    const [got, want] = runBoth(c);
    expectSameBits(got, want, c);
  });

  it('lets a process exit on its own after using worker threads (they are unref()ed)', () => {
    // Like the CLI tests, this runs the build (npm test builds first).
    const dist = resolve(dirname(fileURLToPath(import.meta.url)), '../../../../dist/tensor/cpu/kernels/matmul/wasm.js');
    const script = `
      import { configureWasmMatmul, startWasmMatmulWorkers, matmulWasmF32 } from ${JSON.stringify(pathToFileURL(dist).href)};
      configureWasmMatmul({ threads: 2, parallelMinMacs: 0 });
      const threads = startWasmMatmulWorkers();
      const a = new Float32Array(40 * 30).fill(1), b = new Float32Array(30 * 50).fill(2), c = new Float32Array(40 * 50);
      matmulWasmF32(a, 0, b, 0, c, 0, 40, 30, 50, false, false);
      console.log(threads, c[0], c[c.length - 1]);`;
    const t0 = Date.now();
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    expect(r.error).toBeUndefined();
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe('2 60 60');
    expect(Date.now() - t0).toBeLessThan(30_000);
  });

  it('is what matmulInto runs for f32: same bits as matmulNaiveF32 through the dispatcher', () => {
    configureWasmMatmul({ threads: 2, parallelMinMacs: 0 });
    const [m, k, n] = [37, 90, 41];
    const a = fill(new Float32Array(m * k), 8);
    const b = fill(new Float32Array(k * n), 9);
    const got = new Float32Array(m * n);
    const want = new Float32Array(m * n);
    matmulInto(a, 0, b, 0, got, 0, m, k, n, true, true);
    matmulNaiveF32(a, 0, b, 0, want, 0, m, k, n, true, true);
    expectSameBits(got, want, { m, k, n });
  });
});
