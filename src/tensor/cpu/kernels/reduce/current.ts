/**
 * CPU single-axis kernels over an [outer, n, inner] view: sum/max/min, argmax, logsumexp,
 * softmax/logSoftmax and topk. Each output element is computed by one sequential loop over
 * the n axis in index order, accumulating in a float64, so a row's result never depends on
 * how many other rows are in the batch (batch invariance) and f32 results are rounded once.
 */
import type { ReduceOp } from '../../../backend.js';
import type { TypedArray } from '../../../dtype.js';

export function reduceInto(op: ReduceOp, x: TypedArray, out: TypedArray, outer: number, n: number, inner: number): void {
  if (op === 'sum' && inner > 1) {
    // Sums over a leading axis (bias and broadcast gradients): walk the input row by row into
    // float64 accumulators, one per output. Each output still adds its n terms in index order
    // from +0, exactly as the loop below, only the loops are interchanged for locality.
    const acc = new Float64Array(inner);
    for (let o = 0; o < outer; o++) {
      acc.fill(0);
      const ob = o * n * inner;
      for (let j = 0; j < n; j++) {
        const rb = ob + j * inner;
        for (let i = 0; i < inner; i++) acc[i] += x[rb + i]!;
      }
      for (let i = 0; i < inner; i++) out[o * inner + i] = acc[i]!;
    }
    return;
  }
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
      for (let j = 0; j < n; j++) s += expOrZero(x[base + j * inner]! - m);
      out[o * inner + i] = m + Math.log(s);
    }
  }
}

/**
 * Math.exp(t), skipping the call where it is exactly +0: below −745.14 the double exp
 * underflows to 0 (the smallest subnormal is e^−744.44), so for t < −746 the result is the
 * same bits without the work. Causal attention's masked scores (−1e30) are half of them.
 */
function expOrZero(t: number): number {
  return t < -746 ? 0 : Math.exp(t);
}

export function softmaxInto(x: TypedArray, out: TypedArray, outer: number, n: number, inner: number, log: boolean): void {
  // The row's exp(x − m) in float64, computed once and used for both the sum and the output
  // (the same doubles the sum saw, so the same bits as computing them twice).
  const e = new Float64Array(n);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      const base = o * n * inner + i;
      const m = rowMax(x, base, n, inner);
      let s = 0;
      if (log) {
        for (let j = 0; j < n; j++) s += expOrZero(x[base + j * inner]! - m);
        const lse = m + Math.log(s);
        for (let j = 0; j < n; j++) out[base + j * inner] = x[base + j * inner]! - lse;
      } else {
        for (let j = 0; j < n; j++) {
          const v = expOrZero(x[base + j * inner]! - m);
          e[j] = v;
          s += v;
        }
        const inv = 1 / s;
        for (let j = 0; j < n; j++) out[base + j * inner] = e[j]! * inv;
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
