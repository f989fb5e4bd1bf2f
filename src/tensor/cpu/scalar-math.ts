/**
 * Scalar math shared by the CPU kernels (and used as the reference for the WebGPU ones):
 * numerically stable sigmoid/softplus, and erf accurate to double precision, which exact
 * (erf-based) GELU and its gradient check in f64 need. JavaScript has no Math.erf.
 */

const SQRT_PI = Math.sqrt(Math.PI);

/**
 * erf(x) to ~1e-15. For |x| < 2.5 the all-positive series
 *   erf(x) = 2/sqrt(pi) · e^{-x²} · Σ_{n≥0} 2^n x^{2n+1} / (1·3·…·(2n+1))
 * has no cancellation; beyond that erfc comes from its continued fraction (modified Lentz).
 */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const ax = Math.abs(x);
  if (ax < 2.5) {
    const x2 = x * x;
    let term = x;
    let sum = x;
    for (let n = 1; n < 200; n++) {
      term *= (2 * x2) / (2 * n + 1);
      sum += term;
      if (Math.abs(term) < 1e-17 * Math.abs(sum)) break;
    }
    return (2 / SQRT_PI) * Math.exp(-x2) * sum;
  }
  if (ax > 6) return x > 0 ? 1 : -1;
  const r = erfcLarge(ax);
  return x > 0 ? 1 - r : r - 1;
}

/** erfc(x) for x >= 2.5 via erfc(x) = e^{-x²}/sqrt(pi) · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))). */
function erfcLarge(x: number): number {
  const tiny = 1e-300;
  let f = x;
  let c = x;
  let d = 0;
  for (let i = 1; i < 300; i++) {
    const a = i / 2;
    d = x + a * d;
    if (d === 0) d = tiny;
    c = x + a / c;
    if (c === 0) c = tiny;
    d = 1 / d;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(-x * x) / (SQRT_PI * f);
}

export function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

/** log(1 + e^x) = max(x, 0) + log1p(e^{-|x|}): finite for every finite x. */
export function softplus(x: number): number {
  return Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
}

const INV_SQRT2 = 1 / Math.SQRT2;
/** Exact GELU, x·Φ(x), as PyTorch's default (approximate='none'). */
export function gelu(x: number): number {
  return 0.5 * x * (1 + erf(x * INV_SQRT2));
}

const GELU_C = Math.sqrt(2 / Math.PI);
/** The tanh approximation of GELU (PyTorch approximate='tanh'). */
export function geluTanh(x: number): number {
  return 0.5 * x * (1 + Math.tanh(GELU_C * (x + 0.044715 * x * x * x)));
}

const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);

/** Rounds to bfloat16 (round to nearest, ties to even) and back; Inf and NaN pass through. */
export function roundBf16(x: number): number {
  F32[0] = x;
  const u = U32[0]!;
  if ((u & 0x7f800000) === 0x7f800000) return F32[0]!;
  U32[0] = ((u + 0x7fff + ((u >>> 16) & 1)) >>> 0) & 0xffff0000;
  return F32[0]!;
}

/**
 * Rounds to OCP FP8 E4M3 (FN: 4 exponent bits, bias 7, 3 mantissa bits, no infinities, largest
 * finite 448, subnormal step 2^-9), ties to even, saturating at ±448; NaN passes through, and so
 * does ±Infinity as NaN (E4M3FN has no infinity). The binary exponent comes from the float64's
 * bits and the quantum 2^(max(e, −6) − 3) from a table, so no log2 or pow runs per element; the
 * result is the same number as the definition written with Math.log2 and 2 ** e
 * (roundFp8e4m3Reference in kernels/elementwise/reference.ts; the test compares them).
 */
const F64 = new Float64Array(1);
const U32x2 = new Uint32Array(F64.buffer);
/** 2^(max(e, −6) − 3) for e = −6 … 8 at index e + 6. */
const FP8_QUANTUM = Float64Array.from({ length: 15 }, (_, i) => 2 ** (i - 6 - 3));
export function roundFp8e4m3(x: number): number {
  if (Number.isNaN(x)) return x;
  const ax = Math.abs(x);
  if (ax === 0) return x;
  if (ax >= 512) return ax === Infinity ? NaN : Math.sign(x) * 448; // e ≥ 9 rounds above 448
  F64[0] = ax;
  const e = ((U32x2[1]! >>> 20) & 0x7ff) - 1023; // subnormal float64s give −1023: below −6
  const quantum = FP8_QUANTUM[(e < -6 ? -6 : e) + 6]!;
  const q = ax / quantum;
  let r = Math.round(q);
  if (r - q === 0.5 && r % 2 === 1) r--; // Math.round sends halves up; ties go to even
  return Math.sign(x) * Math.min(448, r * quantum);
}

/**
 * roundFp8e4m3 over a whole f32 array, on the f32 bits: in FP8's normal range (|x| ≥ 2^-6) it
 * keeps 3 of the 23 mantissa bits with round-to-nearest-even, as roundBf16 keeps 7, and a carry
 * runs into the exponent as it should; above 448 it saturates; below 2^-6 (FP8's subnormals,
 * step 2^-9) it rounds |x|·512 to an integer, ties to even. The same numbers as roundFp8e4m3
 * element by element (tested on every f32 bit pattern of a fine stride), without a division.
 */
export function roundFp8e4m3F32Into(x: Float32Array, out: Float32Array): void {
  const xb = new Uint32Array(x.buffer, x.byteOffset, x.length);
  const ob = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < x.length; i++) {
    const u = xb[i]!;
    const sign = u & 0x80000000;
    const a = u & 0x7fffffff;
    if (a >= 0x3c800000) {
      // |x| ≥ 2^-6 (biased exponent ≥ 121)
      if (a >= 0x7f800000) {
        ob[i] = a === 0x7f800000 ? 0x7fc00000 : u; // ±Infinity becomes NaN (E4M3FN has none); NaN passes
        continue;
      }
      const r = (a + 0x7ffff + ((a >>> 20) & 1)) & 0xfff00000;
      ob[i] = sign | (r > 0x43e00000 ? 0x43e00000 : r); // 448 = 0x43e00000
    } else if (a === 0) {
      ob[i] = u;
    } else {
      const q = x[i]! * (sign ? -512 : 512);
      let r = Math.round(q);
      if (r - q === 0.5 && r % 2 === 1) r--;
      out[i] = sign ? -r / 512 : r / 512;
    }
  }
}
