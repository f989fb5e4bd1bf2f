/**
 * WebGPU device acquisition, in one place. Tries the hardware path first (Dawn's
 * default backend, Vulkan on Linux, core feature level); with no hardware adapter it falls back
 * to Dawn's OpenGL ES backend on Mesa llvmpipe in compatibility mode, the software adapter that
 * a CPU-only Linux machine has once Debian's libegl1 libegl-mesa0 libgles2 are installed.
 * Reports which adapter it got, or throws DeviceError saying why none could be had and the fix.
 * STABLERL_WEBGPU_BACKEND=hardware|opengles (or the `backend` option) forces one path.
 */
import { DeviceError } from '../errors.js';

export type GpuPath = 'hardware' | 'opengles';

export interface GpuDeviceInfo {
  path: GpuPath;
  /** Adapter description as Dawn reports it (vendor, architecture, device, description). */
  adapter: string;
  featureLevel: 'core' | 'compatibility';
  limits: {
    maxComputeInvocationsPerWorkgroup: number;
    maxStorageBuffersPerShaderStage: number;
    maxStorageBufferBindingSize: number;
    maxBufferSize: number;
  };
}

export interface AcquiredGpu {
  device: GPUDevice;
  info: GpuDeviceInfo;
}

export const SETUP_HINT =
  'on a CPU-only Debian/Ubuntu machine run scripts/setup-webgpu.sh (installs libegl1 libegl-mesa0 libgles2 for the software adapter)';

function describe(a: GPUAdapter): string {
  const i = a.info;
  return [i.vendor, i.architecture, i.device, i.description].filter((s) => s && s.length > 0).join(' / ') || 'unnamed adapter';
}

/**
 * Dawn's GPU instances, kept reachable for the life of the process: if the instance object is
 * garbage-collected, Dawn tears down the device under live buffers and the process crashes at
 * a random later point (seen here as segfaults and futex aborts during mapAsync).
 */
const instances: GPU[] = [];

async function tryPath(path: GpuPath, mod: typeof import('webgpu')): Promise<{ adapter: GPUAdapter } | { error: string }> {
  try {
    const gpu = mod.create(path === 'opengles' ? ['backend=opengles'] : []);
    instances.push(gpu);
    const adapter = await gpu.requestAdapter(path === 'opengles' ? { featureLevel: 'compatibility' } : { powerPreference: 'high-performance' });
    if (!adapter) return { error: `${path}: no adapter` };
    // Dawn may offer a CPU (software) adapter on the default path; that is the software path's job.
    if (path === 'hardware' && /swiftshader|llvmpipe|lavapipe|software/i.test(describe(adapter))) {
      return { error: `hardware: only a software adapter (${describe(adapter)})` };
    }
    return { adapter };
  } catch (e) {
    return { error: `${path}: ${(e as Error).message}` };
  }
}

export async function acquireGpu(opts: { backend?: GpuPath | 'auto' } = {}): Promise<AcquiredGpu> {
  // Must be set before Dawn initialises EGL; users never have to set it themselves.
  process.env.EGL_PLATFORM ??= 'surfaceless';
  let mod: typeof import('webgpu');
  try {
    mod = await import('webgpu');
  } catch (e) {
    throw new DeviceError(`webgpu: the 'webgpu' package (Dawn's Node bindings) could not be loaded: ${(e as Error).message}`);
  }
  Object.assign(globalThis, mod.globals);
  const forced = opts.backend ?? (process.env.STABLERL_WEBGPU_BACKEND as GpuPath | 'auto' | undefined) ?? 'auto';
  if (forced !== 'auto' && forced !== 'hardware' && forced !== 'opengles') {
    throw new DeviceError(`webgpu: backend '${forced}' is unknown; expected 'auto', 'hardware' or 'opengles'`);
  }
  const order: GpuPath[] = forced === 'auto' ? ['hardware', 'opengles'] : [forced];
  const errors: string[] = [];
  for (const path of order) {
    const r = await tryPath(path, mod);
    if ('error' in r) {
      errors.push(r.error);
      continue;
    }
    const a = r.adapter;
    // Compatibility defaults are low (128 invocations, 8 storage buffers): ask for what the adapter has.
    const want = [
      'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX', 'maxComputeWorkgroupSizeY',
      'maxStorageBuffersPerShaderStage', 'maxStorageBufferBindingSize', 'maxBufferSize',
      'maxComputeWorkgroupStorageSize',
    ] as const;
    const requiredLimits: Record<string, number> = {};
    for (const k of want) requiredLimits[k] = a.limits[k];
    const device = await a.requestDevice({ requiredLimits });
    return {
      device,
      info: {
        path,
        adapter: describe(a),
        featureLevel: path === 'opengles' ? 'compatibility' : 'core',
        limits: {
          maxComputeInvocationsPerWorkgroup: device.limits.maxComputeInvocationsPerWorkgroup,
          maxStorageBuffersPerShaderStage: device.limits.maxStorageBuffersPerShaderStage,
          maxStorageBufferBindingSize: device.limits.maxStorageBufferBindingSize,
          maxBufferSize: device.limits.maxBufferSize,
        },
      },
    };
  }
  throw new DeviceError(`webgpu: no adapter could be had (${errors.join('; ')}); ${SETUP_HINT}`);
}
