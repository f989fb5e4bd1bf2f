/**
 * SwiGLU experts: expert_e(x) = W_down,e (silu(W_gate,e x) ⊙ W_up,e x) against a float64 loop
 * reference for each expert, the broadcast (dense) form, gradcheck (f64), and the seeded init.
 */
import { describe, expect, it } from 'vitest';
import { Rng, ShapeError, gradcheck } from '../../src/index.js';
import { SwiGLUExperts, swigluExperts } from '../../src/moe/index.js';
import { expectClose, GC } from '../helpers/assert.js';
import { randF64 } from '../helpers/moe.js';
import { arr } from '../helpers/tensors.js';

const E = 3;
const H = 4;
const D = 2;

function ref(x: number[], G: number[], U: number[], Dn: number[], e: number): number[] {
  const silu = (v: number) => v / (1 + Math.exp(-v));
  const a = Array.from({ length: H }, (_, j) => {
    let g = 0;
    let u = 0;
    for (let i = 0; i < D; i++) {
      g += G[(e * H + j) * D + i]! * x[i]!;
      u += U[(e * H + j) * D + i]! * x[i]!;
    }
    return silu(g) * u;
  });
  return Array.from({ length: D }, (_, i) => a.reduce((s, v, j) => s + v * Dn[(e * D + i) * H + j]!, 0));
}

describe('swigluExperts', () => {
  it('row m of batch e goes through expert e; a [1, M, D] input goes through every expert', () => {
    const m = new SwiGLUExperts(E, D, H, { rng: new Rng(1), dtype: 'f64' });
    const [G, U, Dn] = [arr(m.wGate), arr(m.wUp), arr(m.wDown)];
    const x = randF64(new Rng(2), [E, 5, D], -2, 2);
    const X = arr(x);
    const y = arr(m.forward(x));
    for (let e = 0; e < E; e++) {
      for (let r = 0; r < 5; r++) {
        const off = (e * 5 + r) * D;
        expectClose(y.slice(off, off + D), ref(X.slice(off, off + D), G, U, Dn, e), { rtol: 1e-13, atol: 1e-15, what: `expert ${e} row ${r}` });
      }
    }
    const x1 = randF64(new Rng(3), [1, 5, D], -2, 2);
    const y1 = m.forward(x1);
    expect(y1.shape).toEqual([E, 5, D]);
    const X1 = arr(x1);
    for (let e = 0; e < E; e++) {
      for (let r = 0; r < 5; r++) expectClose(arr(y1).slice((e * 5 + r) * D, (e * 5 + r + 1) * D), ref(X1.slice(r * D, (r + 1) * D), G, U, Dn, e), { rtol: 1e-13, atol: 1e-15, what: 'dense' });
    }
  });

  it('gradcheck (f64) w.r.t. the input and the three stacked weights, grouped and broadcast inputs', () => {
    const rng = new Rng(4);
    const ws = [randF64(rng, [E, H, D]), randF64(rng, [E, H, D]), randF64(rng, [E, D, H])];
    expect(gradcheck((x, g, u, d) => swigluExperts(x, g, u, d), [randF64(rng, [E, 2, D]), ...ws], GC)).toBe(true);
    expect(gradcheck((x, g, u, d) => swigluExperts(x, g, u, d), [randF64(rng, [1, 3, D]), ...ws], GC)).toBe(true);
  });

  it('parameter names, shapes, seeded init within torch nn.Linear bounds, and shape errors', () => {
    const m = new SwiGLUExperts(E, D, H, { rng: new Rng(7), dtype: 'f64' });
    expect([...m.namedParameters()].map(([n, t]) => `${n} ${t.shape.join('x')}`)).toEqual(['wGate 3x4x2', 'wUp 3x4x2', 'wDown 3x2x4']);
    expect(arr(m.wGate).every((v) => Math.abs(v) <= 1 / Math.sqrt(D))).toBe(true);
    expect(arr(m.wDown).every((v) => Math.abs(v) <= 1 / Math.sqrt(H))).toBe(true);
    expect(arr(new SwiGLUExperts(E, D, H, { rng: new Rng(7), dtype: 'f64' }).wUp)).toEqual(arr(m.wUp));
    expect(() => m.forward(randF64(new Rng(1), [2, 5, D]))).toThrow(ShapeError);
    expect(() => m.forward(randF64(new Rng(1), [E, 5, D + 1]))).toThrow(ShapeError);
  });
});
