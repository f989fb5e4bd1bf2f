/**
 * The flag registry: every global switch of the library in one place, as tfjs registers its
 * flags. A flag has a typed name in one style ('<folder>.<camelCase>'), a default and a
 * one-line description; listFlags() prints them all. Most flags pick between implementations
 * that give the same bits (a fused kernel and the composed ops it replaces, a kernel and its
 * earlier version), so tests can compare them and benchmarks can time them in one process:
 *
 *   withFlags({ 'nn.fusedRmsNorm': false }, () => rmsNorm(x, g))     // the composed ops
 *
 * Flags are process-wide state: withFlags puts the flags it set back when fn returns or throws
 * (for an async fn, when its promise settles; other code running meanwhile sees them set).
 */
import { ConfigError } from './errors.js';

/** Every flag and the type of its value. */
export interface FlagValues {
  'webgpu.elementwiseVersion': 1 | 2;
  'webgpu.matmulVersion': 1 | 2;
  'webgpu.indexingVersion': 1 | 2;
  'webgpu.writeBufferUploads': boolean;
  'webgpu.cacheConstants': boolean;
  'webgpu.shareIdentityCopies': boolean;
  'autograd.fusedVjps': boolean;
  'nn.fusedRmsNorm': boolean;
  'nn.fusedRope': boolean;
  'nn.fusedAttention': boolean;
  'nn.fusedAdamW': boolean;
  'moe.fusedMix': boolean;
  'moe.deviceRouting': boolean;
}

export type FlagName = keyof FlagValues;

export interface FlagSpec<V> {
  readonly default: V;
  /** The allowed values, where not every value of the type is. */
  readonly choices?: readonly V[];
  readonly description: string;
}

export interface FlagInfo {
  name: FlagName;
  default: FlagValues[FlagName];
  value: FlagValues[FlagName];
  choices?: readonly FlagValues[FlagName][];
  description: string;
}

const VERSIONS = [1, 2] as const;

const SPECS: { readonly [K in FlagName]: FlagSpec<FlagValues[K]> } = {
  'webgpu.elementwiseVersion': {
    default: 2, choices: VERSIONS,
    description: 'WebGPU elementwise kernels: 2 = vec4 flat path and rank-specialised strides, 1 = one element per invocation, strides walked in a loop (same bits)',
  },
  'webgpu.matmulVersion': {
    default: 2, choices: VERSIONS,
    description: 'WebGPU matmul on the software adapter: 2 = tiles fitted to small m and n, 1 = 16×16 tiles for every product (same bits)',
  },
  'webgpu.indexingVersion': {
    default: 2, choices: VERSIONS,
    description: 'WebGPU indexSelect and indexAdd: 2 = vec4 indexSelect rows and indexAdd v2, 1 = the scalar indexSelect and indexAdd v1 (same bits)',
  },
  'webgpu.writeBufferUploads': {
    default: true,
    description: 'WebGPU uploads with queue.writeBuffer into clean buffers (true) or through mapped staging copies (false)',
  },
  'webgpu.cacheConstants': {
    default: true,
    description: 'WebGPU one-element constants are cached and shared (true) or filled by a dispatch each time (false)',
  },
  'webgpu.shareIdentityCopies': {
    default: true,
    description: 'WebGPU identity copies (reshape, detach, clone, assign) share their buffer (true) or copy it (false)',
  },
  'autograd.fusedVjps': {
    default: true,
    description: "fused vector-Jacobian products where a backend offers them (silu's gradient from a kept sigmoid; same bits as the composed rule)",
  },
  'nn.fusedRmsNorm': {
    default: true,
    description: 'rmsNorm and addRmsNorm as one fused routine where a backend offers it and no gradient is recorded (same bits)',
  },
  'nn.fusedRope': {
    default: true,
    description: 'ropeHeads (heads transpose + RoPE) as one fused routine where a backend offers it and no gradient is recorded (same bits)',
  },
  'nn.fusedAttention': {
    default: true,
    description: "one-query decodeAttention and the KV cache's growth as fused routines where a backend offers them, no gradient recorded (same bits)",
  },
  'nn.fusedAdamW': {
    default: true,
    description: "AdamW's update as one fused routine per parameter where the backend offers it (same bits as the composed ops)",
  },
  'moe.fusedMix': {
    default: true,
    description: "the inference engine's expert block fused where a backend offers it: the chosen experts only, silu·mul, the weighted mix (same bits)",
  },
  'moe.deviceRouting': {
    default: true,
    description: "the inference engine keeps each layer's expert ids on a GPU and reads them back once per decode step (true) or once per layer (false)",
  },
};

const NAMES = Object.keys(SPECS) as FlagName[];

function defaults(): FlagValues {
  const out = {} as Record<FlagName, FlagValues[FlagName]>;
  for (const n of NAMES) out[n] = SPECS[n].default;
  return out as FlagValues;
}

let current: FlagValues = defaults();

function isFlagName(name: unknown): name is FlagName {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(SPECS, name);
}

function unknownFlag(name: unknown): ConfigError {
  return new ConfigError(`flags: unknown flag '${String(name)}'; the flags are ${NAMES.join(', ')}`);
}

function checkValue(name: FlagName, value: unknown): void {
  const spec = SPECS[name] as FlagSpec<unknown>;
  const want = typeof spec.default;
  if (typeof value !== want) {
    throw new ConfigError(`flags: '${name}' takes a ${want} (default ${String(spec.default)}), got ${value === null ? 'null' : typeof value} ${String(value)}`);
  }
  if (spec.choices && !spec.choices.includes(value)) {
    throw new ConfigError(`flags: '${name}' must be one of ${spec.choices.join(', ')}, got ${String(value)}`);
  }
}

/** The current value of a flag. */
export function getFlag<K extends FlagName>(name: K): FlagValues[K] {
  if (!isFlagName(name)) throw unknownFlag(name);
  return current[name];
}

/** Sets several flags at once; nothing changes unless every name and value is valid. */
export function setFlags(values: Partial<FlagValues>): void {
  if (typeof values !== 'object' || values === null) throw new ConfigError(`flags: setFlags takes an object of flag values, got ${values === null ? 'null' : typeof values}`);
  const entries = Object.entries(values);
  for (const [name, value] of entries) {
    if (!isFlagName(name)) throw unknownFlag(name);
    checkValue(name, value);
  }
  current = { ...current, ...(values as FlagValues) };
}

/**
 * Runs fn with the given flags set and puts those flags back to their previous values
 * afterwards, also when fn throws; when fn returns a promise, once it settles.
 */
export function withFlags<T>(values: Partial<FlagValues>, fn: () => T): T {
  if (typeof fn !== 'function') throw new ConfigError(`flags: withFlags takes a function to run, got ${typeof fn}`);
  const before = current;
  setFlags(values);
  const saved = {} as Record<FlagName, FlagValues[FlagName]>;
  for (const n of Object.keys(values) as FlagName[]) saved[n] = before[n];
  const restore = () => {
    current = { ...current, ...(saved as Partial<FlagValues>) };
  };
  let result: T;
  try {
    result = fn();
  } catch (e) {
    restore();
    throw e;
  }
  if (result instanceof Promise) return result.finally(restore) as T;
  restore();
  return result;
}

/** Every flag back to its default. */
export function resetFlags(): void {
  current = defaults();
}

/** Every flag with its default, current value and description, in registry order. */
export function listFlags(): FlagInfo[] {
  return NAMES.map((name) => {
    const spec = SPECS[name] as FlagSpec<FlagValues[FlagName]>;
    const info: FlagInfo = { name, default: spec.default, value: current[name], description: spec.description };
    if (spec.choices) info.choices = spec.choices;
    return info;
  });
}
