/**
 * The CPU indexAdd reference (indexAdd is the one indexing kernel with a second version): adds
 * every term into a zeroed output. current.ts writes each row's first term instead, and is
 * tested against this bit for bit (test/tensor/cpu/indexing.test.ts). `out` must be zeros on
 * entry. Tests only; not part of the published package.
 */
import type { TypedArray } from '../../../dtype.js';

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
