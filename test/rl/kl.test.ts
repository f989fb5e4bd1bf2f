/**
 * KL estimators, entropy and log-probs (src/rl/kl.ts). Values against plain-JS references
 * (verl's clamps included); f64 gradcheck at rtol 1e-6; k3+ has k3's value and k2's gradient;
 * on a categorical distribution enumerated exactly, E_π[k1] = E_π[k3] = KL(π ‖ π_ref);
 * entropy is −Σ p log p of softmax(logits/τ), log V when uniform, nondecreasing in τ;
 * logProbsOf is the gathered log-softmax of logits/τ and its probabilities sum to 1 over the
 * vocabulary; bad inputs throw typed errors naming the argument.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError, DTypeError, IndexError, ShapeError, ValueError, grad, gradcheck, tensor } from '../../src/index.js';
import { KL_KINDS, entropy, kl, logProbsOf, type KlKind } from '../../src/rl/kl.js';
import { expectClose, GC } from '../helpers/assert.js';
import { arr, f64, i32 } from '../helpers/tensors.js';


const refK = (kind: KlKind, lp: number, ref: number): number => {
  const d = lp - ref;
  if (kind === 'k1') return d;
  if (kind === 'k2') return 0.5 * d * d;
  const nd = Math.min(20, Math.max(-20, -d));
  return Math.min(10, Math.max(-10, Math.expm1(nd) - nd));
};
const logSoftmaxRef = (z: number[]): number[] => {
  const m = Math.max(...z);
  const lse = m + Math.log(z.reduce((s, x) => s + Math.exp(x - m), 0));
  return z.map((x) => x - lse);
};

const pairArb = (min = -4, max = 4) =>
  fc.integer({ min: 1, max: 8 }).chain((n) =>
    fc.tuple(
      fc.array(fc.double({ min, max, noNaN: true }), { minLength: n, maxLength: n }),
      fc.array(fc.double({ min, max, noNaN: true }), { minLength: n, maxLength: n }),
    ),
  );

describe('kl', () => {
  it('values against the reference (verl clamps included), every kind, any shape', () => {
    fc.assert(
      fc.property(pairArb(-40, 40), fc.constantFrom(...KL_KINDS), ([a, b], kind) => {
        const shape = a.length % 2 === 0 ? [2, a.length / 2] : [a.length];
        const y = arr(kl(f64(shape, a), f64(shape, b), kind));
        const ref = kind === 'k3+' ? 'k3' : kind;
        y.forEach((v, i) => expectClose(v, refK(ref, a[i]!, b[i]!), { tol: 1e-13, what: `${kind}[${i}]` }));
      }),
      { numRuns: 200 },
    );
  });

  it('gradcheck in both arguments (k1, k2, k3 inside the clamps)', () => {
    fc.assert(
      fc.property(pairArb(-3, 3), fc.constantFrom<KlKind>('k1', 'k2', 'k3'), ([a, b], kind) => {
        expect(gradcheck((x, y) => kl(x, y, kind), [f64([a.length], a), f64([b.length], b)], GC)).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it("k3+: k3's value, k2's gradient (straight-through)", () => {
    fc.assert(
      fc.property(pairArb(-3, 3), ([a, b]) => {
        const x = f64([a.length], a);
        const y = f64([b.length], b);
        expect(arr(kl(x, y, 'k3+'))).toEqual(arr(kl(x, y, 'k3')));
        const g = grad((p, q) => kl(p, q, 'k3+').sum(), [x, y]);
        const h = grad((p, q) => kl(p, q, 'k2').sum(), [x, y]);
        expect(arr(g[0]!)).toEqual(arr(h[0]!));
        expect(arr(g[1]!)).toEqual(arr(h[1]!));
      }),
      { numRuns: 100 },
    );
  });

  it('k3 ≥ 0 everywhere; k1 can be negative', () => {
    expect(arr(kl(f64([3], [-1, -2, 0]), f64([3], [0, -1, 0]), 'k1'))).toEqual([-1, -1, 0]);
    fc.assert(
      fc.property(pairArb(-30, 30), ([a, b]) => arr(kl(f64([a.length], a), f64([b.length], b), 'k3')).every((v) => v >= 0)),
      { numRuns: 100 },
    );
  });

  it('E_π[k1] = E_π[k3] = KL(π ‖ π_ref) exactly on an enumerated categorical (where the k3 clamp does not bind)', () => {
    fc.assert(
      fc.property(pairArb(-2, 2).filter(([a]) => a.length >= 2), ([za, zb]) => {
        const lp = logSoftmaxRef(za);
        const lr = logSoftmaxRef(zb);
        const p = lp.map(Math.exp);
        const truth = p.reduce((s, pi, i) => s + pi * (lp[i]! - lr[i]!), 0);
        // verl clamps k3 to [−10, 10]; the identity holds where it does not bind.
        fc.pre(lp.every((l, i) => refK('k3', l, lr[i]!) < 10));
        for (const kind of ['k1', 'k3'] as const) {
          const k = arr(kl(f64([lp.length], lp), f64([lr.length], lr), kind));
          expectClose(k.reduce((s, v, i) => s + p[i]! * v, 0), truth, { tol: 1e-13, what: `E[${kind}]` });
        }
      }),
      { numRuns: 100 },
    );
  });

  it('bad input', () => {
    const x = f64([2], [-1, -2]);
    expect(() => kl(x, x, 'k4' as KlKind)).toThrow(ConfigError);
    expect(() => kl(x, x, 'k4' as KlKind)).toThrow(/kl: unknown kind "k4"; expected one of k1, k2, k3, k3\+/);
    expect(() => kl(x, f64([3], [1, 2, 3]), 'k1')).toThrow(ShapeError);
    expect(() => kl(x, f64([3], [1, 2, 3]), 'k1')).toThrow(/kl\('k1'\): refLogp shape \[3\] does not match logp shape \[2\]/);
    expect(() => kl(x, tensor(Float32Array.from([1, 2])), 'k2')).toThrow(/kl\('k2'\): refLogp has dtype f32 but logp has f64/);
    expect(() => kl(f64([2], [NaN, 1]), x, 'k3')).toThrow(ValueError);
    expect(() => kl(f64([2], [NaN, 1]), x, 'k3')).toThrow(/kl\('k3'\): logp has a non-finite value \(NaN\) at flat index 0/);
    expect(() => kl(x, f64([2], [1, -Infinity]), 'k3')).toThrow(/refLogp has a non-finite value \(-Infinity\) at flat index 1/);
    expect(() => kl(i32([2], [1, 2]), x, 'k1')).toThrow(DTypeError);
  });
});

describe('entropy', () => {
  const logitsArb = fc
    .record({ rows: fc.integer({ min: 1, max: 3 }), V: fc.integer({ min: 1, max: 6 }) })
    .chain(({ rows, V }) =>
      fc.record({ rows: fc.constant(rows), V: fc.constant(V), z: fc.array(fc.double({ min: -5, max: 5, noNaN: true }), { minLength: rows * V, maxLength: rows * V }) }),
    );

  it('−Σ p log p of softmax(logits/τ), gradcheck, any temperature', () => {
    fc.assert(
      fc.property(logitsArb, fc.constantFrom(1, 0.7, 1.6), ({ rows, V, z }, tau) => {
        const x = f64([rows, V], z);
        const h = arr(entropy(x, tau));
        expect(h.length).toBe(rows);
        for (let r = 0; r < rows; r++) {
          const lp = logSoftmaxRef(z.slice(r * V, r * V + V).map((v) => v / tau));
          expectClose(h[r]!, -lp.reduce((s, l) => s + Math.exp(l) * l, 0), { tol: 1e-12, what: `H[${r}]` });
        }
        expect(gradcheck((t) => entropy(t, tau), [x], GC)).toBe(true);
        // Temperature scaling is a division of the logits.
        expect(arr(entropy(x, tau))).toEqual(arr(entropy(f64([rows, V], z.map((v) => v / tau)))));
      }),
      { numRuns: 100 },
    );
  });

  it('log V for uniform logits; nondecreasing in the temperature; [B, T, V] → [B, T]', () => {
    expectClose(entropy(f64([1, 4], [3, 3, 3, 3])).itemSync(), Math.log(4), { tol: 1e-12, what: 'uniform' });
    expectClose(entropy(f64([1], [2])).itemSync(), 0, { tol: 1e-12, what: 'one token' });
    fc.assert(
      fc.property(fc.array(fc.double({ min: -5, max: 5, noNaN: true }), { minLength: 3, maxLength: 3 }), (z) => {
        const x = f64([3], z);
        const hs = [0.25, 0.5, 1, 2, 4].map((t) => entropy(x, t).itemSync());
        hs.slice(1).forEach((h, i) => expect(h).toBeGreaterThanOrEqual(hs[i]! - 1e-12));
      }),
      { numRuns: 50 },
    );
    expect(entropy(f64([2, 3, 4], Array.from({ length: 24 }, (_, i) => Math.sin(i)))).shape).toEqual([2, 3]);
  });

  it('bad input', () => {
    const x = f64([1, 3], [1, 2, 3]);
    for (const t of [0, -1, NaN, Infinity]) {
      expect(() => entropy(x, t)).toThrow(ValueError);
      expect(() => entropy(x, t)).toThrow(/entropy: temperature must be a finite number > 0/);
    }
    expect(() => entropy(f64([1, 3], [1, NaN, 3]))).toThrow(/entropy: logits has a non-finite value \(NaN\) at flat index 1/);
    expect(() => entropy(i32([3], [1, 2, 3]))).toThrow(DTypeError);
    expect(() => entropy(f64([2, 0], []))).toThrow(ShapeError);
  });
});

describe('logProbsOf', () => {
  const caseArb = fc
    .record({ B: fc.integer({ min: 1, max: 3 }), T: fc.integer({ min: 1, max: 3 }), V: fc.integer({ min: 1, max: 5 }) })
    .chain(({ B, T, V }) =>
      fc.record({
        B: fc.constant(B),
        T: fc.constant(T),
        V: fc.constant(V),
        z: fc.array(fc.double({ min: -5, max: 5, noNaN: true }), { minLength: B * T * V, maxLength: B * T * V }),
        tok: fc.array(fc.integer({ min: 0, max: V - 1 }), { minLength: B * T, maxLength: B * T }),
      }),
    );

  it('the gathered log-softmax of logits/τ, gradcheck, probabilities sum to 1', () => {
    fc.assert(
      fc.property(caseArb, fc.constantFrom(1, 0.6, 1.5), ({ B, T, V, z, tok }, tau) => {
        const x = f64([B, T, V], z);
        const y = logProbsOf(x, i32([B, T], tok), tau);
        expect(y.shape).toEqual([B, T]);
        const got = arr(y);
        for (let i = 0; i < B * T; i++) {
          const lp = logSoftmaxRef(z.slice(i * V, i * V + V).map((v) => v / tau));
          expectClose(got[i]!, lp[tok[i]!]!, { tol: 1e-13, what: `logp[${i}]` });
        }
        expect(gradcheck((t) => logProbsOf(t, i32([B, T], tok), tau), [x], GC)).toBe(true);
        // Every token of the vocabulary at position 0: the probabilities sum to 1.
        const all = Array.from({ length: V }, (_, v) => Math.exp(logProbsOf(f64([1, V], z.slice(0, V)), i32([1], [v]), tau).itemSync()));
        expectClose(all.reduce((s, p) => s + p, 0), 1, { tol: 1e-13, what: 'sum' });
      }),
      { numRuns: 100 },
    );
  });

  it('bad input', () => {
    const x = f64([2, 3], [1, 2, 3, 4, 5, 6]);
    expect(() => logProbsOf(x, f64([2], [0, 1]))).toThrow(DTypeError);
    expect(() => logProbsOf(x, f64([2], [0, 1]))).toThrow(/logProbsOf: tokens must be i32 token ids, got f64/);
    expect(() => logProbsOf(x, i32([3], [0, 1, 2]))).toThrow(ShapeError);
    expect(() => logProbsOf(x, i32([3], [0, 1, 2]))).toThrow(/logProbsOf: tokens shape \[3\] must equal logits shape \[2, 3\] without its last \(vocabulary\) dim/);
    expect(() => logProbsOf(x, i32([2], [0, 3]))).toThrow(IndexError);
    expect(() => logProbsOf(x, i32([2], [0, 1]), 0)).toThrow(/logProbsOf: temperature must be a finite number > 0, got 0/);
    expect(() => logProbsOf(f64([1, 2], [Infinity, 0]), i32([1], [0]))).toThrow(/logits has a non-finite value \(Infinity\)/);
  });
});
