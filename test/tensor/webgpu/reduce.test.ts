/**
 * WebGPU reductions and the softmax family against the CPU backend (src/tensor/webgpu/kernels/
 * reduce.ts vs src/tensor/cpu/kernels/reduce/current.ts): sum/mean/max/min (one dim, several dims, all dims,
 * keepdim), argmax, logsumexp, softmax, logSoftmax and topk, forward and gradients through the
 * public API (backward composes these kernels with the elementwise and indexing GPU kernels),
 * bitwise batch invariance of every row kernel on the GPU, stability at ±1e4 in f32, and i32.
 *
 * Tolerances (CPU f32 is the reference; it accumulates in f64 and rounds once):
 *  - sum/mean forward: the GPU accumulates in f32 in index order, whose error is bounded by
 *    N·u·Σ|x| (N elements summed, u = 2^-24), so |gpu − cpu| ≤ 1e-6·|cpu| + N·2^-24·Σ|x|.
 *  - max/min/argmax/topk (selections, no arithmetic) and everything on i32: exact.
 *  - logsumexp/softmax/logSoftmax: f32 exp/log on the GPU are a few ulp (WGSL allows 3 + 2|x|
 *    ulp for exp), plus f32 accumulation of the row sum: rtol 1e-5, atol 1e-6 (logSoftmax and
 *    logsumexp, whose values are O(1..10) and whose log has an absolute error bound: atol 1e-5).
 *  - gradients (2–5 kernels each rounding to f32, with GPU exp in the chain): rtol 1e-5 and
 *    atol 1e-5·(1 + Σ|r|·max|y|), i.e. scaled by the magnitude of what the chain sums.
 * Inputs are in [-3, 3], shapes up to rank 4 with dims ≤ 3 (81 elements), unless stated.
 */
import fc from 'fast-check';
import { expect, it } from 'vitest';
import {
  argmax, cpuBackend, logSoftmax, logsumexp, max, mean, min, softmax, sum, tensor, topk, webgpuBackend, type Tensor,
} from '../../../src/index.js';
import { shapeArb, sizeOf } from '../../helpers/arbitraries.js';
import { expectBitwise, expectClose } from '../../helpers/assert.js';
import { dimArb, dimsArb, realsArb, type DimSpec } from '../../helpers/reduce.js';
import { describeGpu } from '../../helpers/gpu.js';

// Acquires the device once, prints the adapter, skips with the reason when there is none.
const d = describeGpu;

const RUNS = { numRuns: 30 } as const;
const U = 2 ** -24;

type Dev = 'cpu' | 'webgpu';

interface Result {
  y: number[];
  shape: readonly number[];
  grad: number[] | null;
}

/** The probe r_t = sin(t + 1) (rounded to f32) used as the upstream gradient. */
const probe = (n: number): Float32Array => Float32Array.from({ length: n }, (_, t) => Math.sin(t + 1));

/** Runs f on one device in f32; returns y and, when `grad`, the gradient of Σ r ⊙ y w.r.t. x. */
async function run(device: Dev, shape: number[], values: readonly number[], f: (x: Tensor) => Tensor, grad = true): Promise<Result> {
  const x = tensor(Float32Array.from(values), { shape, device, requiresGrad: grad });
  const y = f(x);
  expect(y.device).toBe(device);
  let g: number[] | null = null;
  if (grad && y.requiresGrad && y.size > 0) {
    y.mul(tensor(probe(y.size), { shape: y.shape, device })).sum().backward();
    g = x.grad ? Array.from(await x.grad.toArray()) : new Array<number>(x.size).fill(0);
  }
  return { y: Array.from(await y.toArray()), shape: y.shape, grad: g };
}

const absSum = (v: readonly number[]) => v.reduce((p, q) => p + Math.abs(Math.fround(q)), 0);

/** Forward within (rtol, atol) or exact; gradient within rtol 1e-5, atol 1e-5·(1 + Σ|r|·max|y|). */
async function parity(
  shape: number[], values: readonly number[], f: (x: Tensor) => Tensor, what: string,
  fwd: { exact: true } | { rtol: number; atol: number }, grad = true,
): Promise<void> {
  const c = await run('cpu', shape, values, f, grad);
  const g = await run('webgpu', shape, values, f, grad);
  expect(g.shape).toEqual(c.shape);
  if ('exact' in fwd) expectBitwise(g.y, c.y, `${what} forward`);
  else expectClose(g.y, c.y, { rtol: fwd.rtol, atol: fwd.atol, what: `${what} forward`, nonFinite: 'match' });
  if (grad) {
    expect(g.grad === null).toBe(c.grad === null);
    if (c.grad && g.grad) {
      const scale = 1 + absSum(Array.from(probe(c.y.length))) * Math.max(0, ...c.y.map((v) => (Number.isFinite(v) ? Math.abs(v) : 0)));
      expectClose(g.grad, c.grad, { rtol: 1e-5, atol: 1e-5 * scale, what: `${what} grad`, nonFinite: 'match' });
    }
  }
}

/** A shape (rank 0–4, dims ≤ 3), values in [-3, 3] (with a share of small-integer ties) and a dim spec. */
function reductionCase(minRank = 0) {
  return shapeArb(minRank, 4, 3).chain((shape) =>
    fc.record({
      shape: fc.constant(shape),
      dim: dimsArb(shape.length),
      keepdim: fc.boolean(),
      values: fc.oneof(
        { weight: 3, arbitrary: realsArb(sizeOf(shape)) },
        { weight: 1, arbitrary: fc.array(fc.integer({ min: -2, max: 2 }), { minLength: sizeOf(shape), maxLength: sizeOf(shape) }) },
      ),
    }),
  );
}

/** One dim (for the softmax family, topk, argmax) on a tensor of rank ≥ 1. */
function oneDimCase(maxDim = 3) {
  return shapeArb(1, 4, maxDim).chain((shape) =>
    fc.record({ shape: fc.constant(shape), dim: dimArb(shape.length), values: realsArb(sizeOf(shape)) }),
  );
}

const sumTol = (values: readonly number[]) => ({ rtol: 1e-6, atol: Math.max(1, values.length) * U * absSum(values) + 1e-30 });

d('webgpu reductions vs cpu', () => {
  it('sum and mean over one dim, several dims, all dims, keepdim (forward and gradient)', async () => {
    await fc.assert(
      fc.asyncProperty(reductionCase(), async ({ shape, dim, keepdim, values }) => {
        await parity(shape, values, (x) => sum(x, dim, keepdim), `sum(${String(dim)})`, sumTol(values));
        await parity(shape, values, (x) => mean(x, dim, keepdim), `mean(${String(dim)})`, sumTol(values));
      }),
      RUNS,
    );
  });

  it('max and min (exact forward; gradient split across ties on both devices)', async () => {
    await fc.assert(
      fc.asyncProperty(reductionCase(), async ({ shape, dim, keepdim, values }) => {
        await parity(shape, values, (x) => max(x, dim, keepdim), `max(${String(dim)})`, { exact: true });
        await parity(shape, values, (x) => min(x, dim, keepdim), `min(${String(dim)})`, { exact: true });
      }),
      RUNS,
    );
  });

  it('argmax: identical indices, ties to the first maximum', async () => {
    const arb = shapeArb(1, 4, 3).chain((shape) =>
      fc.record({
        shape: fc.constant(shape),
        dim: fc.option(dimArb(shape.length), { nil: undefined }),
        keepdim: fc.boolean(),
        values: fc.oneof(realsArb(sizeOf(shape)), fc.array(fc.integer({ min: -2, max: 2 }), { minLength: sizeOf(shape), maxLength: sizeOf(shape) })),
      }),
    );
    await fc.assert(
      fc.asyncProperty(arb, async ({ shape, dim, keepdim, values }) => {
        const c = await run('cpu', shape, values, (x) => argmax(x, dim, keepdim), false);
        const g = await run('webgpu', shape, values, (x) => argmax(x, dim, keepdim), false);
        expect(g.shape).toEqual(c.shape);
        expect(g.y).toEqual(c.y);
      }),
      RUNS,
    );
  });

  it('logsumexp over one or several dims (forward and gradient)', async () => {
    await fc.assert(
      fc.asyncProperty(reductionCase(), async ({ shape, dim, keepdim, values }) => {
        const dims: DimSpec = dim ?? shape.map((_, i) => i);
        await parity(shape, values, (x) => logsumexp(x, dims, keepdim), `logsumexp(${String(dims)})`, { rtol: 1e-5, atol: 1e-5 });
      }),
      RUNS,
    );
  });

  it('softmax and logSoftmax along any dim (forward and gradient)', async () => {
    await fc.assert(
      fc.asyncProperty(oneDimCase(), async ({ shape, dim, values }) => {
        await parity(shape, values, (x) => softmax(x, dim), `softmax(${dim})`, { rtol: 1e-5, atol: 1e-6 });
        await parity(shape, values, (x) => logSoftmax(x, dim), `logSoftmax(${dim})`, { rtol: 1e-5, atol: 1e-5 });
      }),
      RUNS,
    );
  });

  it('softmax rows of vocabulary length (n up to 3000; forward)', async () => {
    const arb = fc.record({ rows: fc.integer({ min: 1, max: 3 }), n: fc.integer({ min: 500, max: 3000 }), seed: fc.integer() });
    await fc.assert(
      fc.asyncProperty(arb, async ({ rows, n, seed }) => {
        const values = Array.from({ length: rows * n }, (_, t) => 4 * Math.sin(seed + 1.7 * t) * Math.cos(0.3 * t));
        await parity([rows, n], values, (x) => softmax(x, -1), 'softmax', { rtol: 1e-5, atol: 1e-7 }, false);
        await parity([rows, n], values, (x) => logSoftmax(x, -1), 'logSoftmax', { rtol: 1e-5, atol: 1e-5 }, false);
        await parity([rows, n], values, (x) => logsumexp(x, -1), 'logsumexp', { rtol: 1e-5, atol: 1e-5 }, false);
        await parity([rows, n], values, (x) => sum(x, -1), 'sum', sumTol(values), false);
      }),
      { numRuns: 5 },
    );
  });
});

d('webgpu topk vs cpu', () => {
  it('values and indices identical, sorted descending, ties to the lower index; gradient', async () => {
    const arb = shapeArb(1, 4, 4).chain((shape) =>
      fc.record({
        shape: fc.constant(shape),
        dim: dimArb(shape.length),
        frac: fc.double({ min: 0, max: 1, noNaN: true }),
        values: fc.oneof(realsArb(sizeOf(shape)), fc.array(fc.integer({ min: -2, max: 2 }), { minLength: sizeOf(shape), maxLength: sizeOf(shape) })),
      }),
    );
    await fc.assert(
      fc.asyncProperty(arb, async ({ shape, dim, frac, values }) => {
        const n = shape[dim < 0 ? dim + shape.length : dim]!;
        const k = Math.round(frac * n);
        await parity(shape, values, (x) => topk(x, k, dim).values, `topk(${k}, ${dim}) values`, { exact: true });
        const c = await run('cpu', shape, values, (x) => topk(x, k, dim).indices, false);
        const g = await run('webgpu', shape, values, (x) => topk(x, k, dim).indices, false);
        expect(g.shape).toEqual(c.shape);
        expect(g.y).toEqual(c.y);
      }),
      RUNS,
    );
  });

  it('vocabulary-sized rows (n up to 4096, k ≤ 8) and k = n', async () => {
    const arb = fc.record({ rows: fc.integer({ min: 1, max: 4 }), n: fc.integer({ min: 8, max: 4096 }), k: fc.integer({ min: 1, max: 8 }), seed: fc.integer() });
    await fc.assert(
      fc.asyncProperty(arb, async ({ rows, n, k, seed }) => {
        // Quantised values so that ties occur.
        const values = Array.from({ length: rows * n }, (_, t) => Math.round(50 * Math.sin(seed + 1.3 * t * t)) / 10);
        for (const kk of [k, Math.min(n, 64)]) {
          for (const part of ['values', 'indices'] as const) {
            const c = await run('cpu', [rows, n], values, (x) => topk(x, kk, -1)[part], false);
            const g = await run('webgpu', [rows, n], values, (x) => topk(x, kk, -1)[part], false);
            expect(g.y).toEqual(c.y);
          }
        }
      }),
      { numRuns: 5 },
    );
    // k = n: a full sort (k passes of O(n)).
    const n = 300;
    const values = Array.from({ length: 2 * n }, (_, t) => Math.round(20 * Math.cos(t * 0.77)) / 4);
    for (const part of ['values', 'indices'] as const) {
      const c = await run('cpu', [2, n], values, (x) => topk(x, n, 1)[part], false);
      const g = await run('webgpu', [2, n], values, (x) => topk(x, n, 1)[part], false);
      expect(g.y).toEqual(c.y);
    }
  });
});

d('webgpu row kernels: bitwise batch invariance', () => {
  /** [outer, n, inner] reduced over dim 1; each (o, i) row alone must give the same bits. */
  const arb = fc
    .record({ outer: fc.integer({ min: 1, max: 5 }), n: fc.integer({ min: 1, max: 40 }), inner: fc.integer({ min: 1, max: 4 }) })
    .chain((s) => fc.record({ s: fc.constant(s), values: realsArb(s.outer * s.n * s.inner, -20, 20) }));
  const ops: [string, (x: Tensor, dim: number) => Tensor][] = [
    ['sum', (x, dim) => sum(x, dim)],
    ['logsumexp', (x, dim) => logsumexp(x, dim)],
    ['softmax', (x, dim) => softmax(x, dim)],
    ['logSoftmax', (x, dim) => logSoftmax(x, dim)],
    ['max', (x, dim) => max(x, dim)],
    ['argmax', (x, dim) => argmax(x, dim)],
    ['topk', (x, dim) => topk(x, Math.min(3, x.shape[dim]!), dim).values],
  ];
  it('row (o, i) of the batched result equals the result on that row alone, and on a sub-batch', async () => {
    await fc.assert(
      fc.asyncProperty(arb, async ({ s: { outer, n, inner }, values }) => {
        const x = tensor(Float32Array.from(values), { shape: [outer, n, inner], device: 'webgpu' });
        for (const [name, f] of ops) {
          const full = f(x, 1);
          const fa = Array.from(await full.toArray());
          const per = full.size / (outer * inner); // elements per row in the result (1, n or k)
          // The first outer-row alone, as a smaller batch [1, n, inner].
          const sub = f(tensor(Float32Array.from(values.slice(0, n * inner)), { shape: [1, n, inner], device: 'webgpu' }), 1);
          expectBitwise(Array.from(await sub.toArray()), fa.slice(0, per * inner), `${name} sub-batch`);
          for (let o = 0; o < outer; o++) {
            for (let i = 0; i < inner; i++) {
              const row = Array.from({ length: n }, (_, j) => values[(o * n + j) * inner + i]!);
              const alone = Array.from(await f(tensor(Float32Array.from(row), { shape: [n], device: 'webgpu' }), 0).toArray());
              const expected = Array.from({ length: per }, (_, j) => fa[(o * per + j) * inner + i]!);
              expectBitwise(alone, expected, `${name} row (${o}, ${i})`);
            }
          }
        }
      }),
      { numRuns: 10 },
    );
  });
});

d('webgpu softmax family: stability and special values', () => {
  it('±1e4 inputs in f32: finite, and equal to the CPU within tolerance', async () => {
    // Rows around +1e4 or -1e4 (offsets in [-8, 8]), and rows mixing both extremes. x − m is
    // exact (Sterbenz) for entries near the max, so softmax keeps its relative accuracy; the
    // logsumexp value itself is ~1e4, so it is compared relatively (rtol 1e-6 ≈ 17 ulp there).
    const arb = fc.record({
      rows: fc.integer({ min: 1, max: 4 }),
      n: fc.integer({ min: 1, max: 30 }),
      seed: fc.integer(),
    });
    await fc.assert(
      fc.asyncProperty(arb, async ({ rows, n, seed }) => {
        const values = Array.from({ length: rows * n }, (_, t) => {
          const r = Math.floor(t / n);
          const centre = r % 3 === 0 ? 1e4 : r % 3 === 1 ? -1e4 : Math.sin(seed + t) > 0 ? 1e4 : -1e4;
          return centre + 8 * Math.sin(seed * 0.37 + 2.1 * t);
        });
        const shape = [rows, n];
        for (const [name, f] of [['softmax', softmax], ['logSoftmax', logSoftmax], ['logsumexp', logsumexp]] as const) {
          const g = await run('webgpu', shape, values, (x) => f(x, -1), false);
          expect(g.y.every(Number.isFinite), `${name}: all finite`).toBe(true);
        }
        await parity(shape, values, (x) => logsumexp(x, -1), 'logsumexp ±1e4', { rtol: 1e-6, atol: 0 }, false);
        await parity(shape, values, (x) => softmax(x, -1), 'softmax ±1e4', { rtol: 1e-5, atol: 1e-7 }, false);
        await parity(shape, values, (x) => logSoftmax(x, -1), 'logSoftmax ±1e4', { rtol: 1e-5, atol: 1e-4 }, false);
      }),
      { numRuns: 20 },
    );
  });

  it('-inf entries (masks): softmax 0, logSoftmax -inf; an all -inf row gives logsumexp -inf', async () => {
    const ninf = -Infinity;
    const values = [0.5, ninf, 1.5, ninf, ninf, ninf, ninf, ninf, 2, ninf, ninf, -1];
    const shape = [3, 4];
    for (const f of [softmax, logSoftmax] as const) {
      const c = await run('cpu', shape, values, (x) => f(x, -1), false);
      const g = await run('webgpu', shape, values, (x) => f(x, -1), false);
      // Row 1 is all -inf: NaN on both devices (as in PyTorch).
      expectClose(g.y, c.y, { rtol: 1e-5, atol: 1e-6, what: f.name, nonFinite: 'match' });
    }
    const g = await run('webgpu', shape, values, (x) => logsumexp(x, -1), false);
    const c = await run('cpu', shape, values, (x) => logsumexp(x, -1), false);
    expect(g.y[1]).toBe(-Infinity);
    expectClose(g.y, c.y, { rtol: 1e-5, atol: 1e-5, what: 'logsumexp with -inf', nonFinite: 'match' });
  });

  it('signed zeros: max/min/topk return the first of equal ±0 with its sign, as on the CPU (bitwise)', async () => {
    // Compilers may turn `if (v > acc) { acc = v; }` into fmax, which need not keep -0 vs +0.
    const values = [-0, 0, 0, -0, -0, -0, 0, 0];
    for (const [name, f] of [
      ['max', (x: Tensor) => max(x, -1)], ['min', (x: Tensor) => min(x, -1)], ['topk', (x: Tensor) => topk(x, 2, -1).values],
      ['max dim 0', (x: Tensor) => max(x, 0)],
    ] as const) {
      const c = await run('cpu', [4, 2], values, f, false);
      const g = await run('webgpu', [4, 2], values, f, false);
      expectBitwise(g.y, c.y, name);
    }
  });

  it('NaN: max/min propagate it, argmax points at the first NaN, topk puts NaNs first (and returns)', async () => {
    const values = [1, NaN, 3, NaN, -2, 0, 5, 4];
    const shape = [2, 4];
    const mx = await run('webgpu', shape, values, (x) => max(x, -1), false);
    const mn = await run('webgpu', shape, values, (x) => min(x, -1), false);
    const am = await run('webgpu', shape, values, (x) => argmax(x, -1), false);
    const lse = await run('webgpu', shape, values, (x) => logsumexp(x, -1), false);
    expect(mx.y[0]).toBeNaN();
    expect(mx.y[1]).toBe(5);
    expect(mn.y[0]).toBeNaN();
    expect(mn.y[1]).toBe(-2);
    expect(am.y).toEqual([1, 2]);
    expect(lse.y[0]).toBeNaN();
    for (const part of ['values', 'indices'] as const) {
      const c = await run('cpu', shape, values, (x) => topk(x, 4, -1)[part], false);
      const g = await run('webgpu', shape, values, (x) => topk(x, 4, -1)[part], false);
      expect(g.y).toEqual(c.y);
    }
  });
});

d('webgpu rows longer than one dispatch (llvmpipe stops loops after 65535 iterations)', () => {
  // Kernels split a row into dispatches of at most BUDGET loop iterations and carry the row
  // state between them; these rows need several dispatches, and all results must be complete.
  it('sum, max, min, argmax over rows of 100000 and a full sum of 200000 (exact on small integers)', async () => {
    const n = 100_000;
    const values = Array.from({ length: 2 * n }, (_, t) => ((t * 7919) % 7) - 3);
    values[n - 3] = 9; // row 0's maximum, past 65535 and past the first chunk
    values[n + 70_001] = -9; // row 1's minimum
    values[n + 90_000] = 9; // row 1's maximum
    for (const [name, f] of [
      ['sum rows', (x: Tensor) => sum(x, 1)], ['sum all', (x: Tensor) => sum(x)], ['max', (x: Tensor) => max(x, 1)],
      ['min', (x: Tensor) => min(x, 1)], ['argmax', (x: Tensor) => argmax(x, 1)], ['argmax all', (x: Tensor) => argmax(x)],
    ] as const) {
      const c = await run('cpu', [2, n], values, f, false);
      const g = await run('webgpu', [2, n], values, f, false);
      expect(g.y, name).toEqual(c.y);
    }
  });

  it('logsumexp, softmax, logSoftmax over rows of 70000: CPU parity and bitwise batch invariance', async () => {
    const n = 70_000;
    const values = Array.from({ length: 2 * n }, (_, t) => 3 * Math.sin(0.01 * t) + Math.cos(t));
    values[n + 69_000] = 12; // a dominant entry late in row 1
    for (const [name, f, tol] of [
      ['logsumexp', (x: Tensor) => logsumexp(x, 1), { rtol: 1e-5, atol: 1e-5 }],
      ['softmax', (x: Tensor) => softmax(x, 1), { rtol: 1e-4, atol: 1e-9 }],
      ['logSoftmax', (x: Tensor) => logSoftmax(x, 1), { rtol: 1e-5, atol: 1e-4 }],
    ] as const) {
      // A row sum over 70000 terms in f32: relative error up to ~n·u in the worst case, ~√n·u
      // typically (softmax's rtol 1e-4 covers it; logsumexp takes its log, so stays tight).
      await parity([2, n], values, f, `${name} long`, tol, false);
      const both = Array.from(await f(tensor(Float32Array.from(values), { shape: [2, n], device: 'webgpu' })).toArray());
      const row1 = Array.from(await f(tensor(Float32Array.from(values.slice(n)), { shape: [1, n], device: 'webgpu' })).toArray());
      expectBitwise(row1, both.slice(both.length / 2), `${name} long row alone`);
    }
  });

  it('topk over a row longer than one dispatch, and k·n over several dispatches', async () => {
    for (const [n, k] of [[40_000, 3], [5_000, 20], [600, 600]] as const) {
      const values = Array.from({ length: 2 * n }, (_, t) => Math.round(30 * Math.sin(t * 1.37)) / 8);
      values[n - 1] = 100; // the row's largest element is its last
      for (const part of ['values', 'indices'] as const) {
        const c = await run('cpu', [2, n], values, (x) => topk(x, k, 1)[part], false);
        const g = await run('webgpu', [2, n], values, (x) => topk(x, k, 1)[part], false);
        expect(g.y, `topk n=${n} k=${k} ${part}`).toEqual(c.y);
      }
    }
  });

  it('empty axis (n = 0): sum 0, max -inf, min +inf, logsumexp -inf, as on the CPU', async () => {
    const shape = [2, 0, 3];
    for (const [name, f] of [
      ['sum', (x: Tensor) => sum(x, 1)], ['logsumexp', (x: Tensor) => logsumexp(x, 1)], ['softmax', (x: Tensor) => softmax(x, 1)],
      ['topk', (x: Tensor) => topk(x, 0, 1).values],
    ] as const) {
      const c = await run('cpu', shape, [], f, false);
      const g = await run('webgpu', shape, [], f, false);
      expect(g.shape, name).toEqual(c.shape);
      expect(g.y, name).toEqual(c.y);
    }
    // max/min refuse empty dims in the public API; the kernels give the CPU's fill values.
    const gb = webgpuBackend();
    const cb = cpuBackend;
    for (const op of ['max', 'min'] as const) {
      for (const dtype of ['f32', 'i32'] as const) {
        const arr = dtype === 'f32' ? new Float32Array(0) : new Int32Array(0);
        const g = Array.from(await gb.read(gb.reduce(op, gb.fromArray(arr), 2, 0, 3)));
        const c = Array.from(await cb.read(cb.reduce(op, cb.fromArray(arr), 2, 0, 3)));
        expect(g, `${op} ${dtype}`).toEqual(c);
      }
    }
  });
});

d('webgpu reductions on i32', () => {
  it('sum, max, min, argmax and topk are exact', async () => {
    const arb = shapeArb(1, 4, 3).chain((shape) =>
      fc.record({
        shape: fc.constant(shape),
        dim: dimsArb(shape.length),
        one: dimArb(shape.length),
        keepdim: fc.boolean(),
        values: fc.array(fc.integer({ min: -1000, max: 1000 }), { minLength: sizeOf(shape), maxLength: sizeOf(shape) }),
      }),
    );
    const read = async (t: Tensor) => ({ shape: t.shape, dtype: t.dtype, y: Array.from(await t.toArray()) });
    await fc.assert(
      fc.asyncProperty(arb, async ({ shape, dim, one, keepdim, values }) => {
        const fs: [string, (x: Tensor) => Tensor][] = [
          ['sum', (x) => sum(x, dim, keepdim)],
          ['max', (x) => max(x, dim, keepdim)],
          ['min', (x) => min(x, dim, keepdim)],
          ['argmax', (x) => argmax(x, one, keepdim)],
          ['topk values', (x) => topk(x, 2 > x.shape[(one + shape.length) % shape.length]! ? 1 : 2, one).values],
          ['topk indices', (x) => topk(x, 2 > x.shape[(one + shape.length) % shape.length]! ? 1 : 2, one).indices],
        ];
        for (const [name, f] of fs) {
          const c = await read(f(tensor(Int32Array.from(values), { shape })));
          const g = await read(f(tensor(Int32Array.from(values), { shape, device: 'webgpu' })));
          expect(g, name).toEqual(c);
          expect(g.dtype, name).toBe('i32');
        }
      }),
      RUNS,
    );
  });
});
