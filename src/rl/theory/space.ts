/**
 * The sequence space of an enumerable autoregressive policy: every response of a fixed length T
 * over a vocabulary of V tokens, listed once, so that every expectation over responses is an
 * exact sum (docs/paper.md §9). This is what lets the theory module compute the paper's
 * approximation error (docs/paper.md §1, the first-order argument behind Eq. 3–4) with no
 * sampling noise.
 *
 * A prefix y_<t (t = 0 … T−1) gets a row: row 0 is the empty prefix, then the V prefixes of
 * length 1, then the V² of length 2, … (P = Σ_{t<T} V^t rows). A policy assigns V logits to each
 * row, π(y_t | y_<t) = softmax(z[row(y_<t)])[y_t], and π(y) = Π_t π(y_t | y_<t).
 *
 * Every response has the same length T, so |y| = T in every formula. The prompt is fixed (one
 * prompt), so E_{x~D} drops out.
 */
import { ConfigError } from '../../tensor/index.js';

/** The most responses an enumeration may list (V^T ≤ 4096): beyond this, sums take too long. */
export const MAX_RESPONSES = 4096;

export interface SequenceSpace {
  readonly vocab: number;
  readonly length: number;
  /** P: prefix rows (prefixes of length 0 … T−1). */
  readonly numPrefixes: number;
  /** N = V^T responses. */
  readonly numSeqs: number;
  /** y_t of response n at [n·T + t]. */
  readonly tokens: Int32Array;
  /** The row of the prefix y_<t of response n at [n·T + t]. */
  readonly rows: Int32Array;
  /** row·V + y_t at [n·T + t]: the flat index of the logit that scores y_t after y_<t. */
  readonly flatIndex: Int32Array;
  /** The prefix of each row, as token lists (row 0 is []). */
  readonly prefixes: ReadonlyArray<ReadonlyArray<number>>;
}

/** Row of the prefix (y_0 … y_{t−1}): offset(t) + that prefix read as a base-V number. */
export function rowOf(vocab: number, prefix: readonly number[]): number {
  let offset = 0;
  for (let k = 0; k < prefix.length; k++) offset += vocab ** k;
  let code = 0;
  for (const y of prefix) code = code * vocab + y;
  return offset + code;
}

/**
 * Every response of length `length` over `vocab` tokens, in lexicographic order. Throws a
 * ConfigError naming the field when vocab < 2, length < 1, or V^T exceeds MAX_RESPONSES.
 */
export function sequenceSpace(vocab: number, length: number): SequenceSpace {
  if (!Number.isInteger(vocab) || vocab < 2) throw new ConfigError(`sequenceSpace: vocab must be an integer ≥ 2, got ${vocab}`);
  if (!Number.isInteger(length) || length < 1) throw new ConfigError(`sequenceSpace: length (T) must be an integer ≥ 1, got ${length}`);
  const numSeqs = vocab ** length;
  if (numSeqs > MAX_RESPONSES) {
    throw new ConfigError(
      `sequenceSpace: vocab^length = ${vocab}^${length} = ${numSeqs} responses exceeds the enumeration limit ${MAX_RESPONSES} (MAX_RESPONSES)`,
    );
  }
  let numPrefixes = 0;
  for (let t = 0; t < length; t++) numPrefixes += vocab ** t;
  const prefixes: number[][] = [];
  for (let t = 0; t < length; t++) {
    for (let code = 0; code < vocab ** t; code++) {
      const p: number[] = [];
      for (let k = t - 1, m = code; k >= 0; k--, m = Math.floor(m / vocab)) p[k] = m % vocab;
      prefixes.push(p);
    }
  }
  const tokens = new Int32Array(numSeqs * length);
  const rows = new Int32Array(numSeqs * length);
  const flatIndex = new Int32Array(numSeqs * length);
  for (let n = 0; n < numSeqs; n++) {
    const y: number[] = [];
    for (let t = length - 1, m = n; t >= 0; t--, m = Math.floor(m / vocab)) y[t] = m % vocab;
    for (let t = 0; t < length; t++) {
      const r = rowOf(vocab, y.slice(0, t));
      tokens[n * length + t] = y[t]!;
      rows[n * length + t] = r;
      flatIndex[n * length + t] = r * vocab + y[t]!;
    }
  }
  return { vocab, length, numPrefixes, numSeqs, tokens, rows, flatIndex, prefixes };
}
