/**
 * CPU matmul: the one place the CPU backend multiplies matrices (matmulInto) and the contract
 * every version in this folder keeps (see ../../../KERNELS.md for the versions).
 *
 * Contract (every kernel here: reference.ts, js.ts, wasm.ts):
 *   out[outOff + i*n + j] = sum_p opA(i,p) * opB(p,j)          for i < m, j < n, p < k
 *   opA(i,p) = transA ? a[aOff + p*m + i] : a[aOff + i*k + p]   (A stored [k,m] when transA, else [m,k])
 *   opB(p,j) = transB ? b[bOff + j*k + p] : b[bOff + p*n + j]   (B stored [n,k] when transB, else [k,n])
 * The m*n output block is overwritten, never accumulated into. k = 0 writes zeros; m = 0 or
 * n = 0 writes nothing. `out` must not overlap `a` or `b`. Arrays may be Float32Array or
 * Float64Array (normally all three the same type; mixing is allowed).
 *
 * Versions, side by side in this folder (as llm.c keeps its dev/cuda kernels):
 *   reference.ts matmulNaive / matmulNaiveF32  the references (f64 / f32 accumulation)
 *   js.ts        matmulJs                      JS, 3 x 4 register tile, f64 or f32 accumulation
 *   wasm.ts      matmulWasmF32                 WebAssembly SIMD, 5 x 8 f32x4 tile, worker threads
 * matmulInto runs wasm for three Float32Arrays (js in f32 mode if WebAssembly cannot run; the
 * bits are the same), and js in f64 mode for anything else. cpuMatmulImpl() says which.
 *
 * Numerics: two rules, both with a fixed order. Every output element starts at +0 and gets
 * opA(i,p)*opB(p,j) added for p = 0, 1, ..., k-1 in that order, with no reassociation and no
 * fused multiply-add.
 *  - f64 and mixed operands (matmulNaive): the sum is a float64, rounded once when stored.
 *  - f32 operands (matmulNaiveF32): the sum is an f32; each product is rounded to f32 and
 *    each addition is rounded to f32, as f32x4.mul then f32x4.add do in WebAssembly SIMD.
 *    This is how the SIMD kernel reaches 4 lanes per instruction (f64x2 would halve that and
 *    need conversions), and it is what f32 GPU matmuls do; the error bound becomes the usual
 *    f32 one, |error| <= ~k * 2^-24 * sum_p |a_ip * b_pj|, instead of ~2^-24 * |result|.
 * Where a result is NaN, only its NaN-ness is specified: WebAssembly on x86 makes 0*inf a
 * negative NaN and V8's JS a positive one. Every other value, +-inf included, is exact.
 * Every kernel keeps its rule's order exactly (k-chunks keep their running sums exactly:
 * float64 scratch for js f64, the f32 output itself for wasm; edge tiles pad with zeros that
 * never reach a live accumulator; threads split rows or columns, never k), so:
 *  - each is bitwise equal to its reference, which the tests check property by property;
 *  - each is batch invariant: row i of the result depends only on row i of A and on B, not
 *    on m, on which tile, cache block or thread the row lands in, or on edge handling.
 *    Running one sequence alone or inside a batch gives the same bits, which on-policy RL
 *    needs to keep sampler and learner log-probabilities identical.
 */
import { matmulJs, type FloatArray } from './js.js';
import { GEMM_TILE, matmulWasmF32, wasmMatmulStatus } from './wasm.js';

export type { FloatArray } from './js.js';

/**
 * The CPU backend's matmul (contract in the file header). Three Float32Arrays: f32
 * accumulation, bitwise equal to matmulNaiveF32, on the WebAssembly SIMD kernel
 * (wasm.ts) or, where that cannot run (no WebAssembly SIMD, or operands beyond 4 GiB),
 * on the JS kernel in f32 mode: the same bits, slower. Anything else (f64, or mixed
 * f32/f64): float64 accumulation on the JS kernel, bitwise equal to matmulNaive.
 */
export function matmulInto(
  a: FloatArray, aOff: number, b: FloatArray, bOff: number,
  out: FloatArray, outOff: number, m: number, k: number, n: number,
  transA: boolean, transB: boolean,
): void {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    out.fill(0, outOff, outOff + m * n);
    return;
  }
  if (a instanceof Float32Array && b instanceof Float32Array && out instanceof Float32Array) {
    if (!matmulWasmF32(a, aOff, b, bOff, out, outOff, m, k, n, transA, transB)) {
      matmulJs(a, aOff, b, bOff, out, outOff, m, k, n, transA, transB, true);
    }
    return;
  }
  matmulJs(a, aOff, b, bOff, out, outOff, m, k, n, transA, transB, false);
}

/** Which kernel f32 matmuls run on, and why, for benchmarks and logs. */
export function cpuMatmulImpl(): string {
  const st = wasmMatmulStatus();
  if (!st.available) return `js f32 (3x4 tile, 1 thread); ${st.reason}`;
  const threads = st.threads > 1 ? `up to ${st.threads} threads` : '1 thread';
  return `wasm-simd f32 (${GEMM_TILE.mr}x${GEMM_TILE.nr} tile, ${threads})${st.reason ? `; ${st.reason}` : ''}`;
}
