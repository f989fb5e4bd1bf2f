/**
 * Shared WebGPU test setup: acquire the device once per file, print which adapter runs the
 * suite, and skip (with the reason printed) only when no adapter can be had at all; and the
 * CPU/WebGPU parity assertion.
 */
import { describe, expect } from 'vitest';
import type { Tensor } from '../../src/index.js';
import { deviceInfo, initWebGpu, type WebGpuBackend } from '../../src/tensor/webgpu/index.js';
import { firstMismatch, type CloseBound } from './assert.js';

export let gpu: WebGpuBackend | null = null;
try {
  gpu = await initWebGpu();
  console.log(`[webgpu] adapter: ${deviceInfo()?.adapter} (${deviceInfo()?.path}, ${deviceInfo()?.featureLevel})`);
} catch (e) {
  console.warn(`[webgpu] suite skipped: ${(e as Error).message}`);
}

export const describeGpu = (gpu ? describe : describe.skip) as unknown as typeof describe;

/**
 * Asserts a WebGPU tensor matches its CPU twin: same device kind, shape and dtype, and values
 * close under `bound` (|gpu − cpu| ≤ atol + rtol·|cpu|), NaN and ±Inf matched exactly.
 */
export async function expectGpuClose(gpuT: Tensor, cpuT: Tensor, bound: CloseBound): Promise<void> {
  expect(gpuT.device).toBe('webgpu');
  expect(gpuT.shape).toEqual(cpuT.shape);
  expect(gpuT.dtype).toBe(cpuT.dtype);
  const a = await gpuT.toArray();
  const b = cpuT.toArraySync();
  const bad = firstMismatch(a, b, { ...bound, nonFinite: 'match' });
  expect(bad, `element ${bad}: gpu ${a[bad]} vs cpu ${b[bad]}`).toBe(-1);
}
