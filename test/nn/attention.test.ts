/**
 * src/nn/attention.ts: RoPE, causal multi-head self-attention, the KV cache and the
 * CausalSelfAttention module.
 *  - values against a plain-JS f64 reference of the header's equations (HF rotate-half RoPE);
 *  - gradcheck (f64, rtol 1e-6, atol 1e-8) of applyRope and of causalSelfAttention w.r.t. x and
 *    all four weights, without and through the KV cache;
 *  - causality: changing token j never changes (a single bit of) the outputs at positions < j;
 *  - RoPE is relative: q·k after RoPE at positions (m, n) equals the same at (m + s, n + s);
 *  - KV-cache decoding (a prefill, then any split of the rest, down to one token at a time)
 *    equals the full-sequence forward bit for bit on CPU f32, for one layer and a 2-layer stack;
 *  - batch invariance: a sequence's output is bitwise the same alone or inside any batch;
 *  - the cache owns its tensors: decoding under noGrad inside tidy keeps liveTensors() flat;
 *  - typed errors; WebGPU (guarded) parity with the CPU within f32 tolerance.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ConfigError, DTypeError, IndexError, Rng, ShapeError, ValueError, cat, gradcheck, liveTensors, mul, noGrad, randn, slice, sum, tensor, tidy,
  type Tensor,
} from '../../src/index.js';
import {
  CausalSelfAttention, KVCache, KVCacheLayer, MASKED_SCORE, applyRope, causalSelfAttention,
} from '../../src/nn/attention.js';
import { expectBitwise, expectClose, GC } from '../helpers/assert.js';
import { describeGpu } from '../helpers/gpu.js';
import { arr } from '../helpers/tensors.js';


const normal = (shape: number[], seed: number, dtype: 'f32' | 'f64' = 'f64', scale = 1): Tensor =>
  noGrad(() => mul(randn(shape, { rng: new Rng(seed), dtype }), scale));

// ---------------------------------------------------------------------------------------------
// Plain-JS f64 reference of the header's equations.

function ropeRef(v: readonly number[], pos: number, theta = 10000): number[] {
  const hd = v.length;
  const half = hd / 2;
  return v.map((x, i) => {
    const a = pos * Math.pow(theta, -(2 * (i % half)) / hd);
    const rot = i < half ? -v[i + half]! : v[i - half]!;
    return x * Math.cos(a) + rot * Math.sin(a);
  });
}

/** x [B, T, D] flat, weights [D, D] flat ([out, in]); query t sits at position offset + t. */
function attentionRef(
  x: readonly number[], B: number, T: number, D: number, w: readonly (readonly number[])[], H: number, offset = 0, theta = 10000,
): number[] {
  const [wq, wk, wv, wo] = w as [number[], number[], number[], number[]];
  const hd = D / H;
  const proj = (row: readonly number[], W: readonly number[]) =>
    Array.from({ length: D }, (_, o) => row.reduce((s, xi, i) => s + xi * W[o * D + i]!, 0));
  const out: number[] = [];
  for (let b = 0; b < B; b++) {
    const rows = Array.from({ length: T }, (_, t) => x.slice((b * T + t) * D, (b * T + t + 1) * D));
    const q = rows.map((r) => proj(r, wq));
    const k = rows.map((r) => proj(r, wk));
    const v = rows.map((r) => proj(r, wv));
    const o = Array.from({ length: T }, () => new Array<number>(D).fill(0));
    for (let h = 0; h < H; h++) {
      const head = (m: number[][], t: number) => m[t]!.slice(h * hd, (h + 1) * hd);
      const qh = q.map((_, t) => ropeRef(head(q, t), offset + t, theta));
      const kh = k.map((_, t) => ropeRef(head(k, t), offset + t, theta));
      for (let i = 0; i < T; i++) {
        const s = Array.from({ length: i + 1 }, (_, j) => qh[i]!.reduce((acc, qv, c) => acc + qv * kh[j]![c]!, 0) / Math.sqrt(hd));
        const m = Math.max(...s);
        const e = s.map((z) => Math.exp(z - m));
        const z = e.reduce((a, c) => a + c, 0);
        for (let j = 0; j <= i; j++) for (let c = 0; c < hd; c++) o[i]![h * hd + c]! += (e[j]! / z) * v[j]![h * hd + c]!;
      }
    }
    for (let t = 0; t < T; t++) out.push(...proj(o[t]!, wo));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

describe('applyRope', () => {
  it('is HF rotate-half: a hand-computed case, then a reference over drawn shapes, offsets and θ', () => {
    // hd = 4, position 1: inv_freq = [1, 10000^-0.5] = [1, 0.01].
    const x = tensor([1, 2, 3, 4], { dtype: 'f64', shape: [1, 1, 1, 4] });
    const y = arr(applyRope(x, 1));
    const [c0, s0, c1, s1] = [Math.cos(1), Math.sin(1), Math.cos(0.01), Math.sin(0.01)];
    expectClose(y, [1 * c0 - 3 * s0, 2 * c1 - 4 * s1, 3 * c0 + 1 * s0, 4 * c1 + 2 * s1], { rtol: 1e-15, atol: 1e-15, what: 'rope hd=4 pos=1', nonFinite: 'match' });
    // Position 0 is the identity.
    expectBitwise(arr(applyRope(x, 0)), [1, 2, 3, 4], 'rope at position 0');

    fc.assert(
      fc.property(
        fc.record({
          B: fc.integer({ min: 1, max: 2 }), H: fc.integer({ min: 1, max: 3 }), T: fc.integer({ min: 1, max: 5 }),
          half: fc.integer({ min: 1, max: 4 }), offset: fc.integer({ min: 0, max: 500 }),
          theta: fc.constantFrom(10000, 500000, 100), seed: fc.nat(),
        }),
        ({ B, H, T, half, offset, theta, seed }) => {
          const hd = 2 * half;
          const x = normal([B, H, T, hd], seed);
          const xs = arr(x);
          const want: number[] = [];
          for (let r = 0; r < B * H * T; r++) want.push(...ropeRef(xs.slice(r * hd, (r + 1) * hd), offset + (r % T), theta));
          expectClose(arr(applyRope(x, offset, theta)), want, { rtol: 1e-12, atol: 1e-12, what: 'rope', nonFinite: 'match' });
        },
      ),
      { numRuns: 40 },
    );
  });

  it('gradcheck (f64) at several offsets', () => {
    for (const [offset, seed] of [[0, 1], [7, 2], [1000, 3]] as const) {
      expect(gradcheck((t) => applyRope(t, offset), [normal([2, 2, 3, 6], seed)], GC)).toBe(true);
    }
  });

  it('encodes relative position: q·k after RoPE at (m, n) equals the same at (m + s, n + s)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 16 }), fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 300 }), fc.integer({ min: 1, max: 3000 }), fc.nat(),
        (half, m, n, s, seed) => {
          const hd = 2 * half;
          const q = normal([1, 1, 1, hd], seed);
          const k = normal([1, 1, 1, hd], seed + 1);
          const dot = (a: number, b: number) => {
            const qa = arr(applyRope(q, a));
            const kb = arr(applyRope(k, b));
            return qa.reduce((acc, v, i) => acc + v * kb[i]!, 0);
          };
          const scale = Math.sqrt(arr(q).reduce((a, v) => a + v * v, 0) * arr(k).reduce((a, v) => a + v * v, 0));
          const d0 = dot(m, n);
          const d1 = dot(m + s, n + s);
          expect(Math.abs(d0 - d1)).toBeLessThanOrEqual(1e-11 * scale);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('rejects an odd or zero head dim, a non-4-D input, a bad offset or θ, and an i32 input', () => {
    expect(() => applyRope(normal([1, 1, 2, 5], 0), 0)).toThrow(ShapeError);
    expect(() => applyRope(normal([1, 1, 2, 0], 0), 0)).toThrow(ShapeError);
    expect(() => applyRope(normal([2, 2, 4], 0), 0)).toThrow(ShapeError);
    expect(() => applyRope(normal([1, 1, 2, 4], 0), -1)).toThrow(ValueError);
    expect(() => applyRope(normal([1, 1, 2, 4], 0), 1.5)).toThrow(ValueError);
    expect(() => applyRope(normal([1, 1, 2, 4], 0), 0, 0)).toThrow(ValueError);
    expect(() => applyRope(tensor(new Int32Array(4), { shape: [1, 1, 1, 4] }), 0)).toThrow(DTypeError);
  });
});

describe('causalSelfAttention (functional core)', () => {
  const weights = (D: number, seed: number, dtype: 'f32' | 'f64' = 'f64') =>
    [0, 1, 2, 3].map((i) => normal([D, D], seed * 10 + i, dtype, 1 / Math.sqrt(D))) as [Tensor, Tensor, Tensor, Tensor];

  it('matches the plain-JS reference over drawn B, T, heads, head dims and position offsets', () => {
    fc.assert(
      fc.property(
        fc.record({
          B: fc.integer({ min: 1, max: 3 }), T: fc.integer({ min: 1, max: 6 }), H: fc.integer({ min: 1, max: 3 }),
          half: fc.integer({ min: 1, max: 3 }), offset: fc.integer({ min: 0, max: 50 }), seed: fc.nat(1000),
        }),
        ({ B, T, H, half, offset, seed }) => {
          const D = H * 2 * half;
          const x = normal([B, T, D], seed);
          const w = weights(D, seed);
          const y = causalSelfAttention(x, ...w, H, { positionOffset: offset });
          expect(y.shape).toEqual([B, T, D]);
          expectClose(arr(y), attentionRef(arr(x), B, T, D, w.map(arr), H, offset), { rtol: 1e-12, atol: 1e-13, what: 'attention', nonFinite: 'match' });
        },
      ),
      { numRuns: 40 },
    );
  });

  it('gradcheck (f64) w.r.t. x and wq, wk, wv, wo', () => {
    const [B, T, D, H] = [2, 4, 8, 2];
    const f = (x: Tensor, wq: Tensor, wk: Tensor, wv: Tensor, wo: Tensor) => causalSelfAttention(x, wq, wk, wv, wo, H);
    expect(gradcheck(f, [normal([B, T, D], 5), ...weights(D, 5)], GC)).toBe(true);
    // A single head of dim 4 at a position offset, with a 1-token sequence as an edge case.
    const g = (x: Tensor, wq: Tensor, wk: Tensor, wv: Tensor, wo: Tensor) => causalSelfAttention(x, wq, wk, wv, wo, 1, { positionOffset: 3 });
    expect(gradcheck(g, [normal([2, 3, 4], 6), ...weights(4, 6)], GC)).toBe(true);
    expect(gradcheck(g, [normal([1, 1, 4], 7), ...weights(4, 7)], GC)).toBe(true);
  });

  it('gradcheck (f64) through the KV cache: prefix tokens, new tokens and all four weights', () => {
    const [B, D, H] = [2, 8, 2];
    for (const [tPrefix, tNew] of [[3, 1], [2, 2]] as const) {
      const f = (xp: Tensor, xn: Tensor, wq: Tensor, wk: Tensor, wv: Tensor, wo: Tensor) => {
        const cache = new KVCacheLayer();
        causalSelfAttention(xp, wq, wk, wv, wo, H, { cache });
        return causalSelfAttention(xn, wq, wk, wv, wo, H, { cache });
      };
      expect(gradcheck(f, [normal([B, tPrefix, D], 8), normal([B, tNew, D], 9), ...weights(D, 8)], GC)).toBe(true);
    }
  });

  it('masked scores get exactly zero weight and zero gradient: the output ignores future tokens even when they are huge', () => {
    const [B, T, D, H] = [1, 4, 8, 2];
    const w = weights(D, 11);
    const x = normal([B, T, D], 11);
    const xs = arr(x);
    for (let i = 3 * D; i < 4 * D; i++) xs[i] = 1e6 * (i % 2 ? 1 : -1); // token 3: enormous
    const xBig = tensor(Float64Array.from(xs), { shape: [B, T, D], requiresGrad: true });
    const y = causalSelfAttention(xBig, ...w, H);
    expect(arr(y).every(Number.isFinite)).toBe(true);
    // d(outputs at positions 0..2)/d(token 3) is exactly 0.
    sum(slice(y, 1, 0, 3)).backward();
    expect(arr(xBig.grad!).slice(3 * D).every((g) => g === 0)).toBe(true);
    expect(MASKED_SCORE).toBe(-1e30);
  });

  it('is causal: changing token j leaves every bit of the outputs at positions < j unchanged (CPU f32)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 8 }), fc.integer({ min: 1, max: 3 }), fc.nat(1000), fc.nat(7), (T, B, seed, jRaw) => {
          const j = jRaw % T;
          const [D, H] = [16, 4];
          const w = weights(D, seed, 'f32');
          const x = normal([B, T, D], seed, 'f32');
          const xs = arr(x);
          for (let b = 0; b < B; b++) for (let c = 0; c < D; c++) xs[(b * T + j) * D + c]! += 0.5 + c; // change token j
          const x2 = tensor(Float32Array.from(xs), { shape: [B, T, D] });
          const y1 = causalSelfAttention(x, ...w, H);
          const y2 = causalSelfAttention(x2, ...w, H);
          if (j > 0) expectBitwise(arr(slice(y2, 1, 0, j)), arr(slice(y1, 1, 0, j)), `positions < ${j}`);
          // And the change does reach position j.
          expect(arr(slice(y2, 1, j, j + 1))).not.toEqual(arr(slice(y1, 1, j, j + 1)));
        },
      ),
      { numRuns: 40 },
    );
  });

  it('rejects bad shapes, dtypes, head counts and a positionOffset that contradicts the cache', () => {
    const [D, H] = [8, 2];
    const w = weights(D, 1);
    const x = normal([2, 3, D], 1);
    expect(() => causalSelfAttention(normal([3, D], 1), ...w, H)).toThrow(ShapeError);
    expect(() => causalSelfAttention(normal([2, 0, D], 1), ...w, H)).toThrow(ShapeError);
    expect(() => causalSelfAttention(x, ...w, 3)).toThrow(ShapeError); // 8 % 3
    expect(() => causalSelfAttention(x, ...w, 8)).toThrow(ShapeError); // head dim 1 is odd
    expect(() => causalSelfAttention(x, ...w, 0)).toThrow(ConfigError);
    expect(() => causalSelfAttention(x, normal([D, D + 1], 1), w[1], w[2], w[3], H)).toThrow(/wq must be \[8, 8\]/);
    expect(() => causalSelfAttention(x, w[0], w[1], w[2], normal([D, D], 1, 'f32'), H)).toThrow(DTypeError);
    expect(() => causalSelfAttention(x, ...w, H, { positionOffset: -2 })).toThrow(ValueError);
    const cache = new KVCacheLayer();
    causalSelfAttention(x, ...w, H, { cache });
    expect(() => causalSelfAttention(x, ...w, H, { cache, positionOffset: 0 })).toThrow(ValueError);
    expect(() => causalSelfAttention(normal([3, 1, D], 1), ...w, H, { cache })).toThrow(ShapeError); // batch 3 vs cached 2
    expect(causalSelfAttention(x, ...w, H, { cache, positionOffset: 3 }).shape).toEqual([2, 3, D]);
    expect(cache.length).toBe(6);
  });
});

describe('CausalSelfAttention module', () => {
  it('registers wq, wk, wv, wo [D, D], seeded init N(0, 1/D), and forward equals the functional core', () => {
    const a = new CausalSelfAttention(16, 4, { rng: new Rng(3) });
    const b = new CausalSelfAttention(16, 4, { rng: new Rng(3) });
    expect([...a.namedParameters()].map(([n, p]) => [n, p.shape, p.dtype, p.requiresGrad])).toEqual(
      ['wq', 'wk', 'wv', 'wo'].map((n) => [n, [16, 16], 'f32', true]),
    );
    for (const [n, p] of a.namedParameters()) expectBitwise(arr(p), arr(b.stateDict().get(n)!), `seeded ${n}`);
    expect(arr(a.wq)).not.toEqual(arr(a.wk));
    const all = a.parameters().flatMap(arr);
    const std = Math.sqrt(all.reduce((s, v) => s + v * v, 0) / all.length);
    expect(Math.abs(std - 1 / 4)).toBeLessThan(0.02);
    const x = normal([2, 5, 16], 4, 'f32');
    expectBitwise(arr(a.forward(x)), arr(causalSelfAttention(x, a.wq, a.wk, a.wv, a.wo, 4)), 'module vs functional');
    // ropeTheta is passed through.
    const c = new CausalSelfAttention(16, 4, { rng: new Rng(3), ropeTheta: 500000 });
    expectBitwise(arr(c.forward(x)), arr(causalSelfAttention(x, a.wq, a.wk, a.wv, a.wo, 4, { ropeTheta: 500000 })), 'ropeTheta');
    // f64 and the state dict round trip.
    const d = new CausalSelfAttention(8, 2, { dtype: 'f64', rng: new Rng(1) });
    const e = new CausalSelfAttention(8, 2, { dtype: 'f64', rng: new Rng(2) });
    e.loadStateDict(d.stateDict());
    const x64 = normal([1, 3, 8], 2);
    expectBitwise(arr(e.forward(x64)), arr(d.forward(x64)), 'loaded state dict');
  });

  it('rejects bad configurations with ConfigError', () => {
    expect(() => new CausalSelfAttention(10, 3)).toThrow(ConfigError);
    expect(() => new CausalSelfAttention(12, 4)).toThrow(ConfigError); // head dim 3
    expect(() => new CausalSelfAttention(0, 1)).toThrow(ConfigError);
    expect(() => new CausalSelfAttention(8, 2, { ropeTheta: -1 })).toThrow(ConfigError);
  });
});

describe('KV cache decoding equals the full-sequence forward, bit for bit (CPU f32)', () => {
  /** Random split of T into a prefill and chunks (often one token at a time). */
  const splitArb = (T: number) =>
    fc.array(fc.oneof({ weight: 3, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 4 }) }), { minLength: T, maxLength: T })
      .map((sizes) => {
        const chunks: number[] = [];
        let left = T;
        for (const s of sizes) {
          if (left === 0) break;
          chunks.push(Math.min(s, left));
          left -= chunks[chunks.length - 1]!;
        }
        return chunks;
      });

  const decode = (forward: (x: Tensor, cache: KVCache) => Tensor, x: Tensor, chunks: number[], nLayers: number) => {
    const cache = new KVCache(nLayers);
    const outs: Tensor[] = [];
    let t = 0;
    for (const c of chunks) {
      outs.push(forward(slice(x, 1, t, t + c), cache));
      t += c;
    }
    expect(cache.length).toBe(t);
    const y = cat(outs, 1);
    cache.dispose();
    return y;
  };

  it('one layer: any prefill/chunk split, with and without grad mode', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12 }).chain((T) => fc.tuple(fc.constant(T), splitArb(T))),
        fc.integer({ min: 1, max: 3 }), fc.constantFrom([16, 4], [64, 4], [8, 1]), fc.nat(1000), fc.boolean(),
        ([T, chunks], B, [D, H], seed, grad) => {
          const attn = new CausalSelfAttention(D!, H!, { rng: new Rng(seed) });
          const x = normal([B, T, D!], seed + 1, 'f32');
          const full = attn.forward(x);
          const run = () => decode((xc, cache) => attn.forward(xc, { cache: cache.layer(0) }), x, chunks, 1);
          const y = grad ? run() : noGrad(run);
          expectBitwise(arr(y), arr(full), `decode ${JSON.stringify(chunks)}`);
        },
      ),
      { numRuns: 40 },
    );
  });

  it('prefill then one token at a time through a 2-layer stack with a KVCache (moe-tiny sizes: d 64, 4 heads, 64 tokens)', () => {
    const [B, T, D, H] = [2, 64, 64, 4];
    const l0 = new CausalSelfAttention(D, H, { rng: new Rng(10) });
    const l1 = new CausalSelfAttention(D, H, { rng: new Rng(11) });
    const stack = (x: Tensor, cache?: KVCache) => {
      const h = x.add(l0.forward(x, { cache: cache?.layer(0) }));
      return h.add(l1.forward(h, { cache: cache?.layer(1) }));
    };
    const x = normal([B, T, D], 12, 'f32');
    const full = noGrad(() => stack(x));
    const chunks = [17, ...new Array<number>(T - 17).fill(1)];
    const y = noGrad(() => decode((xc, cache) => stack(xc, cache), x, chunks, 2));
    expectBitwise(arr(y), arr(full), '2-layer decode');
  });
});

describe('batch invariance (CPU f32, bitwise)', () => {
  it("a sequence's output does not depend on the other sequences in the batch, full forward and cached decode", () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 5 }), fc.integer({ min: 1, max: 9 }), fc.nat(1000), fc.nat(4), (B, T, seed, pick) => {
        const b = pick % B;
        const [D, H] = [16, 2];
        const attn = new CausalSelfAttention(D, H, { rng: new Rng(seed) });
        const x = normal([B, T, D], seed + 7, 'f32');
        const alone = slice(x, 0, b, b + 1);
        expectBitwise(arr(slice(attn.forward(x), 0, b, b + 1)), arr(attn.forward(alone)), `row ${b} of ${B}`);
        // The last token decoded against a cache, batched vs alone.
        if (T > 1) {
          const step = (xs: Tensor) => {
            const cache = new KVCacheLayer();
            attn.forward(slice(xs, 1, 0, T - 1), { cache });
            return attn.forward(slice(xs, 1, T - 1, T), { cache });
          };
          expectBitwise(arr(slice(step(x), 0, b, b + 1)), arr(step(alone)), `decode row ${b} of ${B}`);
        }
      }),
      { numRuns: 40 },
    );
  });
});

describe('KVCache', () => {
  it('tracks length per layer, indexes layers, and validates what is appended', () => {
    const cache = new KVCache(3);
    expect(cache.nLayers).toBe(3);
    expect(cache.length).toBe(0);
    expect(() => cache.layer(3)).toThrow(IndexError);
    expect(() => cache.layer(-1)).toThrow(IndexError);
    expect(() => new KVCache(0)).toThrow(ConfigError);
    const l = cache.layer(0);
    const k = normal([2, 2, 3, 4], 1, 'f32');
    const { keys, values } = l.append(k, normal([2, 2, 3, 4], 2, 'f32'));
    expect(keys.shape).toEqual([2, 2, 3, 4]);
    expect(values.shape).toEqual([2, 2, 3, 4]);
    expect(l.length).toBe(3);
    const kv2 = noGrad(() => l.append(normal([2, 2, 1, 4], 3, 'f32'), normal([2, 2, 1, 4], 4, 'f32')));
    expect(kv2.keys.shape).toEqual([2, 2, 4, 4]);
    expect(cache.length).toBe(4);
    expect(() => l.append(normal([2, 3, 1, 4], 3, 'f32'), normal([2, 3, 1, 4], 3, 'f32'))).toThrow(ShapeError);
    expect(() => l.append(normal([2, 2, 1, 4], 3, 'f32'), normal([2, 2, 2, 4], 3, 'f32'))).toThrow(ShapeError);
    expect(() => l.append(normal([2, 2, 1, 4], 3), normal([2, 2, 1, 4], 3))).toThrow(DTypeError); // f64 into f32
    cache.reset();
    expect(l.length).toBe(0);
    expect(l.keys).toBeNull();
  });

  it('owns its tensors: decoding under noGrad inside tidy keeps liveTensors() flat, and reset() frees the rest', () => {
    const attn = new CausalSelfAttention(16, 2, { rng: new Rng(1) });
    const x = normal([2, 20, 16], 2, 'f32');
    const cache = new KVCache(1);
    const base = liveTensors();
    const counts: number[] = [];
    noGrad(() => {
      for (let t = 0; t < 20; t++) {
        tidy(() => {
          attn.forward(slice(x, 1, t, t + 1), { cache: cache.layer(0) });
        });
        counts.push(liveTensors() - base);
      }
    });
    expect(new Set(counts)).toEqual(new Set([2])); // the cached keys and values, nothing else
    cache.reset();
    expect(liveTensors()).toBe(base);
  });

  it('with grad enabled, tensors the tape may need stay alive until reset(), which frees them', () => {
    const attn = new CausalSelfAttention(8, 2, { rng: new Rng(1) });
    const x = normal([1, 4, 8], 2, 'f32');
    const cache = new KVCacheLayer();
    const ys: Tensor[] = [];
    for (let t = 0; t < 4; t++) ys.push(attn.forward(slice(x, 1, t, t + 1), { cache }));
    sum(cat(ys, 1)).backward();
    const g = arr(attn.wq.grad!);
    attn.zeroGrad();
    sum(attn.forward(x)).backward();
    expectClose(g, arr(attn.wq.grad!), { rtol: 1e-5, atol: 1e-6, what: 'grad through the cache vs full forward', nonFinite: 'match' });
    const before = liveTensors();
    cache.reset();
    expect(liveTensors()).toBeLessThan(before);
  });
});

describeGpu('WebGPU parity', () => {
  /**
   * Tolerance. The GPU sums matmul products in f32 (error ≤ k·u·Σ|terms|, u = 2^-24, k ≤ 64
   * here), its exp is within a few ulp, and five such stages compose (projections, scores,
   * softmax, P·v, output projection) with values O(1): an absolute 1e-5 plus relative 1e-4
   * covers it with margin while still catching any indexing or masking error (which are O(1)).
   */
  const RTOL = 1e-4;
  const ATOL = 1e-5;

  it('full forward, cached decode and gradients match the CPU within f32 tolerance', async () => {
    for (const [B, T, D, H, seed] of [[2, 7, 16, 2, 1], [3, 12, 64, 4, 2]] as const) {
      const cpu = new CausalSelfAttention(D, H, { rng: new Rng(seed) });
      const gpu = new CausalSelfAttention(D, H, { rng: new Rng(seed), device: 'webgpu' });
      const xc = normal([B, T, D], seed + 100, 'f32');
      const xg = xc.to('webgpu');
      const want = arr(cpu.forward(xc));
      expectClose(await gpu.forward(xg).toArray(), want, { rtol: RTOL, atol: ATOL, what: `gpu forward ${B}x${T}x${D}`, nonFinite: 'match' });

      // Prefill 3 tokens, then one token at a time.
      const cache = new KVCache(1);
      const outs: Tensor[] = [gpu.forward(slice(xg, 1, 0, 3), { cache: cache.layer(0) })];
      for (let t = 3; t < T; t++) outs.push(gpu.forward(slice(xg, 1, t, t + 1), { cache: cache.layer(0) }));
      expectClose(await cat(outs, 1).toArray(), want, { rtol: RTOL, atol: ATOL, what: `gpu decode ${B}x${T}x${D}`, nonFinite: 'match' });
      cache.dispose();

      // Gradients of Σ r ⊙ y w.r.t. x and the four weights.
      const r = normal([B, T, D], seed + 200, 'f32');
      const xcg = xc.detach().setRequiresGrad();
      const xgg = xg.detach().setRequiresGrad();
      sum(mul(cpu.forward(xcg), r)).backward();
      sum(mul(gpu.forward(xgg), r.to('webgpu'))).backward();
      const pairs: [string, Tensor, Tensor][] = [
        ['x', xcg, xgg], ['wq', cpu.wq, gpu.wq], ['wk', cpu.wk, gpu.wk], ['wv', cpu.wv, gpu.wv], ['wo', cpu.wo, gpu.wo],
      ];
      for (const [name, c, g] of pairs) {
        const gc = arr(c.grad!);
        const scale = Math.max(...gc.map(Math.abs));
        expectClose(await g.grad!.toArray(), gc, { rtol: 1e-3, atol: 1e-4 * scale, what: `gpu grad ${name} ${B}x${T}x${D}`, nonFinite: 'match' });
      }
    }
  });
});
