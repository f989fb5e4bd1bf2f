/**
 * Plain-JavaScript references for the shape-op tests: nested arrays built from flat values,
 * coordinate math, and Python-style slicing, concatenation and stacking on nested lists. They
 * share no code with src/, so a test against them is an independent check.
 */
import fc from 'fast-check';

export type Nested = number | Nested[];

/** Row-major nesting of `flat` into `shape` (rank 0 gives the number itself). */
export function nestRef(flat: ArrayLike<number>, shape: readonly number[]): Nested {
  if (shape.length === 0) return flat[0]!;
  let pos = 0;
  const build = (dim: number): Nested[] => {
    const out: Nested[] = [];
    for (let i = 0; i < shape[dim]!; i++) out.push(dim === shape.length - 1 ? flat[pos++]! : build(dim + 1));
    return out;
  };
  return build(0);
}

/** Every coordinate tuple of `shape`, in row-major order. */
export function allCoords(shape: readonly number[]): number[][] {
  let acc: number[][] = [[]];
  for (const d of shape) {
    const next: number[][] = [];
    for (const c of acc) for (let i = 0; i < d; i++) next.push([...c, i]);
    acc = next;
  }
  return acc;
}

/** The element of a nested list at `coords`. */
export function at(x: Nested, coords: readonly number[]): number {
  let cur: Nested = x;
  for (const c of coords) cur = (cur as Nested[])[c]!;
  return cur as number;
}

/** Applies `f` to the lists found at depth `dim` (depth 0 is the list itself). */
function atDepth(x: Nested[], dim: number, f: (l: Nested[]) => Nested[]): Nested[] {
  return dim === 0 ? f(x) : x.map((s) => atDepth(s as Nested[], dim - 1, f));
}

/** Python's x[..., start:end] on dim `dim` (JS Array.slice clamps and wraps negatives as Python does). */
export function sliceRef(x: Nested[], dim: number, start: number, end: number | undefined): Nested[] {
  return atDepth(x, dim, (l) => l.slice(start, end));
}

/** Concatenation of nested lists along `dim`. */
export function catRef(xs: Nested[][], dim: number): Nested[] {
  if (dim === 0) return xs.flat(1) as Nested[];
  return xs[0]!.map((_, i) => catRef(xs.map((x) => x[i] as Nested[]), dim - 1));
}

/** Stacking of same-shape nested values along a new dim `dim`. */
export function stackRef(xs: Nested[], dim: number): Nested[] {
  if (dim === 0) return xs;
  return (xs[0] as Nested[]).map((_, i) => stackRef(xs.map((x) => (x as Nested[])[i]!), dim - 1));
}

/** A permutation of 0..n-1. */
export function permutationArb(n: number): fc.Arbitrary<number[]> {
  const ids = Array.from({ length: n }, (_, i) => i);
  return fc.shuffledSubarray(ids, { minLength: n, maxLength: n });
}

/** Deterministic, position-dependent, non-repeating test values (so misplaced elements show). */
export function distinctRamp(n: number, offset = 0): number[] {
  return Array.from({ length: n }, (_, i) => Math.round(100 * Math.sin(i * 1.7 + offset + 0.3)) / 16 + i / 1024);
}
