/**
 * CPU single-axis kernels over an [outer, n, inner] view: sum/max/min, argmax, logsumexp,
 * softmax/logSoftmax and topk. Each output element is computed by one sequential loop over
 * the n axis in index order, accumulating in a float64, so a row's result never depends on
 * how many other rows are in the batch (batch invariance) and f32 results are rounded once.
 */
import type { ReduceOp } from '../backend.js';
import type { TypedArray } from '../dtype.js';

export function reduceInto(op: ReduceOp, x: TypedArray, out: TypedArray, outer: number, n: number, inner: number): void {
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * n * inner + i;
      let acc: number;
      if (op === 'sum') {
        acc = 0;
        for (let j = 0; j < n; j++) acc += x[base + j * inner]!;
      } else if (op === 'max') {
        acc = -Infinity;
        for (let j = 0; j < n; j++) {
          const v = x[base + j * inner]!;
          if (v > acc || v !== v) acc = v;
          if (acc !== acc) break;
        }
      } else {
        acc = Infinity;
        for (let j = 0; j < n; j++) {
          const v = x[base + j * inner]!;
          if (v < acc || v !== v) acc = v;
          if (acc !== acc) break;
        }
      }
      out[o * inner + i] = acc;
    }
  }
}

/** Index of the first maximum (NaN counts as the maximum, as in PyTorch). */
export function argmaxInto(x: TypedArray, out: Int32Array, outer: number, n: number, inner: number): void {
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * n * inner + i;
      let best = 0;
      let bv = x[base]!;
      for (let j = 1; j < n && bv === bv; j++) {
        const v = x[base + j * inner]!;
        if (v > bv || v !== v) {
          bv = v;
          best = j;
        }
      }
      out[o * inner + i] = best;
    }
  }
}

function rowMax(x: TypedArray, base: number, n: number, inner: number): number {
  let m = -Infinity;
  for (let j = 0; j < n; j++) {
    const v = x[base + j * inner]!;
    if (v > m || v !== v) m = v;
  }
  return m;
}

/** m + log Σ exp(x - m) with m the row max: finite whenever the true value is. */
export function logsumexpInto(x: TypedArray, out: TypedArray, outer: number, n: number, inner: number): void {
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * n * inner + i;
      const m = rowMax(x, base, n, inner);
      if (m === -Infinity || m === Infinity || m !== m) {
        out[o * inner + i] = m;
        continue;
      }
      let s = 0;
      for (let j = 0; j < n; j++) s += Math.exp(x[base + j * inner]! - m);
      out[o * inner + i] = m + Math.log(s);
    }
  }
}

export function softmaxInto(x: TypedArray, out: TypedArray, outer: number, n: number, inner: number, log: boolean): void {
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * n * inner + i;
      const m = rowMax(x, base, n, inner);
      let s = 0;
      for (let j = 0; j < n; j++) s += Math.exp(x[base + j * inner]! - m);
      if (log) {
        const lse = m + Math.log(s);
        for (let j = 0; j < n; j++) out[base + j * inner] = x[base + j * inner]! - lse;
      } else {
        const inv = 1 / s;
        for (let j = 0; j < n; j++) out[base + j * inner] = Math.exp(x[base + j * inner]! - m) * inv;
      }
    }
  }
}

/** Top k along the axis, descending, ties to the lower index; NaN sorts as largest. */
export function topkInto(
  x: TypedArray, vals: TypedArray, idx: Int32Array, outer: number, n: number, inner: number, k: number,
): void {
  const order = new Array<number>(n);
  const row = new Float64Array(n);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * n * inner + i;
      for (let j = 0; j < n; j++) {
        order[j] = j;
        row[j] = x[base + j * inner]!;
      }
      order.sort((p, q) => {
        const a = row[p]!;
        const b = row[q]!;
        if (a !== a) return b !== b ? p - q : -1;
        if (b !== b) return 1;
        return a > b ? -1 : a < b ? 1 : p - q;
      });
      const ob = o * k * inner + i;
      for (let j = 0; j < k; j++) {
        vals[ob + j * inner] = row[order[j]!]!;
        idx[ob + j * inner] = order[j]!;
      }
    }
  }
}
