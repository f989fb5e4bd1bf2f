/**
 * The experiments behind the figures of docs/theory.md, computed exactly: every number comes
 * from a sum over every response of an enumerable policy, so nothing here is a sample and a
 * re-run with the same seed gives the same numbers. report.ts turns them into the JSON and the
 * SVG charts; src/cli/theory.ts writes them.
 *
 *   bias-variance-T-δ*.svg  bias² and per-sample variance of each estimator against T at one δ
 *                           (docs/paper.md §1: Eq. 2 vs Eq. 4, the first-order argument)
 *   bias-staleness.svg      ‖bias‖ against the distance of θ from θ_old, μ = π_old (Eq. 5's
 *                           staleness factor; Eq. 7's clip mask)
 *   routing-flip.svg        π_θ/π_old of one token along a path through a routing tie, with no
 *                           replay, R2 and R3 (§2, Eq. 6)
 *   dyn-onpolicy-*.svg      exact dynamics (i): on-policy, persistent engine error, with and
 *                           without the IS weight (a: a fixed error, b: one that grows with |z|)
 *   dyn-staleness.svg       exact dynamics (ii): N updates per rollout with and without the mask
 *   dyn-moe-N*.svg, dyn-moe-kl.svg  exact dynamics (iii): MoE, no replay / R2 / R3, N = 1…8
 */
import { ConfigError } from '../../tensor/index.js';
import { runDynamics, type DynamicsRecord, type Replay } from './dynamics.js';
import { checkDelta, exactEngine, logitErrorEngine, scaledErrorEngine } from './engines.js';
import { checkEstimator, estimatorMoments, type EstimatorName } from './estimators.js';
import { jSeqGradient, tokenLogProbs } from './exact.js';
import { moePolicy, routeFlipEngine, topkIndices } from './moe-policy.js';
import { sharedPolicy } from './policy.js';
import { alternatingCount, halfOnes, halfOnesJ, normals, positionalTable, rewardOf, tokenDirection } from './setups.js';
import { MAX_RESPONSES, sequenceSpace } from './space.js';

export interface TheoryOptions {
  seed?: number;
  /** Response lengths of the bias/variance figure (vocabulary 2, so T ≤ 12). */
  lengths?: number[];
  /** Discrepancies δ of the bias/variance figure, one chart each. */
  deltas?: number[];
  /** Estimators of the bias/variance figure. */
  estimators?: string[];
}

export const THEORY_DEFAULTS = {
  seed: 0,
  lengths: [1, 2, 3, 4, 6, 8, 10, 12],
  deltas: [0.1, 0.3, 1],
  estimators: ['no-is', 'token-is', 'minirl', 'gspo', 'seq-is'] as string[],
};

/** A squared norm below this is round-off of an exact 0 (every term is O(1) here). */
export const EXACT_ZERO = 1e-20;

const norm2 = (a: ArrayLike<number>, b?: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - (b ? b[i]! : 0)) ** 2;
  return s;
};

export function checkOptions(o: Required<TheoryOptions>): void {
  if (!Number.isInteger(o.seed) || o.seed < 0) throw new ConfigError(`seed: expected an integer ≥ 0, got ${o.seed}`);
  if (o.lengths.length === 0) throw new ConfigError('lengths: expected at least one response length');
  for (const T of o.lengths) {
    if (!Number.isInteger(T) || T < 1 || 2 ** T > MAX_RESPONSES) {
      throw new ConfigError(`lengths: T = ${T} is outside the enumerable range 1…${Math.log2(MAX_RESPONSES)} (vocabulary 2, at most ${MAX_RESPONSES} responses)`);
    }
  }
  if (o.deltas.length === 0) throw new ConfigError('deltas: expected at least one discrepancy');
  for (const d of o.deltas) checkDelta(d, 'deltas');
  if (o.estimators.length === 0) throw new ConfigError('estimators: expected at least one estimator');
  for (const e of o.estimators) checkEstimator(e, 'estimators');
}

// ---------- figure 1: bias² and variance against T ----------

export interface BiasVariancePoint { estimator: EstimatorName; delta: number; T: number; bias2: number; variance: number; gradNorm2: number }

/**
 * The world of figure 1: vocabulary 2, the shared-position policy (one logit pair shared by
 * every position plus a per-position offset: sharedPolicy(space, 1)), θ = θ_old (on-policy),
 * reward alternatingCount (one point per position, so the per-token signal does not shrink as T
 * grows), μ = softmax(z + δ·e) with e depending on (position, last token, token) only. θ and e
 * are prefixes of tables drawn once for T = 12, so every T sees the same world.
 */
export function biasVarianceSetup(seed: number, T: number, maxT = 12) {
  const sp = sequenceSpace(2, T);
  const policy = sharedPolicy(sp, 1);
  const theta = normals(2 * (1 + maxT), seed * 16 + 1, 0.5).slice(0, policy.numParams);
  const e = positionalTable(sp, seed * 16 + 2, maxT);
  const reward = rewardOf(sp, alternatingCount);
  return { sp, policy, theta, e, reward };
}

/** bias² = ‖E_μ g − ∇J_seq‖² and the per-sample variance of each estimator, for every (T, δ). */
export function biasVarianceVsLength(o: Required<TheoryOptions>): BiasVariancePoint[] {
  const maxT = Math.max(12, ...o.lengths);
  const out: BiasVariancePoint[] = [];
  for (const T of o.lengths) {
    const { sp, policy, theta, e, reward } = biasVarianceSetup(o.seed, T, maxT);
    const z = policy.logits(theta);
    const truth = jSeqGradient(policy, theta, reward);
    const logpOld = tokenLogProbs(sp, z);
    for (const delta of o.deltas) {
      const logpMu = tokenLogProbs(sp, Float64Array.from(z, (v, j) => v + delta * e[j]!));
      for (const name of o.estimators as EstimatorName[]) {
        const m = estimatorMoments(name, { policy, theta, reward, logpOld, logpMu });
        out.push({ estimator: name, delta, T, bias2: norm2(m.mean, truth), variance: m.variance, gradNorm2: norm2(truth) });
      }
    }
  }
  return out;
}

// ---------- figure 2: bias against staleness ----------

export interface StalenessPoint { estimator: EstimatorName; step: number; bias: number; klOldTheta: number }

/** The staleness world: the shared-position policy of dynamics (ii); θ = θ_old + s·∇J/‖∇J‖, μ = π_old. */
export function stalenessSetup(seed: number) {
  const sp = sequenceSpace(2, 6);
  const policy = sharedPolicy(sp, 1);
  const theta0 = normals(policy.numParams, seed * 16 + 9, 0.3);
  const reward = rewardOf(sp, halfOnes);
  return { sp, policy, theta0, reward };
}

export function biasVsStaleness(seed: number): StalenessPoint[] {
  const { sp, policy, theta0, reward } = stalenessSetup(seed);
  const g0 = jSeqGradient(policy, theta0, reward);
  const gn = Math.sqrt(norm2(g0));
  const logpOld = tokenLogProbs(sp, policy.logits(theta0));
  const out: StalenessPoint[] = [];
  const names: EstimatorName[] = ['no-is', 'token-is', 'minirl-noclip', 'minirl', 'gspo'];
  for (let i = 0; i <= 20; i++) {
    const s = (i / 20) * 1.5;
    const theta = Float64Array.from(theta0, (v, k) => v + (s * g0[k]!) / gn);
    const truth = jSeqGradient(policy, theta, reward);
    const lp = tokenLogProbs(sp, policy.logits(theta));
    let kl = 0;
    for (let n = 0; n < sp.numSeqs; n++) {
      let a = 0, b = 0;
      for (let t = 0; t < sp.length; t++) { a += logpOld[n * sp.length + t]!; b += lp[n * sp.length + t]!; }
      kl += Math.exp(a) * (a - b);
    }
    for (const name of names) {
      const m = estimatorMoments(name, { policy, theta, reward, logpOld, logpMu: logpOld });
      out.push({ estimator: name, step: s, bias: Math.sqrt(norm2(m.mean, truth)), klOldTheta: kl / sp.length });
    }
  }
  return out;
}

// ---------- figure 3: a routing flip ----------

export interface RoutingFlipPoint { s: number; none: number; r2: number; r3: number; liveExperts: number[] }

/** The MoE world of the routing figure and dynamics (iii): V = 2, 4 experts, top-2, halfOnes. */
export function moeSetup(seed: number, length = 6) {
  const sp = sequenceSpace(2, length);
  const policy = moePolicy(sp, { experts: 4, topK: 2 });
  const theta0 = normals(policy.numParams, seed * 16 + 11, 0.5);
  const scoreNoise = normals(sp.numPrefixes * 4, seed * 16 + 12);
  const reward = rewardOf(sp, halfOnes);
  return { sp, policy, theta0, scoreNoise, reward };
}

/**
 * Pick the first prefix row where the engine (δ = 1) routes through another set of experts than
 * the trainer (row 0 when none does). Along θ(s) = θ_old + s·d, where d raises the router score of that row's best
 * unchosen expert at rate 1 and lowers its second chosen expert's at rate ½, follow the ratio
 * π_θ(y = 0 | row)/π_old(y = 0 | row) with live routing (no replay), with e^π_old replayed (R2)
 * and with e^μ_old replayed (R3, where π_old is also evaluated on e^μ_old). The two scores tie at
 * s* = gap/1.5; past it the live policy routes through the other expert.
 */
export function routingFlip(seed: number) {
  const { sp, policy, theta0, scoreNoise } = moeSetup(seed, 3);
  const d = policy.featureDim;
  const k = policy.topK;
  const eng = routeFlipEngine(1, scoreNoise).sample(policy, theta0);
  const routeOld = policy.route(theta0);
  let row = 0;
  for (let r = 0; r < sp.numPrefixes; r++) {
    const a = Array.from(routeOld.subarray(r * k, (r + 1) * k)).sort().join();
    const b = Array.from(eng.routing!.subarray(r * k, (r + 1) * k)).sort().join();
    if (a !== b) { row = r; break; }
  }
  const s0 = policy.routerScores(theta0, row);
  const order = topkIndices(s0, policy.experts);
  const eIn = order[k - 1]!;
  const eOut = order[k]!;
  const x = policy.features(row);
  const xx = x.reduce((a, v) => a + v * v, 0);
  const dir = new Float64Array(policy.numParams);
  for (let i = 0; i < d; i++) { dir[eOut * d + i] = x[i]! / xx; dir[eIn * d + i] = (-0.5 * x[i]!) / xx; }
  const gap = s0[eIn]! - s0[eOut]!;
  const tie = gap / 1.5;
  const at = row * sp.vocab; // logit index of token 0 at that row
  const prob = (theta: Float64Array, routing?: Int32Array) => {
    const z = policy.logits(theta, routing);
    return 1 / (1 + Math.exp(z[at + 1]! - z[at]!));
  };
  const oldLive = prob(theta0, routeOld);
  const oldR3 = prob(theta0, eng.routing);
  const points: RoutingFlipPoint[] = [];
  for (let i = 0; i <= 40; i++) {
    const s = (i / 40) * 2 * tie;
    const theta = Float64Array.from(theta0, (v, j) => v + s * dir[j]!);
    const live = policy.route(theta);
    points.push({ s, none: prob(theta) / oldLive, r2: prob(theta, routeOld) / oldLive, r3: prob(theta, eng.routing) / oldR3, liveExperts: [live[row * k]!, live[row * k + 1]!] });
  }
  return {
    row, prefix: sp.prefixes[row], tie, gap,
    experts: { trainerAtOld: [routeOld[row * k]!, routeOld[row * k + 1]!], engineAtOld: [eng.routing![row * k]!, eng.routing![row * k + 1]!], leaving: eIn, entering: eOut },
    points,
  };
}

// ---------- dynamics ----------

export interface DynamicsRun { label: string; records: DynamicsRecord[] }

const last = (r: DynamicsRun): DynamicsRecord => r.records[r.records.length - 1]!;

/**
 * (i-a): the i.i.d. policy (one logit pair shared by every position), halfOnes, an engine that
 * adds δ to token 1's logit everywhere. Closed forms: every token-level estimator (and no IS)
 * stops where μ samples 1 with probability ½, i.e. P_π(1) = σ(−δ); the sequence weight stops at
 * P_π(1) = ½, the optimum (docs/theory.md derives both).
 */
export function onPolicySharedSetup(T = 8, delta = 0.5) {
  const sp = sequenceSpace(2, T);
  const policy = sharedPolicy(sp, 0);
  const reward = rewardOf(sp, halfOnes);
  const engine = logitErrorEngine(delta, tokenDirection(sp, 1));
  const theta0 = Float64Array.from([0, 1]); // P(y_t = 1) = σ(1) ≈ 0.73
  return { sp, policy, reward, engine, theta0, delta, T };
}

export function dynamicsOnPolicyShared(T = 8, delta = 0.5, steps = 300) {
  const s = onPolicySharedSetup(T, delta);
  const runs: DynamicsRun[] = (['no-is', 'minirl', 'seq-is'] as EstimatorName[]).map((estimator) => ({
    label: estimator,
    records: runDynamics({ policy: s.policy, theta0: s.theta0, reward: s.reward, engine: s.engine, estimator, steps, lr: 0.05, optimizer: 'adam' }).records,
  }));
  const pToken = 1 / (1 + Math.exp(delta));
  return {
    T, delta, steps, lr: 0.05, optimizer: 'adam', runs,
    closedForm: { pTokenLevel: pToken, jTokenLevel: halfOnesJ(T, pToken), pSequence: 0.5, jSequence: halfOnesJ(T, 0.5) },
  };
}

/**
 * (i-b): an error that grows with the logit. Shared-position policy, alternatingCount (optimum
 * T), engine logits z + δ·|z|⊙s with a fixed random sign pattern s and δ = 1: where s opposes
 * the logit's sign the engine's logit is 0 whatever the trainer's is.
 */
export function onPolicyRelativeSetup(seed: number, T = 6, delta = 1) {
  const sp = sequenceSpace(2, T);
  const policy = sharedPolicy(sp, 1);
  const reward = rewardOf(sp, alternatingCount);
  const signs = Float64Array.from(normals(sp.numPrefixes * 2, seed * 16 + 4), Math.sign);
  const engine = scaledErrorEngine(delta, signs);
  const theta0 = normals(policy.numParams, seed * 16 + 9, 0.3);
  return { sp, policy, reward, engine, theta0, delta, T, optimum: T };
}

export function dynamicsOnPolicyRelative(seed: number, steps = 600) {
  const s = onPolicyRelativeSetup(seed);
  const runs: DynamicsRun[] = (['no-is', 'minirl', 'seq-is'] as EstimatorName[]).map((estimator) => ({
    label: estimator,
    records: runDynamics({ policy: s.policy, theta0: s.theta0, reward: s.reward, engine: s.engine, estimator, steps, lr: 0.05, optimizer: 'adam' }).records,
  }));
  return { T: s.T, delta: s.delta, steps, lr: 0.05, optimizer: 'adam', optimum: s.optimum, runs };
}

/** (ii): the staleness world, exact engine (no discrepancy), SGD lr 1, N updates per rollout. */
export function dynamicsStaleness(seed: number, steps = 30) {
  const { policy, theta0, reward } = stalenessSetup(seed);
  const runs: DynamicsRun[] = [];
  for (const N of [1, 2, 4, 8]) {
    for (const estimator of ['minirl', 'minirl-noclip'] as EstimatorName[]) {
      runs.push({
        label: `N=${N} ${estimator === 'minirl' ? 'clip' : 'no clip'}`,
        records: runDynamics({ policy, theta0, reward, engine: exactEngine, estimator, steps, miniBatches: N, lr: 1 }).records,
      });
    }
  }
  return { steps, lr: 1, optimizer: 'sgd', runs };
}

/** The arms of (iii), named as the paper's Figs 2–4 name them. */
export const MOE_ARMS: ReadonlyArray<{ label: string; estimator: EstimatorName; replay: Replay }> = [
  { label: 'MiniRL (no clip)', estimator: 'minirl-noclip', replay: 'none' },
  { label: 'MiniRL + R2 (no clip)', estimator: 'minirl-noclip', replay: 'r2' },
  { label: 'MiniRL + R3 (no clip)', estimator: 'minirl-noclip', replay: 'r3' },
  { label: 'MiniRL', estimator: 'minirl', replay: 'none' },
  { label: 'MiniRL + R2', estimator: 'minirl', replay: 'r2' },
  { label: 'MiniRL + R3', estimator: 'minirl', replay: 'r3' },
];

/** (iii): MoE, route-flip engine δ = 1, Adam lr 0.2, N ∈ {1, 2, 4, 8}, every arm. */
export function dynamicsMoE(seed: number, steps = 30, delta = 1) {
  const { policy, theta0, scoreNoise, reward } = moeSetup(seed);
  const engine = routeFlipEngine(delta, scoreNoise);
  const runs: Record<number, DynamicsRun[]> = {};
  for (const N of [1, 2, 4, 8]) {
    runs[N] = MOE_ARMS.map((arm) => ({
      label: arm.label,
      records: runDynamics({ policy, theta0, reward, engine, estimator: arm.estimator, steps, miniBatches: N, lr: 0.2, optimizer: 'adam', replay: arm.replay }).records,
    }));
  }
  const live = policy.route(theta0);
  const eng = engine.sample(policy, theta0).routing!;
  let agree = 0;
  for (let i = 0; i < live.length; i++) agree += live[i] === eng[i] ? 1 : 0;
  return { steps, delta, lr: 0.2, optimizer: 'adam', routeAgreementAtStart: agree / live.length, runs };
}

/** (iii) over several seeds: the final and peak J_seq of every arm at every N. */
export function moeSeedTable(seeds: number[], steps = 30) {
  return seeds.map((seed) => {
    const d = dynamicsMoE(seed, steps);
    const byN: Record<number, Array<{ label: string; final: number; peak: number }>> = {};
    for (const N of [1, 2, 4, 8]) {
      byN[N] = d.runs[N]!.map((r) => ({ label: r.label, final: last(r).jSeq, peak: Math.max(...r.records.map((x) => x.jSeq)) }));
    }
    return { seed, byN };
  });
}
