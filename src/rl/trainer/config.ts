/**
 * The trainer's configuration: every field with its default, and validation that names the
 * field. Defaults are the paper's MiniRL recipe at toy scale (docs/paper.md §3, §4).
 */
import { ConfigError, type DeviceName } from '../../tensor/index.js';
import type { LossKind, PolicyLossOptions } from '../losses/index.js';

export type ReplayMode = 'none' | 'r2' | 'r3';
export type AdvantageKind = 'group-mean' | 'group-norm' | 'rloo';

export interface TrainerConfig {
  /** Model preset. */
  model: 'moe-tiny' | 'moe-small';
  device: DeviceName;
  seed: number;
  /** Global steps. */
  steps: number;
  /** Prompts per global step (B) and responses per prompt (G). */
  promptsPerStep: number;
  groupSize: number;
  /** Mini-batches per global step (N): N optimiser steps, groups kept whole. */
  miniBatches: number;
  lr: number;
  weightDecay: number;
  maxGradNorm: number;
  temperature: number;
  loss: LossKind;
  lossOptions: PolicyLossOptions;
  advantage: AdvantageKind;
  replay: ReplayMode;
  /** The inference engine's numerics profile (numerics.ts). */
  profile: string;
  /**
   * Weight of the MoE auxiliary (load-balancing + z) loss in RL updates (default 0). With it on,
   * steps where every group has equal rewards (zero advantages) still move the routers: Adam
   * normalises that lone gradient to full-size steps, which we saw erode a solved task.
   */
  auxLossWeight: number;
}

export const DEFAULT_TRAINER_CONFIG: Readonly<TrainerConfig> = Object.freeze({
  model: 'moe-tiny',
  device: 'cpu',
  seed: 0,
  steps: 50,
  promptsPerStep: 8,
  groupSize: 8,
  miniBatches: 1,
  lr: 1e-3,
  weightDecay: 0,
  maxGradNorm: 1,
  temperature: 1,
  loss: 'minirl',
  lossOptions: {},
  advantage: 'group-mean',
  replay: 'none',
  profile: 'exact',
  auxLossWeight: 0,
});

const posInt = (c: Record<string, unknown>, k: string) => {
  const v = c[k];
  if (!Number.isInteger(v) || (v as number) < 1) throw new ConfigError(`trainer config: ${k} must be a positive integer, got ${JSON.stringify(v)}`);
};
const posNum = (c: Record<string, unknown>, k: string, allowZero = false) => {
  const v = c[k];
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) {
    throw new ConfigError(`trainer config: ${k} must be a ${allowZero ? 'non-negative' : 'positive'} finite number, got ${JSON.stringify(v)}`);
  }
};

export function trainerConfig(overrides: Partial<TrainerConfig> = {}): TrainerConfig {
  const known = new Set(Object.keys(DEFAULT_TRAINER_CONFIG));
  for (const k of Object.keys(overrides)) {
    if (!known.has(k)) throw new ConfigError(`trainer config: unknown field '${k}' (known: ${[...known].join(', ')})`);
  }
  const c = { ...DEFAULT_TRAINER_CONFIG, ...overrides } as TrainerConfig;
  const r = c as unknown as Record<string, unknown>;
  for (const k of ['steps', 'promptsPerStep', 'groupSize', 'miniBatches']) posInt(r, k);
  if (!Number.isInteger(c.seed) || c.seed < 0) throw new ConfigError(`trainer config: seed must be a non-negative integer, got ${JSON.stringify(c.seed)}`);
  posNum(r, 'lr');
  posNum(r, 'weightDecay', true);
  posNum(r, 'maxGradNorm');
  posNum(r, 'temperature');
  posNum(r, 'auxLossWeight', true);
  if (c.promptsPerStep % c.miniBatches !== 0) {
    throw new ConfigError(`trainer config: promptsPerStep ${c.promptsPerStep} must be divisible by miniBatches ${c.miniBatches} (groups are kept whole)`);
  }
  if (!['none', 'r2', 'r3'].includes(c.replay)) throw new ConfigError(`trainer config: replay must be 'none', 'r2' or 'r3', got ${JSON.stringify(c.replay)}`);
  if (!['group-mean', 'group-norm', 'rloo'].includes(c.advantage)) {
    throw new ConfigError(`trainer config: advantage must be 'group-mean', 'group-norm' or 'rloo', got ${JSON.stringify(c.advantage)}`);
  }
  if (c.model !== 'moe-tiny' && c.model !== 'moe-small') throw new ConfigError(`trainer config: model must be 'moe-tiny' or 'moe-small', got ${JSON.stringify(c.model)}`);
  return c;
}
