/**
 * ArrayPool: the CPU backend's recycled arrays (src/tensor/cpu/backend.ts says when arrays come
 * back and why). Its own module because it is a data structure with its own invariants (bounded
 * bytes, oldest-first eviction, stale queue entries) that test/tensor/cpu/pool.test.ts checks;
 * the WebGPU twin is src/tensor/webgpu/pool.ts.
 */
import { type DType, dtypeOfArray, type TypedArray } from '../dtype.js';

/** A number naming (dtype, length): string keys cost more than the small decode-time arrays. */
function poolKey(dtype: DType, n: number): number {
  return n * 4 + (dtype === 'f32' ? 0 : dtype === 'f64' ? 1 : 2);
}

/**
 * Recycled arrays by dtype and length, at most `maxBytes` in all. When a new array would not
 * fit, the longest-held ones are let go first (to the garbage collector), so the pool follows
 * the sizes the program allocates now. Only arrays that span their whole buffer are kept.
 */
export class ArrayPool {
  /** Free arrays by poolKey(dtype, length). */
  private readonly free = new Map<number, TypedArray[]>();
  /** Held arrays, each with the number of the give() that put it here. */
  private readonly held = new Map<TypedArray, number>();
  /**
   * [array, give number] in the order given. An entry is current only while the array is held
   * under that number: one array taken and given back many times leaves stale entries, which
   * eviction skips and compaction drops.
   */
  private order: [TypedArray, number][] = [];
  private gives = 0;
  private bytes = 0;
  constructor(public maxBytes: number) {}

  take(dtype: DType, n: number): TypedArray | undefined {
    const a = this.free.get(poolKey(dtype, n))?.pop();
    if (a !== undefined) {
      this.held.delete(a);
      this.bytes -= a.byteLength;
    }
    return a;
  }
  private current(e: [TypedArray, number]): boolean {
    return this.held.get(e[0]) === e[1];
  }
  give(a: TypedArray): void {
    if (a.length === 0 || a.byteOffset !== 0 || a.byteLength !== a.buffer.byteLength || a.byteLength > this.maxBytes) return;
    if (typeof SharedArrayBuffer === 'function' && a.buffer instanceof SharedArrayBuffer) return;
    while (this.bytes + a.byteLength > this.maxBytes) this.evictOldest();
    const key = poolKey(dtypeOfArray(a), a.length);
    let list = this.free.get(key);
    if (list === undefined) this.free.set(key, (list = []));
    list.push(a);
    const g = ++this.gives;
    this.held.set(a, g);
    this.order.push([a, g]);
    this.bytes += a.byteLength;
    if (this.order.length > 2 * this.held.size + 1024) this.order = this.order.filter((e) => this.current(e));
  }
  private evictOldest(): void {
    for (;;) {
      const e = this.order.shift()!;
      if (!this.current(e)) continue;
      const a = e[0];
      this.held.delete(a);
      const list = this.free.get(poolKey(dtypeOfArray(a), a.length))!;
      list.splice(list.indexOf(a), 1);
      this.bytes -= a.byteLength;
      return;
    }
  }
  /** Entries in the eviction queue, stale ones included (at most 2·heldCount + 1024). */
  get queued(): number {
    return this.order.length;
  }
  /** Arrays held for reuse. */
  get heldCount(): number {
    return this.held.size;
  }
  /** Bytes held for reuse. */
  get heldBytes(): number {
    return this.bytes;
  }
  clear(): void {
    this.free.clear();
    this.held.clear();
    this.order = [];
    this.bytes = 0;
  }
}
