/**
 * The CPU matmul in JavaScript (the "js" version of index.ts): a register-tiled kernel with
 * float64 or f32 accumulation. It runs every f64 and mixed f32/f64 product, and f32 products
 * where WebAssembly SIMD cannot run (wasm.ts runs them otherwise); bitwise equal to
 * reference.ts's loops under the contract in index.ts. One file of ~420 lines because the
 * packing, the micro-kernel and the edge paths must keep one summation order together.
 *
 * How it is fast. Both operands are packed into contiguous panels (A in MR-row panels, B in
 * NR-column panels, both p-major, padding lanes zero) so the micro-kernel reads two
 * sequential streams whatever the transposes are; transposed layouts cost only the
 * O(k*(m+n)) packing. The micro-kernel holds an MR x NR = 3 x 4 tile of float64 accumulators
 * in registers: 12 accumulators + 7 operands is what V8's x64 register allocator handled
 * best (4x4, 4x3, 2x5, 5x2, 2x6, 6x2, 3x3, 4x2 measured 5-10% slower or worse; unrolling p,
 * `|0` index hints and float64 scratch for f32 inputs did not help). Tile sums go through a
 * small Float64Array (exact, also for f32 sums) to one general store loop, so edge tiles use
 * the same code and the same order. Cache blocking: A is packed MC rows at a time (~256 KiB,
 * stays in L2 while every B panel sweeps it), B NC columns at a time, which also bounds the
 * scratch. k is split only when longer than KC_MAX (then into chunks of ~KC) so that long
 * reductions (weight gradients over many tokens) keep their B panels in L1 without repacking
 * A per few columns; the running sums between chunks are stored exactly in a Float64Array,
 * so the order and the bits do not change. For m < 3 nothing is packed: each row meets B in
 * place, 4 columns at a time (packing B would cost as much as the product). Scratch
 * buffers are module-level and grown on demand, with the inputs' element type (f32 when
 * both inputs are f32, else f64: packing copies values exactly either way). The
 * micro-kernels are written out per scratch type and accumulation so each stays
 * monomorphic in V8.
 *
 * Measured with bench/kernels/matmul-kernel.mjs on an idle machine (AMD EPYC, 2 vCPUs,
 * 1 thread used, node v20.20.2, f32 operands, f64 accumulation, median GFLOP/s = 2mnk/s of 7
 * runs after 2 warm-ups; the shared VM varies by about +-5%, and by up to 2x when other
 * processes load it):
 *
 *   m = k = n        A.B    At.B   A.Bt   At.Bt
 *   256 naive        1.01   0.97   0.97   1.01
 *   256              5.69   5.73   5.72   5.73
 *   512              5.89   5.87   5.46   5.74
 *   1024             5.78   5.73   5.91   5.87
 *   1 x 1024 x 1024  3.14   3.09   3.60   3.63   (direct path, no packing)
 *   8 x 1024 x 1024  4.18   4.19   3.61   3.62
 *
 * On a quieter machine the same inner loop reaches 6.2-6.4 at 1024 in every layout.
 * Splitting long k takes 256 x 65536 x 256 (At.B, a weight-gradient shape) from 3.4 to 5.4.
 *
 */
export type FloatArray = Float32Array | Float64Array;

/** Register tile: MR rows of A by NR columns of B. */
const MR = 3;
const NR = 4;
/**
 * Cache blocking. k is split into chunks only when longer than KC_MAX (chunks of about KC),
 * so a B micro-panel (kc x NR) stays in L1; the float64 partial sums of split products live
 * in a Float64Array, which keeps every element's additions in order p = 0..k-1 and exact.
 * A is packed MC rows (about A_BLOCK_ELEMS elements, in L2) at a time, B NC columns (about
 * B_BLOCK_ELEMS) at a time; the partial sums of one B block (m x NC) take about
 * PARTIAL_ELEMS (NC is not cut below 64 columns).
 */
const KC = 1024;
const KC_MAX = 2048;
const A_BLOCK_ELEMS = 1 << 16;
const B_BLOCK_ELEMS = 1 << 18;
const PARTIAL_ELEMS = 1 << 20;

/** Below this many rows, skip packing and run the 1 x NR direct kernel (see directRows). */
const DIRECT_MAX_M = 3;

// Scratch, reused across calls and grown on demand: packed panels of the input's element type
// (f32 when both inputs are f32, else f64: either way packing copies values exactly), the
// float64 partial sums of k-split products, and one register tile of float64 sums.
let packA32 = new Float32Array(0);
let packB32 = new Float32Array(0);
let packA64 = new Float64Array(0);
let packB64 = new Float64Array(0);
let partial = new Float64Array(0);
const tile = new Float64Array(MR * NR);

/**
 * The JS register-tiled kernel, with matmulInto's contract. accF32 = false (f64 and mixed
 * operands): float64 accumulation, bitwise equal to matmulNaive. accF32 = true (only for two
 * Float32Array inputs): every product and sum rounded to f32 (Math.fround), bitwise equal to
 * matmulNaiveF32 and to the WebAssembly kernel; this is the fallback when WebAssembly SIMD is
 * unavailable. (It runs about 2x slower than f64 mode: V8 does not fuse the roundings away.)
 */
export function matmulJs(
  a: FloatArray, aOff: number, b: FloatArray, bOff: number,
  out: FloatArray, outOff: number, m: number, k: number, n: number,
  transA: boolean, transB: boolean, accF32 = false,
): void {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    out.fill(0, outOff, outOff + m * n);
    return;
  }
  const f32 = a instanceof Float32Array && b instanceof Float32Array;
  if (accF32 && !f32) throw new TypeError('matmulJs: f32 accumulation needs Float32Array inputs');
  if (m < DIRECT_MAX_M) {
    directRows(a, aOff, b, bOff, out, outOff, m, k, n, transA, transB, accF32);
    return;
  }
  const chunks = k <= KC_MAX ? 1 : Math.ceil(k / KC);
  const kc = Math.ceil(k / chunks);
  const mc = Math.max(MR, Math.floor(A_BLOCK_ELEMS / kc / MR) * MR);
  let nc = Math.max(NR, Math.floor(B_BLOCK_ELEMS / kc / NR) * NR);
  if (chunks > 1) nc = Math.min(nc, Math.max(16 * NR, Math.floor(PARTIAL_ELEMS / m / NR) * NR));
  const aLen = Math.min(mc, roundUp(m, MR)) * kc;
  const bLen = Math.min(nc, roundUp(n, NR)) * kc;
  let pA: FloatArray, pB: FloatArray;
  if (f32) {
    if (packA32.length < aLen) packA32 = new Float32Array(aLen);
    if (packB32.length < bLen) packB32 = new Float32Array(bLen);
    pA = packA32;
    pB = packB32;
  } else {
    if (packA64.length < aLen) packA64 = new Float64Array(aLen);
    if (packB64.length < bLen) packB64 = new Float64Array(bLen);
    pA = packA64;
    pB = packB64;
  }
  if (chunks > 1 && partial.length < m * Math.min(nc, n)) partial = new Float64Array(m * Math.min(nc, n));
  const P = partial;
  const T = tile;
  for (let j0 = 0; j0 < n; j0 += nc) {
    const nb = Math.min(nc, n - j0);
    for (let p0 = 0; p0 < k; p0 += kc) {
      const kb = Math.min(kc, k - p0);
      const first = p0 === 0;
      const last = p0 + kb === k;
      packB(b, bOff, k, n, transB, j0, nb, p0, kb, pB);
      for (let i0 = 0; i0 < m; i0 += mc) {
        const mb = Math.min(mc, m - i0);
        packA(a, aOff, m, k, transA, i0, mb, p0, kb, pA);
        for (let jr = 0; jr < nb; jr += NR) {
          const cols = Math.min(NR, nb - jr);
          for (let ir = 0; ir < mb; ir += MR) {
            const rows = Math.min(MR, mb - ir);
            // Start from +0, or from the exact float64 sums of the chunks before this one.
            if (first) T.fill(0);
            else moveTile(P, (i0 + ir) * nb + jr, nb, T, 0, NR, rows, cols);
            if (accF32) kernel32f(pA as Float32Array, ir * kb, pB as Float32Array, jr * kb, kb, T);
            else if (f32) kernel32(pA as Float32Array, ir * kb, pB as Float32Array, jr * kb, kb, T);
            else kernel64(pA as Float64Array, ir * kb, pB as Float64Array, jr * kb, kb, T);
            if (last) moveTile(T, 0, NR, out, outOff + (i0 + ir) * n + j0 + jr, n, rows, cols);
            else moveTile(T, 0, NR, P, (i0 + ir) * nb + jr, nb, rows, cols);
          }
        }
      }
    }
  }
}

function roundUp(x: number, r: number): number {
  return Math.ceil(x / r) * r;
}

/**
 * Packs rows i0 .. i0+mb-1, columns p0 .. p0+kb-1 of op(A) into dst: the panel of rows
 * i0+r .. i0+r+MR-1 starts at r*kb and holds opA(i0+r+ii, p0+p) at p*MR + ii. Rows past mb
 * (the last panel's padding) are 0.
 */
function packA(
  a: FloatArray, aOff: number, m: number, k: number, transA: boolean,
  i0: number, mb: number, p0: number, kb: number, dst: FloatArray,
): void {
  for (let r = 0; r < mb; r += MR) {
    const base = r * kb;
    const rows = Math.min(MR, mb - r);
    if (transA) {
      // A stored [k, m]: the MR values of one p are adjacent.
      let s = aOff + p0 * m + i0 + r;
      let d = base;
      if (rows === MR) {
        for (let p = 0; p < kb; p++, s += m, d += MR) {
          dst[d] = a[s]!;
          dst[d + 1] = a[s + 1]!;
          dst[d + 2] = a[s + 2]!;
        }
      } else {
        for (let p = 0; p < kb; p++, s += m, d += MR) {
          for (let ii = 0; ii < MR; ii++) dst[d + ii] = ii < rows ? a[s + ii]! : 0;
        }
      }
    } else {
      // A stored [m, k]: each row is contiguous.
      for (let ii = 0; ii < MR; ii++) {
        let d = base + ii;
        if (ii < rows) {
          let s = aOff + (i0 + r + ii) * k + p0;
          for (let p = 0; p < kb; p++, d += MR) dst[d] = a[s++]!;
        } else {
          for (let p = 0; p < kb; p++, d += MR) dst[d] = 0;
        }
      }
    }
  }
}

/**
 * Packs rows p0 .. p0+kb-1, columns j0 .. j0+nb-1 of op(B) into dst: the panel of columns
 * j0+c .. j0+c+NR-1 starts at c*kb and holds opB(p0+p, j0+c+jj) at p*NR + jj. Columns past nb
 * are 0.
 */
function packB(
  b: FloatArray, bOff: number, k: number, n: number, transB: boolean,
  j0: number, nb: number, p0: number, kb: number, dst: FloatArray,
): void {
  for (let c = 0; c < nb; c += NR) {
    const base = c * kb;
    const cols = Math.min(NR, nb - c);
    if (transB) {
      // B stored [n, k]: each column of op(B) is a contiguous row of B.
      for (let jj = 0; jj < NR; jj++) {
        let d = base + jj;
        if (jj < cols) {
          let s = bOff + (j0 + c + jj) * k + p0;
          for (let p = 0; p < kb; p++, d += NR) dst[d] = b[s++]!;
        } else {
          for (let p = 0; p < kb; p++, d += NR) dst[d] = 0;
        }
      }
    } else {
      // B stored [k, n]: the NR values of one p are adjacent.
      let s = bOff + p0 * n + j0 + c;
      let d = base;
      if (cols === NR) {
        for (let p = 0; p < kb; p++, s += n, d += NR) {
          dst[d] = b[s]!;
          dst[d + 1] = b[s + 1]!;
          dst[d + 2] = b[s + 2]!;
          dst[d + 3] = b[s + 3]!;
        }
      } else {
        for (let p = 0; p < kb; p++, s += n, d += NR) {
          for (let jj = 0; jj < NR; jj++) dst[d + jj] = jj < cols ? b[s + jj]! : 0;
        }
      }
    }
  }
}

// The two micro-kernels below are identical except for the scratch element type; keep them
// in sync. Each continues one MR x NR tile of float64 sums T (row-major, +0 or the sums of
// the previous k-chunks) over k products from an A panel at pa and a B panel at pb, in order
// p = 0..k-1, and writes the sums back to T.

function kernel32(
  A: Float32Array, pa: number, B: Float32Array, pb: number, k: number,
  T: Float64Array,
): void {
  let c00 = T[0]!, c01 = T[1]!, c02 = T[2]!, c03 = T[3]!;
  let c10 = T[4]!, c11 = T[5]!, c12 = T[6]!, c13 = T[7]!;
  let c20 = T[8]!, c21 = T[9]!, c22 = T[10]!, c23 = T[11]!;
  const end = pa + k * MR;
  while (pa < end) {
    const a0 = A[pa]!, a1 = A[pa + 1]!, a2 = A[pa + 2]!;
    const b0 = B[pb]!, b1 = B[pb + 1]!, b2 = B[pb + 2]!, b3 = B[pb + 3]!;
    c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
    c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
    c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
    pa += MR;
    pb += NR;
  }
  T[0] = c00; T[1] = c01; T[2] = c02; T[3] = c03;
  T[4] = c10; T[5] = c11; T[6] = c12; T[7] = c13;
  T[8] = c20; T[9] = c21; T[10] = c22; T[11] = c23;
}

/**
 * kernel32 with f32 accumulation: each product and each sum is rounded to f32 (Math.fround),
 * in the same order, so T holds exactly the f32 running sums of matmulNaiveF32.
 */
function kernel32f(
  A: Float32Array, pa: number, B: Float32Array, pb: number, k: number,
  T: Float64Array,
): void {
  const f = Math.fround;
  let c00 = T[0]!, c01 = T[1]!, c02 = T[2]!, c03 = T[3]!;
  let c10 = T[4]!, c11 = T[5]!, c12 = T[6]!, c13 = T[7]!;
  let c20 = T[8]!, c21 = T[9]!, c22 = T[10]!, c23 = T[11]!;
  const end = pa + k * MR;
  while (pa < end) {
    const a0 = A[pa]!, a1 = A[pa + 1]!, a2 = A[pa + 2]!;
    const b0 = B[pb]!, b1 = B[pb + 1]!, b2 = B[pb + 2]!, b3 = B[pb + 3]!;
    c00 = f(c00 + f(a0 * b0)); c01 = f(c01 + f(a0 * b1)); c02 = f(c02 + f(a0 * b2)); c03 = f(c03 + f(a0 * b3));
    c10 = f(c10 + f(a1 * b0)); c11 = f(c11 + f(a1 * b1)); c12 = f(c12 + f(a1 * b2)); c13 = f(c13 + f(a1 * b3));
    c20 = f(c20 + f(a2 * b0)); c21 = f(c21 + f(a2 * b1)); c22 = f(c22 + f(a2 * b2)); c23 = f(c23 + f(a2 * b3));
    pa += MR;
    pb += NR;
  }
  T[0] = c00; T[1] = c01; T[2] = c02; T[3] = c03;
  T[4] = c10; T[5] = c11; T[6] = c12; T[7] = c13;
  T[8] = c20; T[9] = c21; T[10] = c22; T[11] = c23;
}

function kernel64(
  A: Float64Array, pa: number, B: Float64Array, pb: number, k: number,
  T: Float64Array,
): void {
  let c00 = T[0]!, c01 = T[1]!, c02 = T[2]!, c03 = T[3]!;
  let c10 = T[4]!, c11 = T[5]!, c12 = T[6]!, c13 = T[7]!;
  let c20 = T[8]!, c21 = T[9]!, c22 = T[10]!, c23 = T[11]!;
  const end = pa + k * MR;
  while (pa < end) {
    const a0 = A[pa]!, a1 = A[pa + 1]!, a2 = A[pa + 2]!;
    const b0 = B[pb]!, b1 = B[pb + 1]!, b2 = B[pb + 2]!, b3 = B[pb + 3]!;
    c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
    c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
    c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
    pa += MR;
    pb += NR;
  }
  T[0] = c00; T[1] = c01; T[2] = c02; T[3] = c03;
  T[4] = c10; T[5] = c11; T[6] = c12; T[7] = c13;
  T[8] = c20; T[9] = c21; T[10] = c22; T[11] = c23;
}

/**
 * Copies the live rows x cols corner of a tile between a tile buffer and a row-major matrix
 * (row strides sStride, dStride). Into `out` this is the single rounding of each float64
 * sum; between `tile` and `partial` it is exact. One general loop for full and edge tiles
 * keeps V8's type feedback complete (a store site reached only by edge tiles would
 * deoptimise the hot code when first hit).
 */
function moveTile(
  src: FloatArray, s: number, sStride: number, dst: FloatArray, d: number, dStride: number,
  rows: number, cols: number,
): void {
  for (let ii = 0; ii < rows; ii++, s += sStride, d += dStride) {
    for (let jj = 0; jj < cols; jj++) dst[d + jj] = src[s + jj]!;
  }
}

/**
 * Few rows (vector-matrix products, single-sequence decoding): packing B would cost as much
 * as the product and a 3-row tile would waste most of its lanes, so each row is computed
 * against B in place, NR columns at a time, leftover columns one at a time. Same per-element
 * order (p = 0..k-1 from +0 in float64), so the same bits as every other path.
 */
function directRows(
  a: FloatArray, aOff: number, b: FloatArray, bOff: number,
  out: FloatArray, outOff: number, m: number, k: number, n: number,
  transA: boolean, transB: boolean, accF32: boolean,
): void {
  const sa = transA ? m : 1; // step in p along a row of op(A)
  const sbp = transB ? 1 : n; // step in p down a column of op(B)
  const sbj = transB ? k : 1; // step in j along a row of op(B)
  const nFull = n - (n % NR);
  const f32 = a instanceof Float32Array && b instanceof Float32Array;
  for (let i = 0; i < m; i++) {
    const ia = aOff + (transA ? i : i * k);
    const o = outOff + i * n;
    for (let j = 0; j < nFull; j += NR) {
      if (accF32) direct32f(a as Float32Array, ia, sa, b as Float32Array, bOff + j * sbj, sbp, sbj, k, tile);
      else if (f32) direct32(a as Float32Array, ia, sa, b as Float32Array, bOff + j * sbj, sbp, sbj, k, tile);
      else direct64(a, ia, sa, b, bOff + j * sbj, sbp, sbj, k, tile);
      moveTile(tile, 0, NR, out, o + j, n, 1, NR);
    }
    for (let j = nFull; j < n; j++) {
      let s = 0;
      if (accF32) {
        for (let p = 0, x = ia, y = bOff + j * sbj; p < k; p++, x += sa, y += sbp) s = Math.fround(s + Math.fround(a[x]! * b[y]!));
      } else {
        for (let p = 0, x = ia, y = bOff + j * sbj; p < k; p++, x += sa, y += sbp) s += a[x]! * b[y]!;
      }
      out[o + j] = s;
    }
  }
}

// direct32 and direct64 are identical except for the array types; keep them in sync. One row
// of op(A) starting at ia (step sa) against NR columns of op(B) starting at ib (step sbp in p,
// sbj between columns); the NR sums go to T[0..NR-1].

function direct32(
  a: Float32Array, ia: number, sa: number, b: Float32Array, ib: number, sbp: number, sbj: number,
  k: number, T: Float64Array,
): void {
  let c0 = 0, c1 = 0, c2 = 0, c3 = 0;
  const j1 = sbj, j2 = 2 * sbj, j3 = 3 * sbj;
  for (let p = 0; p < k; p++) {
    const x = a[ia]!;
    c0 += x * b[ib]!; c1 += x * b[ib + j1]!; c2 += x * b[ib + j2]!; c3 += x * b[ib + j3]!;
    ia += sa;
    ib += sbp;
  }
  T[0] = c0; T[1] = c1; T[2] = c2; T[3] = c3;
}

/** direct32 with every product and sum rounded to f32 (the order of matmulNaiveF32). */
function direct32f(
  a: Float32Array, ia: number, sa: number, b: Float32Array, ib: number, sbp: number, sbj: number,
  k: number, T: Float64Array,
): void {
  const f = Math.fround;
  let c0 = 0, c1 = 0, c2 = 0, c3 = 0;
  const j1 = sbj, j2 = 2 * sbj, j3 = 3 * sbj;
  for (let p = 0; p < k; p++) {
    const x = a[ia]!;
    c0 = f(c0 + f(x * b[ib]!)); c1 = f(c1 + f(x * b[ib + j1]!)); c2 = f(c2 + f(x * b[ib + j2]!)); c3 = f(c3 + f(x * b[ib + j3]!));
    ia += sa;
    ib += sbp;
  }
  T[0] = c0; T[1] = c1; T[2] = c2; T[3] = c3;
}

function direct64(
  a: FloatArray, ia: number, sa: number, b: FloatArray, ib: number, sbp: number, sbj: number,
  k: number, T: Float64Array,
): void {
  let c0 = 0, c1 = 0, c2 = 0, c3 = 0;
  const j1 = sbj, j2 = 2 * sbj, j3 = 3 * sbj;
  for (let p = 0; p < k; p++) {
    const x = a[ia]!;
    c0 += x * b[ib]!; c1 += x * b[ib + j1]!; c2 += x * b[ib + j2]!; c3 += x * b[ib + j3]!;
    ia += sa;
    ib += sbp;
  }
  T[0] = c0; T[1] = c1; T[2] = c2; T[3] = c3;
}
