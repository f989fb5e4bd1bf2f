/**
 * src/nn/optim.ts: AdamW and SGD against plain-JS implementations of torch's formulas over
 * several steps on drawn shapes, hyperparameters and gradients (f64, 1e-12), including weight
 * decay, bias correction and parameters whose grad is null at some steps (skipped, and their
 * own step count not advanced, as torch); optimiser state round-tripping through
 * stateDict / loadStateDict and continuing bit for bit; checkpoint errors; clipGradNorm against
 * hand computations; bounded memory across steps; a small end-to-end fit; and the same on
 * 'webgpu' when an adapter is available.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ConfigError, DeviceError, DTypeError, liveTensors, Rng, ShapeError, tensor, tidy, type Tensor,
} from '../../src/index.js';
import { AdamW, clipGradNorm, clipGradNormAsync, clipGradNormTensor, SGD } from '../../src/nn/optim.js';
import { Linear } from '../../src/nn/layers.js';
import { initNormal } from '../../src/nn/init.js';
import { shapeArb, sizeOf } from '../helpers/arbitraries.js';
import { expectBitwise, expectClose } from '../helpers/assert.js';
import { realsArb } from '../helpers/reduce.js';
import { describeGpu } from '../helpers/gpu.js';
import { arr, f64 } from '../helpers/tensors.js';

const RUNS = { numRuns: 100 } as const;

interface Hyper {
  lr: number;
  b1: number;
  b2: number;
  eps: number;
  wd: number;
}

/** torch.optim.AdamW, written out on plain arrays (one parameter, its own step count). */
function adamwRefStep(s: { p: number[]; m: number[]; v: number[]; t: number }, g: number[], h: Hyper): void {
  s.t += 1;
  for (let j = 0; j < s.p.length; j++) {
    s.m[j] = h.b1 * s.m[j]! + (1 - h.b1) * g[j]!;
    s.v[j] = h.b2 * s.v[j]! + (1 - h.b2) * g[j]! * g[j]!;
    const mHat = s.m[j]! / (1 - h.b1 ** s.t);
    const vHat = s.v[j]! / (1 - h.b2 ** s.t);
    s.p[j] = s.p[j]! - h.lr * h.wd * s.p[j]!;
    s.p[j] = s.p[j]! - (h.lr * mHat) / (Math.sqrt(vHat) + h.eps);
  }
}

const hyperArb: fc.Arbitrary<Hyper> = fc.record({
  lr: fc.constantFrom(1e-3, 1e-2, 0.1, 0.5),
  b1: fc.constantFrom(0, 0.5, 0.9),
  b2: fc.constantFrom(0.9, 0.99, 0.999),
  eps: fc.constantFrom(1e-8, 1e-6, 1e-3),
  wd: fc.constantFrom(0, 1e-2, 0.3),
});

/** Parameter shapes and values, then per step per parameter a gradient or null. */
const trajectoryArb = fc.array(shapeArb(0, 2, 3), { minLength: 1, maxLength: 3 }).chain((shapes) =>
  fc.record({
    shapes: fc.constant(shapes),
    init: fc.tuple(...shapes.map((s) => realsArb(sizeOf(s)))),
    steps: fc.array(
      fc.tuple(...shapes.map((s) => fc.option(realsArb(sizeOf(s)), { freq: 4, nil: null }))),
      { minLength: 1, maxLength: 6 },
    ),
  }),
);

function setGrads(params: readonly Tensor[], grads: readonly (number[] | null)[]): void {
  params.forEach((p, i) => {
    p.grad?.dispose();
    p.grad = grads[i] ? f64(p.shape, grads[i]!) : null;
  });
}

describe('AdamW', () => {
  it('matches the torch formula over several steps (weight decay, bias correction, null grads skipped)', () => {
    fc.assert(
      fc.property(trajectoryArb, hyperArb, ({ shapes, init, steps }, h) => {
        const params = shapes.map((s, i) => f64(s, init[i]!).setRequiresGrad());
        const ref = init.map((p) => ({ p: [...p], m: p.map(() => 0), v: p.map(() => 0), t: 0 }));
        const opt = new AdamW(params, { lr: h.lr, betas: [h.b1, h.b2], eps: h.eps, weightDecay: h.wd });
        steps.forEach((grads, k) => {
          const before = params.map(arr);
          setGrads(params, grads);
          opt.step();
          grads.forEach((g, i) => {
            if (g) adamwRefStep(ref[i]!, g, h);
            else expectBitwise(arr(params[i]!), before[i]!, `step ${k}: param ${i} (null grad) must not move`);
            expectClose(arr(params[i]!), ref[i]!.p, { rtol: 1e-12, atol: 1e-12, what: `step ${k} param ${i}`, nonFinite: 'match' });
          });
        });
        expect(opt.stepCount).toBe(steps.length);
        const sd = opt.stateDict();
        ref.forEach((r, i) => {
          if (r.t === 0) {
            expect(sd.has(`param.${i}.m`)).toBe(false);
            return;
          }
          expect(sd.get(`param.${i}.step`)!.itemSync()).toBe(r.t);
          expectClose(arr(sd.get(`param.${i}.m`)!), r.m, { rtol: 1e-12, atol: 1e-300, what: `m ${i}`, nonFinite: 'match' });
          expectClose(arr(sd.get(`param.${i}.v`)!), r.v, { rtol: 1e-12, atol: 1e-300, what: `v ${i}`, nonFinite: 'match' });
        });
      }),
      RUNS,
    );
  });

  it('defaults are torch’s: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weightDecay 1e-2', () => {
    const p = f64([2], [1, -2]).setRequiresGrad();
    const opt = new AdamW([p]);
    expect([opt.lr, opt.beta1, opt.beta2, opt.eps, opt.weightDecay]).toEqual([1e-3, 0.9, 0.999, 1e-8, 1e-2]);
    p.grad = f64([2], [0.5, 0.25]);
    opt.step();
    // First step: m̂ = g, v̂ = g², so the update is lr·g/(|g| + eps) ≈ lr·sign(g).
    const s = { p: [1, -2], m: [0, 0], v: [0, 0], t: 0 };
    adamwRefStep(s, [0.5, 0.25], { lr: 1e-3, b1: 0.9, b2: 0.999, eps: 1e-8, wd: 1e-2 });
    expectClose(arr(p), s.p, { rtol: 1e-15, nonFinite: 'match' });
  });

  it('state round-trips through stateDict/loadStateDict (as a checkpoint would) and continues identically', () => {
    const rng = new Rng(11);
    const shapes = [[3, 2], [4], []];
    const grads = Array.from({ length: 7 }, (_, k) =>
      shapes.map((s, i) => (k === 0 && i === 2 ? null : Array.from(initNormal(s, { rng, dtype: 'f64' }).toArraySync()))),
    );
    const a = shapes.map((s) => initNormal(s, { rng, dtype: 'f64' }).setRequiresGrad());
    const optA = new AdamW(a, { lr: 0.05, weightDecay: 0.1 });
    for (let k = 0; k < 3; k++) {
      setGrads(a, grads[k]!);
      optA.step();
    }
    // "Save": copy every tensor to a fresh CPU tensor, as a checkpoint reader returns them.
    const copy = (t: Tensor) => tensor(t.toArraySync().slice(), { shape: t.shape });
    const saved = new Map([...optA.stateDict()].map(([k, t]) => [k, copy(t)]));
    expect([...saved.keys()].sort()).toEqual(
      ['step', 'param.0.step', 'param.0.m', 'param.0.v', 'param.1.step', 'param.1.m', 'param.1.v', 'param.2.step', 'param.2.m', 'param.2.v'].sort(),
    );
    expect(saved.get('step')!.itemSync()).toBe(3);
    expect(saved.get('param.2.step')!.itemSync()).toBe(2);
    const b = a.map((p) => copy(p).setRequiresGrad());
    const optB = new AdamW(b, { lr: 0.05, weightDecay: 0.1 });
    optB.loadStateDict(saved);
    // The optimiser copied the state: changing the source afterwards changes nothing.
    saved.get('param.0.m')!.assign(f64([3, 2], [9, 9, 9, 9, 9, 9]));
    expect(optB.stepCount).toBe(3);
    for (let k = 3; k < 7; k++) {
      setGrads(a, grads[k]!);
      setGrads(b, grads[k]!);
      optA.step();
      optB.step();
      a.forEach((p, i) => expectBitwise(arr(b[i]!), arr(p), `step ${k} param ${i}`));
    }
    // Loading an empty state (step 0) resets to a fresh optimiser.
    optB.loadStateDict({ step: tensor(new Int32Array([0]), { shape: [] }) });
    expect(optB.stepCount).toBe(0);
    expect([...optB.stateDict().keys()]).toEqual(['step']);
  });

  it('checkpoint errors name the key; a failed load changes nothing', () => {
    const p = f64([2, 2], [1, 2, 3, 4]).setRequiresGrad();
    const q = f64([3], [1, 2, 3]).setRequiresGrad();
    const opt = new AdamW([p, q]);
    p.grad = f64([2, 2], [1, 1, 1, 1]);
    q.grad = f64([3], [1, 1, 1]);
    opt.step();
    const good = opt.stateDict();
    const bad = (edit: (m: Map<string, Tensor>) => void) => {
      const m = new Map(good);
      edit(m);
      return m;
    };
    expect(() => opt.loadStateDict(bad((m) => m.set('param.0.m', f64([4], [0, 0, 0, 0]))))).toThrow(ShapeError);
    expect(() => opt.loadStateDict(bad((m) => m.set('param.0.m', f64([4], [0, 0, 0, 0]))))).toThrow(
      /AdamW.loadStateDict: 'param\.0\.m' is \[4\] f64, parameter 0 is \[2, 2\] f64/,
    );
    expect(() => opt.loadStateDict(bad((m) => m.set('param.1.v', tensor([0, 0, 0]))))).toThrow(/'param\.1\.v' is \[3\] f32/);
    expect(() => opt.loadStateDict(bad((m) => m.delete('param.1.v')))).toThrow(/no 'param\.1\.v'/);
    expect(() => opt.loadStateDict(bad((m) => m.delete('step')))).toThrow(/no 'step'/);
    expect(() => opt.loadStateDict(bad((m) => m.delete('param.0.step')))).toThrow(/no 'param\.0\.step'/);
    expect(() => opt.loadStateDict(bad((m) => m.set('param.5.m', f64([1], [0]))))).toThrow(/'param\.5\.m' names parameter 5, but this optimiser has 2/);
    expect(() => opt.loadStateDict(bad((m) => m.set('lr', f64([1], [0]))))).toThrow(/unexpected key 'lr'/);
    expect(() => opt.loadStateDict(bad((m) => m.set('step', tensor([1]))))).toThrow(/'step' must be a one-element i32 tensor/);
    // Nothing changed: the state is still the one before the failed loads.
    const twin = new AdamW([f64([2, 2], [1, 2, 3, 4]).setRequiresGrad(), f64([3], [1, 2, 3]).setRequiresGrad()]);
    twin.params[0]!.grad = f64([2, 2], [1, 1, 1, 1]);
    twin.params[1]!.grad = f64([3], [1, 1, 1]);
    twin.step();
    opt.step();
    twin.step();
    expectBitwise(arr(p), arr(twin.params[0]!));
    expectBitwise(arr(q), arr(twin.params[1]!));
  });

  it('typed errors: bad hyperparameters, non-float or repeated params, a grad of the wrong shape', () => {
    const p = f64([2], [1, 2]).setRequiresGrad();
    expect(() => new AdamW([p], { lr: -1 })).toThrow(ConfigError);
    expect(() => new AdamW([p], { betas: [0.9, 1] })).toThrow(/AdamW: betas\[1\] must be in \[0, 1\), got 1/);
    expect(() => new AdamW([p], { eps: Number.NaN })).toThrow(ConfigError);
    expect(() => new AdamW([p], { weightDecay: -0.1 })).toThrow(ConfigError);
    expect(() => new AdamW([p, p])).toThrow(/appears more than once/);
    expect(() => new AdamW([tensor(new Int32Array([1]))])).toThrow(DTypeError);
    const opt = new AdamW([p]);
    p.grad = f64([3], [1, 1, 1]);
    expect(() => opt.step()).toThrow(/AdamW.step: the grad of parameter 0 is \[3\] f64 on cpu, the parameter is \[2\] f64 on cpu/);
    expect(opt.stepCount).toBe(0);
  });

  it('step() keeps memory flat (AdamW and SGD leave no tensor behind per step, even inside tidy); zeroGrad clears grads', () => {
    const lin = new Linear(6, 4, { rng: new Rng(2), dtype: 'f64' });
    const x = initNormal([5, 6], { rng: new Rng(3), dtype: 'f64' });
    lin.forward(x).square().mean().backward();
    for (const opt of [new AdamW(lin.parameters(), { lr: 0.01 }), new SGD(lin.parameters(), { lr: 0.01, momentum: 0.9, weightDecay: 0.1 })]) {
      opt.step(); // creates the state
      const live = liveTensors();
      for (let k = 0; k < 3; k++) opt.step();
      tidy(() => opt.step()); // the state survives a caller's tidy scope
      expect(liveTensors()).toBe(live);
      opt.step();
      expect(liveTensors()).toBe(live);
    }
    new AdamW(lin.parameters()).zeroGrad();
    expect(lin.parameters().every((p) => p.grad === null)).toBe(true);
  });

  it('fits a least-squares problem end to end (Linear + AdamW)', () => {
    const rng = new Rng(9);
    const x = initNormal([32, 3], { rng, dtype: 'f64' });
    const target = x.matmul(f64([3, 2], [1, -2, 0.5, 3, -1, 0])).add(f64([2], [0.25, -0.5]));
    const lin = new Linear(3, 2, { rng, dtype: 'f64' });
    const opt = new AdamW(lin.parameters(), { lr: 0.05, weightDecay: 0 });
    const loss = () => lin.forward(x).sub(target).square().mean();
    const first = loss().itemSync();
    for (let k = 0; k < 300; k++) {
      opt.zeroGrad();
      loss().backward();
      opt.step();
    }
    expect(loss().itemSync()).toBeLessThan(1e-4 * first);
  });
});

describe('SGD', () => {
  const sgdArb = fc.record({
    lr: fc.constantFrom(1e-2, 0.1, 0.5),
    momentum: fc.constantFrom(0, 0.5, 0.9),
    dampening: fc.constantFrom(0, 0.1),
    weightDecay: fc.constantFrom(0, 0.05),
    nesterov: fc.boolean(),
  }).filter((h) => !h.nesterov || (h.momentum > 0 && h.dampening === 0));

  it('matches torch.optim.SGD (momentum, dampening, nesterov, weight decay) over several steps', () => {
    fc.assert(
      fc.property(trajectoryArb, sgdArb, ({ shapes, init, steps }, h) => {
        const params = shapes.map((s, i) => f64(s, init[i]!).setRequiresGrad());
        const ref = init.map((p) => ({ p: [...p], buf: null as number[] | null }));
        const opt = new SGD(params, h);
        steps.forEach((grads, k) => {
          setGrads(params, grads);
          opt.step();
          grads.forEach((g0, i) => {
            const r = ref[i]!;
            if (g0) {
              let g = g0.map((v, j) => v + h.weightDecay * r.p[j]!);
              if (h.momentum !== 0) {
                r.buf = r.buf === null ? [...g] : r.buf.map((b, j) => h.momentum * b + (1 - h.dampening) * g[j]!);
                g = h.nesterov ? g.map((v, j) => v + h.momentum * r.buf![j]!) : r.buf;
              }
              r.p = r.p.map((v, j) => v - h.lr * g[j]!);
            }
            expectClose(arr(params[i]!), r.p, { rtol: 1e-12, atol: 1e-12, what: `step ${k} param ${i}`, nonFinite: 'match' });
          });
        });
      }),
      RUNS,
    );
  });

  it('momentum state round-trips; nesterov without momentum is a ConfigError', () => {
    const p = f64([3], [1, 2, 3]).setRequiresGrad();
    const q = f64([3], [1, 2, 3]).setRequiresGrad();
    const a = new SGD([p], { lr: 0.1, momentum: 0.9 });
    p.grad = f64([3], [1, -1, 2]);
    a.step();
    const b = new SGD([q], { lr: 0.1, momentum: 0.9 });
    q.assign(p.detach());
    b.loadStateDict(a.stateDict());
    for (let k = 0; k < 3; k++) {
      p.grad = f64([3], [k, 1, -k]);
      q.grad = f64([3], [k, 1, -k]);
      a.step();
      b.step();
    }
    expectBitwise(arr(q), arr(p));
    expect(() => new SGD([p], { nesterov: true })).toThrow(ConfigError);
    expect(() => b.loadStateDict({ step: tensor(new Int32Array([1]), { shape: [] }), 'param.0.momentum': f64([2], [0, 0]) })).toThrow(
      /'param\.0\.momentum' is \[2\] f64, parameter 0 is \[3\] f64/,
    );
  });
});

describe('clipGradNorm', () => {
  it('hand computation: grads (3, 4) and (12) have norm 13; clipped to 6.5 they halve', () => {
    const a = f64([2], [0, 0]).setRequiresGrad();
    const b = f64([1, 1], [0]).setRequiresGrad();
    const c = f64([2], [0, 0]).setRequiresGrad(); // no grad: ignored
    a.grad = f64([2], [3, 4]);
    b.grad = f64([1, 1], [12]);
    const ga = a.grad;
    expect(clipGradNorm([a, b, c], 6.5)).toBe(13);
    const coef = 6.5 / (13 + 1e-6);
    expect(a.grad).toBe(ga); // scaled in place
    expectClose(arr(a.grad), [3 * coef, 4 * coef], { rtol: 1e-15, nonFinite: 'match' });
    expectClose(arr(b.grad), [12 * coef], { rtol: 1e-15, nonFinite: 'match' });
    // maxNorm above the norm: nothing changes (the coefficient is clamped to 1).
    const after = arr(a.grad).concat(arr(b.grad));
    expect(clipGradNorm([a, b, c], 7)).toBeCloseTo(6.5, 5);
    expectBitwise(arr(a.grad).concat(arr(b.grad)), after);
    expect(clipGradNorm([c], 1)).toBe(0);
    expect(clipGradNormTensor([c], 1)).toBeNull();
    expect(() => clipGradNorm([a], -1)).toThrow(ConfigError);
  });

  it('returns the global L2 norm of drawn gradients; afterwards the norm is at most maxNorm', () => {
    fc.assert(
      fc.property(
        fc.array(shapeArb(0, 2, 4), { minLength: 1, maxLength: 4 }).chain((shapes) =>
          fc.record({ shapes: fc.constant(shapes), gs: fc.tuple(...shapes.map((s) => realsArb(sizeOf(s)))) }),
        ),
        fc.constantFrom(0.1, 1, 3, 100),
        ({ shapes, gs }, maxNorm) => {
          const ps = shapes.map((s, i) => {
            const p = f64(s, gs[i]!.map(() => 0)).setRequiresGrad();
            p.grad = f64(s, gs[i]!);
            return p;
          });
          const want = Math.sqrt(gs.flat().reduce((acc, v) => acc + v * v, 0));
          const n = clipGradNorm(ps, maxNorm);
          expect(Math.abs(n - want)).toBeLessThanOrEqual(1e-12 * (1 + want));
          const coef = Math.min(1, maxNorm / (want + 1e-6));
          ps.forEach((p, i) => expectClose(arr(p.grad!), gs[i]!.map((v) => v * coef), { rtol: 1e-12, atol: 1e-300, what: `grad ${i}`, nonFinite: 'match' }));
          const post = Math.sqrt(ps.flatMap((p) => arr(p.grad!)).reduce((acc, v) => acc + v * v, 0));
          expect(post).toBeLessThanOrEqual(maxNorm * (1 + 1e-12));
        },
      ),
      RUNS,
    );
  });
});

describeGpu('optimisers on webgpu', () => {
  it('AdamW steps on webgpu match the CPU (f32); clipGradNormAsync works there, clipGradNorm says to use it', async () => {
    const shapes = [[4, 3], [3]];
    const rng = new Rng(21);
    const init = shapes.map((s) => Array.from(initNormal(s, { rng, dtype: 'f64' }).toArraySync()));
    const grads = Array.from({ length: 4 }, () => shapes.map((s) => Float32Array.from(initNormal(s, { rng, dtype: 'f64' }).toArraySync())));
    const make = (device: 'cpu' | 'webgpu') => shapes.map((s, i) => tensor(Float32Array.from(init[i]!), { shape: s, device }).setRequiresGrad());
    const pc = make('cpu');
    const pg = make('webgpu');
    const oc = new AdamW(pc, { lr: 0.01, weightDecay: 0.1 });
    const og = new AdamW(pg, { lr: 0.01, weightDecay: 0.1 });
    for (let k = 0; k < 4; k++) {
      pc.forEach((p, i) => (p.grad = tensor(grads[k]![i]!, { shape: shapes[i]! })));
      pg.forEach((p, i) => (p.grad = tensor(grads[k]![i]!, { shape: shapes[i]!, device: 'webgpu' })));
      const nc = clipGradNorm(pc, 1.5);
      const ng = await clipGradNormAsync(pg, 1.5);
      expect(Math.abs(ng - nc)).toBeLessThanOrEqual(1e-5 * nc);
      oc.step();
      og.step();
    }
    for (let i = 0; i < pc.length; i++) expectClose(Array.from(await pg[i]!.toArray()), arr(pc[i]!), { rtol: 1e-5, atol: 1e-6, what: `param ${i}`, nonFinite: 'match' });
    expect(() => clipGradNorm(pg, 1)).toThrow(DeviceError);
    // A CPU checkpoint (as a safetensors reader returns it) loads into the GPU optimiser.
    const sd = new Map([...oc.stateDict()]);
    og.loadStateDict(sd);
    expect(og.stateDict().get('param.0.m')!.device).toBe('webgpu');
    expectBitwise(Array.from(await og.stateDict().get('param.1.v')!.toArray()), arr(sd.get('param.1.v')!));
  });
});
