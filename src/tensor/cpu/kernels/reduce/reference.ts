/**
 * The CPU sum, logsumexp and softmax reference: one plain loop per output element, each softmax
 * exp computed twice, no shortcut for exps that underflow to 0. current.ts (interchanged loops
 * for leading-axis sums, one exp per element, underflow skipped) is tested against it bit for
 * bit (test/tensor/cpu/reduce.test.ts). Tests only; not part of the published package.
 */
import type { ReduceOp } from '../../../backend.js';
import type { TypedArray } from '../../../dtype.js';

export function reduceIntoV1(op: ReduceOp, x: TypedArray, out: TypedArray, outer: number, n: number, inner: number): void {
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

function rowMax(x: TypedArray, base: number, n: number, inner: number): number {
  let m = -Infinity;
  for (let j = 0; j < n; j++) {
    const v = x[base + j * inner]!;
    if (v > m || v !== v) m = v;
  }
  return m;
}

/** m + log Σ exp(x - m) with m the row max: finite whenever the true value is. */
export function logsumexpIntoV1(x: TypedArray, out: TypedArray, outer: number, n: number, inner: number): void {
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

export function softmaxIntoV1(x: TypedArray, out: TypedArray, outer: number, n: number, inner: number, log: boolean): void {
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
