/**
 * Turning the WebGPU backend on: `await initWebGpu()` acquires a device (hardware first, then
 * the software adapter), registers the backend under 'webgpu', and returns what it got;
 * `deviceInfo()` reports it afterwards. Until then getDevice('webgpu') says to call it.
 */
import { markUnavailable, registerBackend } from '../device.js';
import { DeviceError } from '../errors.js';
import { acquireGpu, type GpuDeviceInfo, type GpuPath } from './device.js';
import { WebGpuBackend } from './backend.js';

let backend: WebGpuBackend | null = null;
let pending: Promise<WebGpuBackend> | null = null;

markUnavailable('webgpu', 'call `await initWebGpu()` first (device acquisition is async)');

export async function initWebGpu(opts: { backend?: GpuPath | 'auto' } = {}): Promise<WebGpuBackend> {
  if (backend) return backend;
  pending ??= acquireGpu(opts).then(({ device, info }) => {
    backend = new WebGpuBackend(device, info);
    registerBackend(backend);
    return backend;
  }).catch((e: unknown) => {
    pending = null;
    markUnavailable('webgpu', (e as Error).message);
    throw e;
  });
  return pending;
}

/** What the WebGPU backend is running on, or null before initWebGpu(). */
export function deviceInfo(): GpuDeviceInfo | null {
  return backend?.info ?? null;
}

export function webgpuBackend(): WebGpuBackend {
  if (!backend) throw new DeviceError('webgpu: not initialised; call `await initWebGpu()` first');
  return backend;
}

export { WebGpuBackend } from './backend.js';
export { WebGpuStorage } from './storage.js';
export { Params } from './params.js';
export type { GpuContext, KernelCall } from './context.js';
export type { GpuDeviceInfo, GpuPath } from './device.js';
