/**
 * The CPU backend: TypedArrays and pure TypeScript kernels. The embedded default; nothing in
 * the project requires a GPU. Every method returns a new storage and leaves inputs untouched.
 *
 * Arrays are immutable once a kernel has written them, so storages may share one: a copy that
 * would reproduce its input exactly (reshape, detach, clone, Tensor.assign: an identity
 * expand) and a contiguous slice (outer = 1) return a storage that aliases the input's array
 * (or a subarray of it) instead of copying it. Disposal stays per storage (each alias counts
 * as a live buffer and is released on its own; the array goes when the last reference does).
 * Rules that follow, for every kernel here and any added later: never write into an input's
 * array, never keep a reference to any storage's array beyond the call, and honour a typed
 * array's byteOffset (a subarray view is not at offset 0 of its buffer).
 *
 * Disposed arrays are recycled. Each storage counts as one reference to its ArrayBuffer; when a
 * storage is disposed and its buffer's count drops to 0 (no alias left), a whole-buffer array
 * goes into a size-bucketed pool (ArrayPool in pool.ts, bounded) and a later output of the same dtype and
 * length reuses it, zeroed unless the kernel writes every element (allocOverwritten). Why: a
 * training step allocates hundreds of fresh arrays; taking them from the allocator costs page
 * faults and zeroing, and the garbage collector runs for the external memory they add.
 */
import os from 'node:os';
import type { AdamWScalars, Backend, BinaryOp, CompareOp, MatmulParams, ReduceOp, Routines, Storage, UnaryOp } from '../backend.js';
import { arrayFor, type DType, dtypeOfArray, type TypedArray } from '../dtype.js';
import { DeviceError } from '../errors.js';
import { sizeOf } from '../shape.js';
import { BINARY_FN, COMPARE_FN, binaryInto, unaryInto, whereInto } from './elementwise.js';
import { concatInto, expandInto, gatherInto, indexAddInto, indexSelectInto, permuteInto, scatterAddInto, sliceInto } from './indexing.js';
import { cpuMatmulImpl, matmulInto, type FloatArray } from './kernels/matmul.js';
import { siluGradInto, siluWithSigmoidInto } from './fused.js';
import { adamwInto } from './optim.js';
import { adamwWasmInto } from './optim-wasm.js';
import { ArrayPool } from './pool.js';
import { argmaxInto, logsumexpInto, reduceInto, softmaxInto, topkInto } from './reduce.js';

/** Live storages per ArrayBuffer (aliases share one), so a buffer is recycled only when unreferenced. */
const bufferRefs = new WeakMap<ArrayBufferLike, number>();

export class CpuStorage implements Storage {
  readonly backend: Backend;
  private _data: TypedArray | null;
  readonly dtype: DType;
  readonly size: number;
  constructor(backend: Backend, data: TypedArray) {
    this.backend = backend;
    this._data = data;
    this.dtype = dtypeOfArray(data);
    this.size = data.length;
    bufferRefs.set(data.buffer, (bufferRefs.get(data.buffer) ?? 0) + 1);
  }
  get data(): TypedArray {
    if (this._data === null) throw new DeviceError('cpu: this buffer was disposed and can no longer be read');
    return this._data;
  }
  get disposed(): boolean {
    return this._data === null;
  }
  /** Drops the array; returns it when no other storage refers to its buffer any more. */
  release(): TypedArray | null {
    const a = this._data;
    this._data = null;
    if (a === null) return null;
    const left = (bufferRefs.get(a.buffer) ?? 1) - 1;
    if (left > 0) {
      bufferRefs.set(a.buffer, left);
      return null;
    }
    bufferRefs.delete(a.buffer);
    return a;
  }
}

function d(s: Storage): TypedArray {
  return (s as CpuStorage).data;
}

/** Whether `strides` are the row-major strides of `shape` (size-1 dims may have any stride). */
function isRowMajor(shape: readonly number[], strides: readonly number[]): boolean {
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && strides[i] !== acc) return false;
    acc *= shape[i]!;
  }
  return true;
}

/** Whether batch strides (in matrices) walk a row-major batch of that shape without gaps or repeats. */
function batchesBackToBack(batchShape: readonly number[], strides: readonly number[]): boolean {
  let expect = 1;
  for (let i = batchShape.length - 1; i >= 0; i--) {
    if (batchShape[i]! !== 1 && strides[i] !== expect) return false;
    expect *= batchShape[i]!;
  }
  return true;
}

export class CpuBackend implements Backend {
  readonly name = 'cpu' as const;
  private live = 0;

  describe(): string {
    const cpus = os.cpus();
    return `cpu: ${cpus[0]?.model ?? 'unknown CPU'} (${cpus.length} cores visible; f32 matmul: ${cpuMatmulImpl()}), node ${process.version}`;
  }

  /** Wraps an array the backend now owns (no copy). */
  wrap(data: TypedArray): CpuStorage {
    this.live++;
    return new CpuStorage(this, data);
  }
  /**
   * Disposed arrays kept for reuse (see the header); maxBytes = 0 turns recycling off. A
   * moe-small training step allocates about 400 MiB of outputs; with 512 MiB nearly all of them
   * come from the pool after the first step (256 MiB: about 60%).
   */
  readonly pool = new ArrayPool(512 * 2 ** 20);

  /** A zeroed array of n elements: recycled when one is free, else new. */
  private alloc(dtype: DType, n: number): [CpuStorage, TypedArray] {
    const r = this.pool.take(dtype, n);
    const a = r === undefined ? arrayFor(dtype, n) : r.fill(0);
    return [this.wrap(a), a];
  }
  /** An array of n elements with arbitrary contents, for kernels that write every element. */
  private allocOverwritten(dtype: DType, n: number): [CpuStorage, TypedArray] {
    const a = this.pool.take(dtype, n) ?? arrayFor(dtype, n);
    return [this.wrap(a), a];
  }

  fromArray(data: TypedArray): Storage {
    return this.wrap(data.slice());
  }
  full(size: number, value: number, dtype: DType): Storage {
    const [s, a] = this.alloc(dtype, size);
    if (value !== 0 || Object.is(value, -0)) a.fill(value); // keep -0: x.div(-0) is -Inf for x > 0
    return s;
  }
  read(s: Storage): Promise<TypedArray> {
    return Promise.resolve(d(s).slice());
  }
  readSync(s: Storage): TypedArray {
    return d(s).slice();
  }
  dispose(s: Storage): void {
    const c = s as CpuStorage;
    if (!c.disposed) {
      const a = c.release();
      this.live--;
      if (a !== null && this.pool.maxBytes > 0) this.pool.give(a);
    }
  }
  liveBuffers(): number {
    return this.live;
  }

  cast(x: Storage, dtype: DType): Storage {
    const src = d(x);
    const [s, a] = this.alloc(dtype, src.length);
    if (dtype === 'i32') for (let i = 0; i < src.length; i++) a[i] = Math.trunc(src[i]!);
    else a.set(src);
    return s;
  }
  unary(op: UnaryOp, x: Storage): Storage {
    const [s, a] = this.allocOverwritten(x.dtype, x.size);
    unaryInto(op, d(x), a);
    return s;
  }
  clamp(x: Storage, lo: number, hi: number): Storage {
    const src = d(x);
    const [s, a] = this.allocOverwritten(x.dtype, x.size);
    for (let i = 0; i < src.length; i++) {
      const v = src[i]!;
      a[i] = v < lo ? lo : v > hi ? hi : v;
    }
    return s;
  }
  binary(op: BinaryOp, x: Storage, y: Storage, shape: readonly number[], sa: readonly number[], sb: readonly number[]): Storage {
    const [s, a] = this.allocOverwritten(x.dtype, sizeOf(shape));
    // i32 mul wraps modulo 2^32 like add/sub; a double product loses the low bits past 2^53.
    binaryInto(op === 'mul' && x.dtype === 'i32' ? Math.imul : BINARY_FN[op], d(x), d(y), a, shape, sa, sb);
    return s;
  }
  compare(op: CompareOp, x: Storage, y: Storage, shape: readonly number[], sa: readonly number[], sb: readonly number[], outDType: DType): Storage {
    const [s, a] = this.allocOverwritten(outDType, sizeOf(shape));
    binaryInto(COMPARE_FN[op], d(x), d(y), a, shape, sa, sb);
    return s;
  }
  where(c: Storage, x: Storage, y: Storage, shape: readonly number[], sc: readonly number[], sa: readonly number[], sb: readonly number[]): Storage {
    const [s, a] = this.allocOverwritten(x.dtype, sizeOf(shape));
    whereInto(d(c), d(x), d(y), a, shape, sc, sa, sb);
    return s;
  }

  reduce(op: ReduceOp, x: Storage, outer: number, n: number, inner: number): Storage {
    const [s, a] = this.allocOverwritten(x.dtype, outer * inner);
    reduceInto(op, d(x), a, outer, n, inner);
    return s;
  }
  argmax(x: Storage, outer: number, n: number, inner: number): Storage {
    const [s, a] = this.alloc('i32', outer * inner);
    argmaxInto(d(x), a as Int32Array, outer, n, inner);
    return s;
  }
  logsumexp(x: Storage, outer: number, n: number, inner: number): Storage {
    const [s, a] = this.allocOverwritten(x.dtype, outer * inner);
    logsumexpInto(d(x), a, outer, n, inner);
    return s;
  }
  softmax(x: Storage, outer: number, n: number, inner: number, log: boolean): Storage {
    const [s, a] = this.allocOverwritten(x.dtype, x.size);
    softmaxInto(d(x), a, outer, n, inner, log);
    return s;
  }
  topk(x: Storage, outer: number, n: number, inner: number, k: number): [Storage, Storage] {
    const [sv, v] = this.alloc(x.dtype, outer * k * inner);
    const [si, i] = this.alloc('i32', outer * k * inner);
    topkInto(d(x), v, i as Int32Array, outer, n, inner, k);
    return [sv, si];
  }

  matmul(x: Storage, y: Storage, p: MatmulParams): Storage {
    const { m, k, n, transA, transB, batchShape, aBatchStrides, bBatchStrides } = p;
    const batch = sizeOf(batchShape);
    const [s, out] = this.alloc(x.dtype, batch * m * n);
    const a = d(x) as FloatArray;
    const b = d(y) as FloatArray;
    if (batch > 1 && !transA && bBatchStrides.every((st) => st === 0) && batchesBackToBack(batchShape, aBatchStrides)) {
      // One B for every batch element and A's matrices stored one after another: the batch is
      // one product with batch*m rows. Same bits (a matmul row depends only on its row of A and
      // on B), and B is copied and packed once instead of once per batch element.
      matmulInto(a, 0, b, 0, out as FloatArray, 0, batch * m, k, n, false, transB);
      return s;
    }
    const idx = new Array<number>(batchShape.length).fill(0);
    for (let t = 0; t < batch; t++) {
      let ao = 0;
      let bo = 0;
      for (let i = 0; i < idx.length; i++) {
        ao += idx[i]! * aBatchStrides[i]!;
        bo += idx[i]! * bBatchStrides[i]!;
      }
      matmulInto(a, ao * m * k, b, bo * k * n, out as FloatArray, t * m * n, m, k, n, transA, transB);
      for (let i = idx.length - 1; i >= 0; i--) {
        if (++idx[i]! < batchShape[i]!) break;
        idx[i] = 0;
      }
    }
    return s;
  }

  /** The fused kernels (Routines in ../backend.ts): AdamW's update and silu's vjp. */
  readonly routines: Routines = {
    adamw: (p, g, m, v, s) => this.adamw(p, g, m, v, s),
    siluGrad: (x, g, sig) => this.siluGrad(x, g, sig),
    siluWithSigmoid: (x) => this.siluWithSigmoid(x),
  };

  /**
   * One fused AdamW update: the new parameter, first and second moment as fresh storages. f32
   * runs on WebAssembly SIMD (optim-wasm.ts) where available, otherwise (and for f64) the
   * JavaScript loop (optim.ts); both bit-identical.
   */
  private adamw(p: Storage, g: Storage, m: Storage, v: Storage, scalars: AdamWScalars): [Storage, Storage, Storage] {
    const [sp, pa] = this.allocOverwritten(p.dtype, p.size);
    const [sm, ma] = this.allocOverwritten(p.dtype, p.size);
    const [sv, va] = this.allocOverwritten(p.dtype, p.size);
    const [pi, gi, mi, vi] = [d(p), d(g), d(m), d(v)];
    const simd = pa instanceof Float32Array && pi instanceof Float32Array && gi instanceof Float32Array && mi instanceof Float32Array && vi instanceof Float32Array
      && adamwWasmInto(pi, gi, mi, vi, pa, ma as Float32Array, va as Float32Array, scalars);
    if (!simd) adamwInto(pi, gi, mi, vi, pa, ma, va, scalars);
    return [sp, sm, sv];
  }

  /** silu'(x)·g in one pass, from sigmoid(x) when given (see fused.ts). */
  private siluGrad(x: Storage, g: Storage, sig?: Storage): Storage {
    const [s, a] = this.allocOverwritten(x.dtype, x.size);
    siluGradInto(d(x), d(g), a, sig === undefined ? undefined : d(sig));
    return s;
  }
  /** silu(x) and the rounded sigmoid(x) its gradient needs, in one pass (see fused.ts). */
  private siluWithSigmoid(x: Storage): [Storage, Storage] {
    const [sy, y] = this.allocOverwritten(x.dtype, x.size);
    const [ss, sg] = this.allocOverwritten(x.dtype, x.size);
    siluWithSigmoidInto(d(x), y, sg);
    return [sy, ss];
  }

  permute(x: Storage, shape: readonly number[], perm: readonly number[]): Storage {
    const [s, a] = this.allocOverwritten(x.dtype, x.size);
    permuteInto(d(x), a, shape, perm);
    return s;
  }
  expand(x: Storage, outShape: readonly number[], strides: readonly number[]): Storage {
    // An identity copy (reshape, detach, clone, assign) shares the immutable array.
    if (sizeOf(outShape) === x.size && isRowMajor(outShape, strides)) return this.wrap(d(x));
    const [s, a] = this.allocOverwritten(x.dtype, sizeOf(outShape));
    expandInto(d(x), a, outShape, strides);
    return s;
  }
  slice(x: Storage, outer: number, n: number, inner: number, start: number, len: number): Storage {
    // One contiguous run of the input: a view of the immutable array, no copy.
    if (outer === 1) return this.wrap(d(x).subarray(start * inner, (start + len) * inner));
    const [s, a] = this.allocOverwritten(x.dtype, outer * len * inner);
    sliceInto(d(x), a, outer, n, inner, start, len);
    return s;
  }
  concat(xs: readonly Storage[], ns: readonly number[], outer: number, inner: number): Storage {
    const total = ns.reduce((p, q) => p + q, 0);
    const [s, a] = this.allocOverwritten(xs[0]!.dtype, outer * total * inner);
    concatInto(xs.map(d), ns, a, outer, inner);
    return s;
  }
  gather(x: Storage, index: Storage, outer: number, n: number, inner: number, m: number): Storage {
    const [s, a] = this.allocOverwritten(x.dtype, outer * m * inner);
    gatherInto(d(x), d(index) as Int32Array, a, outer, n, inner, m);
    return s;
  }
  scatterAdd(base: Storage, index: Storage, src: Storage, outer: number, n: number, inner: number, m: number): Storage {
    const s = this.wrap(d(base).slice());
    scatterAddInto(s.data, d(index) as Int32Array, d(src), outer, n, inner, m);
    return s;
  }
  indexSelect(x: Storage, index: Storage, outer: number, n: number, inner: number, m: number): Storage {
    const [s, a] = this.allocOverwritten(x.dtype, outer * m * inner);
    indexSelectInto(d(x), d(index) as Int32Array, a, outer, n, inner, m);
    return s;
  }
  indexAdd(src: Storage, index: Storage, outer: number, n: number, inner: number, m: number): Storage {
    const [s, a] = this.allocOverwritten(src.dtype, outer * n * inner);
    indexAddInto(d(src), d(index) as Int32Array, a, outer, n, inner, m);
    return s;
  }
}
