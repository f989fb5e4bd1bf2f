/**
 * Helpers for the reduction / softmax / index-op / matmul property suites: dim arbitraries,
 * plain-JavaScript reference implementations (computed in float64 over flat row-major arrays)
 * and index arbitraries. The comparisons are in assert.ts, the tensor builders in tensors.ts.
 */
import fc from 'fast-check';
import { sizeOf, valueArb, type Shape } from './arbitraries.js';

/** What the reduction ops take as `dim`: one dim, a list, or undefined (all dims). */
export type DimSpec = number | number[] | undefined;

/**
 * A `dim` argument for a tensor of the given rank: omitted (all dims), a single dim (possibly
 * negative), or a non-empty list of distinct dims in any order, each possibly written negative.
 */
export function dimsArb(rank: number): fc.Arbitrary<DimSpec> {
  if (rank === 0) return fc.constantFrom<DimSpec>(undefined, 0, -1, [0], [-1]);
  const all = Array.from({ length: rank }, (_, i) => i);
  const list = fc
    .shuffledSubarray(all, { minLength: 1 })
    .chain((ds) => fc.array(fc.boolean(), { minLength: ds.length, maxLength: ds.length }).map((neg) => ds.map((d, i) => (neg[i] ? d - rank : d))));
  return fc.oneof(fc.constant<DimSpec>(undefined), fc.integer({ min: -rank, max: rank - 1 }), list);
}

/** A single dim (possibly negative) for a tensor of rank ≥ 1. */
export function dimArb(rank: number): fc.Arbitrary<number> {
  return fc.integer({ min: -Math.max(rank, 1), max: Math.max(rank, 1) - 1 });
}

/** Normalised, sorted reduced dims (rank 0 reduces nothing). */
export function normDimsRef(dim: DimSpec, rank: number): number[] {
  if (rank === 0) return [];
  if (dim === undefined) return Array.from({ length: rank }, (_, i) => i);
  const list = typeof dim === 'number' ? [dim] : dim;
  return [...new Set(list.map((d) => (d < 0 ? d + rank : d)))].sort((a, b) => a - b);
}

export function stridesRef(shape: Shape): number[] {
  const st = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    st[i] = acc;
    acc *= shape[i]!;
  }
  return st;
}

export function coordsOf(flat: number, shape: Shape): number[] {
  const st = stridesRef(shape);
  return shape.map((d, i) => Math.floor(flat / st[i]!) % d);
}

export function flatOf(coords: readonly number[], shape: Shape): number {
  const st = stridesRef(shape);
  let f = 0;
  for (let i = 0; i < shape.length; i++) f += coords[i]! * st[i]!;
  return f;
}

/** Shape after reducing `dims` (kept as 1 when keepdim). */
export function reducedShapeRef(shape: Shape, dims: readonly number[], keepdim: boolean): number[] {
  const out: number[] = [];
  shape.forEach((d, i) => {
    if (!dims.includes(i)) out.push(d);
    else if (keepdim) out.push(1);
  });
  return out;
}

/**
 * For a reduction of `shape` over `dims`: one group per output element (row-major order of the
 * keepdim shape), each listing the flat input indices it reduces, in row-major order.
 */
export function reduceGroups(shape: Shape, dims: readonly number[]): number[][] {
  const kept = reducedShapeRef(shape, dims, true);
  const groups: number[][] = Array.from({ length: sizeOf(kept) }, () => []);
  for (let f = 0; f < sizeOf(shape); f++) {
    const c = coordsOf(f, shape).map((v, i) => (dims.includes(i) ? 0 : v));
    groups[flatOf(c, kept)]!.push(f);
  }
  return groups;
}

/** Reference reduction: applies `fn` to each group's values. */
export function reduceRef(values: readonly number[], shape: Shape, dims: readonly number[], fn: (xs: number[]) => number): number[] {
  return reduceGroups(shape, dims).map((g) => fn(g.map((i) => values[i]!)));
}

export const sumRef = (xs: number[]): number => xs.reduce((p, q) => p + q, 0);
export const maxRef = (xs: number[]): number => Math.max(...xs);
export const minRef = (xs: number[]): number => Math.min(...xs);
export const lseRef = (xs: number[]): number => {
  const m = Math.max(...xs);
  if (!Number.isFinite(m)) return m;
  return m + Math.log(xs.reduce((p, x) => p + Math.exp(x - m), 0));
};

/** Reference softmax / logSoftmax along one (normalised) dim. */
export function softmaxRef(values: readonly number[], shape: Shape, dim: number, log: boolean): number[] {
  const out = new Array<number>(values.length);
  for (const g of reduceGroups(shape, [dim])) {
    const xs = g.map((i) => values[i]!);
    const lse = lseRef(xs);
    g.forEach((i, j) => (out[i] = log ? xs[j]! - lse : Math.exp(xs[j]! - lse)));
  }
  return out;
}

/** Reference gather along dim: out[c] = x[c with c[dim] := index[c]]. */
export function gatherRef(x: readonly number[], shape: Shape, dim: number, index: readonly number[], indexShape: Shape): number[] {
  return index.map((_, f) => {
    const c = coordsOf(f, indexShape);
    if (shape.length > 0) c[dim] = index[f]!;
    return x[flatOf(c, shape)]!;
  });
}

/** Reference scatterAdd along dim: out = x; out[c with c[dim] := index[c]] += src[c]. */
export function scatterAddRef(
  x: readonly number[], shape: Shape, dim: number, index: readonly number[], indexShape: Shape, src: readonly number[],
): number[] {
  const out = [...x];
  index.forEach((_, f) => {
    const c = coordsOf(f, indexShape);
    if (shape.length > 0) c[dim] = index[f]!;
    out[flatOf(c, shape)]! += src[f]!;
  });
  return out;
}

/** Reference topk along one dim (descending, ties to the lower index): values and indices. */
export function topkRef(x: readonly number[], shape: Shape, dim: number, k: number): { values: number[]; indices: number[]; shape: number[] } {
  const outShape = [...shape];
  outShape[dim] = k;
  const values = new Array<number>(sizeOf(outShape));
  const indices = new Array<number>(sizeOf(outShape));
  for (const g of reduceGroups(shape, [dim])) {
    const order = g.map((_, j) => j).sort((p, q) => x[g[q]!]! - x[g[p]!]! || p - q);
    const c0 = coordsOf(g[0]!, shape);
    for (let j = 0; j < k; j++) {
      c0[dim] = j;
      const o = flatOf(c0, outShape);
      values[o] = x[g[order[j]!]!]!;
      indices[o] = order[j]!;
    }
  }
  return { values, indices, shape: outShape };
}

/**
 * torch.matmul reference (1-D promotion, broadcast batch dims) with a naive triple loop, summing
 * p = 0..k−1 from 0 in float64 (what f64 CPU matmuls compute), or with accumulate = 'f32'
 * rounding every product and sum to f32 (what f32 CPU matmuls compute, see src/tensor/cpu/kernels/matmul/index.ts).
 */
export function matmulRef(
  a: readonly number[], aShape: Shape, b: readonly number[], bShape: Shape, accumulate: 'f64' | 'f32' = 'f64',
): { values: number[]; shape: number[] } {
  const a2 = aShape.length === 1 ? [1, aShape[0]!] : [...aShape];
  const b2 = bShape.length === 1 ? [bShape[0]!, 1] : [...bShape];
  const m = a2[a2.length - 2]!;
  const k = a2[a2.length - 1]!;
  const n = b2[b2.length - 1]!;
  const ab = a2.slice(0, -2);
  const bb = b2.slice(0, -2);
  const rank = Math.max(ab.length, bb.length);
  const pad = (s: number[]) => [...new Array<number>(rank - s.length).fill(1), ...s];
  const pa = pad(ab);
  const pb = pad(bb);
  const batch = pa.map((d, i) => Math.max(d, pb[i]!));
  const values: number[] = [];
  for (let bi = 0; bi < sizeOf(batch); bi++) {
    const c = coordsOf(bi, batch);
    const aOff = flatOf(c.map((v, i) => (pa[i] === 1 ? 0 : v)), pa) * m * k;
    const bOff = flatOf(c.map((v, i) => (pb[i] === 1 ? 0 : v)), pb) * k * n;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        if (accumulate === 'f32') {
          const f = Math.fround;
          for (let p = 0; p < k; p++) s = f(s + f(f(a[aOff + i * k + p]!) * f(b[bOff + p * n + j]!)));
        } else {
          for (let p = 0; p < k; p++) s += a[aOff + i * k + p]! * b[bOff + p * n + j]!;
        }
        values.push(s);
      }
    }
  }
  const shape = [...batch];
  if (aShape.length > 1) shape.push(m);
  if (bShape.length > 1) shape.push(n);
  return { values, shape };
}

/** Index values in [0, n) for a tensor of `shape`. */
export function indexValuesArb(shape: Shape, n: number): fc.Arbitrary<number[]> {
  return fc.array(fc.integer({ min: 0, max: n - 1 }), { minLength: sizeOf(shape), maxLength: sizeOf(shape) });
}

/**
 * `n` pairwise-distinct values at least `gap` apart in [min, max] (multiples of `gap`).
 * Built by construction: arbitraries.ts's distinctValuesArb filters fc.double arrays, whose
 * bias towards repeated special values makes the filter loop forever from n ≈ 6 on.
 */
export function distinctGridArb(n: number, gap = 1e-3, min = -3, max = 3): fc.Arbitrary<number[]> {
  return fc
    .uniqueArray(fc.integer({ min: Math.ceil(min / gap), max: Math.floor(max / gap) }), { minLength: n, maxLength: n })
    .map((ks) => ks.map((k) => k * gap));
}

/**
 * Finite doubles in [min, max], mostly spread evenly over the interval (4 in 5 draws) plus
 * arbitraries.ts's valueArb for edge values. valueArb alone (fc.double) draws mostly ±max, 0
 * and magnitudes below 1e-40, which leaves softmax/logsumexp/matmul nearly untested.
 */
export function realArb(min = -3, max = 3): fc.Arbitrary<number> {
  const N = 2 ** 30;
  const spread = fc.noBias(fc.integer({ min: 0, max: N })).map((k) => min + ((max - min) * k) / N);
  return fc.oneof({ arbitrary: spread, weight: 4 }, { arbitrary: valueArb(min, max), weight: 1 });
}

/** `n` values from realArb. */
export function realsArb(n: number, min = -3, max = 3): fc.Arbitrary<number[]> {
  return fc.array(realArb(min, max), { minLength: n, maxLength: n });
}
