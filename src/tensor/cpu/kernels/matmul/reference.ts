/**
 * The CPU matmul's reference: the obviously-correct triple loops every kernel in this folder
 * must equal bit for bit (index.ts states the contract and the two accumulation rules).
 * Self-contained, used by tests and benchmarks only, and not part of the published package.
 */

type FloatArray = Float32Array | Float64Array;

/** The triple loop with matmulInto's contract, float64 accumulation: what f64 and mixed matmuls compute. */
export function matmulNaive(
  a: FloatArray, aOff: number, b: FloatArray, bOff: number,
  out: FloatArray, outOff: number, m: number, k: number, n: number,
  transA: boolean, transB: boolean,
): void {
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) {
        const x = transA ? a[aOff + p * m + i]! : a[aOff + i * k + p]!;
        const y = transB ? b[bOff + j * k + p]! : b[bOff + p * n + j]!;
        s += x * y;
      }
      out[outOff + i * n + j] = s;
    }
  }
}

/**
 * The f32 reference: the same triple loop, but the running sum is an f32 that every product
 * and every addition is rounded to (Math.fround), p = 0..k-1 from +0. This is what f32
 * matmuls compute on the CPU backend, whichever kernel runs; f64 matmuls compute matmulNaive.
 */
export function matmulNaiveF32(
  a: FloatArray, aOff: number, b: FloatArray, bOff: number,
  out: FloatArray, outOff: number, m: number, k: number, n: number,
  transA: boolean, transB: boolean,
): void {
  const f = Math.fround;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) {
        const x = f(transA ? a[aOff + p * m + i]! : a[aOff + i * k + p]!);
        const y = f(transB ? b[bOff + j * k + p]! : b[bOff + p * n + j]!);
        s = f(s + f(x * y));
      }
      out[outOff + i * n + j] = s;
    }
  }
}
