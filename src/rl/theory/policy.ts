/**
 * Enumerable policies as plain f64 functions of a parameter vector θ: each gives the V logits of
 * every prefix row of its sequence space (space.ts) and the vector–Jacobian product back to θ.
 * Everything in the theory module (exact.ts, estimators.ts, dynamics.ts) goes through this
 * interface, so the tabular policy, policies with parameters shared across prefixes, and the
 * tiny MoE policy (moe-policy.ts) are interchangeable.
 *
 * Linear-softmax policies: z[row, v] = Σ_k Φ[row, v, k]·θ_k with a sparse feature tensor Φ.
 *   tabularPolicy         Φ = identity: one free logit per (prefix, token), no sharing
 *   sharedPolicy          z[row, v] = θ_v + θ'_{t,v}·posScale: one logit vector shared by every
 *                         position (one token's gradient drags every other position's logits)
 */
import { ConfigError } from '../../tensor/index.js';
import type { SequenceSpace } from './space.js';

/** Per prefix row, the k expert ids a MoE policy routes through (MoE policies only). */
export type Routing = Int32Array;

export interface ExactPolicy {
  readonly name: string;
  readonly space: SequenceSpace;
  readonly numParams: number;
  /** Logits of every prefix row, [P·V], under `routing` when given (MoE replay), else live. */
  logits(theta: Float64Array, routing?: Routing): Float64Array;
  /** Adds gzRow·∂z[row]/∂θ (gzRow: V numbers) into `out` ([numParams]). */
  pullbackRow(theta: Float64Array, row: number, gzRow: ArrayLike<number>, out: Float64Array, routing?: Routing): void;
  /** The routing the policy chooses by itself at θ (MoE policies only). */
  route?(theta: Float64Array): Routing;
}

/** Σ_row gz[row]·∂z[row]/∂θ over every row: the pullback of a dense logit gradient [P·V]. */
export function pullback(policy: ExactPolicy, theta: Float64Array, gz: Float64Array, routing?: Routing): Float64Array {
  const V = policy.space.vocab;
  const out = new Float64Array(policy.numParams);
  for (let r = 0; r < policy.space.numPrefixes; r++) {
    let any = false;
    for (let v = 0; v < V; v++) if (gz[r * V + v] !== 0) any = true;
    if (any) policy.pullbackRow(theta, r, gz.subarray(r * V, (r + 1) * V), out, routing);
  }
  return out;
}

export function checkTheta(policy: ExactPolicy, theta: ArrayLike<number>, field = 'theta'): void {
  if (theta.length !== policy.numParams) {
    throw new ConfigError(`${policy.name}: ${field} must have ${policy.numParams} parameters, got ${theta.length}`);
  }
  for (let i = 0; i < theta.length; i++) {
    if (!Number.isFinite(theta[i]!)) throw new ConfigError(`${policy.name}: ${field}[${i}] is ${theta[i]}, expected a finite number`);
  }
}

/** A feature of logit (row, v): parameter index and coefficient. */
export type Feature = readonly [index: number, value: number];

/**
 * z[row, v] = Σ_{(k, φ) ∈ features(prefix, v)} φ·θ_k. `features` is called once per (row, v) at
 * construction and stored sparsely (CSR), so evaluation costs one pass over the nonzeros.
 */
export function linearPolicy(
  name: string,
  space: SequenceSpace,
  numParams: number,
  features: (prefix: ReadonlyArray<number>, v: number) => ReadonlyArray<Feature>,
): ExactPolicy {
  const V = space.vocab;
  const start = new Int32Array(space.numPrefixes * V + 1);
  const idx: number[] = [];
  const val: number[] = [];
  for (let r = 0; r < space.numPrefixes; r++) {
    for (let v = 0; v < V; v++) {
      for (const [k, phi] of features(space.prefixes[r]!, v)) {
        if (!Number.isInteger(k) || k < 0 || k >= numParams) throw new ConfigError(`${name}: feature index ${k} outside [0, ${numParams})`);
        idx.push(k);
        val.push(phi);
      }
      start[r * V + v + 1] = idx.length;
    }
  }
  const I = Int32Array.from(idx);
  const F = Float64Array.from(val);
  return {
    name,
    space,
    numParams,
    logits(theta) {
      const z = new Float64Array(space.numPrefixes * V);
      for (let j = 0; j < z.length; j++) {
        let s = 0;
        for (let q = start[j]!; q < start[j + 1]!; q++) s += F[q]! * theta[I[q]!]!;
        z[j] = s;
      }
      return z;
    },
    pullbackRow(_theta, row, gzRow, out) {
      for (let v = 0; v < V; v++) {
        const g = gzRow[v]!;
        if (g === 0) continue;
        const j = row * V + v;
        for (let q = start[j]!; q < start[j + 1]!; q++) out[I[q]!]! += F[q]! * g;
      }
    },
  };
}

/** One free logit per (prefix, token): θ is the flattened [P, V] table. */
export function tabularPolicy(space: SequenceSpace): ExactPolicy {
  return linearPolicy('tabular', space, space.numPrefixes * space.vocab, (prefix, v) => {
    let offset = 0;
    for (let k = 0; k < prefix.length; k++) offset += space.vocab ** k;
    let code = 0;
    for (const y of prefix) code = code * space.vocab + y;
    return [[(offset + code) * space.vocab + v, 1]];
  });
}

/**
 * Parameters shared across positions: z[y_<t, v] = θ[v] + posScale·θ[V + t·V + v]. With
 * posScale 0 every position uses the same logits θ[0..V) and θ has V entries (an i.i.d. token
 * policy); a nonzero
 * posScale adds per-position offsets that still share nothing across prefixes of one length.
 */
export function sharedPolicy(space: SequenceSpace, posScale = 0): ExactPolicy {
  const V = space.vocab;
  return linearPolicy(`shared(posScale=${posScale})`, space, posScale === 0 ? V : V * (1 + space.length), (prefix, v) =>
    posScale === 0 ? [[v, 1]] : [[v, 1], [V + prefix.length * V + v, posScale]]);
}
