/**
 * CPU data-movement kernels: permute, expand (materialised broadcast), slice and concat along
 * one axis, gather/scatterAdd along one axis, and indexSelect/indexAdd (embedding rows and
 * their gradient). Indices arrive validated by the op layer. Pure copies: every output element
 * is an input element (or, for the adds, the same sums in the same order), so speed-ups here
 * never change a bit.
 */
import type { TypedArray } from '../../../dtype.js';
import { stridesOf } from '../../../shape.js';
import { stridedWalk } from '../elementwise/current.js';

export function permuteInto(x: TypedArray, out: TypedArray, shape: readonly number[], perm: readonly number[]): void {
  const st = stridesOf(shape);
  const outShape = perm.map((p) => shape[p]!);
  const inStrides = perm.map((p) => st[p]!);
  expandInto(x, out, outShape, inStrides);
}

export function expandInto(x: TypedArray, out: TypedArray, outShape: readonly number[], strides: readonly number[]): void {
  if (out.length === 0) return;
  // The walk coalesces dims, so a contiguous run (a reshape, the rows of a head transpose) is
  // one row: copied with TypedArray.set when long enough to pay for the call, filled when it
  // is a broadcast (stride 0).
  stridedWalk(outShape, [strides], (o, len, offs, inner) => {
    const ix = offs[0]!;
    const dx = inner[0]!;
    if (dx === 1 && len >= 16) out.set(x.subarray(ix, ix + len), o);
    else if (dx === 0) out.fill(x[ix]!, o, o + len);
    else for (let j = 0; j < len; j++) out[o + j] = x[ix + j * dx]!;
  });
}

export function sliceInto(
  x: TypedArray, out: TypedArray, outer: number, n: number, inner: number, start: number, len: number,
): void {
  for (let o = 0; o < outer; o++) {
    const src = (o * n + start) * inner;
    out.set(x.subarray(src, src + len * inner), o * len * inner);
  }
}

export function concatInto(xs: readonly TypedArray[], ns: readonly number[], out: TypedArray, outer: number, inner: number): void {
  let total = 0;
  for (const n of ns) total += n;
  let at = 0;
  for (let t = 0; t < xs.length; t++) {
    const n = ns[t]!;
    const x = xs[t]!;
    for (let o = 0; o < outer; o++) {
      out.set(x.subarray(o * n * inner, (o + 1) * n * inner), (o * total + at) * inner);
    }
    at += n;
  }
}

export function gatherInto(
  x: TypedArray, index: Int32Array, out: TypedArray, outer: number, n: number, inner: number, m: number,
): void {
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < m; j++) {
      const ob = (o * m + j) * inner;
      for (let i = 0; i < inner; i++) out[ob + i] = x[(o * n + index[ob + i]!) * inner + i]!;
    }
  }
}

export function scatterAddInto(
  out: TypedArray, index: Int32Array, src: TypedArray, outer: number, n: number, inner: number, m: number,
): void {
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < m; j++) {
      const sb = (o * m + j) * inner;
      for (let i = 0; i < inner; i++) out[(o * n + index[sb + i]!) * inner + i]! += src[sb + i]!;
    }
  }
}

export function indexSelectInto(
  x: TypedArray, index: Int32Array, out: TypedArray, outer: number, n: number, inner: number, m: number,
): void {
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < m; j++) {
      const src = (o * n + index[j]!) * inner;
      out.set(x.subarray(src, src + inner), (o * m + j) * inner);
    }
  }
}

/**
 * out[o, index[j], i] = Σ_j src[o, j, i] over the j that pick that row, in j order, from +0;
 * rows no j picks are 0. `out` may hold anything on entry: every element is written. A row's
 * first term is written as src + 0 rather than added to a zeroed row (the same IEEE result:
 * +0 + s = s + 0, which turns −0 into +0 exactly as the addition did), so the output is neither
 * zero-filled first nor read before the first write (the embedding gradient of the chunked
 * expert weights is this, at tens of megabytes per training step).
 */
export function indexAddInto(
  src: TypedArray, index: Int32Array, out: TypedArray, outer: number, n: number, inner: number, m: number,
): void {
  const seen = new Uint8Array(n);
  for (let o = 0; o < outer; o++) {
    seen.fill(0);
    for (let j = 0; j < m; j++) {
      const row = index[j]!;
      const ob = (o * n + row) * inner;
      const sb = (o * m + j) * inner;
      if (seen[row] === 0) {
        seen[row] = 1;
        for (let i = 0; i < inner; i++) out[ob + i] = src[sb + i]! + 0;
      } else {
        for (let i = 0; i < inner; i++) out[ob + i]! += src[sb + i]!;
      }
    }
    for (let row = 0; row < n; row++) if (seen[row] === 0) out.fill(0, (o * n + row) * inner, (o * n + row + 1) * inner);
  }
}
