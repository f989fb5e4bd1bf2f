/**
 * The rewards, parameter tables and engine directions the theory experiments use, built from a
 * seed so that every figure is reproducible. Kept apart from experiments.ts so that tests can
 * build the same setups and check the figures' claims against direct computations.
 */
import { randn, Rng } from '../../tensor/index.js';
import type { SequenceSpace } from './space.js';

/** R(y) for every response of the space, from a function of the token list. */
export function rewardOf(space: SequenceSpace, f: (y: number[]) => number): Float64Array {
  const T = space.length;
  return Float64Array.from({ length: space.numSeqs }, (_, n) => f(Array.from(space.tokens.subarray(n * T, (n + 1) * T))));
}

/** R = 1 when exactly half the tokens are 1 (T even): C(T, T/2) correct answers, none preferred. */
export const halfOnes = (y: number[]): number => (2 * y.filter((v) => v === 1).length === y.length ? 1 : 0);

/** R = the number of positions t with y_t = t mod 2 (partial credit, one best answer). */
export const alternatingCount = (y: number[]): number => y.filter((v, t) => v === t % 2).length;

/** n standard-normal numbers from a seed (f64, Philox). */
export function normals(n: number, seed: number, scale = 1): Float64Array {
  const a = randn([n], { rng: new Rng(seed), dtype: 'f64' }).toArraySync() as Float64Array;
  return Float64Array.from(a, (x) => x * scale);
}

/**
 * A table [P·V] whose entry for (prefix, v) depends only on (position t, last token, v), drawn
 * once for positions up to `maxLength`: the same "world" for every T ≤ maxLength, so figures
 * against T compare like with like.
 */
export function positionalTable(space: SequenceSpace, seed: number, maxLength: number, scale = 1): Float64Array {
  const V = space.vocab;
  const base = normals(maxLength * (V + 1) * V, seed, scale);
  const out = new Float64Array(space.numPrefixes * V);
  for (let r = 0; r < space.numPrefixes; r++) {
    const p = space.prefixes[r]!;
    const last = p.length === 0 ? V : p[p.length - 1]!;
    for (let v = 0; v < V; v++) out[r * V + v] = base[(p.length * (V + 1) + last) * V + v]!;
  }
  return out;
}

/** A direction [P·V] that is 1 on token `v` of every row and 0 elsewhere. */
export function tokenDirection(space: SequenceSpace, v: number): Float64Array {
  return Float64Array.from({ length: space.numPrefixes * space.vocab }, (_, j) => (j % space.vocab === v ? 1 : 0));
}

/** C(n, k) as a float. */
export function binomial(n: number, k: number): number {
  let c = 1;
  for (let i = 1; i <= k; i++) c = (c * (n - k + i)) / i;
  return c;
}

/**
 * J_seq of the i.i.d. policy P(y_t = 1) = p under `halfOnes`: C(T, T/2)·p^{T/2}·(1−p)^{T/2}.
 * Maximal at p = ½.
 */
export function halfOnesJ(T: number, p: number): number {
  return binomial(T, T / 2) * (p * (1 - p)) ** (T / 2);
}
