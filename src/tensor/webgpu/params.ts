/**
 * Params: a kernel's uniform struct, laid out on the host. Shared by every kernel family
 * (./kernels/*.ts) and the backend's uniform ring, so it sits in its own module.
 */
/**
 * Lays out a uniform struct of 4-byte scalars (and 16-byte-aligned vec4 arrays).
 * Values are kept as raw 32-bit words, so `run()` copies them straight into the uniform ring.
 */
export class Params {
  private words: number[] = [];
  private static readonly f = new Float32Array(1);
  private static readonly u = new Uint32Array(Params.f.buffer);
  u32(...v: number[]): this {
    for (const x of v) this.words.push(x >>> 0);
    return this;
  }
  i32(...v: number[]): this {
    for (const x of v) this.words.push((x | 0) >>> 0);
    return this;
  }
  f32(...v: number[]): this {
    for (const x of v) {
      Params.f[0] = x;
      this.words.push(Params.u[0]!);
    }
    return this;
  }
  /** Pads to a 16-byte boundary (before an array<vec4<u32>, N> member). */
  align16(): this {
    while (this.words.length % 4 !== 0) this.words.push(0);
    return this;
  }
  /** Size in bytes, padded to 16 (at least 16). */
  get byteLength(): number {
    return Math.max(4, Math.ceil(this.words.length / 4) * 4) * 4;
  }
  /** Writes the words at `dst[at..]` (the rest of the padded size is zeros). */
  writeTo(dst: Uint32Array, at: number): void {
    const w = this.words;
    for (let k = 0; k < w.length; k++) dst[at + k] = w[k]!;
    const end = this.byteLength / 4;
    for (let k = w.length; k < end; k++) dst[at + k] = 0;
  }
  bytes(): ArrayBuffer {
    const u = new Uint32Array(this.byteLength / 4);
    this.writeTo(u, 0);
    return u.buffer;
  }
}
