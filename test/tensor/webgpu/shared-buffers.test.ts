/**
 * Identity copies on WebGPU (reshape, detach, clone, assign) share their GPU buffer instead of
 * copying it (src/tensor/webgpu/backend.ts, SharedBuffer). Sharing is only correct because no
 * kernel ever writes into an existing storage, and only bounded if the buffer goes back to the
 * pool exactly when its last holder is disposed. These tests check both: every holder reads the
 * right values whichever is disposed first, later ops on one holder never change another, the
 * live-storage counter counts holders, and the pool's in-use count returns to where it was.
 */
import { expect, it } from 'vitest';
import { tensor, tidy } from '../../../src/index.js';
import { SHARE_IDENTITY_COPIES } from '../../../src/tensor/webgpu/backend.js';
import { describeGpu, gpu } from './gpu.js';

describeGpu('webgpu: identity copies share buffers', () => {
  it('reshape / detach / clone / assign: values survive the original, pool returns to its start', async () => {
    const b = gpu!;
    expect(SHARE_IDENTITY_COPIES.current).toBe(true);
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
    const y = tidy(() => r.mul(10)); // tidy frees the 0-d scalar operand
    expect(Array.from(await y.toArray())).toEqual([10, 20, 30, 40, 50, 60]);
    expect(Array.from(await d.toArray())).toEqual([1, 2, 3, 4, 5, 6]);
    // assign takes the source's buffer; disposing the source leaves the target intact
    const p = tensor(Float32Array.from([0, 0, 0, 0, 0, 0]), { shape: [2, 3], device: 'webgpu' });
    const yr = y.reshape([2, 3]);
    p.assign(yr);
    yr.dispose();
    y.dispose();
    expect(Array.from(await p.toArray())).toEqual([10, 20, 30, 40, 50, 60]);
    for (const t of [r, d, c, p]) t.dispose();
    expect(b.liveBuffers()).toBe(live0);
    expect(b.pool.stats().inUse).toBe(inUse0);
  });

  it('v1 (a real copy) gives the same values', async () => {
    SHARE_IDENTITY_COPIES.current = false;
    try {
      const b = gpu!;
      const inUse0 = b.pool.stats().inUse;
      const x = tensor(Float32Array.from([1, -0, 3]), { device: 'webgpu' });
      const r = x.reshape([3, 1]);
      expect(b.pool.stats().inUse).toBe(inUse0 + 2);
      expect(Array.from(await r.toArray())).toEqual([1, -0, 3]);
      x.dispose();
      r.dispose();
      expect(b.pool.stats().inUse).toBe(inUse0);
    } finally {
      SHARE_IDENTITY_COPIES.current = true;
    }
  });
});
