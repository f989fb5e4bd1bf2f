/**
 * The RL trainer, one global step at a time (docs/paper.md §3, §2.1):
 *   1. the inference engine samples B prompts × G responses: tokens, μ_old log-probs and the
 *      engine's routing trace e^μ;
 *   2. the training engine recomputes log π_old without gradient, recording its routing e^π_old
 *      (R2), or replaying e^μ (R3);
 *   3. advantages from the binary rewards, per group;
 *   4. the global batch is split into N mini-batches (groups kept whole), each one optimiser step
 *      of the chosen loss, replaying e^π_old (R2) or e^μ (R3) in every mini-batch;
 *   5. the engine re-syncs its weights.
 * It returns the step's metrics: reward, entropy, training–inference KL, IS weights, clipfrac,
 * ppoKl (staleness), grad norm, routing disagreement, response length, seconds per phase.
 */
import { ConfigError, Rng, StablerlError, tensor, type Tensor } from '../../tensor/index.js';

/** A non-finite loss or gradient: the step is not applied, and the message names step and metric. */
export class NonFiniteError extends StablerlError {
  constructor(readonly step: number, readonly metric: 'loss' | 'gradient norm' | 'π_old log-prob', readonly miniBatch?: number) {
    super(`trainer: non-finite ${metric} at step ${step}${miniBatch === undefined ? '' : `, mini-batch ${miniBatch}`}; the update was not applied`);
  }
  /** The same error, saying where the pre-step state was checkpointed. */
  withCheckpoint(path: string): NonFiniteError {
    this.message += `; checkpoint written to ${path}`;
    return this;
  }
}
import { noGrad } from '../../autograd/index.js';
import { AdamW, clipGradNorm } from '../../nn/index.js';
import { InferenceEngine, MOE_PRESETS, MoETransformer, RoutingTrace, type GeneratedSequence } from '../../moe/index.js';
import { groupMean, groupNorm, rloo } from '../advantages.js';
import { policyLoss, type PolicyLossMetrics } from '../losses/index.js';
import { entropy } from '../kl.js';
import { type TrainerConfig, trainerConfig } from './config.js';

/** What the trainer needs of a task: fixed-length prompts and answers, and a binary reward. */
export interface RLTask {
  readonly promptLength: number;
  readonly answerLength: number;
  /**
   * When set, a response ends at its first `eosToken` (included): the tokens sampled after it are
   * outside the response mask, as in verl/TRL where generation stops at EOS. Without it every
   * one of the `answerLength` tokens is part of the response.
   */
  readonly eosToken?: number;
  sample(rng: Rng, split: 'train' | 'eval'): { prompt: number[] };
  reward(prompt: readonly number[], response: readonly number[]): number;
}

export interface StepMetrics {
  step: number;
  reward: number;
  entropy: number;
  klK1: number;
  klK3: number;
  isWeightMean: number;
  isWeightMax: number;
  isWeightEss: number;
  clipfrac: number;
  ppoKl: number;
  gradNorm: number;
  routingDisagreement: number;
  responseLength: number;
  seconds: { rollout: number; oldLogp: number; update: number };
  /** Per mini-batch loss metrics, in order. */
  miniBatches: PolicyLossMetrics[];
}

export class Trainer {
  readonly config: TrainerConfig;
  readonly model: MoETransformer;
  readonly engine: InferenceEngine;
  readonly optimizer: AdamW;
  private _rng: Rng;
  step = 0;

  constructor(readonly task: RLTask, overrides: Partial<TrainerConfig> = {}) {
    this.config = trainerConfig(overrides);
    const c = this.config;
    const preset = MOE_PRESETS[c.model];
    if (task.promptLength + task.answerLength - 1 > preset.contextLength) {
      throw new ConfigError(`trainer: prompt ${task.promptLength} + answer ${task.answerLength} tokens exceed the ${c.model} context ${preset.contextLength}`);
    }
    this._rng = new Rng(c.seed);
    this.model = new MoETransformer(preset, { rng: this._rng.fork(), device: c.device });
    this.engine = new InferenceEngine(this.model, { profile: c.profile, seed: c.seed });
    this.optimizer = new AdamW(this.model.parameters(), { lr: c.lr, weightDecay: c.weightDecay });
  }

  get rng(): Rng {
    return this._rng;
  }
  /** Restores the trainer's stream and step (checkpoint resume). */
  setRandomState(rng: Rng, step: number): void {
    this._rng = rng;
    this.step = step;
  }

  private advantages(rewards: number[]): Tensor {
    const G = this.config.groupSize;
    switch (this.config.advantage) {
      case 'group-norm': return groupNorm(rewards, G);
      case 'rloo': return rloo(rewards, G);
      default: return groupMean(rewards, G);
    }
  }

  async trainStep(): Promise<StepMetrics> {
    const c = this.config;
    const B = c.promptsPerStep;
    const G = c.groupSize;
    const P = this.task.promptLength;
    const A = this.task.answerLength;
    const L = P + A;
    const t0 = performance.now();

    // 1. rollout
    const prompts: number[][] = [];
    for (let b = 0; b < B; b++) {
      const { prompt } = this.task.sample(this.rng, 'train');
      for (let g = 0; g < G; g++) prompts.push(prompt);
    }
    const seqs: GeneratedSequence[] = await this.engine.generate(prompts, {
      maxNewTokens: A, temperature: c.temperature, rng: this.rng.fork(),
    });
    const rewards = seqs.map((s, i) => this.task.reward(prompts[i]!, s.response));
    const tokens = tensor(Int32Array.from(seqs.flatMap((s) => s.tokens)), { shape: [B * G, L], dtype: 'i32', device: c.device });
    const engineTrace = RoutingTrace.concat(seqs.map((s) => s.routing), 'batch');
    const t1 = performance.now();

    // 2. π_old in the training engine (R2 records its routing; R3 replays the engine's)
    const inputs = tokens.slice(1, 0, L - 1);
    const targets = tokens.slice(1, 1, L);
    const old = noGrad(() => {
      const r = this.model.forward(inputs, { routing: c.replay === 'r3' ? engineTrace : 'record' });
      const scaled = r.logits.div(c.temperature);
      const logp = scaled.logSoftmax(-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1);
      return { logp, routing: r.routing, logits: r.logits };
    });
    // mask and μ on response positions (inputs index p predicts token p + 1)
    const mask = new Float32Array(B * G * (L - 1));
    const mu = new Float32Array(B * G * (L - 1));
    let lengthSum = 0;
    seqs.forEach((s, i) => {
      const eos = this.task.eosToken === undefined ? -1 : s.response.indexOf(this.task.eosToken);
      const len = eos < 0 ? A : eos + 1;
      lengthSum += len;
      for (let j = 0; j < len; j++) {
        mask[i * (L - 1) + P - 1 + j] = 1;
        mu[i * (L - 1) + P - 1 + j] = s.logProbs[j]!;
      }
    });
    const oldArr = old.logp.toArraySync();
    let k1 = 0;
    let k3 = 0;
    let n = 0;
    for (let i = 0; i < mask.length; i++) {
      if (!Number.isFinite(oldArr[i]!)) throw new NonFiniteError(this.step, 'π_old log-prob');
      if (mask[i] === 0) {
        mu[i] = oldArr[i]!;
        continue;
      }
      const d = mu[i]! - oldArr[i]!; // log μ − log π_old, KL(μ‖π_old) estimators under μ samples
      k1 += d;
      k3 += Math.expm1(-d) + d;
      n++;
    }
    const maskT = tensor(mask, { shape: [B * G, L - 1], device: c.device });
    const muT = tensor(mu, { shape: [B * G, L - 1], device: c.device });
    const ent = noGrad(() => entropy(old.logits, c.temperature).mul(maskT).sum().div(n).itemSync());
    const adv = this.advantages(rewards);
    const t2 = performance.now();

    // 4. N mini-batches, groups kept whole
    const per = (B / c.miniBatches) * G;
    const mbMetrics: PolicyLossMetrics[] = [];
    let gradNorm = 0;
    for (let m = 0; m < c.miniBatches; m++) {
      const lo = m * per;
      const hi = lo + per;
      const routing = c.replay === 'r3' ? engineTrace.sliceSequences(lo, hi) : c.replay === 'r2' ? old.routing.sliceSequences(lo, hi) : 'record';
      const r = this.model.forward(inputs.slice(0, lo, hi), { routing });
      const logp = r.logits.div(c.temperature).logSoftmax(-1).gather(-1, targets.slice(0, lo, hi).unsqueeze(-1)).squeeze(-1);
      const { loss, metrics } = policyLoss(c.loss, {
        logp, oldLogp: old.logp.slice(0, lo, hi), rolloutLogp: muT.slice(0, lo, hi), advantages: adv.slice(0, lo, hi), mask: maskT.slice(0, lo, hi),
      }, c.lossOptions);
      (c.auxLossWeight > 0 ? loss.add(r.auxLoss.mul(c.auxLossWeight)) : loss).backward();
      const lossValue = loss.itemSync();
      gradNorm = clipGradNorm(this.model.parameters(), c.maxGradNorm);
      if (!Number.isFinite(lossValue) || !Number.isFinite(gradNorm)) {
        this.optimizer.zeroGrad();
        throw new NonFiniteError(this.step, Number.isFinite(lossValue) ? 'gradient norm' : 'loss', m);
      }
      this.optimizer.step();
      this.optimizer.zeroGrad();
      mbMetrics.push(metrics);
    }
    this.engine.syncWeights();
    const t3 = performance.now();

    const first = mbMetrics[0]!;
    const out: StepMetrics = {
      step: this.step,
      reward: rewards.reduce((p, q) => p + q, 0) / rewards.length,
      entropy: ent,
      klK1: k1 / n,
      klK3: k3 / n,
      isWeightMean: first.isWeight?.mean ?? 1,
      isWeightMax: first.isWeight?.max ?? 1,
      isWeightEss: first.isWeight?.ess ?? 1,
      clipfrac: mbMetrics.reduce((p, q) => p + q.clipfrac, 0) / mbMetrics.length,
      ppoKl: mbMetrics.reduce((p, q) => p + q.ppoKl, 0) / mbMetrics.length,
      gradNorm,
      routingDisagreement: 1 - engineTrace.agreement(old.routing),
      responseLength: lengthSum / seqs.length,
      seconds: { rollout: (t1 - t0) / 1000, oldLogp: (t2 - t1) / 1000, update: (t3 - t2) / 1000 },
      miniBatches: mbMetrics,
    };
    this.step++;
    return out;
  }

  /** Accuracy on `n` eval prompts with one sample each at the configured temperature. */
  async evaluate(n: number, rng = new Rng(this.config.seed + 1_000_003)): Promise<number> {
    const prompts = Array.from({ length: n }, () => this.task.sample(rng, 'eval').prompt);
    const seqs = await this.engine.generate(prompts, { maxNewTokens: this.task.answerLength, temperature: this.config.temperature, rng });
    return seqs.reduce((p, s, i) => p + this.task.reward(prompts[i]!, s.response), 0) / n;
  }
}
