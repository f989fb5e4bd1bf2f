/**
 * WebGPU matmul (src/tensor/webgpu/kernels/matmul.ts) against the CPU backend, through the
 * public API: 2-D products of every size 1..37 in all four transpose layouts (matmulT), batched
 * products with broadcasting, 1-D operands, a few larger and vec4-aligned sizes, gradients via
 * backward(), bitwise batch invariance on the GPU, the hardware tile configuration (run on
 * whatever adapter is present), the >4-batch-dim host loop, empty products, dtype errors, and
 * buffer accounting.
 *
 * Tolerance, per element, rigorous rather than tuned: the GPU sums k products in f32 in order p =
 * 0..k-1 (with or without fused multiply-add), whose error is at most γ_k·Σ_p|a_p·b_p| with
 * γ_k ≈ k·u, u = 2^-24; the CPU reference (f32 operands) also sums in f32 in that order, without
 * fused multiply-add, so its error has the same bound. So
 *   |gpu − cpu| ≤ 2·γ_k·(|A|·|B|)ᵢⱼ ≤ 2·(k + 2)·u·(|A|·|B|)ᵢⱼ
 * where |A|·|B| is the same product of absolute values (computed on the CPU). That is a relative
 * 1.2e-5 of the magnitude at k = 97; cancellation can make it large against |result| itself,
 * which is why the bound is scaled by the magnitude and not by the result.
 * Gradients: dA = G·op(B)ᵀ and dB = op(A)ᵀ·G, then summed over broadcast batch dims (the GPU
 * reduction kernel, also f32 in order), with G = r exactly. The magnitude is the same backward
 * run on the CPU with |A|, |B|, |r|, and the term count is bounded by (m + n + k)·batch, so
 *   |gpu − cpu| ≤ 2·((m + n + k)·batch + 2)·u·magnitude.
 */
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { DTypeError, matmulT, noGrad, tensor, Tensor, type Tensor as T } from '../../../src/index.js';
import type { MatmulParams } from '../../../src/tensor/backend.js';
import type { WebGpuStorage } from '../../../src/tensor/webgpu/index.js';
import { matmul as gpuMatmul, TILING_HARDWARE } from '../../../src/tensor/webgpu/kernels/matmul.js';
import { broadcastPairArb, sizeOf } from '../../helpers/arbitraries.js';
import { describeGpu, gpu } from '../../helpers/gpu.js';

const RUNS = { numRuns: 30 } as const;
const U = 2 ** -24;
type Dev = 'cpu' | 'webgpu';

/** Deterministic f32 values in [-1, 1) from a seed (mulberry32): large operands without fc arrays. */
function values(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((t ^ (t >>> 14)) >>> 0) / 2 ** 31 - 1;
  }
  return out;
}

const abs = (x: Float32Array): Float32Array => x.map(Math.abs);

function firstOutside(got: ArrayLike<number>, want: ArrayLike<number>, bound: ArrayLike<number>): number {
  if (got.length !== want.length) return 0;
  for (let i = 0; i < got.length; i++) {
    if (!(Math.abs(got[i]! - want[i]!) <= bound[i]!)) return i;
  }
  return -1;
}

interface Case {
  aShape: number[];
  bShape: number[];
  tA: boolean;
  tB: boolean;
  seed: number;
}

/** Stored operand shapes for op(A) = [..., m, k], op(B) = [..., k, n]. */
function stored(aBatch: number[], bBatch: number[], m: number, k: number, n: number, tA: boolean, tB: boolean): [number[], number[]] {
  return [[...aBatch, ...(tA ? [k, m] : [m, k])], [...bBatch, ...(tB ? [n, k] : [k, n])]];
}

function mm(a: T, b: T, tA: boolean, tB: boolean): T {
  return matmulT(a, b, tA, tB);
}

/** Forward on the GPU and on the CPU, compared within the bound in the header. */
async function checkForward(c: Case, f: (a: T, b: T) => T = (a, b) => mm(a, b, c.tA, c.tB)): Promise<void> {
  const av = values(sizeOf(c.aShape), c.seed);
  const bv = values(sizeOf(c.bShape), c.seed + 1);
  const on = (d: Dev, x: Float32Array, s: number[]) => tensor(x, { shape: s, device: d });
  const yg = f(on('webgpu', av, c.aShape), on('webgpu', bv, c.bShape));
  const yc = f(on('cpu', av, c.aShape), on('cpu', bv, c.bShape));
  const mag = f(on('cpu', abs(av), c.aShape), on('cpu', abs(bv), c.bShape)).toArraySync();
  expect(yg.device).toBe('webgpu');
  expect(yg.shape).toEqual(yc.shape);
  const k = c.tA ? c.aShape[c.aShape.length - 2]! : c.aShape[c.aShape.length - 1]!;
  const got = await yg.toArray();
  const want = yc.toArraySync();
  const bound = Array.from(mag, (x) => 2 * (k + 2) * U * x);
  const bad = firstOutside(got, want, bound);
  expect(bad, `${JSON.stringify(c)} element ${bad}: gpu ${got[bad]} cpu ${want[bad]} bound ${bound[bad]}`).toBe(-1);
}

/** Gradients of Σ r ⊙ op(A)·op(B) with respect to A and B on both devices. */
async function checkGrad(c: Case): Promise<void> {
  const av = values(sizeOf(c.aShape), c.seed);
  const bv = values(sizeOf(c.bShape), c.seed + 1);
  const run = (d: Dev, x: Float32Array, y: Float32Array, absR: boolean) => {
    const a = tensor(x, { shape: c.aShape, device: d, requiresGrad: true });
    const b = tensor(y, { shape: c.bShape, device: d, requiresGrad: true });
    const out = mm(a, b, c.tA, c.tB);
    const r = values(out.size, c.seed + 2);
    out.mul(tensor(absR ? abs(r) : r, { shape: out.shape, device: d })).sum().backward();
    return [a.grad!, b.grad!] as const;
  };
  const [ga, gb] = run('webgpu', av, bv, false);
  const [ca, cb] = run('cpu', av, bv, false);
  const [ma, mb] = run('cpu', abs(av), abs(bv), true);
  const [aB, bB] = [c.aShape.slice(0, -2), c.bShape.slice(0, -2)];
  // Batch size of the broadcast output (dims aligned on the right).
  const rank = Math.max(aB.length, bB.length);
  let batch = 1;
  for (let d = 1; d <= rank; d++) batch *= Math.max(aB.at(-d) ?? 1, bB.at(-d) ?? 1);
  const [m, k] = c.tA ? [c.aShape.at(-1)!, c.aShape.at(-2)!] : [c.aShape.at(-2)!, c.aShape.at(-1)!];
  const n = c.tB ? c.bShape.at(-2)! : c.bShape.at(-1)!;
  const terms = (m + n + k) * batch + 2;
  for (const [g, want, mag, name] of [[ga, ca, ma, 'dA'], [gb, cb, mb, 'dB']] as const) {
    expect(g.device).toBe('webgpu');
    expect(g.shape).toEqual(want.shape);
    const got = await g.toArray();
    const w = want.toArraySync();
    const bound = Array.from(mag.toArraySync(), (x) => 2 * terms * U * x);
    const bad = firstOutside(got, w, bound);
    expect(bad, `${JSON.stringify(c)} ${name} element ${bad}: gpu ${got[bad]} cpu ${w[bad]} bound ${bound[bad]}`).toBe(-1);
  }
}

const layoutArb = fc.tuple(fc.boolean(), fc.boolean());
const seedArb = fc.integer({ min: 0, max: 2 ** 31 - 1 });
const LAYOUTS: [boolean, boolean][] = [[false, false], [true, false], [false, true], [true, true]];
const name = ([tA, tB]: [boolean, boolean]) => `${tA ? 'Aᵀ' : 'A'}·${tB ? 'Bᵀ' : 'B'}`;

/** Batched cases: broadcast batch dims (rank ≤ 3, dims ≤ 3), m, k, n in 1..9, any layout. */
const batchedArb = fc
  .record({
    pair: broadcastPairArb(3, 3),
    m: fc.integer({ min: 1, max: 9 }),
    k: fc.integer({ min: 1, max: 9 }),
    n: fc.integer({ min: 1, max: 9 }),
    layout: layoutArb,
    seed: seedArb,
  })
  .map(({ pair, m, k, n, layout: [tA, tB], seed }): Case => {
    const [aShape, bShape] = stored(pair[0], pair[1], m, k, n, tA, tB);
    return { aShape, bShape, tA, tB, seed };
  });

describeGpu('webgpu matmul: forward parity with the CPU', () => {
  it('2-D, every layout, m, k, n in 1..37 (tiles are 16×16: edge tiles everywhere)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 37 }), fc.integer({ min: 1, max: 37 }), fc.integer({ min: 1, max: 37 }), layoutArb, seedArb,
        async (m, k, n, [tA, tB], seed) => {
          const [aShape, bShape] = stored([], [], m, k, n, tA, tB);
          await checkForward({ aShape, bShape, tA, tB, seed });
        },
      ),
      RUNS,
    );
  });

  it('2-D with dims that are multiples of 4 (the vec4 load paths), every layout', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 10 }), layoutArb, seedArb,
        async (m4, k4, n4, [tA, tB], seed) => {
          const [aShape, bShape] = stored([], [], 4 * m4, 4 * k4, 4 * n4, tA, tB);
          await checkForward({ aShape, bShape, tA, tB, seed });
        },
      ),
      RUNS,
    );
  });

  it('batched with broadcasting, every layout', async () => {
    await fc.assert(fc.asyncProperty(batchedArb, (c) => checkForward(c)), RUNS);
  });

  it('torch.matmul broadcasting through a.matmul(b): [2,1,3,4] @ [5,4,2] and friends', async () => {
    const cases: [number[], number[]][] = [
      [[2, 1, 3, 4], [5, 4, 2]],
      [[3, 4], [2, 5, 4, 6]],
      [[1, 1, 7, 8], [1, 8, 3]],
      [[4, 2, 5, 6], [4, 1, 6, 5]],
    ];
    for (const [aShape, bShape] of cases) {
      await checkForward({ aShape, bShape, tA: false, tB: false, seed: 11 }, (a, b) => a.matmul(b));
    }
  });

  it('1-D operands (vector·matrix, matrix·vector, dot, vector·batched)', async () => {
    const cases: [number[], number[]][] = [[[5], [5, 3]], [[4, 5], [5]], [[7], [7]], [[6], [2, 6, 3]], [[2, 3, 6], [6]], [[1], [1]]];
    for (const [aShape, bShape] of cases) {
      await checkForward({ aShape, bShape, tA: false, tB: false, seed: 5 }, (a, b) => a.matmul(b));
    }
    const y = tensor([1, 2, 3], { device: 'webgpu' }).matmul(tensor([4, 5, 6], { device: 'webgpu' }));
    expect(y.shape).toEqual([]);
    expect(await y.item()).toBe(32);
  });

  it('larger sizes in every layout: 65×130×97, 64×128×96 (aligned), 1×300×260, 200×8×3', async () => {
    for (const [m, k, n] of [[65, 130, 97], [64, 128, 96], [1, 300, 260], [200, 8, 3]] as const) {
      for (const [tA, tB] of LAYOUTS) {
        const [aShape, bShape] = stored([], [], m, k, n, tA, tB);
        await checkForward({ aShape, bShape, tA, tB, seed: m * 7 + n });
      }
    }
  });

  it('exact on small integers (every partial sum representable): [[1,2],[3,4]]·[[5,6],[7,8]]', async () => {
    const a = tensor([[1, 2], [3, 4]], { device: 'webgpu' });
    const b = tensor([[5, 6], [7, 8]], { device: 'webgpu' });
    expect(Array.from(await a.matmul(b).toArray())).toEqual([19, 22, 43, 50]);
    expect(Array.from(await matmulT(a, b, true, false).toArray())).toEqual([26, 30, 38, 44]);
    expect(Array.from(await matmulT(a, b, false, true).toArray())).toEqual([17, 23, 39, 53]);
    expect(Array.from(await matmulT(a, b, true, true).toArray())).toEqual([23, 31, 34, 46]);
  });

  it('more than 4 batch dims that cannot be merged (host loop over the leading ones)', async () => {
    // Broadcast and non-broadcast dims alternate, so collapse() merges nothing: 5 batch dims.
    for (const [tA, tB] of LAYOUTS) {
      const [aShape, bShape] = stored([2, 1, 2, 1, 2], [1, 3, 1, 2, 1], 3, 4, 5, tA, tB);
      await checkForward({ aShape, bShape, tA, tB, seed: 3 });
    }
  });

  it('the hardware tile configuration (4×4) gives the same products, called at the kernel level', async () => {
    const b = gpu!;
    const cases: [number, number, number, number[], number[]][] = [
      [5, 7, 9, [2], [2]], [8, 12, 4, [3, 1], [1, 2]], [17, 16, 33, [], []], [1, 1, 1, [], []],
    ];
    for (const [m, k, n, aB, bB] of cases) {
      for (const [tA, tB] of LAYOUTS) {
        const [aShape, bShape] = stored(aB, bB, m, k, n, tA, tB);
        const av = values(sizeOf(aShape), m + k);
        const bv = values(sizeOf(bShape), n + k);
        const ref = mm(tensor(av, { shape: aShape }), tensor(bv, { shape: bShape }), tA, tB);
        const mag = mm(tensor(abs(av), { shape: aShape }), tensor(abs(bv), { shape: bShape }), tA, tB).toArraySync();
        const batchShape = ref.shape.slice(0, -2);
        const st = (s: number[]) => {
          const full = [...new Array<number>(batchShape.length - s.length).fill(1), ...s];
          let acc = 1;
          const out = new Array<number>(full.length);
          for (let d = full.length - 1; d >= 0; d--) {
            out[d] = full[d] === 1 ? 0 : acc;
            acc *= full[d]!;
          }
          return out;
        };
        const p: MatmulParams = { m, k, n, transA: tA, transB: tB, batchShape, aBatchStrides: st(aB), bBatchStrides: st(bB) };
        const sa = b.fromArray(av) as WebGpuStorage;
        const sb = b.fromArray(bv) as WebGpuStorage;
        const so = gpuMatmul(b, sa, sb, p, TILING_HARDWARE);
        const got = await b.read(so);
        const bound = Array.from(mag, (x) => 2 * (k + 2) * U * x);
        const bad = firstOutside(got, ref.toArraySync(), bound);
        expect(bad, `${m}x${k}x${n} ${name([tA, tB])} element ${bad}`).toBe(-1);
        for (const s of [sa, sb, so]) b.dispose(s);
      }
    }
  });
});

describeGpu('webgpu matmul: gradients through backward() match the CPU', () => {
  it('batched with broadcasting, every layout', async () => {
    await fc.assert(fc.asyncProperty(batchedArb, (c) => checkGrad(c)), { numRuns: 20 });
  });

  it('2-D edge sizes and one larger product, every layout', async () => {
    for (const [m, k, n] of [[1, 1, 1], [17, 3, 33], [40, 36, 20]] as const) {
      for (const [tA, tB] of LAYOUTS) {
        const [aShape, bShape] = stored([], [], m, k, n, tA, tB);
        await checkGrad({ aShape, bShape, tA, tB, seed: m + n });
      }
    }
  });
});

describeGpu('webgpu matmul: batch invariance (bitwise, on the GPU)', () => {
  it('row i of op(A)·op(B) equals (row i of op(A))·op(B), every layout, any m', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.integer({ min: 2, max: 40 }), fc.integer({ min: 1, max: 10 }).map((x) => 4 * x)),
        fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 40 }), layoutArb, seedArb, fc.nat(),
        async (m, k, n, [tA, tB], seed, pick) => {
          const i = pick % m;
          const [aShape, bShape] = stored([], [], m, k, n, tA, tB);
          const A = tensor(values(sizeOf(aShape), seed), { shape: aShape, device: 'webgpu' });
          const B = tensor(values(sizeOf(bShape), seed + 1), { shape: bShape, device: 'webgpu' });
          // Row i of op(A): a row of A, or a column of A when transA (stored [k, m]).
          const Ai = tA ? A.slice(1, i, i + 1) : A.slice(0, i, i + 1);
          const full = await mm(A, B, tA, tB).toArray();
          const row = await mm(Ai, B, tA, tB).toArray();
          const want = full.slice(i * n, (i + 1) * n);
          expect(Array.from(row).map((x) => Object.is(x, -0) ? 0 : x)).toEqual(Array.from(want).map((x) => Object.is(x, -0) ? 0 : x));
          expect(new Uint32Array(Float32Array.from(row).buffer)).toEqual(new Uint32Array(Float32Array.from(want).buffer));
        },
      ),
      RUNS,
    );
  });

  it('a batch element of a batched product equals that product alone', async () => {
    const A = tensor(values(5 * 13 * 11, 1), { shape: [5, 13, 11], device: 'webgpu' });
    const B = tensor(values(11 * 9, 2), { shape: [11, 9], device: 'webgpu' });
    const full = await A.matmul(B).toArray();
    for (const j of [0, 3, 4]) {
      const one = await A.slice(0, j, j + 1).matmul(B).toArray();
      expect(new Uint32Array(Float32Array.from(one).buffer)).toEqual(new Uint32Array(Float32Array.from(full.slice(j * 13 * 9, (j + 1) * 13 * 9)).buffer));
    }
  });
});

describeGpu('webgpu matmul: shapes, errors, memory', () => {
  it('empty products: m = 0, n = 0 and a zero batch give empty results; k = 0 gives zeros', async () => {
    const z = (s: number[]) => tensor(new Float32Array(sizeOf(s)), { shape: s, device: 'webgpu' });
    expect(z([0, 3]).matmul(z([3, 4])).shape).toEqual([0, 4]);
    expect(z([2, 3]).matmul(z([3, 0])).shape).toEqual([2, 0]);
    expect(z([0, 2, 3]).matmul(z([3, 4])).shape).toEqual([0, 2, 4]);
    const y = z([2, 0]).matmul(z([0, 3]));
    expect(y.shape).toEqual([2, 3]);
    expect(Array.from(await y.toArray())).toEqual([0, 0, 0, 0, 0, 0]);
    const yt = matmulT(z([0, 2]), z([3, 0]), true, true);
    expect(Array.from(await yt.toArray())).toEqual([0, 0, 0, 0, 0, 0]);
  });

  it('i32 is a DTypeError naming matmul (public API and kernel)', () => {
    const a = tensor(new Int32Array([1, 2, 3, 4]), { shape: [2, 2], device: 'webgpu' });
    expect(() => a.matmul(a)).toThrow(DTypeError);
    expect(() => a.matmul(a)).toThrow(/matmul/);
    const p: MatmulParams = { m: 2, k: 2, n: 2, transA: false, transB: false, batchShape: [], aBatchStrides: [], bBatchStrides: [] };
    const s = a.storage as WebGpuStorage;
    expect(() => gpuMatmul(gpu!, s, s, p)).toThrow(DTypeError);
    expect(() => gpuMatmul(gpu!, s, s, p)).toThrow(/matmul/);
  });

  it('inputs are left untouched and every buffer is accounted for', async () => {
    const before = gpu!.liveBuffers();
    const av = values(6 * 5, 9);
    const a = tensor(av, { shape: [6, 5], device: 'webgpu' });
    const b = tensor(values(5 * 4, 10), { shape: [5, 4], device: 'webgpu' });
    const y = noGrad(() => matmulT(a, b, false, false));
    expect(y).toBeInstanceOf(Tensor);
    await y.toArray();
    expect(Array.from(await a.toArray())).toEqual(Array.from(av));
    expect(gpu!.liveBuffers()).toBe(before + 3);
    for (const t of [a, b, y]) t.dispose();
    expect(gpu!.liveBuffers()).toBe(before);
  });
});
