/**
 * The Tensor: a shape, a dtype and a contiguous storage on one device. This file holds only
 * what is not differentiable (metadata, read-back, disposal). The differentiable methods
 * (x.add(y), x.matmul(w), ...) are attached by src/autograd/methods.ts: that is the one seam
 * between the two layers (README.md, "Layout"), and it is documented there.
 */
import type { Backend, DeviceName, Storage } from './backend.js';
import type { DType, TypedArray } from './dtype.js';
import { DeviceError, ShapeError } from './errors.js';
import { trackCreated, trackDisposed } from './memory.js';
import { type Shape, fmtShape, sizeOf } from './shape.js';

/**
 * The slot autograd fills on a tensor produced by a recorded op: which op, its tensor inputs,
 * which of them need a gradient, and the vector-Jacobian product that maps the output's
 * gradient to theirs.
 */
export interface GradNode {
  readonly op: string;
  readonly inputs: readonly Tensor[];
  readonly needsGrad: readonly boolean[];
  readonly vjp: (g: Tensor) => readonly (Tensor | null)[];
}

let nextId = 0;

export class Tensor {
  readonly id: number;
  readonly shape: readonly number[];
  readonly dtype: DType;
  requiresGrad: boolean;
  /** Accumulated gradient (leaves only, or tensors that called retainGrad()). */
  grad: Tensor | null = null;
  /** Set by autograd when this tensor is the output of a recorded op; null for leaves. */
  gradNode: GradNode | null = null;
  /** Keep .grad on this non-leaf during backward (PyTorch's retain_grad). */
  retainsGrad = false;
  private _storage: Storage | null;

  constructor(storage: Storage, shape: Shape, requiresGrad = false) {
    this.id = nextId++;
    this._storage = storage;
    this.shape = Object.freeze([...shape]);
    this.dtype = storage.dtype;
    this.requiresGrad = requiresGrad;
    trackCreated(this);
  }

  get storage(): Storage {
    if (this._storage === null) {
      throw new DeviceError(`tensor ${fmtShape(this.shape)} ${this.dtype} was disposed; it can no longer be read or used`);
    }
    return this._storage;
  }
  get backend(): Backend {
    return this.storage.backend;
  }

  /**
   * Replaces this tensor's values with `src`'s (same shape, dtype and device), keeping the
   * tensor's identity: how an optimiser updates a parameter in place, or a checkpoint loads
   * into a module. The old storage is disposed; `src` keeps its own. Not recorded on the tape.
   */
  assign(src: Tensor): this {
    if (src.dtype !== this.dtype || src.device !== this.device || src.shape.length !== this.shape.length || src.shape.some((d, i) => d !== this.shape[i])) {
      throw new ShapeError(
        `assign: source ${fmtShape(src.shape)} ${src.dtype} on ${src.device} does not match target ${fmtShape(this.shape)} ${this.dtype} on ${this.device}`,
      );
    }
    const old = this.storage;
    this._storage = src.backend.expand(src.storage, [src.size], [1]);
    old.backend.dispose(old);
    return this;
  }
  get device(): DeviceName {
    return this.storage.backend.name;
  }
  get isDisposed(): boolean {
    return this._storage === null;
  }
  /** Number of elements. */
  get size(): number {
    return sizeOf(this.shape);
  }
  numel(): number {
    return sizeOf(this.shape);
  }
  get ndim(): number {
    return this.shape.length;
  }
  get isLeaf(): boolean {
    return this.gradNode === null;
  }

  /** Flat row-major copy of the data (a Float32Array, Float64Array or Int32Array). */
  async toArray(): Promise<TypedArray> {
    return this.backend.read(this.storage);
  }
  /** Synchronous read-back (CPU tensors only; GPU reads are async). */
  toArraySync(): TypedArray {
    if (this.device !== 'cpu') {
      throw new DeviceError(`toArraySync: tensor is on '${this.device}'; reads from the GPU are async, use await t.toArray()`);
    }
    return this.backend.readSync(this.storage);
  }
  /** Nested JavaScript arrays, like torch's tolist(). */
  async tolist(): Promise<unknown> {
    return nest(await this.toArray(), this.shape);
  }
  tolistSync(): unknown {
    return nest(this.toArraySync(), this.shape);
  }
  async item(): Promise<number> {
    return this.backend.read(this.storage).then((a) => itemOf(this, a));
  }
  itemSync(): number {
    return itemOf(this, this.toArraySync());
  }

  /** Frees the storage now. Idempotent. The tensor's grad is disposed too. */
  dispose(): void {
    if (this._storage === null) return;
    this._storage.backend.dispose(this._storage);
    this._storage = null;
    this.gradNode = null;
    trackDisposed(this);
    if (this.grad && !this.grad.isDisposed) this.grad.dispose();
    this.grad = null;
  }

  toString(): string {
    if (this.isDisposed) return `Tensor(disposed, ${fmtShape(this.shape)}, ${this.dtype})`;
    const body = this.device === 'cpu' && this.size <= 64 ? JSON.stringify(this.tolistSync()) : '…';
    return `Tensor(${body}, shape=${fmtShape(this.shape)}, dtype=${this.dtype}, device=${this.device}${this.requiresGrad ? ', requiresGrad' : ''})`;
  }
}

function itemOf(t: Tensor, a: TypedArray): number {
  if (a.length !== 1) {
    throw new DeviceError(`item: tensor has ${a.length} elements (shape ${fmtShape(t.shape)}); item() needs exactly one`);
  }
  return a[0]!;
}

function nest(a: TypedArray, shape: Shape): unknown {
  if (shape.length === 0) return a[0];
  const build = (dim: number, off: number): unknown[] => {
    const n = shape[dim]!;
    const stride = sizeOf(shape.slice(dim + 1));
    const out: unknown[] = [];
    for (let i = 0; i < n; i++) out.push(dim === shape.length - 1 ? a[off + i] : build(dim + 1, off + i * stride));
    return out;
  };
  return build(0, 0);
}
