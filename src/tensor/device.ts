/**
 * Device registry: maps 'cpu' / 'webgpu' to a Backend. The CPU backend is always present;
 * the WebGPU backend registers itself when its module is loaded and an adapter is found.
 */
import type { Backend, DeviceName } from './backend.js';
import { CpuBackend } from './cpu/backend.js';
import { DeviceError } from './errors.js';

export const cpuBackend = new CpuBackend();
const backends = new Map<DeviceName, Backend>([['cpu', cpuBackend]]);
const unavailable = new Map<DeviceName, string>([
  ['webgpu', 'the WebGPU backend is not part of this build yet; use the cpu device'],
]);

export function isDeviceName(x: unknown): x is DeviceName {
  return x === 'cpu' || x === 'webgpu';
}

export function registerBackend(b: Backend): void {
  backends.set(b.name, b);
  unavailable.delete(b.name);
}

export function markUnavailable(name: DeviceName, reason: string): void {
  backends.delete(name);
  unavailable.set(name, reason);
}

export function getDevice(name: DeviceName = 'cpu'): Backend {
  const b = backends.get(name);
  if (b) return b;
  if (!isDeviceName(name)) throw new DeviceError(`getDevice: unknown device '${String(name)}'; expected 'cpu' or 'webgpu'`);
  throw new DeviceError(`getDevice: device '${name}' is not available: ${unavailable.get(name) ?? 'no reason recorded'}`);
}
