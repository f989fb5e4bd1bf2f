/**
 * What a WebGPU kernel needs from the backend: allocation, constants, disposal, the adapter's
 * description and `run()` to encode one dispatch. Kernels (./kernels/*.ts) take this interface,
 * not the WebGpuBackend class, so no kernel imports the backend that imports it.
 */
import type { Storage } from '../backend.js';
import type { DType } from '../dtype.js';
import type { GpuDeviceInfo } from './device.js';
import type { Params } from './params.js';
import type { WebGpuStorage } from './storage.js';

export interface KernelCall {
  /** Cache key is the code itself. Binding 0 is `var<uniform> p: Params` (when params given);
   * bindings 1..n are the storage buffers in `buffers` order (declare only those used). */
  code: string;
  buffers: readonly WebGpuStorage[];
  params?: Params;
  /** Total workgroups (1-D; split over x/y when above 65535) or an explicit [x, y, z]. */
  groups: number | [number, number, number];
}

export interface GpuContext {
  readonly info: GpuDeviceInfo;
  /** A fresh buffer of `size` elements (contents undefined). */
  alloc(dtype: DType, size: number): WebGpuStorage;
  /** A filled storage; one-element constants may be shared aliases, so never write into it. */
  full(size: number, value: number, dtype: DType): Storage;
  dispose(s: Storage): void;
  /** Encodes one dispatch into the current batch. */
  run(call: KernelCall): void;
}
