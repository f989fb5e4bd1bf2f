/**
 * GPU memory, bounded: storage buffers come from power-of-two size buckets and go back to them
 * on dispose, immediately reusable. That is safe because every write to a storage buffer is a
 * command in the same ordered stream (kernels, and uploads encoded as copies from a staging
 * buffer): nothing uses queue.writeBuffer on storage, which would jump ahead of commands not
 * yet submitted.
 */
export const STORAGE_USAGE = 0x80 | 0x4 | 0x8; // STORAGE | COPY_SRC | COPY_DST

export class BufferPool {
  private free = new Map<number, GPUBuffer[]>();
  private inUse = 0;
  private created = 0;

  constructor(private readonly device: GPUDevice) {}

  static bucket(bytes: number): number {
    let b = 256;
    while (b < bytes) b *= 2;
    return b;
  }

  acquire(bytes: number): GPUBuffer {
    const size = BufferPool.bucket(bytes);
    const list = this.free.get(size);
    this.inUse++;
    const reused = list?.pop();
    if (reused) return reused;
    this.created++;
    return this.device.createBuffer({ size, usage: STORAGE_USAGE });
  }

  release(buf: GPUBuffer): void {
    this.inUse--;
    const list = this.free.get(buf.size) ?? [];
    list.push(buf);
    this.free.set(buf.size, list);
  }

  stats(): { inUse: number; pooled: number; created: number } {
    let pooled = 0;
    for (const l of this.free.values()) pooled += l.length;
    return { inUse: this.inUse, pooled, created: this.created };
  }

  /** Destroys every pooled (free) buffer. */
  trim(): void {
    for (const l of this.free.values()) for (const b of l) b.destroy();
    this.free.clear();
  }
}
