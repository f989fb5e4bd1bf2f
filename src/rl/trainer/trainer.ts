/**
 * The RL trainer, one global step at a time (docs/paper.md §3, §2.1), in five named phases, the
 * order docs/walkthrough.md walks them:
 *   rollout       the inference engine samples B prompts × G responses: tokens, μ_old log-probs
 *                 and the engine's routing trace e^μ;
 *   oldLogProbs   the training engine recomputes log π_old without gradient (logProbsOf),
 *                 recording its routing e^π_old (R2) or replaying e^μ (R3); the response mask,
 *                 the training–inference KL (kl, k1 and k3) and the entropy come with it;
 *   advantages    from the rewards, per group;
 *   update        the global batch is split into N mini-batches (groups kept whole), each one
 *                 optimiser step of the chosen loss, replaying e^π_old (R2) or e^μ (R3);
 *   sync          the engine re-syncs its weights.
 * Every read from the device is awaited, so the same trainer runs on 'cpu' and 'webgpu'. The
 * KL metrics are computed on the host in f64 from the read-back log-probs, so they do not depend
 * on the device. trainStep returns the step's metrics: reward, entropy, training–inference KL,
 * IS weights, clipfrac, ppoKl (staleness), grad norm, routing disagreement, response length,
 * seconds per phase.
 */
import { ConfigError, Rng, StablerlError, ValueError, tensor, type Tensor } from '../../tensor/index.js';

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
import { AdamW, clipGradNormAsync } from '../../nn/index.js';
import { InferenceEngine, MOE_PRESETS, MoETransformer, RoutingTrace, type GeneratedSequence } from '../../moe/index.js';
import { groupMean, groupNorm, rloo } from '../advantages.js';
import { policyLossAsync, type PolicyLossMetrics } from '../losses/index.js';
import { entropy, kl, logProbsOf } from '../kl.js';
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

/** What phase 1 (rollout) hands on. */
export interface Rollout {
  seqs: GeneratedSequence[];
  rewards: number[];
  /** i32 [B·G, P + A] prompt and response tokens, on the trainer's device. */
  tokens: Tensor;
  /** e^μ_old: the engine's routing for every sequence. */
  engineTrace: RoutingTrace;
}

/** What phase 2 (oldLogProbs) hands on. */
export interface OldLogProbs {
  inputs: Tensor;
  targets: Tensor;
  /** log π_old(y_t) [B·G, L − 1] (no gradient). */
  logp: Tensor;
  /** e^π_old (live, recorded) or e^μ_old (under R3). */
  routing: RoutingTrace;
  mask: Tensor;
  /** log μ_old on response positions, log π_old elsewhere. */
  mu: Tensor;
  klK1: number;
  klK3: number;
  entropy: number;
  responseLength: number;
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

  /** Phase 1: B prompts × G responses from the inference engine. */
  async rollout(): Promise<Rollout> {
    const c = this.config;
    const prompts: number[][] = [];
    for (let b = 0; b < c.promptsPerStep; b++) {
      const { prompt } = this.task.sample(this.rng, 'train');
      for (let g = 0; g < c.groupSize; g++) prompts.push(prompt);
    }
    const seqs: GeneratedSequence[] = await this.engine.generate(prompts, {
      maxNewTokens: this.task.answerLength, temperature: c.temperature, rng: this.rng.fork(),
    });
    const rewards = seqs.map((s, i) => this.task.reward(prompts[i]!, s.response));
    const L = this.task.promptLength + this.task.answerLength;
    const tokens = tensor(Int32Array.from(seqs.flatMap((s) => s.tokens)), { shape: [seqs.length, L], dtype: 'i32', device: c.device });
    return { seqs, rewards, tokens, engineTrace: RoutingTrace.concat(seqs.map((s) => s.routing), 'batch') };
  }

  /**
   * Phase 2: log π_old in the training engine (R2 records its routing; R3 replays the engine's),
   * the response mask and μ on response positions (inputs index p predicts token p + 1), the
   * training–inference KL(μ‖π_old) over response tokens and the entropy of π_old there.
   */
  async oldLogProbs(ro: Rollout): Promise<OldLogProbs> {
    const c = this.config;
    const P = this.task.promptLength;
    const A = this.task.answerLength;
    const L = P + A;
    const rows = ro.seqs.length;
    const inputs = ro.tokens.slice(1, 0, L - 1);
    const targets = ro.tokens.slice(1, 1, L);
    const old = noGrad(() => {
      const r = this.model.forward(inputs, { routing: c.replay === 'r3' ? ro.engineTrace : 'record' });
      try {
        return { logp: logProbsOf(r.logits.div(c.temperature), targets), routing: r.routing, logits: r.logits };
      } catch (e) {
        // logProbsOf refuses non-finite logits (a ValueError); for the trainer that is a
        // non-finite π_old, which stops the step before any update.
        if (e instanceof ValueError) throw new NonFiniteError(this.step, 'π_old log-prob');
        throw e;
      }
    });
    const mask = new Float32Array(rows * (L - 1));
    const mu = new Float32Array(rows * (L - 1));
    let lengthSum = 0;
    ro.seqs.forEach((s, i) => {
      const eos = this.task.eosToken === undefined ? -1 : s.response.indexOf(this.task.eosToken);
      const len = eos < 0 ? A : eos + 1;
      lengthSum += len;
      for (let j = 0; j < len; j++) {
        mask[i * (L - 1) + P - 1 + j] = 1;
        mu[i * (L - 1) + P - 1 + j] = s.logProbs[j]!;
      }
    });
    const oldArr = await old.logp.toArray();
    await old.routing.resolve(); // a trace recorded on the GPU is read back once, here
    const response: number[] = [];
    for (let i = 0; i < mask.length; i++) {
      if (!Number.isFinite(oldArr[i]!)) throw new NonFiniteError(this.step, 'π_old log-prob');
      if (mask[i] === 0) mu[i] = oldArr[i]!; // outside the response μ is never used: make it π_old
      else response.push(i);
    }
    // KL(μ‖π_old) per response token, k1 and k3 of the library's kl(), in f64 on the host.
    const n = response.length;
    const muResp = tensor(Float64Array.from(response, (i) => mu[i]!), { dtype: 'f64' });
    const oldResp = tensor(Float64Array.from(response, (i) => oldArr[i]!), { dtype: 'f64' });
    const klK1 = kl(muResp, oldResp, 'k1').sum().itemSync() / n;
    const klK3 = kl(muResp, oldResp, 'k3').sum().itemSync() / n;
    const maskT = tensor(mask, { shape: [rows, L - 1], device: c.device });
    const muT = tensor(mu, { shape: [rows, L - 1], device: c.device });
    const ent = await noGrad(() => entropy(old.logits, c.temperature).mul(maskT).sum().div(n)).item();
    return { inputs, targets, logp: old.logp, routing: old.routing, mask: maskT, mu: muT, klK1, klK3, entropy: ent, responseLength: lengthSum / rows };
  }

  /** Phase 3: advantages from the rewards, per group of G responses, on the trainer's device. */
  advantages(rewards: number[]): Tensor {
    const G = this.config.groupSize;
    const adv = this.config.advantage === 'group-norm' ? groupNorm(rewards, G) : this.config.advantage === 'rloo' ? rloo(rewards, G) : groupMean(rewards, G);
    return adv.device === this.config.device ? adv : adv.to(this.config.device);
  }

  /**
   * Phase 4: N mini-batches of whole groups, each one optimiser step of the loss, with π_θ routed
   * through e^π_old (R2), e^μ_old (R3) or live. Returns the per-mini-batch metrics and the last
   * gradient norm.
   */
  async update(ro: Rollout, old: OldLogProbs, adv: Tensor): Promise<{ miniBatches: PolicyLossMetrics[]; gradNorm: number }> {
    const c = this.config;
    const per = (c.promptsPerStep / c.miniBatches) * c.groupSize;
    const miniBatches: PolicyLossMetrics[] = [];
    let gradNorm = 0;
    for (let m = 0; m < c.miniBatches; m++) {
      const lo = m * per;
      const hi = lo + per;
      const routing = c.replay === 'r3' ? ro.engineTrace.sliceSequences(lo, hi) : c.replay === 'r2' ? old.routing.sliceSequences(lo, hi) : 'record';
      const r = this.model.forward(old.inputs.slice(0, lo, hi), { routing });
      const logp = logProbsOf(r.logits.div(c.temperature), old.targets.slice(0, lo, hi));
      const { loss, metrics } = await policyLossAsync(c.loss, {
        logp, oldLogp: old.logp.slice(0, lo, hi), rolloutLogp: old.mu.slice(0, lo, hi), advantages: adv.slice(0, lo, hi), mask: old.mask.slice(0, lo, hi),
      }, c.lossOptions);
      (c.auxLossWeight > 0 ? loss.add(r.auxLoss.mul(c.auxLossWeight)) : loss).backward();
      const lossValue = await loss.item();
      gradNorm = await clipGradNormAsync(this.model.parameters(), c.maxGradNorm);
      if (!Number.isFinite(lossValue) || !Number.isFinite(gradNorm)) {
        this.optimizer.zeroGrad();
        throw new NonFiniteError(this.step, Number.isFinite(lossValue) ? 'gradient norm' : 'loss', m);
      }
      this.optimizer.step();
      this.optimizer.zeroGrad();
      miniBatches.push(metrics);
    }
    return { miniBatches, gradNorm };
  }

  /** Phase 5: the inference engine takes the updated weights. */
  sync(): void {
    this.engine.syncWeights();
  }

  async trainStep(): Promise<StepMetrics> {
    const t0 = performance.now();
    const ro = await this.rollout();
    const t1 = performance.now();
    const old = await this.oldLogProbs(ro);
    const adv = this.advantages(ro.rewards);
    const t2 = performance.now();
    const { miniBatches, gradNorm } = await this.update(ro, old, adv);
    this.sync();
    const t3 = performance.now();

    const first = miniBatches[0]!;
    const out: StepMetrics = {
      step: this.step,
      reward: ro.rewards.reduce((p, q) => p + q, 0) / ro.rewards.length,
      entropy: old.entropy,
      klK1: old.klK1,
      klK3: old.klK3,
      isWeightMean: first.isWeight?.mean ?? 1,
      isWeightMax: first.isWeight?.max ?? 1,
      isWeightEss: first.isWeight?.ess ?? 1,
      clipfrac: miniBatches.reduce((p, q) => p + q.clipfrac, 0) / miniBatches.length,
      ppoKl: miniBatches.reduce((p, q) => p + q.ppoKl, 0) / miniBatches.length,
      gradNorm,
      routingDisagreement: 1 - ro.engineTrace.agreement(old.routing),
      responseLength: old.responseLength,
      seconds: { rollout: (t1 - t0) / 1000, oldLogp: (t2 - t1) / 1000, update: (t3 - t2) / 1000 },
      miniBatches,
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
