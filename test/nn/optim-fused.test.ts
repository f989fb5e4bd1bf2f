/**
 * The fused CPU AdamW kernels (v2: the JavaScript loop in src/tensor/cpu/kernels/adamw/js.ts;
 * v3: the WebAssembly SIMD one in adamw/wasm.ts, which f32 parameters take) against the composed
 * tensor-op update (adamwUpdateComposed, v1, the reference and fallback), and v3
 * against v2 directly across block edges: over several steps on drawn values,
 * gradients (including tiny and zero ones, where √v + eps and the f32 roundings matter) and
 * hyperparameters, with and without weight decay, in f32 and f64, the parameter and both moments
 * agree bit for bit. Also: AdamW.step takes the fused routine on the CPU and the result matches the
 * composed path run through AdamW itself.
 */
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { cpuBackend, getFlag, noGrad, tensor, tidy, withFlags, type Tensor } from '../../src/index.js';
import { AdamW, adamwUpdate, adamwUpdateComposed } from '../../src/nn/optim.js';
import { expectBitwise } from '../helpers/assert.js';
import { adamwInto } from '../../src/tensor/cpu/kernels/adamw/js.js';
import { adamwWasmInto, wasmAdamWStatus } from '../../src/tensor/cpu/kernels/adamw/wasm.js';

const valueArb = fc.oneof(
  fc.double({ min: -4, max: 4, noNaN: true }),
  fc.double({ min: -1e-6, max: 1e-6, noNaN: true }),
  fc.constant(0),
);

const hyperArb = fc.record({
  lr: fc.oneof(fc.constant(1e-3), fc.double({ min: 1e-5, max: 0.5, noNaN: true })),
  b1: fc.oneof(fc.constant(0.9), fc.double({ min: 0, max: 0.999, noNaN: true })),
  b2: fc.oneof(fc.constant(0.999), fc.double({ min: 0, max: 0.9999, noNaN: true })),
  eps: fc.oneof(fc.constant(1e-8), fc.double({ min: 0, max: 1e-2, noNaN: true })),
  wd: fc.oneof(fc.constant(0), fc.constant(1e-2), fc.double({ min: 0, max: 0.5, noNaN: true })),
});

function state(dtype: 'f32' | 'f64', p: number[]): { p: Tensor; m: Tensor; v: Tensor } {
  return { p: tensor(p, { dtype }), m: tensor(p.map(() => 0), { dtype }), v: tensor(p.map(() => 0), { dtype }) };
}

describe('fused CPU AdamW vs the composed ops (v1)', () => {
  for (const dtype of ['f32', 'f64'] as const) {
    it(`${dtype}: parameter and moments agree bit for bit over several steps`, () => {
      const fusedCalls = vi.spyOn(cpuBackend.routines, 'adamw');
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 40 }).chain((n) =>
            fc.tuple(fc.array(valueArb, { minLength: n, maxLength: n }), fc.array(fc.array(valueArb, { minLength: n, maxLength: n }), { minLength: 1, maxLength: 4 })),
          ),
          hyperArb,
          ([p0, grads], h) => {
            const a = state(dtype, p0);
            const b = state(dtype, p0);
            grads.forEach((gv, t) => {
              const g = tensor(gv, { dtype });
              const s = { beta1: h.b1, beta2: h.b2, eps: h.eps, lr: h.lr, weightDecay: h.wd, bc1: 1 - h.b1 ** (t + 1), bc2: 1 - h.b2 ** (t + 1) };
              noGrad(() => tidy(() => adamwUpdateComposed(a.p, g, a.m, a.v, s)));
              const calls = fusedCalls.mock.calls.length;
              noGrad(() => tidy(() => adamwUpdate(b.p, g, b.m, b.v, s)));
              expect(fusedCalls.mock.calls.length, 'adamwUpdate took the fused routine').toBe(calls + 1);
              g.dispose();
            });
            expectBitwise(b.m.toArraySync(), a.m.toArraySync(), 'm');
            expectBitwise(b.v.toArraySync(), a.v.toArraySync(), 'v');
            expectBitwise(b.p.toArraySync(), a.p.toArraySync(), 'p');
            for (const t of [a.p, a.m, a.v, b.p, b.m, b.v]) t.dispose();
          },
        ),
        { numRuns: 150 },
      );
      fusedCalls.mockRestore();
    });
  }

  it('AdamW.step on the CPU (fused) equals AdamW.step with the composed path', () => {
    const run = (fused: boolean) => withFlags({ 'nn.fusedAdamW': fused }, () => {
      const p = tensor([0.5, -1.25, 3, 1e-7, 0], { requiresGrad: true });
      const q = tensor([[1, 2], [3, 4]], { dtype: 'f64', requiresGrad: true });
      const opt = new AdamW([p, q], { lr: 0.01, weightDecay: 0.1 });
      for (let i = 0; i < 3; i++) {
        tidy(() => p.mul(p).sum().add(q.sin().sum().to('f32')).backward());
        opt.step();
        opt.zeroGrad();
      }
      return [p.toArraySync(), q.toArraySync()];
    });
    const [pf, qf] = run(true);
    const [pc, qc] = run(false);
    expectBitwise(pf!, pc!, 'p');
    expectBitwise(qf!, qc!, 'q');
    expect(getFlag('nn.fusedAdamW')).toBe(true);
  });
});

describe('WebAssembly SIMD AdamW (v3) vs the JavaScript loop (v2)', () => {
  it('runs here, and agrees bit for bit across block edges and lengths not a multiple of 4', () => {
    expect(wasmAdamWStatus()).toEqual({ available: true, reason: null });
    const specials = [0, -0, Infinity, -Infinity, NaN, 1e-45, -1e-40, 3e38, 1e-8];
    fc.assert(
      fc.property(
        fc.constantFrom(1, 3, 4, 5, 17, 16384, 16385, 40003),
        fc.integer({ min: 0, max: 1e6 }),
        hyperArb,
        fc.integer({ min: 1, max: 50 }),
        (n, seed, h, t) => {
          const mk = (salt: number, abs = false) =>
            Float32Array.from({ length: n }, (_, i) => {
              const x = (i * 7 + seed + salt) % 13 === 0 ? specials[(i + salt) % specials.length]! : Math.sin(i * 0.37 + seed + salt) * 10 ** (((i + salt) % 7) - 4);
              return abs ? Math.abs(x) : x;
            });
          const [p, g, m, v] = [mk(1), mk(2), mk(3), mk(4, true)];
          const s = { beta1: h.b1, beta2: h.b2, eps: h.eps, lr: h.lr, weightDecay: h.wd, bc1: 1 - h.b1 ** t, bc2: 1 - h.b2 ** t };
          const want = [new Float32Array(n), new Float32Array(n), new Float32Array(n)] as const;
          const got = [new Float32Array(n), new Float32Array(n), new Float32Array(n)] as const;
          adamwInto(p, g, m, v, ...want, s);
          expect(adamwWasmInto(p, g, m, v, ...got, s)).toBe(true);
          expectBitwise(got[0], want[0], 'p');
          expectBitwise(got[1], want[1], 'm');
          expectBitwise(got[2], want[2], 'v');
        },
      ),
      { numRuns: 60 },
    );
  });
});
