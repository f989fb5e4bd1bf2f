/**
 * Parameter initialisation from a seeded `Rng` (torch.nn.init, but out of place: each helper
 * returns a new tensor instead of filling one). Values are drawn in f64 on the CPU from the
 * Philox stream and then stored in the requested dtype on the requested device, so the same seed
 * gives the same parameters on 'cpu' and 'webgpu' (the f32 values are the f64 draws rounded once).
 *
 *   initNormal:  x ~ N(mean, std²)                 (torch.nn.init.normal_)
 *   initUniform: x ~ U(low, high)                   (torch.nn.init.uniform_)
 *   kaimingUniform(shape, fanIn): x ~ U(−1/√fanIn, 1/√fanIn), the bound torch's nn.Linear uses
 *     for its weight (kaiming_uniform_ with a = √5 gives gain·√(3/fanIn) = 1/√fanIn) and its bias.
 */
import { ConfigError, fromTypedArray, globalRng, type DeviceName, type FloatDType, type Rng, type Shape, type Tensor } from '../tensor/index.js';
import { assertValidShape, sizeOf } from '../tensor/shape.js';

export interface InitOptions {
  /** The stream to draw from (the global one, see manualSeed, when omitted). */
  rng?: Rng;
  dtype?: FloatDType;
  device?: DeviceName;
}

function store(op: string, shape: Shape, vals: Float64Array, o: InitOptions): Tensor {
  const dtype = o.dtype ?? 'f32';
  if (dtype !== 'f32' && dtype !== 'f64') throw new ConfigError(`${op}: dtype must be f32 or f64, got ${String(dtype)}`);
  const data = dtype === 'f64' ? vals : Float32Array.from(vals);
  return fromTypedArray(data, shape, { device: o.device ?? 'cpu' });
}

function checkShape(op: string, shape: number | Shape): number[] {
  const s = typeof shape === 'number' ? [shape] : [...shape];
  assertValidShape(op, s);
  return s;
}

function finite(op: string, name: string, v: number): void {
  if (!Number.isFinite(v)) throw new ConfigError(`${op}: ${name} must be a finite number, got ${v}`);
}

/** A new tensor with entries drawn from N(mean, std²). */
export function initNormal(shape: number | Shape, o: InitOptions & { mean?: number; std?: number } = {}): Tensor {
  const s = checkShape('initNormal', shape);
  const mean = o.mean ?? 0;
  const std = o.std ?? 1;
  finite('initNormal', 'mean', mean);
  finite('initNormal', 'std', std);
  if (std < 0) throw new ConfigError(`initNormal: std must be ≥ 0, got ${std}`);
  const z = (o.rng ?? globalRng()).normal(sizeOf(s));
  for (let i = 0; i < z.length; i++) z[i] = mean + std * z[i]!;
  return store('initNormal', s, z, o);
}

/** A new tensor with entries drawn from U(low, high) (the open interval, as Rng.uniform). */
export function initUniform(shape: number | Shape, o: InitOptions & { low?: number; high?: number } = {}): Tensor {
  const s = checkShape('initUniform', shape);
  const low = o.low ?? 0;
  const high = o.high ?? 1;
  finite('initUniform', 'low', low);
  finite('initUniform', 'high', high);
  if (high < low) throw new ConfigError(`initUniform: need low ≤ high, got low ${low} and high ${high}`);
  const u = (o.rng ?? globalRng()).uniform(sizeOf(s));
  for (let i = 0; i < u.length; i++) u[i] = low + (high - low) * u[i]!;
  return store('initUniform', s, u, o);
}

/** U(−1/√fanIn, 1/√fanIn): torch's default for nn.Linear's weight and bias. */
export function kaimingUniform(shape: number | Shape, fanIn: number, o: InitOptions = {}): Tensor {
  if (!Number.isInteger(fanIn) || fanIn <= 0) throw new ConfigError(`kaimingUniform: fanIn must be a positive integer, got ${fanIn}`);
  const bound = 1 / Math.sqrt(fanIn);
  return initUniform(shape, { ...o, low: -bound, high: bound });
}

/** A new tensor filled with `value` (ones for RMSNorm's weight, zeros for a bias). */
export function initConstant(shape: number | Shape, value: number, o: Omit<InitOptions, 'rng'> = {}): Tensor {
  const s = checkShape('initConstant', shape);
  finite('initConstant', 'value', value);
  return store('initConstant', s, new Float64Array(sizeOf(s)).fill(value), o);
}
