/**
 * The no-grad CPU dispatch (src/moe/expert-groups.ts: one product per used expert against a view
 * of its weights) against the chunked sparse path it stands in for (the path taken when a
 * gradient is wanted): on drawn routings, from a single decoding token to crowded and
 * unbalanced batches, f32 and f64, with the default SwiGLU runner and with a custom one (as
 * the inference engine passes), expertRows gives the same [N, k, D] rows bit for bit; the
 * whole layer's output too, and the no-grad path leaves no tensor behind.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Rng, liveTensors, noGrad, tensor, tidy, type Tensor } from '../../src/index.js';
import { expertRows, moeForward, type MoEParams } from '../../src/moe/index.js';
import { matmulT } from '../../src/autograd/index.js';
import { expectBitwise } from '../helpers/assert.js';

function params(seed: number, e: number, d: number, h: number, dtype: 'f32' | 'f64'): MoEParams {
  const rng = new Rng(seed);
  const t = (shape: number[]) => tensor(rng.uniform(shape.reduce((p, q) => p * q, 1)).map((u) => u * 2 - 1), { shape, dtype, requiresGrad: true });
  return { router: t([e, d]), wGate: t([e, h, d]), wUp: t([e, h, d]), wDown: t([e, d, h]) };
}

const caseArb = fc.record({
  n: fc.integer({ min: 1, max: 24 }),
  e: fc.integer({ min: 2, max: 8 }),
  k: fc.integer({ min: 1, max: 2 }),
  crowd: fc.boolean(),
  seed: fc.integer({ min: 1, max: 1000 }),
  dtype: fc.constantFrom('f32' as const, 'f64' as const),
});

/** Routing: distinct experts per token, drawn, or crowded onto the first k experts. */
function routing(n: number, e: number, k: number, crowd: boolean, seed: number): Int32Array {
  const rng = new Rng(seed + 7);
  const ids = new Int32Array(n * k);
  for (let t = 0; t < n; t++) {
    const order = Array.from({ length: e }, (_, i) => i);
    const u = rng.uniform(e);
    order.sort((a, b) => u[a]! - u[b]!);
    for (let j = 0; j < k; j++) ids[t * k + j] = crowd ? j : order[j]!;
  }
  return ids;
}

// A runner that is not swigluExperts (the engine passes its own).
const plainRunner = (x: Tensor, wg: Tensor, _wu: Tensor, wd: Tensor) => matmulT(matmulT(x, wg, false, true).relu(), wd, false, true);

describe('no-grad per-expert dispatch vs the chunked sparse path', () => {
  it('expertRows agrees bit for bit (default and custom runner)', () => {
    fc.assert(
      fc.property(caseArb, ({ n, e, k, crowd, seed, dtype }) => {
        const d = 6;
        const h = 5;
        const p = params(seed, e, d, h, dtype);
        const x = tensor(new Rng(seed + 1).uniform(n * d).map((u) => u - 0.5), { shape: [n, d], dtype });
        const ids = routing(n, e, k, crowd, seed);
        for (const run of [undefined, plainRunner]) {
          const chunked = tidy(() => expertRows(x, ids, p, 'sparse', run).detach());
          const grouped = noGrad(() => expertRows(x, ids, p, 'sparse', run));
          expectBitwise(grouped, chunked, `n=${n} e=${e} k=${k} crowd=${crowd} ${dtype}`);
          chunked.dispose();
          grouped.dispose();
        }
      }),
      { numRuns: 60 },
    );
  });

  it('the whole layer (live routing) agrees, and nothing leaks', () => {
    const p = params(3, 8, 16, 12, 'f32');
    const x = tensor(new Rng(4).uniform(10 * 16).map((u) => u - 0.5), { shape: [10, 16] });
    const withGrad = tidy(() => moeForward(x, p, { k: 2, gate: 'softmax-topk', dispatch: 'sparse' }).output.detach());
    const before = liveTensors();
    const noGradOut = noGrad(() => tidy(() => moeForward(x, p, { k: 2, gate: 'softmax-topk', dispatch: 'sparse' }).output));
    expect(liveTensors()).toBe(before + 1);
    expectBitwise(noGradOut, withGrad, 'layer output');
  });
});
