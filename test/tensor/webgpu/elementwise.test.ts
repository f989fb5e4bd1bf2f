/**
 * CPU/WebGPU parity for the elementwise family (unary, binary with broadcasting, comparisons,
 * where, clamp, casts, expand/permute), forward and backward, as fast-check properties.
 * Tolerance: both sides are f32; the GPU's transcendental functions (exp, log, tanh, erf, ...)
 * are accurate to a few ulps rather than correctly rounded, so relative 2e-5 plus absolute 1e-6
 * (erf-based GELU: 3e-6 absolute, the A&S erf approximation's 1.5e-7 error times |x| ≤ 3 and
 * a margin). Gradients compose several ops, so they get relative 1e-4 plus absolute 1e-5.
 */
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { tensor, where, type Tensor, DTypeError, DeviceError, liveTensors, tidy } from '../../../src/index.js';
import { broadcastPairArb, shapeArb, sizeOf, valueArb, valuesArb } from '../../helpers/arbitraries.js';
import { describeGpu, expectGpuClose, gpu } from '../../helpers/gpu.js';

const RUNS = { numRuns: 25 };

const both = (shape: number[], values: number[], requiresGrad = false): [Tensor, Tensor] => [
  tensor(Float32Array.from(values), { shape, requiresGrad }),
  tensor(Float32Array.from(values), { shape, device: 'webgpu', requiresGrad }),
];

type Unary = { name: string; f: (x: Tensor) => Tensor; lo: number; hi: number; atol?: number };
const UNARY: Unary[] = [
  { name: 'neg', f: (x) => x.neg(), lo: -3, hi: 3 },
  { name: 'exp', f: (x) => x.exp(), lo: -3, hi: 3 },
  { name: 'log', f: (x) => x.log(), lo: 0.1, hi: 3 },
  { name: 'sqrt', f: (x) => x.sqrt(), lo: 0.1, hi: 3 },
  { name: 'rsqrt', f: (x) => x.rsqrt(), lo: 0.1, hi: 3 },
  { name: 'abs', f: (x) => x.abs(), lo: -3, hi: 3 },
  { name: 'tanh', f: (x) => x.tanh(), lo: -3, hi: 3 },
  { name: 'sigmoid', f: (x) => x.sigmoid(), lo: -3, hi: 3 },
  { name: 'relu', f: (x) => x.relu(), lo: -3, hi: 3 },
  { name: 'silu', f: (x) => x.silu(), lo: -3, hi: 3 },
  { name: 'gelu', f: (x) => x.gelu(), lo: -3, hi: 3, atol: 3e-6 },
  { name: 'gelu-tanh', f: (x) => x.gelu('tanh'), lo: -3, hi: 3 },
  { name: 'softplus', f: (x) => x.softplus(), lo: -3, hi: 3 },
  { name: 'erf', f: (x) => x.erf(), lo: -3, hi: 3, atol: 3e-6 },
  { name: 'log1p', f: (x) => x.log1p(), lo: -0.5, hi: 3 },
  { name: 'expm1', f: (x) => x.expm1(), lo: -2, hi: 2 },
  { name: 'sin', f: (x) => x.sin(), lo: -3, hi: 3 },
  { name: 'cos', f: (x) => x.cos(), lo: -3, hi: 3 },
  { name: 'square', f: (x) => x.square(), lo: -3, hi: 3 },
  { name: 'reciprocal', f: (x) => x.reciprocal(), lo: 0.2, hi: 3 },
  { name: 'clamp', f: (x) => x.clamp(-1, 0.5), lo: -3, hi: 3 },
];

const sample = (lo: number, hi: number) =>
  shapeArb(0, 4, 4).chain((s) => valuesArb(sizeOf(s), valueArb(lo, hi)).map((v) => ({ s, v, r: v.map((_, i) => ((i * 7) % 5) - 2) })));

describeGpu('webgpu elementwise parity', () => {
  for (const u of UNARY) {
    it(`${u.name}: forward and gradient match the CPU`, async () => {
      await fc.assert(
        fc.asyncProperty(sample(u.lo, u.hi), async ({ s, v, r }) => {
          const [xc, xg] = both(s, v, true);
          await expectGpuClose(u.f(xg), u.f(xc), { rtol: 2e-5, atol: u.atol ?? 1e-6 });
          const rc = tensor(Float32Array.from(r), { shape: s });
          const rg = tensor(Float32Array.from(r), { shape: s, device: 'webgpu' });
          u.f(xc).mul(rc).sum().backward();
          u.f(xg).mul(rg).sum().backward();
          await expectGpuClose(xg.grad!, xc.grad!, { rtol: 1e-4, atol: 1e-5 });
        }),
        RUNS,
      );
    });
  }

  const BINARY: [string, (a: Tensor, b: Tensor) => Tensor, number, number][] = [
    ['add', (a, b) => a.add(b), -3, 3],
    ['sub', (a, b) => a.sub(b), -3, 3],
    ['mul', (a, b) => a.mul(b), -3, 3],
    ['div', (a, b) => a.div(b), 0.25, 3],
    ['pow', (a, b) => a.pow(b), 0.2, 2],
    ['maximum', (a, b) => a.maximum(b), -3, 3],
    ['minimum', (a, b) => a.minimum(b), -3, 3],
  ];
  for (const [name, f, lo, hi] of BINARY) {
    it(`${name} with broadcasting: forward and both gradients match the CPU`, async () => {
      await fc.assert(
        fc.asyncProperty(
          broadcastPairArb(4, 3).chain(([sa, sb]) =>
            fc.tuple(fc.constant(sa), fc.constant(sb), valuesArb(sizeOf(sa), valueArb(lo, hi)), valuesArb(sizeOf(sb), valueArb(lo, hi)))),
          async ([sa, sb, va, vb]) => {
            const [ac, ag] = both(sa, va, true);
            const [bc, bg] = both(sb, vb, true);
            const yc = f(ac, bc);
            const yg = f(ag, bg);
            await expectGpuClose(yg, yc, { rtol: 2e-5, atol: 1e-6 });
            yc.sum().backward();
            yg.sum().backward();
            await expectGpuClose(ag.grad!, ac.grad!, { rtol: 1e-4, atol: 1e-5 });
            await expectGpuClose(bg.grad!, bc.grad!, { rtol: 1e-4, atol: 1e-5 });
          },
        ),
        RUNS,
      );
    });
  }

  it('comparisons and where match the CPU exactly', async () => {
    await fc.assert(
      fc.asyncProperty(
        broadcastPairArb(4, 3).chain(([sa, sb]) =>
          fc.tuple(fc.constant(sa), fc.constant(sb), valuesArb(sizeOf(sa), fc.integer({ min: -2, max: 2 })), valuesArb(sizeOf(sb), fc.integer({ min: -2, max: 2 })))),
        async ([sa, sb, va, vb]) => {
          const [ac, ag] = both(sa, va);
          const [bc, bg] = both(sb, vb);
          for (const op of ['eq', 'ne', 'gt', 'ge', 'lt', 'le'] as const) {
            await expectGpuClose(ag[op](bg), ac[op](bc), { rtol: 0, atol: 0 });
          }
          await expectGpuClose(where(ag.gt(0), ag, bg), where(ac.gt(0), ac, bc), { rtol: 0, atol: 0 });
        },
      ),
      RUNS,
    );
  });

  it('i32 arithmetic, casts, expand and permute match the CPU exactly', async () => {
    const a = tensor([[1, -2, 3], [4, 5, -6]], { dtype: 'i32' });
    const ag = tensor([[1, -2, 3], [4, 5, -6]], { dtype: 'i32', device: 'webgpu' });
    await expectGpuClose(ag.mul(ag).add(ag.neg()).maximum(1), a.mul(a).add(a.neg()).maximum(1), { rtol: 0, atol: 0 });
    await expectGpuClose(ag.to('f32').mul(0.5).to('i32'), a.to('f32').mul(0.5).to('i32'), { rtol: 0, atol: 0 });
    await expectGpuClose(ag.reshape([2, 1, 3]).expand([2, 4, 3]).permute([2, 0, 1]), a.reshape([2, 1, 3]).expand([2, 4, 3]).permute([2, 0, 1]), { rtol: 0, atol: 0 });
    await expectGpuClose(ag.eq(3), a.eq(3), { rtol: 0, atol: 0 });
  });

  it('sigmoid, softplus and tanh stay finite at ±1e4 in f32', async () => {
    const v = [-1e4, -1000, -100, -88, -20, 0, 20, 88, 100, 1000, 1e4];
    const [c, g] = both([v.length], v);
    for (const f of [(x: Tensor) => x.sigmoid(), (x: Tensor) => x.softplus(), (x: Tensor) => x.tanh()]) {
      const out = await f(g).toArray();
      expect(out.every(Number.isFinite)).toBe(true);
      await expectGpuClose(f(g), f(c), { rtol: 2e-5, atol: 1e-6 });
    }
  });

  it('bad input: f64 on the GPU, mixed devices, reading a disposed tensor', async () => {
    expect(() => tensor([1, 2], { dtype: 'f64', device: 'webgpu' })).toThrow(DTypeError);
    expect(() => tensor([1, 2], { dtype: 'f64', device: 'webgpu' })).toThrow(/f64 is not supported on the GPU/);
    const c = tensor([1, 2]);
    const g = tensor([1, 2], { device: 'webgpu' });
    expect(() => c.add(g)).toThrow(DeviceError);
    expect(() => c.add(g)).toThrow(/add: tensors are on different devices \(cpu, webgpu\)/);
    g.dispose();
    await expect(g.toArray()).rejects.toThrow(/disposed/);
    expect(() => g.exp()).toThrow(DeviceError);
    expect(() => tensor([1], { device: 'webgpu' }).toArraySync()).toThrow(/reads from the GPU are async/);
  });

  it('10,000 small train steps keep the buffer pool flat', async () => {
    let w = tensor(Float32Array.from({ length: 16 }, (_, i) => (i % 5) / 10 - 0.2), { shape: [4, 4], device: 'webgpu', requiresGrad: true });
    const x = tensor(Float32Array.from({ length: 32 }, (_, i) => Math.sin(i)), { shape: [8, 4], device: 'webgpu' });
    const startTensors = liveTensors();
    const startBuffers = gpu!.liveBuffers();
    const createdBefore = gpu!.pool.stats().created;
    for (let step = 0; step < 10_000; step++) {
      const next = tidy(() => {
        const loss = x.matmul(w).tanh().square().mean();
        loss.backward();
        return w.sub(w.grad!.mul(0.1)).detach();
      });
      w.dispose();
      w = next.setRequiresGrad();
      if (step % 1000 === 999) {
        expect(liveTensors()).toBe(startTensors);
        expect(gpu!.liveBuffers()).toBe(startBuffers);
      }
    }
    const final = await w.toArray();
    expect(final.every(Number.isFinite)).toBe(true);
    // Buffers ever created stays small: the pool recycles instead of growing with the step count.
    expect(gpu!.pool.stats().created - createdBefore).toBeLessThan(200);
    expect(gpu!.liveBuffers()).toBe(startBuffers);
  });
});

describeGpu('moving between devices', () => {
  it('to(webgpu) is differentiable; GPU → CPU needs toAsync and gives a leaf with the same values', async () => {
    const x = tensor([[1, -2], [3, 4]], { requiresGrad: true });
    const g = x.to('webgpu');
    expect(g.device).toBe('webgpu');
    expect(() => g.to('cpu')).toThrow(/await t.toAsync\('cpu'\)/);
    const back = await g.mul(2).toAsync('cpu');
    expect(back.device).toBe('cpu');
    expect(back.requiresGrad).toBe(false);
    expect(Array.from(back.toArraySync())).toEqual([2, -4, 6, 8]);
  });
});
