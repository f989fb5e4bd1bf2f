/**
 * The one way to reach a backend's fused kernels (Backend.routines, src/tensor/backend.ts):
 * tryRoutine runs the named routine when the backend offers it and the flag that switches it is
 * on, and otherwise returns null, as a routine that declines does. The caller then runs the
 * composed ops, which it writes once, beside the call.
 */
import type { Backend, RoutineName, Routines } from './backend.js';
import { getFlag, type FlagName } from './flags.js';

/** The flag that turns each routine off (null: always used where offered). */
export const ROUTINE_FLAGS: Readonly<Record<RoutineName, FlagName | null>> = Object.freeze({
  rmsNorm: 'nn.fusedRmsNorm',
  addRmsNorm: 'nn.fusedRmsNorm',
  rope: 'nn.fusedRope',
  decodeAttention: 'nn.fusedAttention',
  appendKV: 'nn.fusedAttention',
  siluMul: 'moe.fusedMix',
  weightedRows: 'moe.fusedMix',
  chosenExperts: 'moe.fusedMix',
  groupChunks: null,
  adamw: 'nn.fusedAdamW',
  siluGrad: 'autograd.fusedVjps',
  siluWithSigmoid: 'autograd.fusedVjps',
});

type Fn<K extends RoutineName> = NonNullable<Routines[K]>;

/** Whether `backend` offers routine `name` and its flag is on (it may still decline a case). */
export function hasRoutine(backend: Backend, name: RoutineName): boolean {
  if (backend.routines?.[name] === undefined) return false;
  const flag = ROUTINE_FLAGS[name];
  return flag === null || getFlag(flag) === true;
}

/** The routine's result, or null when the backend lacks it, its flag is off, or it declines. */
export function tryRoutine<K extends RoutineName>(backend: Backend, name: K, ...args: Parameters<Fn<K>>): ReturnType<Fn<K>> | null {
  if (!hasRoutine(backend, name)) return null;
  const fn = backend.routines![name] as unknown as (...a: Parameters<Fn<K>>) => ReturnType<Fn<K>> | null;
  return fn.apply(backend.routines, args);
}
