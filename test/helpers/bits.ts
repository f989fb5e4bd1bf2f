/**
 * Bit-level helpers for kernel tests that assert "the same bits" (matmul versions, batch
 * invariance): inputs that expose any change of summation order, and byte equality that sees
 * -0 and NaN payloads.
 */
import { expect } from 'vitest';

type FloatArray = Float32Array | Float64Array;

/** Deterministic values spanning many binades (so any change of summation order shows), with exact zeros and -0. */
export function fillBinades<T extends FloatArray>(arr: T, seed: number): T {
  let s = seed >>> 0 || 1;
  const next = (): number => {
    // xorshift32
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
  for (let i = 0; i < arr.length; i++) {
    const r = next();
    if (r < 0.04) arr[i] = 0;
    else if (r < 0.06) arr[i] = -0;
    else arr[i] = (next() - 0.5) * 2 ** Math.floor(next() * 40 - 20);
  }
  return arr;
}

/** Byte-level equality of two arrays of the same type (NaN payloads and -0 included). */
export function sameBits(x: FloatArray, y: FloatArray): boolean {
  const bx = new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
  const by = new Uint8Array(y.buffer, y.byteOffset, y.byteLength);
  if (bx.length !== by.length) return false;
  for (let i = 0; i < bx.length; i++) if (bx[i] !== by[i]) return false;
  return true;
}

/** Index of the first element that differs (Object.is), for readable failures; -1 if none. */
export function firstDiff(x: FloatArray, y: FloatArray): number {
  for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i])) return i;
  return x.length === y.length ? -1 : x.length;
}

/** Asserts sameBits(got, want); the failure names the first differing element and the case `what`. */
export function expectSameBits(got: FloatArray, want: FloatArray, what: unknown): void {
  if (!sameBits(got, want)) {
    const i = firstDiff(got, want);
    expect.fail(`differs at element ${i}: ${got[i]} vs ${want[i]} for ${JSON.stringify(what)}`);
  }
}
