/**
 * WebGpuStorage: a tensor's handle on a GPU buffer, which several storages may share (identity
 * copies alias instead of copying). Its own module so that the kernels (./kernels/*.ts) can name
 * it without importing the backend that imports them.
 */
import type { Backend, Storage } from '../backend.js';
import type { DType } from '../dtype.js';
import { DeviceError } from '../errors.js';

/**
 * A GPU buffer and the number of storages that hold it. Storages are immutable once their
 * producing op has been encoded (every kernel writes only the fresh output it allocated), so an
 * identity copy (reshape, detach, clone, assign all ask for one) can share the buffer instead of
 * copying it; the buffer goes back to the pool when its last storage is disposed.
 */
export interface SharedBuffer {
  buffer: GPUBuffer;
  refs: number;
}

export class WebGpuStorage implements Storage {
  private _shared: SharedBuffer | null;
  constructor(
    readonly backend: Backend,
    buffer: GPUBuffer | SharedBuffer,
    readonly dtype: DType,
    readonly size: number,
  ) {
    this._shared = 'refs' in buffer ? buffer : { buffer, refs: 1 };
  }
  get buffer(): GPUBuffer {
    if (this._shared === null) throw new DeviceError('webgpu: this buffer was disposed and can no longer be used');
    return this._shared.buffer;
  }
  get disposed(): boolean {
    return this._shared === null;
  }
  /** Another storage on the same buffer (same dtype and size). */
  alias(): WebGpuStorage {
    if (this._shared === null) throw new DeviceError('webgpu: this buffer was disposed and can no longer be used');
    this._shared.refs++;
    return new WebGpuStorage(this.backend, this._shared, this.dtype, this.size);
  }
  /** Drops this storage's hold; returns the buffer when it was the last one. */
  take(): GPUBuffer | null {
    const sh = this._shared;
    if (sh === null) throw new DeviceError('webgpu: this buffer was disposed and can no longer be used');
    this._shared = null;
    return --sh.refs === 0 ? sh.buffer : null;
  }
}
