/**
 * The autograd API: accumulation into .grad, seeds, grad()/valueAndGrad(), noGrad, detach,
 * shared subexpressions, deep graphs, discrete outputs, retainGrad, gradcheck itself (including
 * a deliberately wrong vjp), second-order gradients, and tidy()/keep() memory scoping.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  AutogradError, grad, gradcheck, GradcheckError, keep, liveTensors, noGrad, ones, tensor, tidy, type Tensor, valueAndGrad,
} from '../../src/index.js';
import { record } from '../../src/autograd/tape.js';
import { RUNS, shapedArb, shapeArb, valueArb, valueAwayArb } from '../helpers/arbitraries.js';
import { expectClose } from '../helpers/assert.js';
import { arr, f64 } from '../helpers/tensors.js';


describe('backward and .grad', () => {
  it('gradients accumulate into .grad over two backward calls (+=)', () => {
    const x = tensor([1, 2, 3], { dtype: 'f64', requiresGrad: true });
    x.mul(x).sum().backward(); // 2x
    expect(arr(x.grad)).toEqual([2, 4, 6]);
    x.mul(3).sum().backward(); // + 3
    expect(arr(x.grad)).toEqual([5, 7, 9]);
    // The same graph twice accumulates too.
    const y = x.exp().sum();
    const before = arr(x.grad);
    y.backward();
    y.backward();
    expectClose(arr(x.grad), before.map((b, i) => b + 2 * Math.exp(i + 1)), { tol: 1e-12 });
  });

  it('backward(seed) with a non-scalar seed gives the vector-Jacobian product', () => {
    const x = tensor([[1, 2], [3, 4]], { dtype: 'f64', requiresGrad: true });
    const y = x.mul(x); // dy/dx = 2x elementwise
    y.backward(tensor([[1, -1], [0.5, 2]], { dtype: 'f64' }));
    expect(arr(x.grad)).toEqual([2, -4, 3, 16]);
    expect(x.grad!.shape).toEqual([2, 2]);
  });

  it('gradients of a broadcast operand are summed back to its shape', () => {
    const a = tensor([[1, 2, 3], [4, 5, 6]], { dtype: 'f64', requiresGrad: true });
    const b = tensor([10, 20, 30], { dtype: 'f64', requiresGrad: true });
    a.mul(b).sum().backward();
    expect(arr(b.grad)).toEqual([5, 7, 9]);
    expect(arr(a.grad)).toEqual([10, 20, 30, 10, 20, 30]);
  });

  it('a tensor used twice (x*x) gets the summed gradient; diamond graphs too', () => {
    fc.assert(
      fc.property(valueArb(-2, 2), (v) => {
        const x = tensor([v], { dtype: 'f64', requiresGrad: true });
        x.mul(x).sum().backward();
        expectClose(arr(x.grad), [2 * v], { tol: 1e-12 });

        // Diamond: x → a = 2x, b = exp(x) → c = a·b + a → d/dx = 2e^x + 2x e^x + 2.
        const z = tensor([v], { dtype: 'f64', requiresGrad: true });
        const a = z.mul(2);
        const b = z.exp();
        a.mul(b).add(a).sum().backward();
        expectClose(arr(z.grad), [2 * Math.exp(v) + 2 * v * Math.exp(v) + 2], { tol: 1e-12 });
      }),
      RUNS,
    );
  });

  it('deep chains (5000 chained adds) do not overflow the stack', () => {
    const x = tensor([1, 2], { dtype: 'f64', requiresGrad: true });
    let y = x;
    for (let i = 0; i < 5000; i++) y = y.add(x.mul(0.5)); // dy/dx = 1 + 5000·0.5
    y.sum().backward();
    expect(arr(x.grad)).toEqual([2501, 2501]);

    let z = x;
    for (let i = 0; i < 5000; i++) z = z.add(1);
    expect(arr(grad((t) => { let u = t; for (let i = 0; i < 5000; i++) u = u.add(1); return u.sum(); }, [x])[0]!)).toEqual([1, 1]);
    expect(arr(z)).toEqual([5001, 5002]);
  });

  it('retainGrad() keeps a non-leaf grad; other non-leaves keep none', () => {
    const x = tensor([1, 2, 3], { dtype: 'f64', requiresGrad: true });
    const h = x.mul(2).retainGrad();
    const k = h.add(1);
    h.mul(k).sum().backward(); // d/dh (h·(h+1)) = 2h + 1
    expect(h.isLeaf).toBe(false);
    expect(arr(h.grad)).toEqual([5, 9, 13]);
    expect(k.grad).toBeNull();
    expect(arr(x.grad)).toEqual([10, 18, 26]);
  });
});

describe('grad() and valueAndGrad()', () => {
  it("grad(f, inputs) returns gradients without touching the inputs' .grad", () => {
    const x = tensor([1, 2], { dtype: 'f64', requiresGrad: true });
    const w = tensor([3, -1], { dtype: 'f64', requiresGrad: true });
    const [gx, gw] = grad((a, b) => a.mul(b).sum(), [x, w]);
    expect(arr(gx)).toEqual([3, -1]);
    expect(arr(gw)).toEqual([1, 2]);
    expect(x.grad).toBeNull();
    expect(w.grad).toBeNull();
    // Also for inputs that did not ask for grad.
    const c = tensor([2, 5], { dtype: 'f64' });
    expect(arr(grad((a) => a.square().sum(), [c])[0]!)).toEqual([4, 10]);
    expect(c.requiresGrad).toBe(false);
    expect(c.grad).toBeNull();
  });

  it('zeros for an unused float input, null for i32 inputs', () => {
    const x = tensor([1, 2, 3], { dtype: 'f64' });
    const unused = tensor([[7, 8]], { dtype: 'f64' });
    const idx = tensor([2, 0], { dtype: 'i32' });
    const gs = grad((a, _u, i) => a.gather(0, i!).mul(a.slice(0, 0, 2)).sum(), [x, unused, idx]);
    // f = x[2]·x[0] + x[0]·x[1]  →  [x2 + x1, x0, x0]
    expect(arr(gs[0])).toEqual([5, 1, 1]);
    expect(gs[1]!.shape).toEqual([1, 2]);
    expect(arr(gs[1])).toEqual([0, 0]);
    expect(gs[2]).toBeNull();
  });

  it('an output that does not depend on any input gives all-zero gradients', () => {
    const x = tensor([1, 2], { dtype: 'f64' });
    const [g] = grad(() => tensor(3, { dtype: 'f64' }), [x]);
    expect(arr(g)).toEqual([0, 0]);
  });

  it('valueAndGrad returns f(x) and df/dx', () => {
    fc.assert(
      fc.property(shapedArb(shapeArb(0, 3)), ({ shape, values }) => {
        const x = f64(shape, values);
        const { value, grads } = valueAndGrad((t) => t.sin().sum(), [x]);
        expectClose([value.itemSync()], [values.reduce((p, v) => p + Math.sin(v), 0)], { tol: 1e-12 });
        expectClose(arr(grads[0]), values.map(Math.cos), { tol: 1e-12 });
      }),
      RUNS,
    );
  });

  it('grad with a seed for a non-scalar output', () => {
    const x = tensor([1, 2, 3], { dtype: 'f64' });
    const [g] = grad((t) => t.square(), [x], { seed: tensor([1, 0, -1], { dtype: 'f64' }) });
    expect(arr(g)).toEqual([2, 0, -6]);
  });
});

describe('noGrad, detach, discrete outputs', () => {
  it('noGrad(fn) records nothing', () => {
    const x = tensor([1, 2], { requiresGrad: true });
    const y = noGrad(() => x.mul(2).exp().sum());
    expect(y.requiresGrad).toBe(false);
    expect(y.gradNode).toBeNull();
    expect(() => y.backward()).toThrow(AutogradError);
    // Recording resumes afterwards.
    expect(x.mul(2).requiresGrad).toBe(true);
  });

  it('detach() stops gradients', () => {
    const x = tensor([1, 2, 3], { dtype: 'f64', requiresGrad: true });
    const d = x.detach();
    expect(d.requiresGrad).toBe(false);
    expect(d.isLeaf).toBe(true);
    expect(arr(d)).toEqual([1, 2, 3]);
    x.mul(d).sum().backward(); // only the non-detached factor contributes: grad = x, not 2x
    expect(arr(x.grad)).toEqual([1, 2, 3]);
  });

  it('argmax, topk indices and comparisons have no gradient', () => {
    const x = tensor([[1, 5, 2], [7, 0, 3]], { requiresGrad: true });
    expect(x.argmax(1).requiresGrad).toBe(false);
    expect(x.argmax(1).dtype).toBe('i32');
    expect(arr(x.argmax(1))).toEqual([1, 0]);
    const { values, indices } = x.topk(2, 1);
    expect(indices.requiresGrad).toBe(false);
    expect(indices.gradNode).toBeNull();
    expect(values.requiresGrad).toBe(true);
    for (const m of [x.gt(2), x.eq(x), x.lt(0), x.sign()]) {
      expect(m.requiresGrad).toBe(false);
      expect(m.gradNode).toBeNull();
    }
    // Using a mask in a product keeps the gradient of the float factor only.
    x.mul(x.gt(2)).sum().backward();
    expect(arr(x.grad)).toEqual([0, 1, 0, 1, 0, 1]);
  });
});

describe('gradcheck itself', () => {
  /** x³ with a deliberately wrong vjp claiming d/dx x³ = 2x² (or the right one, 3x²). */
  const cube = (wrong: boolean) => (x: Tensor): Tensor => {
    const y = noGrad(() => x.mul(x).mul(x));
    return record('cube', [x], y, (g) => [g.mul(x.mul(x).mul(wrong ? 2 : 3))]);
  };

  it('returns true on a correct op (custom record, and built-in ops)', () => {
    fc.assert(
      fc.property(shapedArb(shapeArb(0, 3)), ({ shape, values }) => {
        expect(gradcheck(cube(false), [f64(shape, values)], { rtol: 1e-6 })).toBe(true);
      }),
      RUNS,
    );
    const a = f64([2, 3], [0.1, -0.4, 1.2, 0.7, -1.1, 0.3]);
    expect(gradcheck((t) => t.tanh().mul(t).logSoftmax(1), [a], { rtol: 1e-6 })).toBe(true);
  });

  it('throws GradcheckError naming the input index and coordinates for a wrong vjp', () => {
    const a = f64([2, 3], [1, 1, 1, 1, 1, 1]);
    // The error of the wrong rule is b², largest where |b| is: input 1 at [1, 2].
    const b = f64([2, 3], [0.5, -0.25, 1, 0.75, -1.5, 2.5]);
    let caught: unknown;
    try {
      gradcheck((p, q) => p.add(cube(true)(q!)), [a, b], { rtol: 1e-6 });
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(GradcheckError);
    expect(caught).toBeInstanceOf(AutogradError);
    const err = caught as GradcheckError;
    expect(err.message).toMatch(/^gradcheck: gradient mismatch for input 1 at coords \[1, 2\]/);
    expect(err.report.ok).toBe(false);
    expect(err.report.worst!.input).toBe(1);
    expect(err.report.worst!.coords).toEqual([1, 2]);
    // analytic 2·2.5² = 12.5, numeric 3·2.5² = 18.75.
    expect(err.report.worst!.analytic).toBeCloseTo(12.5, 9);
    expect(err.report.worst!.numeric).toBeCloseTo(18.75, 5);
  });

  it('catches a wrong vjp at every drawn shape and value (away from 0, where 2x² ≈ 3x²)', () => {
    const awayArb = valueAwayArb([0], 0.1);
    fc.assert(
      fc.property(shapedArb(shapeArb(0, 3), awayArb), ({ shape, values }) => {
        expect(() => gradcheck(cube(true), [f64(shape, values)], { rtol: 1e-6 })).toThrow(GradcheckError);
      }),
      RUNS,
    );
  });
});

describe('higher order', () => {
  it('createGraph: true allows a second-order gradient (d²/dx² x³ = 6x via grad of grad)', () => {
    fc.assert(
      fc.property(shapedArb(shapeArb(0, 2, 3), valueArb(-2, 2)), ({ shape, values }) => {
        const x = f64(shape, values);
        const dcube = (t: Tensor) => grad((u) => u.pow(3).sum(), [t], { createGraph: true })[0]!;
        expectClose(arr(dcube(x)), values.map((v) => 3 * v * v), { tol: 1e-12 });
        const [g2] = grad((t) => dcube(t).sum(), [x]);
        expectClose(arr(g2), values.map((v) => 6 * v), { tol: 1e-12 });
      }),
      RUNS,
    );
  });

  it('regression: grad() with createGraph keeps a recorded input connected (grad of grad was all zeros)', () => {
    // grad() must not detach a recorded input: the inner gradient 3x² has to stay a function of the outer x.
    const x = tensor([1.5, -2], { dtype: 'f64', requiresGrad: true });
    const [g2] = grad((t) => grad((u) => u.pow(3).sum(), [t], { createGraph: true })[0]!.sum(), [x]);
    expectClose(arr(g2), [9, -12], { tol: 1e-12 });
    expect(x.grad).toBeNull();
    // A mixed second derivative: d/dy of (d/dx x²y) = 2x.
    const y = tensor([4], { dtype: 'f64' });
    const [, gy] = grad((a, b) => grad((u) => u.square().mul(b!).sum(), [a], { createGraph: true })[0]!.sum(), [x, y]);
    expectClose(arr(gy), [2 * (1.5 - 2)], { tol: 1e-12 });
  });

  it('createGraph through backward(): x.grad can itself be differentiated', () => {
    const x = tensor([1.5, -2], { dtype: 'f64', requiresGrad: true });
    x.pow(3).sum().backward(undefined, { createGraph: true });
    const g1 = x.grad!;
    expect(g1.requiresGrad).toBe(true);
    expectClose(arr(g1), [6.75, 12], { tol: 1e-12 });
    x.grad = null;
    g1.sum().backward();
    expectClose(arr(x.grad), [9, -12], { tol: 1e-12 });
  });

  it('without createGraph the gradient is a constant (no graph recorded)', () => {
    const x = tensor([1.5], { dtype: 'f64', requiresGrad: true });
    const [g] = grad((u) => u.pow(3).sum(), [x]);
    expect(g!.requiresGrad).toBe(false);
  });
});

describe('tidy and keep', () => {
  it('disposes tensors created inside and not returned; returned ones survive', () => {
    const before = liveTensors();
    let inner: Tensor[] = [];
    const out = tidy(() => {
      const a = ones([2, 2]);
      const b = a.add(1);
      const c = b.mul(b).sum();
      inner = [a, b];
      return c;
    });
    expect(liveTensors()).toBe(before + 1);
    expect(out.isDisposed).toBe(false);
    expect(out.itemSync()).toBe(16);
    for (const t of inner) expect(t.isDisposed).toBe(true);
    out.dispose();
    expect(liveTensors()).toBe(before);
  });

  it('returned arrays and objects of tensors survive; keep() exempts a tensor', () => {
    const before = liveTensors();
    let kept: Tensor | null = null;
    let dropped: Tensor | null = null;
    const res = tidy(() => {
      const a = ones([3]);
      dropped = a.mul(2);
      kept = keep(a.add(5));
      return { list: [a.exp()], one: a.neg() };
    });
    expect(liveTensors()).toBe(before + 3);
    expect(kept!.isDisposed).toBe(false);
    expect(arr(kept)).toEqual([6, 6, 6]);
    expect(dropped!.isDisposed).toBe(true);
    expect(arr(res.one)).toEqual([-1, -1, -1]);
    for (const t of [kept!, res.one, res.list[0]!]) t.dispose();
    expect(liveTensors()).toBe(before);
  });

  it('nested tidy: a tensor returned from the inner scope belongs to the outer one', () => {
    const before = liveTensors();
    let fromInner: Tensor | null = null;
    const r = tidy(() => {
      fromInner = tidy(() => ones([2]).mul(3));
      expect(fromInner.isDisposed).toBe(false);
      return fromInner.add(1);
    });
    expect(fromInner!.isDisposed).toBe(true);
    expect(arr(r)).toEqual([4, 4]);
    expect(liveTensors()).toBe(before + 1);
    r.dispose();
    expect(liveTensors()).toBe(before);
  });

  it('tensors created outside the scope are untouched', () => {
    const outside = ones([2]);
    const before = liveTensors();
    tidy(() => {
      outside.add(1);
      return undefined;
    });
    expect(outside.isDisposed).toBe(false);
    expect(liveTensors()).toBe(before);
    outside.dispose();
  });
});
