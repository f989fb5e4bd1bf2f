/**
 * Fused CPU vjp kernels (src/tensor/cpu/fused.ts) against the composed rules they replace
 * (src/autograd/ops/elementwise.ts, run with flag 'autograd.fusedVjps' off): silu's values and
 * gradients agree bit for bit in f32 and f64, with the forward keeping sigmoid(x) for the
 * backward and without (recomputed), over values that include ±0, ±Inf, NaN, large and tiny
 * magnitudes, with arbitrary upstream gradients; under createGraph the composed rule runs (the
 * fused kernel is not differentiable) and second derivatives still come out.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { tensor, tidy, withFlags } from '../../src/index.js';
import { grad } from '../../src/autograd/index.js';
import { expectBitwise } from '../helpers/assert.js';

const special = fc.constantFrom(NaN, 0, -0, Infinity, -Infinity, 1e-30, -1e-30, 40, -40, 100, -100);
const valueArb = fc.oneof({ weight: 6, arbitrary: fc.double({ min: -12, max: 12, noNaN: true }) }, { weight: 1, arbitrary: special });

/**
 * silu's forward values and gradient. fused: the forward keeps sigmoid(x) and the fused kernel
 * uses it; 'recompute': the forward runs without the fused switch (plain unary kernel), the
 * backward with it (the fused kernel recomputes the sigmoid); false: composed ops throughout.
 */
function siluGrad(xs: number[], gs: number[], dtype: 'f32' | 'f64', fused: boolean | 'recompute'): ArrayLike<number>[] {
  return tidy(() => {
    const x = tensor(xs, { dtype, requiresGrad: true });
    const y = withFlags({ 'autograd.fusedVjps': fused === true }, () => x.silu());
    withFlags({ 'autograd.fusedVjps': fused !== false }, () => y.backward(tensor(gs, { dtype })));
    const out = [y.toArraySync(), x.grad!.toArraySync()];
    x.dispose();
    return out;
  });
}

describe('fused CPU vjps vs the composed rules (bit for bit)', () => {
  for (const dtype of ['f32', 'f64'] as const) {
    it(`silu ${dtype}`, () => {
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 50 }).chain((n) => fc.tuple(fc.array(valueArb, { minLength: n, maxLength: n }), fc.array(valueArb, { minLength: n, maxLength: n }))), ([xs, gs]) => {
          const [y0, g0] = siluGrad(xs, gs, dtype, false);
          for (const mode of [true, 'recompute'] as const) {
            const [y1, g1] = siluGrad(xs, gs, dtype, mode);
            expectBitwise(y1!, y0!, `silu ${dtype} (${mode})`);
            expectBitwise(g1!, g0!, `silu' ${dtype} (${mode})`);
          }
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
