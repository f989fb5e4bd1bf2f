/**
 * src/tensor: Tensor, shapes and broadcasting, dtypes, creation, seeded RNG, backends.
 * (Differentiable ops live in src/autograd; the package entry points put them together.)
 */
export * from './errors.js';
export type { DType, FloatDType, TypedArray } from './dtype.js';
export { isFloat } from './dtype.js';
export type {
  Backend, DeviceName, Storage, MatmulParams, UnaryOp, BinaryOp, CompareOp, ReduceOp, Routines, RoutineName, GroupPlan, AdamWScalars,
} from './backend.js';
export { tryRoutine, hasRoutine, ROUTINE_FLAGS } from './routines.js';
export { Tensor, type GradNode } from './tensor.js';
export * from './creation.js';
export { Rng, type RngState, philox4x32, globalRng, manualSeed } from './rng.js';
export { getDevice, registerBackend, markUnavailable, isDeviceName, cpuBackend } from './device.js';
export { tidy, keep, liveTensors } from './memory.js';
export { getFlag, setFlags, withFlags, resetFlags, listFlags, type FlagName, type FlagValues, type FlagInfo, type FlagSpec } from './flags.js';
export { broadcastShapes, sizeOf, stridesOf, type Shape } from './shape.js';
export { initWebGpu, deviceInfo, webgpuBackend, type GpuDeviceInfo, type GpuPath } from './webgpu/index.js';
