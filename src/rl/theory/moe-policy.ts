/**
 * A tiny enumerable MoE policy, so that a routing flip and what Routing Replay does about it can
 * be computed exactly (docs/paper.md §2, the paper's §3, Eq. (6)).
 *
 * Each prefix row p has a fixed feature vector x_p (one-hot of the last token or "start",
 * one-hot of the position, and a constant 1; d = V + 1 + T + 1 entries). The router scores the
 * E experts with s_p = W x_p; the policy routes through the top k (ties to the lower index), the
 * gate weights are the softmax of the chosen experts' live scores, and expert e maps x_p to V
 * logits linearly:
 *
 *   S_p = topk(s_p)   or the replayed ids,    g = softmax(s_p[S_p]),
 *   z_p = Σ_{j<k} g_j · U_{S_p[j]} x_p,       θ = [W (E×d), U (E×V×d)].
 *
 * Under replay only the ids S_p are fixed; the gates are recomputed from the live scores, so the
 * router keeps its gradient (docs/paper.md §2.1). Without replay S_p changes when two scores
 * cross, and z_p, π_θ/π_old and the gradient jump there.
 *
 *   R2 (vanilla replay):   π_θ(y_t | ·, e^π_old)  — the ids the trainer chose at θ_old
 *   R3 (rollout replay):   π_θ(y_t | ·, e^μ_old)  — the ids the engine chose at θ_old
 *
 * routeFlipEngine(δ, ξ) is the engine: its router scores carry a fixed error δ·ξ_p (the engine's
 * numerics), so near a tie it routes a row through other experts than the trainer does, and its
 * gates differ slightly everywhere.
 */
import { ConfigError } from '../../tensor/index.js';
import { checkDelta, type ExactEngine } from './engines.js';
import type { ExactPolicy, Routing } from './policy.js';
import type { SequenceSpace } from './space.js';

export interface MoEPolicyConfig {
  experts: number;
  topK: number;
}

export interface MoEPolicy extends ExactPolicy {
  readonly experts: number;
  readonly topK: number;
  readonly featureDim: number;
  /** The fixed feature vector x_p of one prefix row. */
  features(row: number): Float64Array;
  /** The router scores s_p of one row at θ (plus `offset`, E numbers, when given). */
  routerScores(theta: Float64Array, row: number): Float64Array;
  /** Logits of every row with the given router-score error added before top-k and the gates. */
  logitsWithScoreError(theta: Float64Array, scoreError: ArrayLike<number>, routing?: Routing): { logits: Float64Array; routing: Routing };
  route(theta: Float64Array): Routing;
}

/** The indices of the k largest values, ties to the lower index (the project's topk rule). */
export function topkIndices(s: ArrayLike<number>, k: number): number[] {
  const order = Array.from({ length: s.length }, (_, i) => i);
  order.sort((a, b) => (s[b]! - s[a]!) || a - b);
  return order.slice(0, k);
}

export function moePolicy(space: SequenceSpace, config: MoEPolicyConfig): MoEPolicy {
  const { experts: E, topK: k } = config;
  if (!Number.isInteger(E) || E < 2) throw new ConfigError(`moePolicy: experts must be an integer ≥ 2, got ${E}`);
  if (!Number.isInteger(k) || k < 1 || k > E) throw new ConfigError(`moePolicy: topK must be an integer in [1, experts = ${E}], got ${k}`);
  const V = space.vocab;
  const T = space.length;
  const P = space.numPrefixes;
  const d = V + 1 + T + 1;
  const X: Float64Array[] = space.prefixes.map((prefix) => {
    const x = new Float64Array(d);
    x[prefix.length === 0 ? V : prefix[prefix.length - 1]!] = 1;
    x[V + 1 + prefix.length] = 1;
    x[d - 1] = 1;
    return x;
  });
  const uOff = E * d;
  const numParams = E * d + E * V * d;

  function scores(theta: Float64Array, row: number, err?: ArrayLike<number>): Float64Array {
    const x = X[row]!;
    const s = new Float64Array(E);
    for (let e = 0; e < E; e++) {
      let a = err ? err[row * E + e]! : 0;
      for (let i = 0; i < d; i++) a += theta[e * d + i]! * x[i]!;
      s[e] = a;
    }
    return s;
  }
  function chosen(s: Float64Array, row: number, routing?: Routing): number[] {
    if (!routing) return topkIndices(s, k);
    const ids: number[] = [];
    for (let j = 0; j < k; j++) {
      const e = routing[row * k + j]!;
      if (!Number.isInteger(e) || e < 0 || e >= E) throw new ConfigError(`moePolicy: routing[${row * k + j}] = ${e} is not an expert id in [0, ${E})`);
      ids.push(e);
    }
    return ids;
  }
  function gates(s: Float64Array, ids: number[]): Float64Array {
    let m = -Infinity;
    for (const e of ids) m = Math.max(m, s[e]!);
    const g = Float64Array.from(ids, (e) => Math.exp(s[e]! - m));
    let z = 0;
    for (const v of g) z += v;
    for (let j = 0; j < g.length; j++) g[j]! /= z;
    return g;
  }
  function expertOut(theta: Float64Array, e: number, row: number): Float64Array {
    const x = X[row]!;
    const h = new Float64Array(V);
    for (let v = 0; v < V; v++) {
      let a = 0;
      const base = uOff + (e * V + v) * d;
      for (let i = 0; i < d; i++) a += theta[base + i]! * x[i]!;
      h[v] = a;
    }
    return h;
  }
  function checkRouting(routing: Routing): void {
    if (routing.length !== P * k) throw new ConfigError(`moePolicy: routing must hold ${P}×${k} expert ids (rows × topK), got ${routing.length}`);
  }
  function forward(theta: Float64Array, err?: ArrayLike<number>, routing?: Routing) {
    if (routing) checkRouting(routing);
    const z = new Float64Array(P * V);
    const used = new Int32Array(P * k);
    for (let r = 0; r < P; r++) {
      const s = scores(theta, r, err);
      const ids = chosen(s, r, routing);
      const g = gates(s, ids);
      for (let j = 0; j < k; j++) {
        used[r * k + j] = ids[j]!;
        const h = expertOut(theta, ids[j]!, r);
        for (let v = 0; v < V; v++) z[r * V + v]! += g[j]! * h[v]!;
      }
    }
    return { logits: z, routing: used };
  }
  return {
    name: `moe(E=${E}, k=${k})`,
    space,
    numParams,
    experts: E,
    topK: k,
    featureDim: d,
    features: (row) => Float64Array.from(X[row]!),
    routerScores: (theta, row) => scores(theta, row),
    route: (theta) => forward(theta).routing,
    logits: (theta, routing) => forward(theta, undefined, routing).logits,
    logitsWithScoreError: (theta, err, routing) => {
      if (err.length !== P * E) throw new ConfigError(`moePolicy: score error must hold ${P}×${E} numbers (rows × experts), got ${err.length}`);
      return forward(theta, err, routing);
    },
    pullbackRow(theta, row, gz, out, routing) {
      if (routing) checkRouting(routing);
      const x = X[row]!;
      const s = scores(theta, row);
      const ids = chosen(s, row, routing);
      const g = gates(s, ids);
      const dg = new Float64Array(k);
      for (let j = 0; j < k; j++) {
        const e = ids[j]!;
        const h = expertOut(theta, e, row);
        for (let v = 0; v < V; v++) {
          dg[j]! += gz[v]! * h[v]!;
          const c = g[j]! * gz[v]!;
          if (c === 0) continue;
          const base = uOff + (e * V + v) * d;
          for (let i = 0; i < d; i++) out[base + i]! += c * x[i]!;
        }
      }
      let gd = 0;
      for (let j = 0; j < k; j++) gd += g[j]! * dg[j]!;
      for (let j = 0; j < k; j++) {
        const ds = g[j]! * (dg[j]! - gd);
        if (ds === 0) continue;
        const e = ids[j]!;
        for (let i = 0; i < d; i++) out[e * d + i]! += ds * x[i]!;
      }
    },
  };
}

/**
 * The MoE engine: router scores s_p + δ·ξ_p (ξ: P×E, fixed), so its routes e^μ_old differ from
 * the trainer's e^π_old where two scores are within about δ of each other, and its gates differ
 * slightly everywhere. `logitError` (P·V, optional) adds δ·e to the output logits as well.
 */
export function routeFlipEngine(delta: number, scoreNoise: ArrayLike<number>, logitError?: ArrayLike<number>): ExactEngine {
  checkDelta(delta);
  return {
    name: `route-flip(δ=${delta})`,
    sample(policy, thetaOld) {
      const moe = policy as MoEPolicy;
      if (typeof moe.logitsWithScoreError !== 'function') throw new ConfigError(`routeFlipEngine: needs a MoE policy (moePolicy), got ${policy.name}`);
      const err = Float64Array.from(scoreNoise, (v) => delta * v);
      const out = moe.logitsWithScoreError(thetaOld, err);
      if (logitError) for (let j = 0; j < out.logits.length; j++) out.logits[j]! += delta * logitError[j]!;
      return out;
    },
  };
}
