/**
 * The suites' assertions: closeness within a tolerance, bit-for-bit equality, a value inside a
 * range, and a throw (or rejection) of one error class with a message that matches.
 *
 * Closeness takes one options object. A bound is one of two kinds, and each suite uses the one
 * it was written for:
 *  - `{ rtol, atol }`: |got − want| ≤ atol + rtol·|want| (each defaults to 0);
 *  - `{ tol }`: |got − want| ≤ tol·max(1, |want|), absolute for |want| ≤ 1 and relative above.
 * Non-finite values: by default every element must be finite on both sides and obey the bound
 * (a NaN or ±Inf on either side fails). With `nonFinite: 'match'` a NaN or ±Inf must be met by
 * the same value on the other side (NaN matches NaN, +Inf matches +Inf only), as the reduction
 * suites need for masked logits (−Inf) and the CPU/WebGPU parity suites for NaN passthrough.
 * With `exactZeros`, an element whose want is 0 must be exactly 0 (±0), not merely tiny.
 */
import { expect } from 'vitest';

/** Gradcheck tolerances most suites use (central differences in f64). */
export const GC = { rtol: 1e-6, atol: 1e-8 } as const;

export type CloseBound =
  | { rtol?: number; atol?: number; tol?: never }
  | { tol: number; rtol?: never; atol?: never };

export type CloseOptions = CloseBound & {
  /** 'finite' (default): non-finite values fail; 'match': they must equal the other side's. */
  nonFinite?: 'finite' | 'match';
  /** want === 0 demands got === 0 exactly. */
  exactZeros?: boolean;
  /** Names the compared quantity in the failure message. */
  what?: string;
};

/** Whether one pair of values is close under `o` (see the header for the rules). */
export function isClose(got: number, want: number, o: CloseOptions): boolean {
  if (!Number.isFinite(got) || !Number.isFinite(want)) {
    return o.nonFinite === 'match' && (Object.is(got, want) || (Number.isNaN(got) && Number.isNaN(want)));
  }
  if (o.exactZeros && want === 0) return got === 0;
  const bound = o.tol !== undefined ? o.tol * Math.max(1, Math.abs(want)) : (o.atol ?? 0) + (o.rtol ?? 0) * Math.abs(want);
  return Math.abs(got - want) <= bound;
}

/** Index of the first element that is not close under `o`, 0 when the lengths differ, -1 if none. */
export function firstMismatch(got: ArrayLike<number>, want: ArrayLike<number>, o: CloseOptions): number {
  if (got.length !== want.length) return 0;
  for (let i = 0; i < want.length; i++) if (!isClose(got[i]!, want[i]!, o)) return i;
  return -1;
}

const asArray = (x: number | ArrayLike<number>): ArrayLike<number> => (typeof x === 'number' ? [x] : x);

function describeBound(o: CloseOptions): string {
  const parts = o.tol !== undefined ? [`tol ${o.tol}·max(1, |want|)`] : [`rtol ${o.rtol ?? 0}`, `atol ${o.atol ?? 0}`];
  if (o.nonFinite === 'match') parts.push('non-finite must match');
  if (o.exactZeros) parts.push('zeros exact');
  return parts.join(', ');
}

/**
 * Asserts `got` is close to `want` element by element (scalars are one-element arrays) and that
 * the lengths agree; the error names the first offending element, both values and the bound.
 */
export function expectClose(got: number | ArrayLike<number>, want: number | ArrayLike<number>, o: CloseOptions): void {
  const g = asArray(got);
  const w = asArray(want);
  const what = o.what ?? 'value';
  if (g.length !== w.length) throw new Error(`${what}: length ${g.length}, expected ${w.length}`);
  const i = firstMismatch(g, w, o);
  if (i >= 0) {
    const at = typeof want === 'number' ? what : `${what}[${i}]`;
    throw new Error(`${at}: got ${g[i]}, expected ${w[i]} (|diff| ${Math.abs(g[i]! - w[i]!)}; ${describeBound(o)})`);
  }
}

type Readable = { toArraySync(): ArrayLike<number> };
const readAll = (x: Readable | ArrayLike<number>): ArrayLike<number> => ('toArraySync' in x ? x.toArraySync() : x);

/** Asserts two arrays (or CPU tensors) hold the same floats bit for bit (Object.is, so +0 ≠ −0). */
export function expectBitwise(got: Readable | ArrayLike<number>, want: Readable | ArrayLike<number>, what = 'value'): void {
  const g = readAll(got);
  const w = readAll(want);
  if (g.length !== w.length) throw new Error(`${what}: length ${g.length}, expected ${w.length}`);
  for (let i = 0; i < g.length; i++) {
    if (!Object.is(g[i], w[i])) throw new Error(`${what}[${i}]: got ${g[i]}, expected bitwise ${w[i]}`);
  }
}

/** Asserts lo ≤ x ≤ hi (NaN fails). */
export function expectBetween(x: number, lo: number, hi: number, what: string): void {
  if (!(x >= lo && x <= hi)) throw new Error(`${what} = ${x}, expected in [${lo}, ${hi}]`);
}

export type ErrorClass = abstract new (...args: never[]) => Error;

function expectErrorOf(caught: unknown, cls: ErrorClass, patterns: RegExp[], none: string): Error {
  expect(caught, none).toBeInstanceOf(cls);
  const err = caught as Error;
  expect(err.name).toBe(cls.name);
  for (const p of patterns) expect(err.message).toMatch(p);
  return err;
}

/** Runs fn, asserting it throws exactly `cls` (by instanceof and name) with a message matching every regex. */
export function expectError(fn: () => unknown, cls: ErrorClass, ...patterns: RegExp[]): Error {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  return expectErrorOf(caught, cls, patterns, 'expected a throw');
}

/** Awaits p, asserting it rejects with exactly `cls` (by instanceof and name) and a message matching every regex. */
export async function expectRejection(p: Promise<unknown>, cls: ErrorClass, ...patterns: RegExp[]): Promise<Error> {
  let caught: unknown;
  try {
    await p;
  } catch (e) {
    caught = e;
  }
  return expectErrorOf(caught, cls, patterns, 'expected a rejection');
}
