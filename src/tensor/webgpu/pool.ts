/**
 * GPU memory, bounded: storage buffers come from power-of-two size buckets and go back to them
 * on dispose, immediately reusable. That is safe because every kernel's write to a storage
 * buffer is a command in the same ordered stream as the reads of earlier commands.
 *
 * Uploads are the exception that needs care. queue.writeBuffer is the cheap way to upload (the
 * alternative, a mapped staging buffer copied in command order, costs a buffer creation and a
 * compute-pass break per upload, ~100 µs on the software adapter, and a decode step uploads a
 * dozen small tensors), but it takes effect when called, ahead of commands encoded and not yet
 * submitted. So an upload may only go into a buffer that no unsubmitted command touches: the
 * pool records the batch (epoch: the number of submits so far) in which each free buffer was
 * released, and `acquireClean` hands out only buffers released before the current batch began
 * (their last readers are already submitted, so they run first), or a new one.
 */
export const STORAGE_USAGE = 0x80 | 0x4 | 0x8; // STORAGE | COPY_SRC | COPY_DST

interface Free {
  buf: GPUBuffer;
  epoch: number;
}

export class BufferPool {
  private free = new Map<number, Free[]>();
  private inUse = 0;
  private created = 0;

  constructor(private readonly device: GPUDevice) {}

  static bucket(bytes: number): number {
    let b = 256;
    while (b < bytes) b *= 2;
    return b;
  }

  /** Any free buffer of the bucket (most recently released first), or a new one. */
  acquire(bytes: number): GPUBuffer {
    const size = BufferPool.bucket(bytes);
    const list = this.free.get(size);
    this.inUse++;
    const reused = list?.pop();
    if (reused) return reused.buf;
    this.created++;
    return this.device.createBuffer({ size, usage: STORAGE_USAGE });
  }

  /** A free buffer released before batch `epoch` began (safe for queue.writeBuffer), or a new one. */
  acquireClean(bytes: number, epoch: number): GPUBuffer {
    const size = BufferPool.bucket(bytes);
    const list = this.free.get(size);
    this.inUse++;
    // The list is in release order, so its front is the oldest; if that is not clean, none is.
    if (list && list.length > 0 && list[0]!.epoch < epoch) return list.shift()!.buf;
    this.created++;
    return this.device.createBuffer({ size, usage: STORAGE_USAGE });
  }

  release(buf: GPUBuffer, epoch = 0): void {
    this.inUse--;
    const list = this.free.get(buf.size) ?? [];
    list.push({ buf, epoch });
    this.free.set(buf.size, list);
  }

  stats(): { inUse: number; pooled: number; created: number } {
    let pooled = 0;
    for (const l of this.free.values()) pooled += l.length;
    return { inUse: this.inUse, pooled, created: this.created };
  }

  /** Destroys every pooled (free) buffer. */
  trim(): void {
    for (const l of this.free.values()) for (const f of l) f.buf.destroy();
    this.free.clear();
  }
}
