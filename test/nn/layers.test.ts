/**
 * src/nn/layers.ts and init.ts: the functional cores linear / rmsNorm / embedding against
 * plain-JS references and central differences (gradcheck, f64, rtol 1e-6) over drawn shapes,
 * including batched leading dims; the modules' parameter layout and torch-default
 * initialisation from a seeded Rng; Module.stateDict / loadStateDict round trips and their
 * errors; typed errors for bad inputs; and the same layers built on 'webgpu' when an adapter
 * is available (same seed → same parameters; outputs and gradients within f32 tolerance).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ConfigError, DTypeError, embedding, gradcheck, IndexError, Rng, ShapeError, tensor, type Tensor,
} from '../../src/index.js';
import { Module } from '../../src/nn/module.js';
import { Embedding, Linear, linear, RMSNorm, rmsNorm } from '../../src/nn/layers.js';
import { initConstant, initNormal, initUniform, kaimingUniform } from '../../src/nn/init.js';
import { shapeArb, sizeOf } from '../helpers/arbitraries.js';
import { expectBitwise, expectClose, GC } from '../helpers/assert.js';
import { indexValuesArb, realsArb } from '../helpers/reduce.js';
import { describeGpu } from '../helpers/gpu.js';
import { arr, f64, i32 } from '../helpers/tensors.js';

const RUNS = { numRuns: 100 } as const;

function linearRef(x: number[], lead: number, inF: number, w: number[], out: number, b: number[] | null): number[] {
  const y: number[] = [];
  for (let r = 0; r < lead; r++) {
    for (let o = 0; o < out; o++) {
      let s = b ? b[o]! : 0;
      for (let k = 0; k < inF; k++) s += x[r * inF + k]! * w[o * inF + k]!;
      y.push(s);
    }
  }
  return y;
}

function rmsNormRef(x: number[], rows: number, d: number, g: number[], eps: number): number[] {
  const y: number[] = [];
  for (let r = 0; r < rows; r++) {
    let ms = 0;
    for (let k = 0; k < d; k++) ms += x[r * d + k]! ** 2;
    const inv = 1 / Math.sqrt(ms / d + eps);
    for (let k = 0; k < d; k++) y.push(x[r * d + k]! * inv * g[k]!);
  }
  return y;
}

const linearCase = fc
  .record({
    lead: shapeArb(0, 3, 3),
    inF: fc.integer({ min: 1, max: 4 }),
    out: fc.integer({ min: 1, max: 4 }),
    bias: fc.boolean(),
  })
  .chain((c) =>
    fc.record({
      c: fc.constant(c),
      x: realsArb(sizeOf(c.lead) * c.inF),
      w: realsArb(c.out * c.inF),
      b: realsArb(c.out),
    }),
  );

describe('linear(x, weight, bias?)', () => {
  it('equals x·Wᵀ + b over batched leading dims (rank 0–3), and passes gradcheck in x, W and b', () => {
    fc.assert(
      fc.property(linearCase, ({ c, x, w, b }) => {
        const X = f64([...c.lead, c.inF], x);
        const W = f64([c.out, c.inF], w);
        const B = f64([c.out], b);
        const y = c.bias ? linear(X, W, B) : linear(X, W);
        expect(y.shape).toEqual([...c.lead, c.out]);
        expectClose(arr(y), linearRef(x, sizeOf(c.lead), c.inF, w, c.out, c.bias ? b : null), { rtol: 1e-13, atol: 1e-14, what: 'linear', nonFinite: 'match' });
        if (c.bias) expect(gradcheck((xx, ww, bb) => linear(xx!, ww!, bb!), [X, W, B], GC)).toBe(true);
        else expect(gradcheck((xx, ww) => linear(xx!, ww!, null), [X, W], GC)).toBe(true);
      }),
      RUNS,
    );
  });

  it('rows are computed independently: a row alone equals the same row inside a batch, bit for bit', () => {
    const rng = new Rng(3);
    const X = initNormal([5, 7], { rng, dtype: 'f64' });
    const lin = new Linear(7, 3, { rng, dtype: 'f64' });
    const full = arr(lin.forward(X));
    for (let r = 0; r < 5; r++) expectBitwise(arr(lin.forward(X.slice(0, r, r + 1))), full.slice(3 * r, 3 * r + 3), `row ${r}`);
  });

  it('rejects mismatched shapes and dtypes with typed errors naming the shapes', () => {
    const W = f64([3, 4], new Array(12).fill(0.5));
    expect(() => linear(f64([2, 5], new Array(10).fill(1)), W)).toThrow(ShapeError);
    expect(() => linear(f64([2, 5], new Array(10).fill(1)), W)).toThrow(/linear: input \[2, 5\] must end in in_features 4/);
    expect(() => linear(f64([4], [1, 2, 3, 4]), W, f64([4], [0, 0, 0, 0]))).toThrow(/linear: bias must be \[3\]/);
    expect(() => linear(f64([4], [1, 2, 3, 4]), f64([12], new Array(12).fill(0)))).toThrow(/weight must be 2-D/);
    expect(() => linear(tensor([1, 2, 3, 4]), W)).toThrow(DTypeError);
  });
});

describe('rmsNorm(x, weight, eps)', () => {
  const rmsCase = fc
    .record({ shape: shapeArb(1, 3, 4), eps: fc.constantFrom(1e-6, 1e-5, 1e-2, 0.5) })
    .chain((c) => fc.record({ c: fc.constant(c), x: realsArb(sizeOf(c.shape)), g: realsArb(c.shape[c.shape.length - 1]!) }));

  it('equals x / √(mean(x², −1) + eps) · g over rank 1–3 inputs, and passes gradcheck in x and g', () => {
    fc.assert(
      fc.property(rmsCase, ({ c, x, g }) => {
        const d = c.shape[c.shape.length - 1]!;
        const X = f64(c.shape, x);
        const G = f64([d], g);
        const y = rmsNorm(X, G, c.eps);
        expect(y.shape).toEqual(c.shape);
        expectClose(arr(y), rmsNormRef(x, sizeOf(c.shape) / d, d, g, c.eps), { rtol: 1e-12, atol: 1e-14, what: 'rmsNorm', nonFinite: 'match' });
        expect(gradcheck((xx, gg) => rmsNorm(xx!, gg!, c.eps), [X, G], GC)).toBe(true);
      }),
      RUNS,
    );
  });

  it('RMSNorm: weight starts at ones (so the output has unit RMS per row), eps defaults to 1e-6', () => {
    const n = new RMSNorm(6, { dtype: 'f64' });
    expect(n.eps).toBe(1e-6);
    expect([...n.stateDict().keys()]).toEqual(['weight']);
    expect(arr(n.weight)).toEqual([1, 1, 1, 1, 1, 1]);
    const y = arr(n.forward(initNormal([3, 6], { rng: new Rng(1), dtype: 'f64' })));
    for (let r = 0; r < 3; r++) {
      const ms = y.slice(6 * r, 6 * r + 6).reduce((p, v) => p + v * v, 0) / 6;
      expect(ms).toBeCloseTo(1, 5);
    }
  });

  it('rejects a weight of the wrong size and a bad eps', () => {
    expect(() => rmsNorm(f64([2, 3], [1, 2, 3, 4, 5, 6]), f64([2], [1, 1]))).toThrow(/rmsNorm: weight must be \[3\] to match input \[2, 3\], got \[2\]/);
    expect(() => rmsNorm(f64([3], [1, 2, 3]), f64([3], [1, 1, 1]), -1)).toThrow(ConfigError);
    expect(() => new RMSNorm(4, { eps: Number.NaN })).toThrow(ConfigError);
  });
});

describe('Embedding', () => {
  const embCase = fc
    .record({ idxShape: shapeArb(0, 3, 3), num: fc.integer({ min: 1, max: 5 }), dim: fc.integer({ min: 1, max: 3 }) })
    .chain((c) => fc.record({ c: fc.constant(c), idx: indexValuesArb(c.idxShape, c.num), w: realsArb(c.num * c.dim) }));

  it('forward(index) = weight rows → [...index.shape, dim]; gradcheck in the weight (repeated ids accumulate)', () => {
    fc.assert(
      fc.property(embCase, ({ c, idx, w }) => {
        const e = new Embedding(c.num, c.dim, { dtype: 'f64' });
        e.weight.assign(f64([c.num, c.dim], w));
        const I = i32(c.idxShape, idx);
        const y = e.forward(I);
        expect(y.shape).toEqual([...c.idxShape, c.dim]);
        expect(arr(y)).toEqual(idx.flatMap((i) => w.slice(i * c.dim, (i + 1) * c.dim)));
        expect(gradcheck((W, ix) => embedding(W!, ix!), [f64([c.num, c.dim], w), I], GC)).toBe(true);
      }),
      RUNS,
    );
  });

  it('backward through the module accumulates one row per occurrence into weight.grad', () => {
    const e = new Embedding(4, 2, { dtype: 'f64', rng: new Rng(0) });
    e.forward(i32([2, 3], [1, 3, 1, 0, 1, 3])).sum().backward();
    expect(arr(e.weight.grad!)).toEqual([1, 1, 3, 3, 0, 0, 2, 2]);
  });

  it('typed errors: non-i32 ids, ids out of range, bad sizes', () => {
    const e = new Embedding(4, 2);
    expect(() => e.forward(tensor([0, 1]))).toThrow(/Embedding.forward: index must be i32 ids, got f32/);
    expect(() => e.forward(i32([2], [0, 4]))).toThrow(IndexError);
    expect(() => new Embedding(0, 2)).toThrow(/Embedding: numEmbeddings must be a positive integer, got 0/);
    expect(() => new Embedding(3, 1.5)).toThrow(ConfigError);
  });
});

describe('initialisation', () => {
  const stats = (a: number[]) => {
    const mean = a.reduce((p, v) => p + v, 0) / a.length;
    const sd = Math.sqrt(a.reduce((p, v) => p + (v - mean) ** 2, 0) / a.length);
    return { mean, sd };
  };

  it('Linear: weight [out, in] and bias [out] in U(−1/√in, 1/√in), drawn weight first from the Rng', () => {
    const lin = new Linear(16, 40, { rng: new Rng(7) });
    expect([...lin.stateDict().keys()]).toEqual(['weight', 'bias']);
    expect(lin.weight.shape).toEqual([40, 16]);
    expect(lin.bias!.shape).toEqual([40]);
    expect(lin.weight.dtype).toBe('f32');
    const bound = 1 / Math.sqrt(16);
    const w = arr(lin.weight);
    expect(Math.max(...w.map(Math.abs))).toBeLessThanOrEqual(bound);
    // U(−b, b) has sd b/√3; 640 draws.
    expect(stats(w).sd).toBeGreaterThan(0.9 * (bound / Math.sqrt(3)));
    expect(stats(w).sd).toBeLessThan(1.1 * (bound / Math.sqrt(3)));
    const rng = new Rng(7);
    expectBitwise(w, arr(kaimingUniform([40, 16], 16, { rng })), 'weight');
    expectBitwise(arr(lin.bias!), arr(kaimingUniform([40], 16, { rng })), 'bias');
  });

  it('same seed → same parameters; another seed → others; bias: false has only a weight', () => {
    const a = new Linear(5, 3, { rng: new Rng(1), dtype: 'f64' });
    const b = new Linear(5, 3, { rng: new Rng(1), dtype: 'f64' });
    const c = new Linear(5, 3, { rng: new Rng(2), dtype: 'f64' });
    expectBitwise(arr(a.weight), arr(b.weight));
    expect(arr(a.weight)).not.toEqual(arr(c.weight));
    const nb = new Linear(5, 3, { bias: false });
    expect(nb.bias).toBeNull();
    expect([...nb.stateDict().keys()]).toEqual(['weight']);
    expect(nb.weight.requiresGrad).toBe(true);
  });

  it('Embedding ~ N(0, 1) by default; initStd sets the std (and Linear then starts its bias at 0)', () => {
    const e = stats(arr(new Embedding(100, 100, { rng: new Rng(3) }).weight));
    expect(Math.abs(e.mean)).toBeLessThan(0.03);
    expect(Math.abs(e.sd - 1)).toBeLessThan(0.03);
    const e2 = stats(arr(new Embedding(100, 100, { rng: new Rng(3), initStd: 0.02 }).weight));
    expect(Math.abs(e2.sd - 0.02)).toBeLessThan(0.001);
    const lin = new Linear(64, 64, { rng: new Rng(4), initStd: 0.5 });
    expect(Math.abs(stats(arr(lin.weight)).sd - 0.5)).toBeLessThan(0.03);
    expect(arr(lin.bias!).every((v) => v === 0)).toBe(true);
  });

  it('init helpers: shapes, ranges, dtypes, constants and config errors', () => {
    const u = initUniform([3, 4], { low: -2, high: 5, rng: new Rng(0), dtype: 'f64' });
    expect(u.shape).toEqual([3, 4]);
    expect(u.dtype).toBe('f64');
    expect(arr(u).every((v) => v > -2 && v < 5)).toBe(true);
    expect(arr(initConstant(3, 2.5))).toEqual([2.5, 2.5, 2.5]);
    expect(initNormal([2], { mean: 3, std: 0 }).toArraySync()).toEqual(new Float32Array([3, 3]));
    expect(() => initNormal([2], { std: -1 })).toThrow(ConfigError);
    expect(() => initUniform([2], { low: 1, high: 0 })).toThrow(ConfigError);
    expect(() => kaimingUniform([2], 0)).toThrow(ConfigError);
    expect(() => new Linear(0, 3)).toThrow(/Linear: inFeatures must be a positive integer, got 0/);
  });
});

class TinyNet extends Module {
  readonly emb: Embedding;
  readonly norm: RMSNorm;
  readonly proj: Linear;
  readonly head: Linear;
  constructor(seed: number) {
    super();
    const rng = new Rng(seed);
    const o = { rng, dtype: 'f64' as const };
    this.emb = this.module('emb', new Embedding(6, 4, o));
    this.norm = this.module('norm', new RMSNorm(4, { dtype: 'f64' }));
    this.proj = this.module('proj', new Linear(4, 5, { ...o, bias: false }));
    this.head = this.module('head', new Linear(5, 6, o));
  }
  forward(tokens: Tensor): Tensor {
    return this.head.forward(this.proj.forward(this.norm.forward(this.emb.forward(tokens))).tanh());
  }
}

describe('Module.stateDict / loadStateDict with these layers', () => {
  const tokens = i32([2, 3], [0, 5, 2, 2, 1, 4]);

  it('round trip: loading A into B makes B compute A exactly, keeps B’s tensors, and copies values', () => {
    const a = new TinyNet(1);
    const b = new TinyNet(2);
    a.norm.weight.assign(f64([4], [0.5, 1.5, 2, -1]));
    expect([...a.stateDict().keys()]).toEqual(['emb.weight', 'norm.weight', 'proj.weight', 'head.weight', 'head.bias']);
    expect(arr(b.forward(tokens))).not.toEqual(arr(a.forward(tokens)));
    const before = b.parameters();
    b.loadStateDict(a.stateDict());
    expectBitwise(arr(b.forward(tokens)), arr(a.forward(tokens)), 'logits');
    expect(b.parameters().every((p, i) => p === before[i])).toBe(true);
    const saved = arr(b.head.bias!);
    a.head.bias!.assign(f64([6], [9, 9, 9, 9, 9, 9]));
    expect(arr(b.head.bias!)).toEqual(saved);
    // A plain object works too, and gradients reach every parameter afterwards.
    b.loadStateDict(Object.fromEntries(new TinyNet(3).stateDict()));
    b.forward(tokens).sum().backward();
    for (const [name, p] of b.namedParameters()) expect(p.grad?.shape, name).toEqual(p.shape);
  });

  it('a shape or dtype mismatch throws ShapeError naming the parameter; missing/unexpected keys are named', () => {
    const net = new TinyNet(1);
    const good = new TinyNet(2).stateDict();
    const bad = new Map(good);
    bad.set('proj.weight', f64([4, 5], new Array(20).fill(0)));
    expect(() => net.loadStateDict(bad)).toThrow(ShapeError);
    expect(() => net.loadStateDict(bad)).toThrow(/'proj\.weight' has \[4, 5\] f64, the module expects \[5, 4\] f64/);
    const badType = new Map(good);
    badType.set('norm.weight', tensor([1, 1, 1, 1]));
    expect(() => net.loadStateDict(badType)).toThrow(/'norm\.weight' has \[4\] f32/);
    const missing = new Map(good);
    missing.delete('head.bias');
    expect(() => net.loadStateDict(missing)).toThrow(/missing head\.bias/);
    const extra = new Map(good);
    extra.set('head.extra', f64([1], [0]));
    expect(() => net.loadStateDict(extra)).toThrow(/unexpected head\.extra/);
    // Non-strict: missing entries are left alone.
    const keep = arr(net.head.bias!);
    net.loadStateDict(missing, false);
    expect(arr(net.head.bias!)).toEqual(keep);
    expectBitwise(arr(net.head.weight), arr(good.get('head.weight')!));
  });
});

describeGpu('layers on webgpu', () => {
  it('same seed → same parameters as on the CPU; forward and gradients agree within f32 tolerance', async () => {
    const mk = (device: 'cpu' | 'webgpu') => ({
      emb: new Embedding(7, 8, { rng: new Rng(5), device }),
      norm: new RMSNorm(8, { device }),
      lin: new Linear(8, 6, { rng: new Rng(6), device }),
    });
    const cpu = mk('cpu');
    const gpu = mk('webgpu');
    expect(gpu.lin.weight.device).toBe('webgpu');
    for (const k of ['emb', 'norm', 'lin'] as const) {
      for (const [name, p] of gpu[k].namedParameters()) {
        expectBitwise(Array.from(await p.toArray()), arr(cpu[k].stateDict().get(name)!), `${k}.${name}`);
      }
    }
    const ids = [3, 0, 6, 6, 2, 1];
    const run = (m: ReturnType<typeof mk>, device: 'cpu' | 'webgpu') => {
      const idx = tensor(Int32Array.from(ids), { shape: [2, 3], device });
      const y = m.lin.forward(m.norm.forward(m.emb.forward(idx)));
      y.square().sum().backward();
      return y;
    };
    const yc = run(cpu, 'cpu');
    const yg = run(gpu, 'webgpu');
    expect(yg.shape).toEqual([2, 3, 6]);
    expectClose(Array.from(await yg.toArray()), arr(yc), { rtol: 1e-5, atol: 1e-5, what: 'output', nonFinite: 'match' });
    for (const k of ['emb', 'norm', 'lin'] as const) {
      const pc = cpu[k].parameters();
      const pg = gpu[k].parameters();
      for (let i = 0; i < pc.length; i++) expectClose(Array.from(await pg[i]!.grad!.toArray()), arr(pc[i]!.grad!), { rtol: 1e-4, atol: 1e-4, what: `${k} grad ${i}`, nonFinite: 'match' });
    }
  });
});
