/**
 * Shared WebGPU test setup: acquire the device once per file, print which adapter runs the
 * suite, and skip (with the reason printed) only when no adapter can be had at all.
 */
import { describe } from 'vitest';
import { deviceInfo, initWebGpu, type WebGpuBackend } from '../../src/tensor/webgpu/index.js';

export let gpu: WebGpuBackend | null = null;
try {
  gpu = await initWebGpu();
  console.log(`[webgpu] adapter: ${deviceInfo()?.adapter} (${deviceInfo()?.path}, ${deviceInfo()?.featureLevel})`);
} catch (e) {
  console.warn(`[webgpu] suite skipped: ${(e as Error).message}`);
}

export const describeGpu = (gpu ? describe : describe.skip) as unknown as typeof describe;

/** |a − b| ≤ atol + rtol·|b| elementwise; returns the first offending index or -1. */
export function firstMismatch(a: ArrayLike<number>, b: ArrayLike<number>, rtol: number, atol: number): number {
  if (a.length !== b.length) return 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (Number.isNaN(x) && Number.isNaN(y)) continue;
    if (x === y) continue;
    if (!(Math.abs(x - y) <= atol + rtol * Math.abs(y))) return i;
  }
  return -1;
}
