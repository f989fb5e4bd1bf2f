/**
 * The fast FP8 E4M3 rounding (scalar-math.ts: exponent from the float64's bits, quantum from a
 * table) against its definition with Math.log2 and 2 ** e (kernels/elementwise/reference.ts):
 * the same number, sign of zero included, for every f32 bit pattern on a fine stride, every
 * value near each binade and rounding boundary, specials, and random float64s (fast-check).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { roundFp8e4m3, roundFp8e4m3F32Into } from '../../../src/tensor/cpu/scalar-math.js';
import { roundFp8e4m3Reference } from '../../../src/tensor/cpu/kernels/elementwise/reference.js';

const same = (a: number, b: number) => Object.is(a, b);

describe('roundFp8e4m3 = its reference', () => {
  it('every f32 bit pattern on a stride of 997, both signs', () => {
    const f = new Float32Array(1);
    const u = new Uint32Array(f.buffer);
    let bad = 0;
    let first = '';
    for (let bits = 0; bits < 2 ** 32; bits += 997) {
      u[0] = bits;
      const x = f[0]!;
      const a = roundFp8e4m3(x);
      const b = roundFp8e4m3Reference(x);
      if (!same(a, b) && !(Number.isNaN(a) && Number.isNaN(b))) {
        bad++;
        if (!first) first = `${x}: ${a} vs ${b}`;
      }
    }
    expect(first).toBe('');
    expect(bad).toBe(0);
  });

  it('around every binade and every rounding midpoint from 2^-12 to 2^10, and the specials', () => {
    const xs: number[] = [0, -0, NaN, Infinity, -Infinity, 448, 464, 479.99, 480, 511.99, 512, 1e300, 5e-324, -5e-324, 2 ** -1074];
    for (let e = -12; e <= 10; e++) {
      for (let m = 0; m <= 16; m++) {
        const v = 2 ** e * (1 + m / 16);
        for (const d of [0, 1e-12, -1e-12]) xs.push(v * (1 + d), -v * (1 + d));
      }
    }
    for (const x of xs) {
      const a = roundFp8e4m3(x);
      const b = roundFp8e4m3Reference(x);
      expect(same(a, b) || (Number.isNaN(a) && Number.isNaN(b)), `x = ${x}: ${a} vs ${b}`).toBe(true);
    }
  });

  it('random float64s (property)', () => {
    fc.assert(fc.property(fc.double(), (x) => {
      const a = roundFp8e4m3(x);
      const b = roundFp8e4m3Reference(x);
      return same(a, b) || (Number.isNaN(a) && Number.isNaN(b));
    }), { numRuns: 20000 });
  });
});

describe('roundFp8e4m3F32Into (the f32 array kernel) = the reference on f32 values', () => {
  it('every f32 bit pattern on a stride of 251 (17 million values), NaN payloads aside', () => {
    const n = 1 << 16;
    const x = new Float32Array(n);
    const xb = new Uint32Array(x.buffer);
    const out = new Float32Array(n);
    let first = '';
    let checked = 0;
    for (let base = 0; base < 2 ** 32 && !first; base += 251 * n) {
      for (let i = 0; i < n; i++) xb[i] = (base + 251 * i) >>> 0;
      roundFp8e4m3F32Into(x, out);
      for (let i = 0; i < n && !first; i++) {
        const want = Math.fround(roundFp8e4m3Reference(x[i]!));
        const got = out[i]!;
        checked++;
        if (!(Object.is(got, want) || (Number.isNaN(got) && Number.isNaN(want)))) first = `bits 0x${xb[i]!.toString(16)} (${x[i]}): ${got} vs ${want}`;
      }
    }
    expect(first).toBe('');
    expect(checked).toBeGreaterThan(17_000_000);
  });

  it('the boundaries: 2^-6 ± 1 ulp, subnormal midpoints, 448, 464, 480, 512, ±0, ±Infinity', () => {
    const vals = [2 ** -6, Math.fround(2 ** -6 * (1 - 2 ** -24)), Math.fround(2 ** -6 * (1 + 2 ** -23)), 0.5 / 512, 1.5 / 512, 2.5 / 512, 7.5 / 512,
      448, 464, Math.fround(464.00003), 480, 512, 0, -0, Infinity, -Infinity, NaN, 2 ** -149];
    const x = Float32Array.from(vals.flatMap((v) => [v, -v]));
    const out = new Float32Array(x.length);
    roundFp8e4m3F32Into(x, out);
    x.forEach((v, i) => {
      const want = Math.fround(roundFp8e4m3Reference(v));
      expect(Object.is(out[i], want) || (Number.isNaN(out[i]) && Number.isNaN(want)), `${v}: ${out[i]} vs ${want}`).toBe(true);
    });
  });
});
