/**
 * The WebGPU backend: WGSL kernels on a Dawn device. Ops are encoded when called, into one
 * compute pass per batch; a batch is submitted when something is read back or when it grows
 * past a bound. Kernel parameters (shapes, strides, scalars) go in a per-batch uniform ring so
 * the number of distinct shaders stays small; pipelines are cached by shader text.
 * Kernel families live in ./kernels/*.ts and call `run()`.
 *
 * Per-dispatch cost on the host matters as much as the kernels for small models (a moe-small
 * decode step is ~270 dispatches), so `run()` avoids what it can: pipelines have explicit
 * layouts whose uniform binding takes a dynamic offset, so a bind group depends only on the
 * pipeline and the storage buffers and is cached (buffers come back from the pool, so the same
 * few combinations recur every step); creating one costs ~10 µs. Kernels pass shader text that
 * they keep by a short key (kernels/common.ts shaderText), so the pipeline lookup does not
 * rehash kilobytes of text.
 */
import type { Backend, BinaryOp, CompareOp, MatmulParams, ReduceOp, Routines, Storage, UnaryOp } from '../backend.js';
import { arrayFor, type DType, dtypeOfArray, type TypedArray } from '../dtype.js';
import { DeviceError, DTypeError } from '../errors.js';
import { getFlag } from '../flags.js';
import type { GpuDeviceInfo } from './device.js';
import { BufferPool } from './pool.js';
import type { GpuContext, KernelCall } from './context.js';
import { WebGpuStorage } from './storage.js';
import * as EW from './kernels/elementwise.js';
import * as RD from './kernels/reduce.js';
import * as IX from './kernels/indexing.js';
import * as MM from './kernels/matmul.js';
import { webgpuRoutines } from './routines.js';

const MAX_CONSTANTS = 256;

const UNIFORM_SLOT = 256;
const UNIFORM_SLOTS = 1024;
const MAX_DISPATCHES_PER_BATCH = 512;
/** Bound on cached bind groups (the cache is cleared when it is reached). */
const MAX_BIND_GROUPS = 8192;

export class WebGpuBackend implements Backend, GpuContext {
  readonly name = 'webgpu' as const;
  readonly pool: BufferPool;
  /** The fused kernels (./routines.ts). */
  readonly routines: Routines = webgpuRoutines(this);
  private pipelines = new Map<string, { pipeline: GPUComputePipeline; layout: GPUBindGroupLayout; id: number; hasUniform: boolean }>();
  private bindGroups = new Map<string, GPUBindGroup>();
  private bufferIds = new WeakMap<GPUBuffer, number>();
  private nextBufferId = 0;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private dispatches = 0;
  private uniformCpu = new ArrayBuffer(UNIFORM_SLOT * UNIFORM_SLOTS);
  private uniformWords = new Uint32Array(this.uniformCpu);
  private uniformGpu: GPUBuffer;
  private uniformUsed = 0;
  private live = 0;
  private lastError: string | null = null;
  private staging: GPUBuffer[] = [];
  /** Batches submitted so far (see pool.ts: which free buffers an upload may write). */
  private epoch = 0;
  private constants = new Map<string, WebGpuStorage>();
  private readBuffers = new Map<number, GPUBuffer[]>();
  submits = 0;

  constructor(readonly device: GPUDevice, readonly info: GpuDeviceInfo) {
    this.pool = new BufferPool(device);
    this.uniformGpu = device.createBuffer({ size: UNIFORM_SLOT * UNIFORM_SLOTS, usage: 0x40 | 0x8 }); // UNIFORM | COPY_DST
    device.addEventListener('uncapturederror', (e) => {
      this.lastError = (e as GPUUncapturedErrorEvent).error.message;
    });
  }

  describe(): string {
    return `webgpu: ${this.info.adapter} (${this.info.path}, ${this.info.featureLevel})`;
  }

  // ---- memory -------------------------------------------------------------------------------
  alloc(dtype: DType, size: number): WebGpuStorage {
    return this.allocWith(dtype, size, (bytes) => this.pool.acquire(bytes));
  }
  private allocWith(dtype: DType, size: number, acquire: (bytes: number) => GPUBuffer): WebGpuStorage {
    if (dtype === 'f64') throw new DTypeError('webgpu: f64 is not supported on the GPU; use f32 (f64 is CPU only)');
    if (size >= 2 ** 31) throw new DeviceError(`webgpu: ${size} elements exceed the 2^31 - 1 limit of 32-bit WGSL indexing`);
    const bytes = Math.max(4, size * 4);
    if (bytes > this.info.limits.maxStorageBufferBindingSize) {
      throw new DeviceError(`webgpu: a ${bytes}-byte buffer exceeds the adapter's maxStorageBufferBindingSize (${this.info.limits.maxStorageBufferBindingSize})`);
    }
    this.live++;
    return new WebGpuStorage(this, acquire(bytes), dtype, size);
  }
  fromArray(data: TypedArray): Storage {
    const dtype = dtypeOfArray(data);
    if (!getFlag('webgpu.writeBufferUploads')) return this.fromArrayStaged(data);
    const s = this.allocWith(dtype, data.length, (bytes) => this.pool.acquireClean(bytes, this.epoch));
    if (data.length === 0) return s;
    // A clean buffer: no unsubmitted command touches it, so writing it now is safe (pool.ts).
    this.device.queue.writeBuffer(s.buffer, 0, data.buffer, data.byteOffset, data.byteLength);
    return s;
  }
  /** The upload with 'webgpu.writeBufferUploads' off: a mapped staging buffer copied in command order (a buffer creation and a pass break each). */
  private fromArrayStaged(data: TypedArray): Storage {
    const dtype = dtypeOfArray(data);
    const s = this.alloc(dtype, data.length);
    if (data.length === 0) return s;
    const staging = this.device.createBuffer({ size: data.byteLength, usage: 0x2 | 0x4, mappedAtCreation: true }); // MAP_WRITE | COPY_SRC
    new Uint8Array(staging.getMappedRange()).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    staging.unmap();
    const enc = this.commandEncoder();
    this.pass?.end();
    this.pass = null;
    enc.copyBufferToBuffer(staging, 0, s.buffer, 0, data.byteLength);
    this.staging.push(staging);
    if (this.staging.length >= 256) this.flush();
    return s;
  }
  full(size: number, value: number, dtype: DType): Storage {
    if (size !== 1 || !getFlag('webgpu.cacheConstants')) return EW.fill(this, size, value, dtype);
    // One-element constants (the operand behind x.mul(0.5), a 0-d fill) recur every step: keep
    // one storage per value and hand out aliases (storages are immutable), saving a dispatch each.
    // So a kernel that writes into a buffer it initialised must use EW.fill, not this.
    const key = `${dtype}:${dtype === 'f32' ? new Uint32Array(Float32Array.of(value).buffer)[0] : value | 0}`;
    let c = this.constants.get(key);
    if (c === undefined) {
      if (this.constants.size >= MAX_CONSTANTS) {
        for (const old of this.constants.values()) this.release(old);
        this.constants.clear();
      }
      c = EW.fill(this, 1, value, dtype);
      this.live--; // the cache's own hold is not a live tensor's
      this.constants.set(key, c);
    }
    this.live++;
    return c.alias();
  }
  async read(s: Storage): Promise<TypedArray> {
    const st = s as WebGpuStorage;
    const out = arrayFor(st.dtype, st.size);
    if (st.size === 0) return out;
    const bytes = st.size * 4;
    this.flush();
    // Read-back buffers are reused by size bucket: creating one per read cost more than the read.
    const size = BufferPool.bucket(bytes);
    const free = this.readBuffers.get(size);
    const staging = free?.pop() ?? this.device.createBuffer({ size, usage: 0x1 | 0x8 }); // MAP_READ | COPY_DST
    const enc = this.device.createCommandEncoder();
    enc.copyBufferToBuffer(st.buffer, 0, staging, 0, bytes);
    this.device.queue.submit([enc.finish()]);
    this.submits++;
    try {
      await staging.mapAsync(0x1, 0, bytes);
      const mapped = staging.getMappedRange(0, bytes);
      (out as Float32Array).set(st.dtype === 'i32' ? new Int32Array(mapped) : new Float32Array(mapped));
      staging.unmap();
    } catch (e) {
      staging.destroy();
      throw e;
    }
    const list = this.readBuffers.get(size) ?? [];
    if (list.length < 4) {
      list.push(staging);
      this.readBuffers.set(size, list);
    } else {
      staging.destroy();
    }
    this.throwIfError();
    return out;
  }
  readSync(): TypedArray {
    throw new DeviceError('webgpu: reads from the GPU are async; use await t.toArray()');
  }
  dispose(s: Storage): void {
    const st = s as WebGpuStorage;
    if (st.disposed) return;
    this.release(st);
    this.live--;
  }
  private release(st: WebGpuStorage): void {
    const buf = st.take();
    if (buf !== null) this.pool.release(buf, this.epoch);
  }
  liveBuffers(): number {
    return this.live;
  }

  // ---- dispatch -----------------------------------------------------------------------------
  private pipeline(code: string): { pipeline: GPUComputePipeline; layout: GPUBindGroupLayout; id: number; hasUniform: boolean } {
    let p = this.pipelines.get(code);
    if (!p) {
      const module = this.device.createShaderModule({ code });
      // The layout is read off the declarations: binding 0 may be the uniform (dynamic offset),
      // the others are storage buffers, read-only or read_write.
      const entries: GPUBindGroupLayoutEntry[] = [];
      let hasUniform = false;
      for (const m of code.matchAll(/@group\(0\)\s*@binding\((\d+)\)\s*var<([^>]+)>/g)) {
        const binding = Number(m[1]);
        const kind = m[2]!.replace(/\s+/g, '');
        if (kind === 'uniform') hasUniform = true;
        const type: GPUBufferBindingType = kind === 'uniform' ? 'uniform' : kind === 'storage,read' ? 'read-only-storage' : 'storage';
        entries.push({ binding, visibility: 0x4, buffer: { type, hasDynamicOffset: type === 'uniform' } }); // COMPUTE
      }
      const layout = this.device.createBindGroupLayout({ entries });
      const pipeline = this.device.createComputePipeline({
        layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
        compute: { module, entryPoint: 'main' },
      });
      p = { pipeline, layout, id: this.pipelines.size, hasUniform };
      this.pipelines.set(code, p);
    }
    return p;
  }

  get pipelineCount(): number {
    return this.pipelines.size;
  }

  private bufferId(buf: GPUBuffer): number {
    let id = this.bufferIds.get(buf);
    if (id === undefined) {
      id = this.nextBufferId++;
      this.bufferIds.set(buf, id);
    }
    return id;
  }

  run(call: KernelCall): void {
    const groups: [number, number, number] = Array.isArray(call.groups)
      ? call.groups
      : call.groups <= 65535
        ? [call.groups, 1, 1]
        : [65535, Math.ceil(call.groups / 65535), 1];
    if (groups[0] * groups[1] * groups[2] === 0) return;
    if (this.uniformUsed >= UNIFORM_SLOTS || this.dispatches >= MAX_DISPATCHES_PER_BATCH) this.flush();
    const p = this.pipeline(call.code);
    const bufs = call.buffers.map((b) => b.buffer);
    let key = String(p.id);
    for (const b of bufs) key += ',' + this.bufferId(b);
    let bindGroup = this.bindGroups.get(key);
    if (bindGroup === undefined) {
      const entries: GPUBindGroupEntry[] = [];
      if (p.hasUniform) entries.push({ binding: 0, resource: { buffer: this.uniformGpu, offset: 0, size: UNIFORM_SLOT } });
      bufs.forEach((b, i) => entries.push({ binding: i + 1, resource: { buffer: b } }));
      bindGroup = this.device.createBindGroup({ layout: p.layout, entries });
      if (this.bindGroups.size >= MAX_BIND_GROUPS) this.bindGroups.clear();
      this.bindGroups.set(key, bindGroup);
    }
    if (!this.pass) this.pass = this.commandEncoder().beginComputePass();
    this.pass.setPipeline(p.pipeline);
    if (p.hasUniform) {
      if (!call.params) throw new DeviceError('webgpu: this kernel declares a uniform but the call passes no params');
      const len = call.params.byteLength;
      if (len > UNIFORM_SLOT) throw new DeviceError(`webgpu: kernel params of ${len} bytes exceed ${UNIFORM_SLOT}`);
      const off = this.uniformUsed * UNIFORM_SLOT;
      call.params.writeTo(this.uniformWords, off / 4);
      this.uniformUsed++;
      this.pass.setBindGroup(0, bindGroup, [off]);
    } else {
      this.pass.setBindGroup(0, bindGroup);
    }
    this.pass.dispatchWorkgroups(groups[0], groups[1], groups[2]);
    this.dispatches++;
  }

  private commandEncoder(): GPUCommandEncoder {
    this.encoder ??= this.device.createCommandEncoder();
    return this.encoder;
  }

  /** Submits everything encoded so far. */
  flush(): void {
    if (!this.encoder) return;
    this.pass?.end();
    this.pass = null;
    if (this.uniformUsed > 0) this.device.queue.writeBuffer(this.uniformGpu, 0, this.uniformCpu, 0, this.uniformUsed * UNIFORM_SLOT);
    this.device.queue.submit([this.encoder.finish()]);
    this.submits++;
    this.epoch++;
    this.encoder = null;
    this.uniformUsed = 0;
    this.dispatches = 0;
    for (const b of this.staging) b.destroy();
    this.staging = [];
  }

  /** Waits for all submitted work (benchmarks use it to time GPU work honestly). */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    this.throwIfError();
  }

  private throwIfError(): void {
    if (this.lastError !== null) {
      const m = this.lastError;
      this.lastError = null;
      throw new DeviceError(`webgpu: a kernel failed validation: ${m}`);
    }
  }

  // ---- ops ----------------------------------------------------------------------------------
  cast(x: Storage, dtype: DType): Storage { return EW.cast(this, x as WebGpuStorage, dtype); }
  unary(op: UnaryOp, x: Storage): Storage { return EW.unary(this, op, x as WebGpuStorage); }
  clamp(x: Storage, lo: number, hi: number): Storage { return EW.clamp(this, x as WebGpuStorage, lo, hi); }
  binary(op: BinaryOp, a: Storage, b: Storage, shape: readonly number[], sa: readonly number[], sb: readonly number[]): Storage {
    return EW.binary(this, op, a as WebGpuStorage, b as WebGpuStorage, shape, sa, sb);
  }
  compare(op: CompareOp, a: Storage, b: Storage, shape: readonly number[], sa: readonly number[], sb: readonly number[], outDType: DType): Storage {
    return EW.compare(this, op, a as WebGpuStorage, b as WebGpuStorage, shape, sa, sb, outDType);
  }
  where(c: Storage, a: Storage, b: Storage, shape: readonly number[], sc: readonly number[], sa: readonly number[], sb: readonly number[]): Storage {
    return EW.where(this, c as WebGpuStorage, a as WebGpuStorage, b as WebGpuStorage, shape, sc, sa, sb);
  }
  permute(x: Storage, shape: readonly number[], perm: readonly number[]): Storage {
    return EW.permute(this, x as WebGpuStorage, shape, perm);
  }
  expand(x: Storage, outShape: readonly number[], strides: readonly number[]): Storage {
    const xs = x as WebGpuStorage;
    // The identity copy (reshape, detach, clone, assign): share the buffer (see storage.ts).
    if (outShape.length === 1 && outShape[0] === xs.size && strides[0] === 1 && getFlag('webgpu.shareIdentityCopies')) {
      this.live++;
      return xs.alias();
    }
    return EW.expand(this, xs, outShape, strides);
  }

  reduce(op: ReduceOp, x: Storage, outer: number, n: number, inner: number): Storage {
    return RD.reduce(this, op, x as WebGpuStorage, outer, n, inner);
  }
  argmax(x: Storage, outer: number, n: number, inner: number): Storage { return RD.argmax(this, x as WebGpuStorage, outer, n, inner); }
  logsumexp(x: Storage, outer: number, n: number, inner: number): Storage { return RD.logsumexp(this, x as WebGpuStorage, outer, n, inner); }
  softmax(x: Storage, outer: number, n: number, inner: number, log: boolean): Storage {
    return RD.softmax(this, x as WebGpuStorage, outer, n, inner, log);
  }
  topk(x: Storage, outer: number, n: number, inner: number, k: number): [Storage, Storage] {
    return RD.topk(this, x as WebGpuStorage, outer, n, inner, k);
  }

  matmul(a: Storage, b: Storage, p: MatmulParams): Storage { return MM.matmul(this, a as WebGpuStorage, b as WebGpuStorage, p); }

  slice(x: Storage, outer: number, n: number, inner: number, start: number, len: number): Storage {
    return IX.slice(this, x as WebGpuStorage, outer, n, inner, start, len);
  }
  concat(xs: readonly Storage[], ns: readonly number[], outer: number, inner: number): Storage {
    return IX.concat(this, xs as WebGpuStorage[], ns, outer, inner);
  }
  gather(x: Storage, index: Storage, outer: number, n: number, inner: number, m: number): Storage {
    return IX.gather(this, x as WebGpuStorage, index as WebGpuStorage, outer, n, inner, m);
  }
  scatterAdd(base: Storage, index: Storage, src: Storage, outer: number, n: number, inner: number, m: number): Storage {
    return IX.scatterAdd(this, base as WebGpuStorage, index as WebGpuStorage, src as WebGpuStorage, outer, n, inner, m);
  }
  indexSelect(x: Storage, index: Storage, outer: number, n: number, inner: number, m: number): Storage {
    return IX.indexSelect(this, x as WebGpuStorage, index as WebGpuStorage, outer, n, inner, m);
  }
  indexAdd(src: Storage, index: Storage, outer: number, n: number, inner: number, m: number): Storage {
    return IX.indexAdd(this, src as WebGpuStorage, index as WebGpuStorage, outer, n, inner, m);
  }
}
