/**
 * Fused CPU vjp kernels (src/tensor/cpu/fused.ts) against the composed rules they replace
 * (src/autograd/ops/elementwise.ts, run with fusedCpuVjps.enabled = false): the gradients of
 * silu agree bit for bit in f32 and f64 over values that include ±0, ±Inf, NaN, large and tiny
 * magnitudes, with arbitrary upstream gradients; under createGraph the composed rule runs (the
 * fused kernel is not differentiable) and second derivatives still come out.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { tensor, tidy } from '../../src/index.js';
import { fusedCpuVjps } from '../../src/autograd/ops/elementwise.js';
import { grad } from '../../src/autograd/index.js';
import { expectBitwise } from '../helpers/reduce.js';

const special = fc.constantFrom(NaN, 0, -0, Infinity, -Infinity, 1e-30, -1e-30, 40, -40, 100, -100);
const valueArb = fc.oneof({ weight: 6, arbitrary: fc.double({ min: -12, max: 12, noNaN: true }) }, { weight: 1, arbitrary: special });

function siluGrad(xs: number[], gs: number[], dtype: 'f32' | 'f64', fused: boolean): ArrayLike<number> {
  const prev = fusedCpuVjps.enabled;
  fusedCpuVjps.enabled = fused;
  try {
    return tidy(() => {
      const x = tensor(xs, { dtype, requiresGrad: true });
      x.silu().backward(tensor(gs, { dtype }));
      const out = x.grad!.toArraySync();
      x.dispose();
      return out;
    });
  } finally {
    fusedCpuVjps.enabled = prev;
  }
}

describe('fused CPU vjps vs the composed rules (bit for bit)', () => {
  for (const dtype of ['f32', 'f64'] as const) {
    it(`silu ${dtype}`, () => {
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 50 }).chain((n) => fc.tuple(fc.array(valueArb, { minLength: n, maxLength: n }), fc.array(valueArb, { minLength: n, maxLength: n }))), ([xs, gs]) => {
          expectBitwise(siluGrad(xs, gs, dtype, true), siluGrad(xs, gs, dtype, false), `silu' ${dtype}`);
        }),
        { numRuns: 300 },
      );
    });
  }

  it('createGraph takes the composed rule: the second derivative of silu exists', () => {
    const x = tensor([0.3, -1.2, 2], { dtype: 'f64', requiresGrad: true });
    const [g1] = grad((t) => t.silu().sum(), [x], { createGraph: true });
    expect(g1!.requiresGrad).toBe(true);
    g1!.sum().backward();
    const s = (v: number) => 1 / (1 + Math.exp(-v));
    const want = [0.3, -1.2, 2].map((v) => s(v) * (1 - s(v)) * (2 + v * (1 - 2 * s(v))));
    Array.from(x.grad!.toArraySync()).forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 12));
  });
});
