/**
 * Seeded, counter-based randomness: Philox4x32-10 (Salmon et al., "Parallel random numbers:
 * as easy as 1, 2, 3", SC 2011). Output block i is a pure function of (key, counter + i), so
 * the same stream can be produced on CPU and on the GPU, and a generator's whole state is two
 * small integers that checkpoint exactly.
 */

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

/** High 32 bits of the 64-bit product of two u32, without BigInt. */
function mulhi(a: number, b: number): number {
  const aLo = a & 0xffff;
  const aHi = a >>> 16;
  const bLo = b & 0xffff;
  const bHi = b >>> 16;
  const lolo = aLo * bLo;
  const hilo = aHi * bLo;
  const lohi = aLo * bHi;
  const hihi = aHi * bHi;
  const cross = (lolo >>> 16) + (hilo & 0xffff) + (lohi & 0xffff);
  return (hihi + (hilo >>> 16) + (lohi >>> 16) + Math.floor(cross / 65536)) >>> 0;
}

/** One Philox4x32-10 block: 4 u32 counter words and 2 u32 key words in, 4 u32 out. */
export function philox4x32(c0: number, c1: number, c2: number, c3: number, k0: number, k1: number): [number, number, number, number] {
  for (let r = 0; r < 10; r++) {
    const hi0 = mulhi(M0, c0);
    const lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi(M1, c2);
    const lo1 = Math.imul(M1, c2) >>> 0;
    const n0 = (hi1 ^ c1 ^ k0) >>> 0;
    const n2 = (hi0 ^ c3 ^ k1) >>> 0;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
    k0 = (k0 + W0) >>> 0;
    k1 = (k1 + W1) >>> 0;
  }
  return [c0, c1, c2, c3];
}

export interface RngState {
  /** The seed the key was derived from (a non-negative integer below 2^53). */
  seed: number;
  /** Number of 128-bit blocks consumed so far (below 2^53). */
  counter: number;
}

const TWO_POW_M23 = 2 ** -23;

/**
 * A Philox stream. Each draw consumes whole 128-bit blocks (4 u32 each), so the values a call
 * returns depend only on the seed and how many blocks were consumed before it.
 */
export class Rng {
  readonly seed: number;
  private k0: number;
  private k1: number;
  counter: number;

  constructor(seed = 0, counter = 0) {
    if (!Number.isSafeInteger(seed) || seed < 0) {
      throw new RangeError(`Rng: seed must be a non-negative safe integer, got ${seed}`);
    }
    this.seed = seed;
    this.k0 = seed >>> 0;
    this.k1 = Math.floor(seed / 2 ** 32) >>> 0;
    this.counter = counter;
  }

  static fromState(s: RngState): Rng {
    return new Rng(s.seed, s.counter);
  }
  state(): RngState {
    return { seed: this.seed, counter: this.counter };
  }

  /** n raw u32 values. */
  uint32(n: number): Uint32Array {
    const out = new Uint32Array(n);
    const blocks = Math.ceil(n / 4);
    for (let b = 0; b < blocks; b++) {
      const c = this.counter + b;
      const r = philox4x32(c >>> 0, Math.floor(c / 2 ** 32) >>> 0, 0, 0, this.k0, this.k1);
      for (let j = 0; j < 4 && 4 * b + j < n; j++) out[4 * b + j] = r[j]!;
    }
    this.counter += blocks;
    return out;
  }

  /**
   * n uniforms in the open interval (0, 1): (u >>> 9) + 0.5 over 2^23, i.e. odd multiples of
   * 2^-24 in [2^-24, 1 - 2^-24]. They need 24 significant bits, so they are exactly representable
   * in f32 (the GPU produces the same values, and an f32 draw never rounds up to 1). With
   * (u >>> 8) + 0.5 over 2^24 the values needed 25 bits and f32 rand could return exactly 1.
   */
  uniform(n: number): Float64Array {
    const u = this.uint32(n);
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = ((u[i]! >>> 9) + 0.5) * TWO_POW_M23;
    return out;
  }

  /** n standard normals by Box–Muller on consecutive uniform pairs. */
  normal(n: number): Float64Array {
    const u = this.uniform(2 * Math.ceil(n / 2));
    const out = new Float64Array(n);
    for (let i = 0; i < n; i += 2) {
      const r = Math.sqrt(-2 * Math.log(u[i]!));
      const t = 2 * Math.PI * u[i + 1]!;
      out[i] = r * Math.cos(t);
      if (i + 1 < n) out[i + 1] = r * Math.sin(t);
    }
    return out;
  }

  /** n integers uniform in [0, high). */
  int(n: number, high: number): Int32Array {
    const u = this.uniform(n);
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = Math.min(high - 1, Math.floor(u[i]! * high));
    return out;
  }

  /** An independent stream (a new key derived from this one's next block). */
  fork(): Rng {
    const [a, b] = this.uint32(2);
    return new Rng((a! & 0x1fffff) * 2 ** 32 + b!);
  }
}

let defaultRng = new Rng(0);

/** The generator used when creation functions are not given one. */
export function globalRng(): Rng {
  return defaultRng;
}

/** Reseeds the default generator (like torch.manual_seed). */
export function manualSeed(seed: number): void {
  defaultRng = new Rng(seed);
}
