/**
 * Validation of one policy-loss call before any work: the options against the kind's spec
 * (typed errors that name the option and what the kind accepts), the inputs' shapes, dtypes and
 * devices, and, once read, their values (finite log-probs and advantages, a 0/1 mask). The
 * result is the Plan run.ts builds the loss from.
 */
import { ConfigError, DeviceError, DTypeError, ShapeError, Tensor, ValueError, isFloat, type TypedArray } from '../../tensor/index.js';
import { fmtShape } from '../../tensor/shape.js';
import { type AggregateOptions, checkAggregateOptions, checkAggregation } from '../aggregate.js';
import { IS_CORRECTION_KINDS, type ISCorrectionKind, type ISCorrectionOptions } from '../is-corrections.js';
import { type PolicyLossInputs, type PolicyLossOptions, type ResolvedLossOptions, type KindOptionName, KIND_OPTION_NAMES, SHARED_OPTION_NAMES, type LossSpec } from './types.js';


export interface Plan {
  spec: LossSpec;
  op: string;
  o: ResolvedLossOptions;
  agg: AggregateOptions;
  is: { kind: ISCorrectionKind; options: ISCorrectionOptions } | null;
  B: number;
  T: number;
  inputs: PolicyLossInputs;
  /** Tensors whose values are checked on the host, with their names. */
  checked: [string, Tensor][];
}

function isNumber(v: unknown): v is number {
  return typeof v === 'number' && !Number.isNaN(v);
}

export function resolveOptions(spec: LossSpec, op: string, options: PolicyLossOptions): Pick<Plan, 'o' | 'agg' | 'is'> {
  if (options === undefined || options === null) options = {};
  if (typeof options !== 'object') throw new ConfigError(`${op}: options must be an object, got ${typeof options}`);
  const accepted = new Set<string>([...spec.options, ...SHARED_OPTION_NAMES, ...(spec.acceptsIsCorrection ? ['isCorrection'] : [])]);
  const known = new Set<string>([...KIND_OPTION_NAMES, ...SHARED_OPTION_NAMES, 'isCorrection']);
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined) continue;
    if (!accepted.has(key)) {
      if (!known.has(key)) {
        throw new ConfigError(`${op}: unknown option '${key}'; '${spec.kind}' accepts ${[...accepted].map((k) => `'${k}'`).join(', ')}`);
      }
      const why = key === 'isCorrection'
        ? ` ('${spec.kind}' already applies π_old/μ in its own weight; a second correction would count it twice)`
        : '';
      throw new ConfigError(`${op}: option '${key}' does not apply to '${spec.kind}'${why}; it accepts ${[...accepted].map((k) => `'${k}'`).join(', ')}`);
    }
  }
  const d = spec.defaults;
  const aggregation = checkAggregation(op, options.aggregation ?? d.aggregation);
  const agg: AggregateOptions = { lossScale: options.lossScale, globalTokens: options.globalTokens, globalSeqs: options.globalSeqs };
  checkAggregateOptions(op, aggregation, agg);

  const num = (name: KindOptionName, fallback: number): number => {
    const v = (options as Record<string, unknown>)[name] ?? (d as Record<string, unknown>)[name] ?? fallback;
    if (!isNumber(v)) throw new ConfigError(`${op}: option '${name}' must be a number, got ${String(v)}`);
    return v;
  };
  const epsLow = num('epsLow', 0);
  const epsHigh = num('epsHigh', Infinity);
  if (spec.epsSpace === 'ratio') {
    if (!(epsLow >= 0 && epsLow <= 1)) {
      throw new ConfigError(`${op}: option 'epsLow' must be in [0, 1] (the band starts at 1 − epsLow), got ${epsLow}`);
    }
    if (!(epsHigh >= 0)) throw new ConfigError(`${op}: option 'epsHigh' must be >= 0 (Infinity: no upper clip), got ${epsHigh}`);
  } else if (spec.epsSpace === 'log') {
    if (!(epsLow >= 0)) throw new ConfigError(`${op}: option 'epsLow' must be >= 0 (log-space band [−epsLow, epsHigh]), got ${epsLow}`);
    if (!(epsHigh >= 0)) throw new ConfigError(`${op}: option 'epsHigh' must be >= 0 (log-space band [−epsLow, epsHigh]), got ${epsHigh}`);
  }
  const dualRaw = (options.dualClipC ?? d.dualClipC ?? null) as unknown;
  if (dualRaw !== null && (!isNumber(dualRaw) || !(dualRaw > 1))) {
    throw new ConfigError(`${op}: option 'dualClipC' must be a number > 1 (verl asserts clip_ratio_c > 1), got ${String(dualRaw)}`);
  }
  const tisCap = num('tisCap', Infinity);
  if (!(tisCap > 0)) throw new ConfigError(`${op}: option 'tisCap' must be > 0 (Infinity: no truncation), got ${tisCap}`);
  const tisOn = (options.tisOn ?? d.tisOn ?? 'full') as unknown;
  if (tisOn !== 'full' && tisOn !== 'old') throw new ConfigError(`${op}: option 'tisOn' must be 'full' or 'old', got ${JSON.stringify(tisOn)}`);
  const tauPos = num('tauPos', 1);
  const tauNeg = num('tauNeg', 1);
  for (const [n, v] of [['tauPos', tauPos], ['tauNeg', tauNeg]] as const) {
    if (!(v > 0) || !Number.isFinite(v)) throw new ConfigError(`${op}: option '${n}' must be a finite number > 0, got ${v}`);
  }
  const behavImpWeightCap = num('behavImpWeightCap', Infinity);
  if (!(behavImpWeightCap > 0)) {
    throw new ConfigError(`${op}: option 'behavImpWeightCap' must be > 0 (Infinity: off), got ${behavImpWeightCap}`);
  }

  let is: Plan['is'] = null;
  const isOpt = options.isCorrection as unknown;
  if (isOpt !== undefined && isOpt !== null) {
    let kind: unknown;
    let rest: ISCorrectionOptions = {};
    if (typeof isOpt === 'string') kind = isOpt;
    else if (typeof isOpt === 'object') ({ kind, ...rest } = isOpt as { kind: unknown } & ISCorrectionOptions);
    else throw new ConfigError(`${op}: option 'isCorrection' must be a kind name or { kind, ...options }, got ${typeof isOpt}`);
    if (typeof kind !== 'string' || !(IS_CORRECTION_KINDS as readonly string[]).includes(kind)) {
      throw new ConfigError(`${op}: option 'isCorrection' has unknown kind ${JSON.stringify(kind)}; expected one of ${IS_CORRECTION_KINDS.join(', ')}`);
    }
    is = { kind: kind as ISCorrectionKind, options: rest };
  }
  return {
    o: { epsLow, epsHigh, dualClipC: dualRaw as number | null, tisCap, tisOn, tauPos, tauNeg, behavImpWeightCap, aggregation },
    agg,
    is,
  };
}

export function planLoss(spec: LossSpec, inputs: PolicyLossInputs, options: PolicyLossOptions): Plan {
  const op = `policyLoss('${spec.kind}')`;
  if (inputs === null || typeof inputs !== 'object') {
    throw new ValueError(`${op}: inputs must be an object { logp, oldLogp, rolloutLogp, advantages, mask }`);
  }
  const { o, agg, is } = resolveOptions(spec, op, options);
  const { logp } = inputs;
  const asTensor = (name: string, t: unknown): Tensor => {
    if (!(t instanceof Tensor)) throw new ValueError(`${op}: ${name} must be a Tensor, got ${t === undefined ? 'undefined' : t === null ? 'null' : typeof t}`);
    if (t.isDisposed) throw new DeviceError(`${op}: ${name} has been disposed`);
    return t;
  };
  asTensor('logp', logp);
  if (!isFloat(logp.dtype)) throw new DTypeError(`${op}: logp has dtype ${logp.dtype}; it must be f32 or f64`);
  if (logp.ndim !== 2) throw new ShapeError(`${op}: logp must be [B, T], got shape ${fmtShape(logp.shape)}`);
  const [B, T] = logp.shape as [number, number];
  if (B === 0 || T === 0) throw new ShapeError(`${op}: logp shape ${fmtShape(logp.shape)} is empty`);
  const checked: [string, Tensor][] = [['logp', logp]];
  const sameAsLogp = (name: string, t: Tensor, sameDType: boolean): void => {
    if (t.ndim !== 2 || t.shape[0] !== B || t.shape[1] !== T) {
      throw new ShapeError(`${op}: ${name} shape ${fmtShape(t.shape)} does not match logp shape ${fmtShape(logp.shape)}`);
    }
    if (sameDType && t.dtype !== logp.dtype) {
      throw new DTypeError(`${op}: ${name} has dtype ${t.dtype} but logp has ${logp.dtype}; pass them in one dtype`);
    }
    if (t.device !== logp.device) throw new DeviceError(`${op}: ${name} is on '${t.device}' but logp is on '${logp.device}'`);
    checked.push([name, t]);
  };
  const needRollout = spec.needsRollout || is !== null;
  for (const [name, needed] of [['oldLogp', spec.needsOld || is !== null], ['rolloutLogp', needRollout]] as const) {
    const t = inputs[name];
    if (t === undefined || t === null) {
      if (needed) {
        const why = is !== null && !(name === 'oldLogp' ? spec.needsOld : spec.needsRollout) ? ' by the isCorrection option' : '';
        throw new ValueError(`${op}: ${name} (${name === 'oldLogp' ? 'π_old' : 'μ_old, the inference engine\'s'} log-probs [B, T]) is required${why}`);
      }
      continue;
    }
    sameAsLogp(name, asTensor(name, t), true);
  }
  if (inputs.sgLogp !== undefined) sameAsLogp('sgLogp', asTensor('sgLogp', inputs.sgLogp), true);
  const adv = asTensor('advantages', inputs.advantages);
  if (!isFloat(adv.dtype)) throw new DTypeError(`${op}: advantages has dtype ${adv.dtype}; it must be f32 or f64`);
  const advOk = (adv.ndim === 1 && adv.shape[0] === B) || (adv.ndim === 2 && adv.shape[0] === B && adv.shape[1] === T);
  if (!advOk) throw new ShapeError(`${op}: advantages shape ${fmtShape(adv.shape)} must be [B] = [${B}] or [B, T] = [${B}, ${T}]`);
  if (adv.device !== logp.device) throw new DeviceError(`${op}: advantages is on '${adv.device}' but logp is on '${logp.device}'`);
  checked.push(['advantages', adv]);
  const mask = asTensor('mask', inputs.mask);
  sameAsLogp('mask', mask, false);
  return { spec, op, o, agg, is, B, T, inputs, checked };
}

function fmtIndex(name: string, flat: number, shape: readonly number[]): string {
  if (shape.length === 2) return `${name}[${Math.floor(flat / shape[1]!)}, ${flat % shape[1]!}]`;
  return `${name}[${flat}]`;
}

export function checkValues(p: Plan, arrays: readonly TypedArray[]): void {
  p.checked.forEach(([name, t], k) => {
    const a = arrays[k]!;
    if (name === 'mask') {
      let valid = 0;
      for (let i = 0; i < a.length; i++) {
        const v = a[i]!;
        if (v !== 0 && v !== 1) throw new ValueError(`${p.op}: mask must hold only 0 and 1, found ${v} at ${fmtIndex('mask', i, t.shape)}`);
        valid += v;
      }
      if (valid === 0) throw new ValueError(`${p.op}: mask is all zero; there is no valid token to train on`);
      return;
    }
    for (let i = 0; i < a.length; i++) {
      if (!Number.isFinite(a[i]!)) {
        throw new ValueError(`${p.op}: ${name} has a non-finite value (${a[i]}) at ${fmtIndex(name, i, t.shape)}; inputs must be finite, masked positions included`);
      }
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Build and metrics.
