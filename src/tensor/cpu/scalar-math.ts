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
 * finite 448, subnormal step 2^-9), ties to even, saturating at ±448; NaN passes through.
 */
export function roundFp8e4m3(x: number): number {
  if (Number.isNaN(x)) return x;
  const ax = Math.abs(x);
  if (ax === 0) return x;
  let e = Math.floor(Math.log2(ax));
  if (2 ** e > ax) e--;
  else if (2 ** (e + 1) <= ax) e++;
  const quantum = 2 ** (Math.max(e, -6) - 3);
  const q = ax / quantum;
  let r = Math.round(q);
  if (r - q === 0.5 && r % 2 === 1) r--; // Math.round sends halves up; ties go to even
  return Math.sign(x) * Math.min(448, r * quantum);
}
