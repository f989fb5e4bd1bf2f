/**
 * indexAdd as it was before indexing.ts wrote each row's first term instead of adding it to a
 * zeroed output: kept as the reference ("v1") the new kernel is tested against bit for bit
 * (test/tensor/cpu/indexing.test.ts). `out` must be zeros on entry.
 */
import type { TypedArray } from '../dtype.js';

export function indexAddIntoV1(
  src: TypedArray, index: Int32Array, out: TypedArray, outer: number, n: number, inner: number, m: number,
): void {
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < m; j++) {
      const ob = (o * n + index[j]!) * inner;
      const sb = (o * m + j) * inner;
      for (let i = 0; i < inner; i++) out[ob + i]! += src[sb + i]!;
    }
  }
}
