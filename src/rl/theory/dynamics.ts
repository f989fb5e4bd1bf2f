/**
 * Exact training dynamics: expected-gradient ascent (or Adam on the expected gradient) under one
 * estimator, with no sampling noise, so the difference between two runs from the same start is
 * the estimator's bias and nothing else.
 *
 * One global step, as the trainer runs it (docs/paper.md §3, the paper's §4.1; §2 for replay):
 *   1. θ_old ← θ; the engine gives μ_θold (and its routing e^μ_old for a MoE policy);
 *   2. π_old is recomputed at θ_old with the trainer's own routing e^π_old, or with e^μ_old
 *      under R3;
 *   3. N mini-batch updates: θ ← θ + lr·E_{y~μ}[g(y)] with π_θ routed live (no replay), through
 *      e^π_old (R2) or through e^μ_old (R3). Each mini-batch of one rollout has the same
 *      distribution μ, so in expectation every update uses the whole of it; what changes from
 *      one update to the next is θ, and with it the staleness π_θ/π_old.
 * Recorded before every global step and after the last: J_seq(θ) of the live policy (Eq. 1),
 * the exact training–inference KL(μ_θold ‖ π_old) per token (what the paper plots,
 * docs/paper.md §4), and the mean entropy per position of π_θ.
 */
import { ConfigError } from '../../tensor/index.js';
import { checkEstimator, expectedGradient, type EstimatorName, type EstimatorOptions } from './estimators.js';
import { jSeqValue, klSequence, meanEntropy, tokenLogProbs } from './exact.js';
import type { ExactEngine } from './engines.js';
import { checkTheta, type ExactPolicy, type Routing } from './policy.js';

export type Replay = 'none' | 'r2' | 'r3';
export const REPLAYS: readonly Replay[] = ['none', 'r2', 'r3'];

/** Most global steps × mini-batches one run may take (each is one exact pass over all responses). */
export const MAX_UPDATES = 100_000;
/**
 * Most updates × responses × T one run may take: each update sums over every token of every
 * response, and 2·10⁷ such terms take on the order of ten seconds on one core. A larger run is
 * refused up front rather than left to run for minutes.
 */
export const MAX_TOKEN_UPDATES = 20_000_000;

export interface DynamicsConfig {
  policy: ExactPolicy;
  theta0: ArrayLike<number>;
  reward: ArrayLike<number>;
  engine: ExactEngine;
  estimator: EstimatorName;
  estimatorOptions?: EstimatorOptions;
  /** Global steps (rollouts). */
  steps: number;
  /** N: updates per rollout (default 1, on-policy). */
  miniBatches?: number;
  lr: number;
  /** 'sgd' (plain ascent, default) or 'adam' (Adam on the expected gradient, no weight decay). */
  optimizer?: 'sgd' | 'adam';
  replay?: Replay;
}

export interface DynamicsRecord {
  /** Global steps taken before this record. */
  step: number;
  /** J_seq of the live policy at θ. */
  jSeq: number;
  /** KL(μ_θ ‖ π_θ) per token for the rollout that would be drawn at θ, as the trainer sees π_old. */
  klToken: number;
  entropy: number;
}

export interface DynamicsResult {
  records: DynamicsRecord[];
  theta: Float64Array;
}

function checkConfig(c: DynamicsConfig): void {
  checkEstimator(c.estimator);
  checkTheta(c.policy, c.theta0, 'theta0');
  if (c.reward.length !== c.policy.space.numSeqs) {
    throw new ConfigError(`reward: expected ${c.policy.space.numSeqs} values (one per response), got ${c.reward.length}`);
  }
  for (let n = 0; n < c.reward.length; n++) {
    if (!Number.isFinite(c.reward[n]!)) throw new ConfigError(`reward[${n}] is ${c.reward[n]}, expected a finite number`);
  }
  if (!Number.isInteger(c.steps) || c.steps < 0) throw new ConfigError(`steps: expected an integer ≥ 0, got ${c.steps}`);
  const N = c.miniBatches ?? 1;
  if (!Number.isInteger(N) || N < 1) throw new ConfigError(`miniBatches: expected an integer ≥ 1, got ${N}`);
  if (c.steps * N > MAX_UPDATES) throw new ConfigError(`steps × miniBatches = ${c.steps * N} exceeds the limit ${MAX_UPDATES} (MAX_UPDATES)`);
  const work = c.steps * N * c.policy.space.numSeqs * c.policy.space.length;
  if (work > MAX_TOKEN_UPDATES) {
    throw new ConfigError(
      `steps × miniBatches × responses × T = ${c.steps} × ${N} × ${c.policy.space.numSeqs} × ${c.policy.space.length} = ${work} exceeds the limit ${MAX_TOKEN_UPDATES} (MAX_TOKEN_UPDATES): fewer steps or a smaller space`,
    );
  }
  if (!(c.lr > 0) || !Number.isFinite(c.lr)) throw new ConfigError(`lr: expected a finite number > 0, got ${c.lr}`);
  if (c.optimizer !== undefined && c.optimizer !== 'sgd' && c.optimizer !== 'adam') {
    throw new ConfigError(`optimizer: expected 'sgd' or 'adam', got '${String(c.optimizer)}'`);
  }
  if (c.replay !== undefined && !REPLAYS.includes(c.replay)) throw new ConfigError(`replay: expected one of ${REPLAYS.join(', ')}, got '${String(c.replay)}'`);
  if (c.replay && c.replay !== 'none' && !c.policy.route) throw new ConfigError(`replay: '${c.replay}' needs a MoE policy (one that routes), got ${c.policy.name}`);
}

/** The rollout at θ_old: μ's token log-probs, π_old's, and the routings replay would use. */
export function rollout(policy: ExactPolicy, engine: ExactEngine, thetaOld: Float64Array, replay: Replay = 'none') {
  const sp = policy.space;
  const eng = engine.sample(policy, thetaOld);
  const routeOld: Routing | undefined = policy.route?.(thetaOld);
  const oldRouting = replay === 'r3' ? eng.routing : routeOld;
  const logpMu = tokenLogProbs(sp, eng.logits);
  const logpOld = tokenLogProbs(sp, policy.logits(thetaOld, oldRouting));
  const thetaRouting = replay === 'r2' ? routeOld : replay === 'r3' ? eng.routing : undefined;
  return { logpMu, logpOld, thetaRouting, engineRouting: eng.routing, trainerRouting: routeOld };
}

export function runDynamics(config: DynamicsConfig): DynamicsResult {
  checkConfig(config);
  const { policy, reward, engine, estimator, lr } = config;
  const sp = policy.space;
  const N = config.miniBatches ?? 1;
  const replay = config.replay ?? 'none';
  const adam = config.optimizer === 'adam';
  const theta = Float64Array.from(config.theta0);
  const m = new Float64Array(theta.length);
  const v = new Float64Array(theta.length);
  const [b1, b2, epsAdam] = [0.9, 0.999, 1e-8];
  let t = 0;
  const records: DynamicsRecord[] = [];
  const record = (step: number, ro: ReturnType<typeof rollout>) => {
    records.push({
      step,
      jSeq: jSeqValue(policy, theta, reward),
      klToken: klSequence(sp, ro.logpMu, ro.logpOld) / sp.length,
      entropy: meanEntropy(sp, policy.logits(theta)),
    });
  };
  for (let step = 0; step <= config.steps; step++) {
    const ro = rollout(policy, engine, theta, replay);
    record(step, ro);
    if (step === config.steps) break;
    for (let j = 0; j < N; j++) {
      const g = expectedGradient(estimator, {
        policy, theta, routing: ro.thetaRouting, reward, logpOld: ro.logpOld, logpMu: ro.logpMu,
      }, config.estimatorOptions);
      t++;
      for (let i = 0; i < theta.length; i++) {
        if (adam) {
          m[i] = b1 * m[i]! + (1 - b1) * g[i]!;
          v[i] = b2 * v[i]! + (1 - b2) * g[i]! * g[i]!;
          const mh = m[i]! / (1 - b1 ** t);
          const vh = v[i]! / (1 - b2 ** t);
          theta[i]! += (lr * mh) / (Math.sqrt(vh) + epsAdam);
        } else {
          theta[i]! += lr * g[i]!;
        }
      }
    }
  }
  return { records, theta };
}
