/**
 * Creation and randomness: tensor() inference from nested arrays, typed arrays and scalars;
 * zeros/ones/full/arange (torch semantics); seeded rand/randn; Philox4x32-10 known-answer
 * vectors from Random123 plus an independent BigInt reference; RNG state round trips; and the
 * read-back API (toArray / toArraySync / item / itemSync / tolistSync).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  arange, DTypeError, full, manualSeed, ones, philox4x32, rand, randn, Rng, type RngState, tensor, zeros,
} from '../../src/index.js';
import { RUNS, shapeArb, shapedArb, sizeOf } from '../helpers/arbitraries.js';
import { nestRef } from '../helpers/shape.js';
import { arr, f32, f64 } from '../helpers/tensors.js';


describe('tensor()', () => {
  it('infers shape and dtype (default f32) from nested arrays and scalars', () => {
    const a = tensor([[1, 2, 3], [4, 5, 6]]);
    expect(a.shape).toEqual([2, 3]);
    expect(a.dtype).toBe('f32');
    expect(a.toArraySync()).toBeInstanceOf(Float32Array);
    expect(arr(a)).toEqual([1, 2, 3, 4, 5, 6]);

    const s = tensor(2.5);
    expect(s.shape).toEqual([]);
    expect(s.dtype).toBe('f32');
    expect(s.itemSync()).toBe(2.5);

    const deep = tensor([[[1], [2]], [[3], [4]]], { dtype: 'f64' });
    expect(deep.shape).toEqual([2, 2, 1]);
    expect(deep.dtype).toBe('f64');
    expect(arr(deep)).toEqual([1, 2, 3, 4]);

    expect(tensor([]).shape).toEqual([0]);
    expect(tensor([[], []]).shape).toEqual([2, 0]);
    expect(arr(tensor([true, false, true]))).toEqual([1, 0, 1]);
    const i = tensor([[1, -2]], { dtype: 'i32' });
    expect(i.dtype).toBe('i32');
    expect(i.toArraySync()).toBeInstanceOf(Int32Array);
    expect(i.requiresGrad).toBe(false);
    expect(tensor([1], { requiresGrad: true }).requiresGrad).toBe(true);
  });

  it('f32 storage rounds doubles to the nearest float (Math.fround)', () => {
    expect(arr(tensor([0.1, 1 / 3]))).toEqual([Math.fround(0.1), Math.fround(1 / 3)]);
    expect(arr(tensor([0.1, 1 / 3], { dtype: 'f64' }))).toEqual([0.1, 1 / 3]);
  });

  it('typed arrays give their own dtype, 1-D unless a shape is given, and are copied', () => {
    const src64 = Float64Array.from([1, 2, 3, 4, 5, 6]);
    const t64 = tensor(src64);
    expect(t64.dtype).toBe('f64');
    expect(t64.shape).toEqual([6]);
    src64[0] = 99;
    expect(arr(t64)[0]).toBe(1);

    const t32 = tensor(Float32Array.from([1, 2, 3, 4, 5, 6]), { shape: [3, 2] });
    expect(t32.dtype).toBe('f32');
    expect(t32.tolistSync()).toEqual([[1, 2], [3, 4], [5, 6]]);

    const ti = tensor(Int32Array.from([7, 8]));
    expect(ti.dtype).toBe('i32');

    // An explicit dtype converts.
    const conv = tensor(Float64Array.from([0.1, 2]), { dtype: 'f32' });
    expect(conv.dtype).toBe('f32');
    expect(arr(conv)).toEqual([Math.fround(0.1), 2]);
    expect(() => tensor(Float64Array.from([0.5]), { dtype: 'i32' })).toThrow(DTypeError);
  });

  it('nested-array data round-trips through tolistSync, for drawn shapes', () => {
    fc.assert(
      fc.property(shapedArb(shapeArb(0, 4)), ({ shape, values }) => {
        const nested = nestRef(values, shape);
        const t = tensor(nested as never, { dtype: 'f64' });
        expect(t.shape).toEqual(shape);
        expect(t.tolistSync()).toEqual(nested);
        expect(t.toArraySync()).toEqual(Float64Array.from(values));
      }),
      RUNS,
    );
  });
});

describe('zeros / ones / full / arange', () => {
  it('zeros, ones and full fill with the value, default f32, shape as number or array', () => {
    const z = zeros([2, 3]);
    expect(z.shape).toEqual([2, 3]);
    expect(z.dtype).toBe('f32');
    expect(arr(z)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(zeros(3).shape).toEqual([3]);
    expect(zeros([]).shape).toEqual([]);
    expect(arr(zeros([]))).toEqual([0]);
    expect(arr(ones([2], { dtype: 'f64' }))).toEqual([1, 1]);
    expect(ones([2], { dtype: 'f64' }).dtype).toBe('f64');
    const f = full([2, 2], -7, { dtype: 'i32' });
    expect(f.dtype).toBe('i32');
    expect(arr(f)).toEqual([-7, -7, -7, -7]);
    expect(arr(full([3], 0.1))).toEqual([Math.fround(0.1), Math.fround(0.1), Math.fround(0.1)]);
    expect(zeros([0, 4]).shape).toEqual([0, 4]);
    expect(() => full([1], 0.5, { dtype: 'i32' })).toThrow(/^full: value 0\.5 is not an integer/);
  });

  it('arange follows torch.arange: end exclusive, arange(n), negative and fractional steps', () => {
    expect(arr(arange(5))).toEqual([0, 1, 2, 3, 4]);
    expect(arange(5).dtype).toBe('f32');
    expect(arr(arange(2, 6))).toEqual([2, 3, 4, 5]);
    expect(arr(arange(5, 0, -1))).toEqual([5, 4, 3, 2, 1]);
    expect(arr(arange(5, 0, -2))).toEqual([5, 3, 1]);
    expect(arr(arange(-1, -4, -1))).toEqual([-1, -2, -3]);
    expect(arr(arange(1, 2.5, 0.5, { dtype: 'f64' }))).toEqual([1, 1.5, 2]);
    expect(arange(0, 1, 0.1, { dtype: 'f64' }).shape).toEqual([10]);
    expect(arr(arange(0, 1, 0.25))).toEqual([0, 0.25, 0.5, 0.75]);
    expect(arange(3, 3).shape).toEqual([0]);
    expect(arange(0).shape).toEqual([0]);
    expect(arange(4, undefined, 1, { dtype: 'i32' }).dtype).toBe('i32');
    expect(arr(arange(4, undefined, 1, { dtype: 'i32' }))).toEqual([0, 1, 2, 3]);
    expect(() => arange(0, 5, 0)).toThrow(/^arange: .*step non-zero/);
  });

  it('arange(start, end, step) over drawn integers matches a Python range() loop', () => {
    const args = fc.tuple(fc.integer({ min: -20, max: 20 }), fc.integer({ min: -20, max: 20 }), fc.integer({ min: -5, max: 5 }).filter((s) => s !== 0));
    fc.assert(
      fc.property(args, ([start, end, step]) => {
        const ref: number[] = [];
        for (let v = start; step > 0 ? v < end : v > end; v += step) ref.push(v);
        const t = arange(start, end, step, { dtype: 'f64' });
        expect(t.shape).toEqual([ref.length]);
        expect(arr(t)).toEqual(ref);
      }),
      { numRuns: 200 },
    );
  });
});

describe('Philox4x32-10', () => {
  it('matches the Random123 known-answer vectors', () => {
    expect(philox4x32(0, 0, 0, 0, 0, 0)).toEqual([0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]);
    const F = 0xffffffff;
    expect(philox4x32(F, F, F, F, F, F)).toEqual([0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]);
    expect(philox4x32(0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0)).toEqual([
      0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1,
    ]);
  });

  /** Independent reference: Philox4x32-10 in BigInt arithmetic (Salmon et al. 2011). */
  function philoxRef(c: number[], k: number[]): number[] {
    const M0 = 0xd2511f53n;
    const M1 = 0xcd9e8d57n;
    const W0 = 0x9e3779b9n;
    const W1 = 0xbb67ae85n;
    const MASK = 0xffffffffn;
    let [c0, c1, c2, c3] = c.map(BigInt) as [bigint, bigint, bigint, bigint];
    let [k0, k1] = k.map(BigInt) as [bigint, bigint];
    for (let r = 0; r < 10; r++) {
      const p0 = M0 * c0;
      const p1 = M1 * c2;
      [c0, c1, c2, c3] = [(p1 >> 32n) ^ c1 ^ k0, p1 & MASK, (p0 >> 32n) ^ c3 ^ k1, p0 & MASK];
      k0 = (k0 + W0) & MASK;
      k1 = (k1 + W1) & MASK;
    }
    return [c0, c1, c2, c3].map(Number);
  }

  it('the BigInt reference itself reproduces the known answers', () => {
    expect(philoxRef([0, 0, 0, 0], [0, 0])).toEqual([0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]);
  });

  it('agrees with the BigInt reference on drawn counters and keys', () => {
    const u32 = fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom(0, 1, 0x7fffffff, 0x80000000, 0xffffffff));
    fc.assert(
      fc.property(fc.array(u32, { minLength: 6, maxLength: 6 }), (w) => {
        const [c0, c1, c2, c3, k0, k1] = w as [number, number, number, number, number, number];
        expect(philox4x32(c0, c1, c2, c3, k0, k1)).toEqual(philoxRef([c0, c1, c2, c3], [k0, k1]));
      }),
      { numRuns: 300 },
    );
  });

  it('Rng(seed).uint32 is block i = philox(counter i, key = seed split into two u32 words)', () => {
    const seed = 0x1234_5678_9abc;
    const r = new Rng(seed);
    const k0 = seed % 2 ** 32;
    const k1 = Math.floor(seed / 2 ** 32);
    expect(Array.from(r.uint32(8))).toEqual([...philoxRef([0, 0, 0, 0], [k0, k1]), ...philoxRef([1, 0, 0, 0], [k0, k1])]);
    expect(r.state()).toEqual({ seed, counter: 2 });
  });
});

describe('seeded rand / randn', () => {
  it('reproduce exactly for the same seed and differ for different seeds', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: 1, max: 1000 }), shapeArb(0, 3, 4), (seed, delta, shape) => {
        for (const make of [randn, rand]) {
          for (const dtype of ['f32', 'f64'] as const) {
            const a = make(shape, { rng: new Rng(seed), dtype });
            const b = make(shape, { rng: new Rng(seed), dtype });
            expect(a.shape).toEqual(shape);
            expect(a.dtype).toBe(dtype);
            expect(a.toArraySync()).toEqual(b.toArraySync());
          }
          // Different seeds: over 16 draws a coincidence is astronomically unlikely.
          const c = make([16], { rng: new Rng(seed) });
          const d = make([16], { rng: new Rng(seed + delta) });
          expect(arr(c)).not.toEqual(arr(d));
        }
      }),
      { numRuns: 30 },
    );
  });

  it('successive draws from one Rng continue the stream instead of repeating it', () => {
    const rng = new Rng(3);
    const a = arr(rand([8], { rng }));
    const b = arr(rand([8], { rng }));
    expect(a).not.toEqual(b);
    // And equal to one draw of 16 (each draw consumes whole 4-value blocks).
    expect([...a, ...b]).toEqual(arr(rand([16], { rng: new Rng(3) })));
  });

  it('f32 draws are exactly the f64 draws (uniforms are odd multiples of 2^-24, exact in f32)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 40 }), fc.integer({ min: 0, max: 2 ** 32 }), (seed, counter) => {
        const a = rand([64], { rng: new Rng(seed, counter), dtype: 'f64' });
        const b = rand([64], { rng: new Rng(seed, counter), dtype: 'f32' });
        expect(arr(b)).toEqual(arr(a));
        for (const v of arr(a)) expect(Number.isInteger(v * 2 ** 24) && (v * 2 ** 24) % 2 === 1).toBe(true);
      }),
      RUNS,
    );
  });

  it('regression: an f32 rand draw from a top raw word (0xffffff45) stays below 1', () => {
    // The f32-equals-f64 property exposed that (u >>> 8) + 0.5 over 2^24 needs 25 bits; its f32
    // cast rounded every raw word >= 0xffffff00 up to exactly 1. Scanning seed 0 finds one at
    // block 2330056, word 2.
    const raw = new Rng(0, 2330056).uint32(4);
    expect(raw[2]).toBe(0xffffff45);
    const u = arr(rand([4], { rng: new Rng(0, 2330056), dtype: 'f32' }));
    expect(u[2]).toBe(1 - 2 ** -24);
    for (const v of u) {
      expect(v).toBeGreaterThan(0);
      expect(v).toBeLessThan(1);
    }
    // The extremes of the map: raw 0 → 2^-24, raw 0xffffffff → 1 - 2^-24, both exact in f32.
    expect(Math.fround(2 ** -24)).toBe(2 ** -24);
    expect(Math.fround(1 - 2 ** -24)).toBe(1 - 2 ** -24);
  });

  it('manualSeed reseeds the global generator used when no rng is given', () => {
    manualSeed(123);
    const a = arr(randn([6]));
    manualSeed(123);
    expect(arr(randn([6]))).toEqual(a);
    expect(arr(randn([6], { rng: new Rng(123) }))).toEqual(a);
  });

  // Bounds are 6 standard errors of each statistic at n = 10^5, so a correct generator fails
  // one of these checks with probability below 1e-8 per seed; a biased one fails at once.
  const N = 100_000;

  it('rand values lie in (0, 1) with mean 1/2 and variance 1/12', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 40 }), (seed) => {
        const u = rand([N], { rng: new Rng(seed), dtype: 'f64' }).toArraySync();
        let min = Infinity;
        let max = -Infinity;
        let s = 0;
        let s2 = 0;
        let low = 0;
        for (const v of u) {
          min = Math.min(min, v);
          max = Math.max(max, v);
          s += v;
          s2 += v * v;
          if (v < 0.25) low++;
        }
        expect(min).toBeGreaterThan(0);
        expect(max).toBeLessThan(1);
        const mean = s / N;
        const variance = s2 / N - mean * mean;
        expect(Math.abs(mean - 0.5)).toBeLessThan(6 * Math.sqrt(1 / 12 / N)); // 5.5e-3
        expect(Math.abs(variance - 1 / 12)).toBeLessThan(6 * Math.sqrt((1 / 80 - 1 / 144) / N)); // 1.4e-3
        expect(Math.abs(low / N - 0.25)).toBeLessThan(6 * Math.sqrt(0.25 * 0.75 / N)); // 8.2e-3
      }),
      { numRuns: 3 },
    );
  });

  it('randn has mean ≈ 0, std ≈ 1 and the normal mass within one std', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 40 }), (seed) => {
        const z = randn([N], { rng: new Rng(seed), dtype: 'f64' }).toArraySync();
        let s = 0;
        let s2 = 0;
        let within = 0;
        let nonFinite = 0;
        for (const v of z) {
          if (!Number.isFinite(v)) nonFinite++;
          s += v;
          s2 += v * v;
          if (Math.abs(v) < 1) within++;
        }
        expect(nonFinite).toBe(0);
        const mean = s / N;
        const std = Math.sqrt(s2 / N - mean * mean);
        expect(Math.abs(mean)).toBeLessThan(6 / Math.sqrt(N)); // 0.019
        expect(Math.abs(std - 1)).toBeLessThan(6 * Math.sqrt(1 / (2 * N))); // 0.0134
        const p = 0.6826894921370859;
        expect(Math.abs(within / N - p)).toBeLessThan(6 * Math.sqrt((p * (1 - p)) / N)); // 8.8e-3
      }),
      { numRuns: 3 },
    );
  });

  it('Rng.state() / Rng.fromState() resume the stream exactly (also through JSON)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 40 }),
        fc.array(fc.integer({ min: 1, max: 9 }), { maxLength: 4 }),
        fc.integer({ min: 1, max: 9 }),
        (seed, skips, n) => {
          const rng = new Rng(seed);
          for (const k of skips) rng.normal(k); // odd and even draws
          const state: RngState = JSON.parse(JSON.stringify(rng.state()));
          const a = arr(randn([n], { rng, dtype: 'f64' }));
          const b = arr(randn([n], { rng: Rng.fromState(state), dtype: 'f64' }));
          expect(b).toEqual(a);
          const c = Array.from(rng.uint32(5));
          const resumed = Rng.fromState(state);
          resumed.normal(n);
          expect(Array.from(resumed.uint32(5))).toEqual(c);
        },
      ),
      RUNS,
    );
  });
});

describe('read-back', () => {
  it('toArray (async) equals toArraySync for every dtype, and returns a copy', async () => {
    await fc.assert(
      fc.asyncProperty(shapedArb(shapeArb()), fc.constantFrom('f32', 'f64', 'i32'), async ({ shape, values }, dtype) => {
        const data = dtype === 'i32' ? values.map(Math.round) : values;
        const t = dtype === 'f64' ? f64(shape, data) : dtype === 'f32' ? f32(shape, data) : tensor(Int32Array.from(data), { shape });
        const sync = t.toArraySync();
        const async_ = await t.toArray();
        expect(async_).toEqual(sync);
        expect(async_.constructor).toBe(sync.constructor);
        expect(await t.tolist()).toEqual(t.tolistSync());
        if (sync.length > 0) {
          // Writing into a read-back array does not reach the tensor's storage.
          sync[0] = sync[0]! + 1;
          expect(t.toArraySync()[0]).toBe(async_[0]);
        }
      }),
      RUNS,
    );
  });

  it('item / itemSync read a one-element tensor of any rank', async () => {
    const s = tensor(-3.25, { dtype: 'f64' });
    expect(s.itemSync()).toBe(-3.25);
    expect(await s.item()).toBe(-3.25);
    const one = tensor([[[7]]], { dtype: 'i32' });
    expect(one.itemSync()).toBe(7);
    expect(await one.item()).toBe(7);
    expect(tensor([0.1]).itemSync()).toBe(Math.fround(0.1));
    await expect(ones([2]).item()).rejects.toThrow(/item: tensor has 2 elements/);
  });

  it('tolistSync nests like torch.tolist()', () => {
    expect(tensor(5).tolistSync()).toBe(5);
    expect(tensor([1, 2]).tolistSync()).toEqual([1, 2]);
    expect(arange(6).reshape([2, 3]).tolistSync()).toEqual([[0, 1, 2], [3, 4, 5]]);
    expect(arange(8).reshape([2, 2, 2]).tolistSync()).toEqual([[[0, 1], [2, 3]], [[4, 5], [6, 7]]]);
    expect(zeros([2, 0]).tolistSync()).toEqual([[], []]);
    expect(zeros([0, 2]).tolistSync()).toEqual([]);
    expect(zeros([1, 1, 1]).tolistSync()).toEqual([[[0]]]);
  });

  it('tolistSync agrees with a row-major nesting reference for drawn shapes', () => {
    fc.assert(
      fc.property(shapeArb(0, 4), (shape) => {
        const n = sizeOf(shape);
        const t = arange(n, undefined, 1, { dtype: 'f64' }).reshape(shape);
        expect(t.tolistSync()).toEqual(nestRef(Array.from({ length: n }, (_, i) => i), shape));
      }),
      RUNS,
    );
  });
});
