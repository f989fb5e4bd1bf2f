/**
 * Buffer sharing and uploads on WebGPU (src/tensor/webgpu/backend.ts, pool.ts).
 * Identity copies (reshape, detach, clone, assign) and one-element constants share a GPU buffer
 * instead of copying or refilling it (SharedBuffer). Sharing is only correct because no kernel
 * ever writes into an existing storage, and only bounded if the buffer goes back to the pool
 * exactly when its last holder is disposed. These tests check both: every holder reads the
 * right values whichever is disposed first, later ops on one holder never change another, the
 * live-storage counter counts holders, and the pool's in-use count returns to where it was.
 * Uploads write with queue.writeBuffer, which runs ahead of commands not yet submitted, so they
 * may only take a buffer that no pending command touches: a tensor disposed while a kernel that
 * reads it is still pending must not be overwritten by the next upload.
 */
import { expect, it } from 'vitest';
import { getFlag, tensor, tidy, withFlags } from '../../../src/index.js';
import { describeGpu, gpu } from '../../helpers/gpu.js';

describeGpu('webgpu: identity copies share buffers', () => {
  it('reshape / detach / clone / assign: values survive the original, pool returns to its start', async () => {
    const b = gpu!;
    expect(getFlag('webgpu.shareIdentityCopies')).toBe(true);
    const inUse0 = b.pool.stats().inUse;
    const live0 = b.liveBuffers();
    const x = tensor(Float32Array.from([1, 2, 3, 4, 5, 6]), { shape: [2, 3], device: 'webgpu' });
    const r = x.reshape([3, 2]);
    const d = x.detach();
    const c = x.clone();
    expect(b.liveBuffers()).toBe(live0 + 4);
    expect(b.pool.stats().inUse).toBe(inUse0 + 1);
    x.dispose();
    expect(Array.from(await r.toArray())).toEqual([1, 2, 3, 4, 5, 6]);
    // an op on one holder makes a fresh output; the others keep their values
    const y = r.add(r);
    expect(Array.from(await y.toArray())).toEqual([2, 4, 6, 8, 10, 12]);
    expect(Array.from(await d.toArray())).toEqual([1, 2, 3, 4, 5, 6]);
    // assign takes the source's buffer; disposing the source leaves the target intact
    const p = tensor(Float32Array.from([0, 0, 0, 0, 0, 0]), { shape: [2, 3], device: 'webgpu' });
    const yr = y.reshape([2, 3]);
    p.assign(yr);
    yr.dispose();
    y.dispose();
    expect(Array.from(await p.toArray())).toEqual([2, 4, 6, 8, 10, 12]);
    for (const t of [r, d, c, p]) t.dispose();
    expect(b.liveBuffers()).toBe(live0);
    expect(b.pool.stats().inUse).toBe(inUse0);
  });

  it('an upload never overwrites a buffer that a pending kernel still reads', async () => {
    const b = gpu!;
    for (const writeBuffer of [true, false]) {
      await withFlags({ 'webgpu.writeBufferUploads': writeBuffer }, async () => {
        const outs: number[][] = [];
        for (let round = 0; round < 3; round++) {
          const a = tensor(Float32Array.from([1, 2, 3, 4]), { device: 'webgpu' });
          const y = a.add(a); // encoded, not submitted
          a.dispose(); // a's buffer is free again while the add is pending
          const c = tensor(Float32Array.from([9, 9, 9, 9]), { device: 'webgpu' });
          outs.push(Array.from(await y.toArray()), Array.from(await c.toArray()));
          y.dispose();
          c.dispose();
        }
        for (let i = 0; i < outs.length; i += 2) {
          expect(outs[i], `writeBuffer ${writeBuffer}`).toEqual([2, 4, 6, 8]);
          expect(outs[i + 1]).toEqual([9, 9, 9, 9]);
        }
      });
    }
  });

  it('one-element constants are shared and counted per holder; results equal the uncached fill', async () => {
    const b = gpu!;
    const x = tensor(Float32Array.from([1, -2, 3.5]), { device: 'webgpu' });
    const read = async () => {
      // tidy frees the 0-d operand tensors (aliases of the cached constants) and x.to('i32')
      const r = tidy(() => [x.mul(0.1), x.add(-0), x.sub(3), x.to('i32').mul(7), x.div(1e-3)]);
      const out = await Promise.all(r.map(async (t) => Array.from(await t.toArray())));
      for (const t of r) t.dispose();
      return out;
    };
    const live0 = b.liveBuffers();
    const cached = await read();
    const again = await read();
    expect(b.liveBuffers()).toBe(live0);
    expect(await withFlags({ 'webgpu.cacheConstants': false }, read)).toEqual(cached);
    expect(again).toEqual(cached);
    x.dispose();
  });

  it("with 'webgpu.shareIdentityCopies' off (a real copy) the values are the same", async () => {
    await withFlags({ 'webgpu.shareIdentityCopies': false }, async () => {
      const b = gpu!;
      const inUse0 = b.pool.stats().inUse;
      const x = tensor(Float32Array.from([1, -0, 3]), { device: 'webgpu' });
      const r = x.reshape([3, 1]);
      expect(b.pool.stats().inUse).toBe(inUse0 + 2);
      expect(Array.from(await r.toArray())).toEqual([1, -0, 3]);
      x.dispose();
      r.dispose();
      expect(b.pool.stats().inUse).toBe(inUse0);
    });
  });
});
