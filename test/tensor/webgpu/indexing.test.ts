/**
 * WebGPU indexing kernels (src/tensor/webgpu/kernels/indexing/) against the CPU backend,
 * through the public API: slice, cat/stack, gather, scatterAdd, embedding (indexSelect) and the
 * shape ops (reshape/transpose/permute/expand), forward and backward, f32 and i32 data.
 *
 * Tolerance. These ops move values, and the only arithmetic in them or in their gradients is
 * `g·r` (one f32 multiply, correctly rounded on both) and the index-add sums of scatterAdd /
 * indexAdd, which the GPU does in the CPU's order (base first, then j ascending). So the results
 * are equal bit for bit in practice; parity is still checked with |gpu − cpu| ≤ 1e-6 + 1e-6·|cpu|
 * (a device may flush f32 subnormals to zero), and two properties check bitwise equality on
 * normal-range values: determinism of the add kernels and batch invariance.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cat, stack, tensor, tidy, type Tensor } from '../../../src/index.js';
import { shapeArb, sizeOf, valuesArb } from '../../helpers/arbitraries.js';
import { expectBitwise, expectClose } from '../../helpers/assert.js';
import { describeGpu, gpu } from '../../helpers/gpu.js';

const d = describeGpu;

type Dev = 'cpu' | 'webgpu';
const DEVS: readonly Dev[] = ['cpu', 'webgpu'];
const RUNS = { numRuns: 30 } as const;
const RTOL = 1e-6;
const ATOL = 1e-6;

/** What one device run produced: tensors to read, and leaves whose .grad to read. */
interface Run {
  outs: Tensor[];
  leaves?: Tensor[];
}

/**
 * Runs `f` on one device inside tidy (so every intermediate of forward and backward is freed),
 * reads the outputs and the leaves' gradients, then disposes what was kept.
 */
async function runOn(dev: Dev, f: (dev: Dev) => Run): Promise<Read> {
  const r = tidy(() => {
    const { outs, leaves = [] } = f(dev);
    for (const l of leaves) expect(l.grad, 'leaf has a gradient').not.toBeNull();
    return { outs, leaves, grads: leaves.map((l) => l.grad!) }; // grads are tensors of the scope too
  });
  const read: Read = Object.assign([], { meta: [] as string[] });
  for (const t of [...r.outs, ...r.grads]) {
    expect(t.device).toBe(dev);
    read.meta.push(`${t.dtype}[${t.shape.join(',')}]`);
    read.push(Array.from(await t.toArray()));
  }
  for (const t of [...r.outs, ...r.leaves]) t.dispose(); // a leaf's dispose frees its grad
  return read;
}

/** The data of each output then each gradient, with their dtype[shape] in `meta`. */
type Read = number[][] & { meta: string[] };

/**
 * Runs `f` on CPU and WebGPU and compares every output and gradient: dtype and shape exactly,
 * data within the tolerance (or bit for bit when `exact`).
 */
async function parity(what: string, f: (dev: Dev) => Run, exact = false, atol = ATOL): Promise<void> {
  const [cpu, wg] = await Promise.all(DEVS.map((dv) => runOn(dv, f)));
  expect(wg!.meta, what).toEqual(cpu!.meta);
  cpu!.forEach((c, k) => {
    if (exact) expectBitwise(wg![k]!, c, `${what} #${k}`);
    else expectClose(wg![k]!, c, { rtol: RTOL, atol, what: `${what} #${k}`, nonFinite: 'match' });
  });
}

const f32 = (values: readonly number[], shape: readonly number[], dev: Dev, requiresGrad = false): Tensor =>
  tensor(Float32Array.from(values), { shape: [...shape], device: dev, requiresGrad });
const i32 = (values: readonly number[], shape: readonly number[], dev: Dev): Tensor =>
  tensor(Int32Array.from(values), { shape: [...shape], device: dev });

/** Normal-range f32 values (no subnormals: some devices flush them), for bitwise checks. */
const normalVals = (n: number) =>
  fc.array(fc.integer({ min: -3000, max: 3000 }).map((k) => k / 1024 + (k % 7) * 1e-3), { minLength: n, maxLength: n });
const ints = (n: number, lo: number, hi: number) => fc.array(fc.integer({ min: lo, max: hi }), { minLength: n, maxLength: n });
const i32Vals = (n: number) =>
  fc.array(fc.oneof(fc.integer({ min: -1000, max: 1000 }), fc.constantFrom(-(2 ** 31), 2 ** 31 - 1, 0, -1)), { minLength: n, maxLength: n });
const withDim = (shape: number[], d: number, len: number) => shape.map((v, i) => (i === d ? len : v));

/** x of `shape`, a dim, and an index of x's shape with `m` along dim and values in [0, n). */
const alongDimCase = (maxRank = 4, maxDim = 4) =>
  shapeArb(1, maxRank, maxDim).chain((shape) =>
    fc.integer({ min: 0, max: shape.length - 1 }).chain((dim) =>
      fc.integer({ min: 1, max: 4 }).chain((m) => {
        const ishape = withDim(shape, dim, m);
        return fc.record({
          shape: fc.constant(shape),
          dim: fc.constant(dim),
          ishape: fc.constant(ishape),
          x: valuesArb(sizeOf(shape)),
          index: ints(sizeOf(ishape), 0, shape[dim]! - 1),
          src: valuesArb(sizeOf(ishape)),
          r: valuesArb(sizeOf(ishape)),
          rx: valuesArb(sizeOf(shape)),
        });
      }),
    ),
  );

d('webgpu indexing kernels: parity with the CPU backend', () => {
  it('slice forward and backward (zero-padded via cat), any dim, python-style start/end', async () => {
    const sliceCase = shapeArb(1, 4, 4).chain((shape) =>
      fc.integer({ min: 0, max: shape.length - 1 }).chain((dim) => {
        const n = shape[dim]!;
        return fc.record({
          shape: fc.constant(shape),
          dim: fc.constant(dim),
          start: fc.integer({ min: -n - 1, max: n + 1 }),
          end: fc.option(fc.integer({ min: -n - 1, max: n + 1 }), { nil: undefined }),
          x: valuesArb(sizeOf(shape)),
          r: valuesArb(sizeOf(shape)),
        });
      }),
    );
    await fc.assert(
      fc.asyncProperty(sliceCase, async ({ shape, dim, start, end, x, r }) => {
        await parity(`slice(${dim}, ${start}, ${end}) of [${shape}]`, (dev) => {
          const xt = f32(x, shape, dev, true);
          const y = xt.slice(dim, start, end);
          const rt = f32(r.slice(0, y.size), y.shape, dev);
          y.mul(rt).sum().backward();
          return { outs: [y], leaves: [xt] };
        });
      }),
      RUNS,
    );
  });

  it('cat and stack forward and backward, 1–5 inputs (some empty along dim)', async () => {
    const catCase = shapeArb(1, 4, 3).chain((shape) =>
      fc.record({
        shape: fc.constant(shape),
        dim: fc.integer({ min: 0, max: shape.length - 1 }),
        lens: fc.array(fc.oneof({ weight: 1, arbitrary: fc.constant(0) }, { weight: 5, arbitrary: fc.integer({ min: 1, max: 3 }) }), {
          minLength: 1,
          maxLength: 5,
        }),
        seed: fc.integer(),
      }),
    );
    await fc.assert(
      fc.asyncProperty(catCase, async ({ shape, dim, lens, seed }) => {
        const shapes = lens.map((l) => withDim(shape, dim, l));
        const data = shapes.map((s, k) => fc.sample(valuesArb(sizeOf(s)), { seed: seed + k, numRuns: 1 })[0]!);
        const total = lens.reduce((p, q) => p + q, 0);
        const r = fc.sample(valuesArb(sizeOf(withDim(shape, dim, total))), { seed: seed - 1, numRuns: 1 })[0]!;
        await parity(`cat dim ${dim} of ${JSON.stringify(shapes)}`, (dev) => {
          const xs = shapes.map((s, k) => f32(data[k]!, s, dev, true));
          const y = cat(xs, dim);
          y.mul(f32(r, y.shape, dev)).sum().backward();
          return { outs: [y], leaves: xs };
        });
        // stack of same-shaped inputs, along any of rank + 1 positions (leading, middle or last)
        const k = lens.length;
        const sdim = Math.abs(seed) % (shape.length + 1);
        const sdata = Array.from({ length: k }, (_, t) => fc.sample(valuesArb(sizeOf(shape)), { seed: seed + 100 + t, numRuns: 1 })[0]!);
        const rs = fc.sample(valuesArb(k * sizeOf(shape)), { seed: seed + 99, numRuns: 1 })[0]!;
        await parity(`stack dim ${sdim} of ${k} × [${shape}]`, (dev) => {
          const xs = sdata.map((v) => f32(v, shape, dev, true));
          const y = stack(xs, sdim);
          y.mul(f32(rs, y.shape, dev)).sum().backward();
          return { outs: [y], leaves: xs };
        });
      }),
      RUNS,
    );
  });

  it('gather forward and backward (scatterAdd of the gradient)', async () => {
    await fc.assert(
      fc.asyncProperty(alongDimCase(), async ({ shape, dim, ishape, x, index, r }) => {
        await parity(`gather dim ${dim} of [${shape}] by [${ishape}]`, (dev) => {
          const xt = f32(x, shape, dev, true);
          const y = xt.gather(dim, i32(index, ishape, dev));
          y.mul(f32(r, ishape, dev)).sum().backward();
          return { outs: [y], leaves: [xt] };
        });
      }),
      RUNS,
    );
  });

  it('scatterAdd forward and backward (∂base = g, ∂src = gather of g), repeated indices', async () => {
    await fc.assert(
      fc.asyncProperty(alongDimCase(), async ({ shape, dim, ishape, x, index, src, rx }) => {
        await parity(`scatterAdd dim ${dim} of [${shape}] by [${ishape}]`, (dev) => {
          const base = f32(x, shape, dev, true);
          const s = f32(src, ishape, dev, true);
          const y = base.scatterAdd(dim, i32(index, ishape, dev), s);
          y.mul(f32(rx, shape, dev)).sum().backward();
          return { outs: [y], leaves: [base, s] };
        });
      }),
      RUNS,
    );
  });

  it('embedding forward (indexSelect) and backward (indexAdd), index of rank 0–3 with repeats', async () => {
    const embCase = fc
      .record({ V: fc.integer({ min: 1, max: 6 }), D: fc.integer({ min: 1, max: 5 }), ishape: shapeArb(0, 3, 4) })
      .chain(({ V, D, ishape }) =>
        fc.record({
          V: fc.constant(V),
          D: fc.constant(D),
          ishape: fc.constant(ishape),
          w: valuesArb(V * D),
          index: ints(sizeOf(ishape), 0, V - 1),
          r: valuesArb(sizeOf(ishape) * D),
        }),
      );
    await fc.assert(
      fc.asyncProperty(embCase, async ({ V, D, ishape, w, index, r }) => {
        await parity(`embedding [${V}, ${D}] by [${ishape}]`, (dev) => {
          const wt = f32(w, [V, D], dev, true);
          const y = wt.embedding(i32(index, ishape, dev));
          y.mul(f32(r, [...ishape, D], dev)).sum().backward();
          return { outs: [y], leaves: [wt] };
        });
      }),
      RUNS,
    );
  });

  it('reshape / transpose / permute / expand forward and backward', async () => {
    const shapeCase = shapeArb(1, 4, 3).chain((shape) =>
      fc.record({
        shape: fc.constant(shape),
        perm: fc.shuffledSubarray(shape.map((_, i) => i), { minLength: shape.length, maxLength: shape.length }),
        t: fc.tuple(fc.integer({ min: 0, max: shape.length - 1 }), fc.integer({ min: 0, max: shape.length - 1 })),
        grow: fc.array(fc.integer({ min: 1, max: 3 }), { minLength: shape.length + 1, maxLength: shape.length + 1 }),
        x: valuesArb(sizeOf(shape)),
        seed: fc.integer(),
      }),
    );
    await fc.assert(
      fc.asyncProperty(shapeCase, async ({ shape, perm, t, grow, x, seed }) => {
        const n = sizeOf(shape);
        // expand: a leading new dim plus every size-1 dim of x grown to `grow`
        const eshape = [grow[0]!, ...shape.map((v, i) => (v === 1 ? grow[i + 1]! : v))];
        const ops: [string, (x: Tensor) => Tensor][] = [
          ['reshape', (v) => v.reshape([n])],
          ['reshape-2d', (v) => v.reshape([shape[0]!, n / shape[0]!])],
          [`transpose(${t})`, (v) => v.transpose(t[0], t[1])],
          [`permute(${perm})`, (v) => v.permute(perm)],
          [`expand([${eshape}])`, (v) => v.expand(eshape)],
          [`permute+expand`, (v) => v.expand(eshape).permute([...perm.map((p) => p + 1), 0])],
        ];
        // expand's gradient sums k = |eshape|/n products |r·1| ≤ 3 per element: the GPU adds
        // them in f32, the CPU in f64, so the gap is bounded by k·2^-24·Σ|r| ≤ 3k²·2^-24 (×2 margin).
        const k = sizeOf(eshape) / n;
        const sumAtol = Math.max(ATOL, 6 * k * k * 2 ** -24);
        for (const [name, op] of ops) {
          await parity(`${name} of [${shape}]`, (dev) => {
            const xt = f32(x, shape, dev, true);
            const y = op(xt);
            const r = fc.sample(valuesArb(y.size), { seed, numRuns: 1 })[0]!;
            y.mul(f32(r, y.shape, dev)).sum().backward();
            return { outs: [y], leaves: [xt] };
          }, false, name.includes('expand') ? sumAtol : ATOL);
        }
      }),
      { numRuns: 20 },
    );
  });

  it('i32 data through slice, cat and gather is moved exactly (extremes included)', async () => {
    await fc.assert(
      fc.asyncProperty(alongDimCase(3, 4), fc.integer({ min: -5, max: 5 }), async ({ shape, dim, ishape, index }, start) => {
        const data = fc.sample(i32Vals(sizeOf(shape)), { seed: start + 7 * index.length, numRuns: 1 })[0]!;
        await parity(
          `i32 slice/cat/gather dim ${dim} of [${shape}]`,
          (dev) => {
            const x = i32(data, shape, dev);
            const s = x.slice(dim, start);
            const c = cat([x, s, x], dim);
            const g = x.gather(dim, i32(index, ishape, dev));
            for (const t of [s, c, g]) expect(t.dtype).toBe('i32');
            return { outs: [s, c, g] };
          },
          true,
        );
      }),
      RUNS,
    );
  });

  it('i32 scatterAdd (integer adds, wrapping like the CPU Int32Array)', async () => {
    await fc.assert(
      fc.asyncProperty(alongDimCase(3, 4), async ({ shape, dim, ishape, index }) => {
        const base = fc.sample(i32Vals(sizeOf(shape)), { seed: index.length, numRuns: 1 })[0]!;
        const src = fc.sample(i32Vals(sizeOf(ishape)), { seed: index.length + 1, numRuns: 1 })[0]!;
        await parity(
          `i32 scatterAdd dim ${dim} of [${shape}]`,
          (dev) => ({ outs: [i32(base, shape, dev).scatterAdd(dim, i32(index, ishape, dev), i32(src, ishape, dev))] }),
          true,
        );
      }),
      { numRuns: 20 },
    );
  });
});

d('webgpu indexing kernels: determinism, batch invariance, bounds, resources', () => {
  it('scatterAdd and embedding backward equal the CPU bit for bit (same order of additions) and repeat exactly', async () => {
    const c = fc
      .record({ n: fc.integer({ min: 1, max: 4 }), m: fc.integer({ min: 1, max: 12 }), inner: fc.integer({ min: 1, max: 3 }) })
      .chain(({ n, m, inner }) =>
        fc.record({
          n: fc.constant(n), m: fc.constant(m), inner: fc.constant(inner),
          base: normalVals(n * inner), src: normalVals(m * inner), index: ints(m * inner, 0, n - 1), index1: ints(m, 0, n - 1),
        }),
      );
    await fc.assert(
      fc.asyncProperty(c, async ({ n, m, inner, base, src, index, index1 }) => {
        const f = (dev: Dev): Run => {
          const s = f32(base, [n, inner], dev).scatterAdd(0, i32(index, [m, inner], dev), f32(src, [m, inner], dev));
          const w = f32(base, [n, inner], dev, true);
          w.embedding(i32(index1, [m], dev)).mul(f32(src, [m, inner], dev)).sum().backward();
          return { outs: [s], leaves: [w] };
        };
        await parity('scatterAdd / indexAdd bitwise', f, true);
        const [a, b] = [await runOn('webgpu', f), await runOn('webgpu', f)];
        a.forEach((v, k) => expectBitwise(b[k]!, v, `repeat #${k}`));
      }),
      RUNS,
    );
  });

  it('batch invariance: a row of gather / scatterAdd / slice computed alone equals that row in a batch, bitwise', async () => {
    const c = fc
      .record({ B: fc.integer({ min: 2, max: 6 }), n: fc.integer({ min: 1, max: 5 }), m: fc.integer({ min: 1, max: 6 }) })
      .chain(({ B, n, m }) =>
        fc.record({
          B: fc.constant(B), n: fc.constant(n), m: fc.constant(m), row: fc.integer({ min: 0, max: B - 1 }),
          x: normalVals(B * n), src: normalVals(B * m), index: ints(B * m, 0, n - 1),
        }),
      );
    await fc.assert(
      fc.asyncProperty(c, async ({ B, n, m, row, x, src, index }) => {
        const batch = await runOn('webgpu', (dev) => {
          const xt = f32(x, [B, n], dev);
          const ix = i32(index, [B, m], dev);
          return { outs: [xt.gather(1, ix), xt.scatterAdd(1, ix, f32(src, [B, m], dev)), xt.slice(1, 1)] };
        });
        const one = await runOn('webgpu', (dev) => {
          const xt = f32(x.slice(row * n, (row + 1) * n), [1, n], dev);
          const ix = i32(index.slice(row * m, (row + 1) * m), [1, m], dev);
          return { outs: [xt.gather(1, ix), xt.scatterAdd(1, ix, f32(src.slice(row * m, (row + 1) * m), [1, m], dev)), xt.slice(1, 1)] };
        });
        const widths = [m, n, n - 1];
        widths.forEach((w, k) => expectBitwise(one[k]!, batch[k]!.slice(row * w, (row + 1) * w), `row ${row} of op #${k}`));
      }),
      RUNS,
    );
  });

  it('out-of-range indices that live on the GPU never read or write out of bounds: gather/embedding give 0, scatterAdd/indexAdd skip', async () => {
    const n = 3;
    const bad = [-1, n, 2 ** 31 - 1, -(2 ** 31), 1];
    const x = [10, 11, 12, 20, 21, 22];
    const [g, s, e, w] = await runOn('webgpu', (dev) => {
      const xt = f32(x, [2, n], dev);
      const idx = i32([...bad, 2, 0, n + 5, -7, 0], [2, 5], dev);
      const gt = xt.gather(1, idx);
      const st = xt.scatterAdd(1, idx, f32(Array.from({ length: 10 }, () => 1), [2, 5], dev));
      const wt = f32(x, [n, 2], dev, true);
      const et = wt.embedding(i32(bad, [5], dev));
      et.sum().backward();
      return { outs: [gt, st, et], leaves: [wt] };
    });
    expect(g).toEqual([0, 0, 0, 0, 11, 22, 20, 0, 0, 20]);
    expect(s).toEqual([10, 12, 12, 22, 21, 23]);
    expect(e).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 12, 20]);
    expect(w).toEqual([0, 0, 1, 1, 0, 0]);
  });

  it('cat of many inputs (beyond the storage-buffer limit) uses one copy shader whatever the count', async () => {
    const b = gpu!;
    const make = (k: number, dev: Dev) => Array.from({ length: k }, (_, t) => f32([t, t + 0.5, -t], [1, 3], dev));
    await parity('cat of 12', (dev) => ({ outs: [cat(make(12, dev), 0), cat(make(12, dev), 1), stack(make(12, dev), 2)] }), true);
    const before = b.pipelineCount;
    await parity('cat of 20', (dev) => ({ outs: [cat(make(20, dev), 0), cat(make(20, dev), 1), stack(make(20, dev), 2)] }), true);
    expect(b.pipelineCount).toBe(before);
  });

  it('kernels return fresh storage, leave inputs untouched, and leak no GPU buffers', async () => {
    const b = gpu!;
    const live = b.liveBuffers();
    const { x, idx, ys } = tidy(() => {
      const x = f32([1, 2, 3, 4, 5, 6], [2, 3], 'webgpu');
      const idx = i32([2, 0, 1, 1, 0, 2], [2, 3], 'webgpu');
      const ys = [
        x.slice(1, 0), cat([x], 0), x.gather(1, idx), x.scatterAdd(1, idx, x), x.reshape([3, 2]).embedding(i32([1, 1, 0], [3], 'webgpu')),
      ];
      return { x, idx, ys };
    });
    for (const y of ys) expect(y.storage).not.toBe(x.storage);
    expect(Array.from(await ys[0]!.toArray())).toEqual([1, 2, 3, 4, 5, 6]);
    expect(Array.from(await ys[3]!.toArray())).toEqual([1 + 2, 2 + 3, 3 + 1, 4 + 5, 5 + 4, 6 + 6]);
    expect(Array.from(await x.toArray())).toEqual([1, 2, 3, 4, 5, 6]);
    for (const t of [x, idx, ...ys]) t.dispose();
    expect(b.liveBuffers()).toBe(live);
    // and the same through tidy with backward
    tidy(() => {
      const w = f32([1, 2, 3, 4], [2, 2], 'webgpu', true);
      w.embedding(i32([0, 1, 1], [3], 'webgpu')).slice(0, 1).gather(1, i32([1, 0, 0, 0], [2, 2], 'webgpu')).sum().backward();
    });
    expect(b.liveBuffers()).toBe(live);
  });
});
