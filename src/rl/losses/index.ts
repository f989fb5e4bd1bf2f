/**
 * The policy-loss entry point: `policyLoss(kind, { logp, oldLogp, rolloutLogp, advantages, mask },
 * options) → { loss, metrics, weight, perToken, mask }`, dispatching to one small file per kind.
 * Each file's header cites the equation it implements and its published defaults; the shared
 * machinery is split by concern: types.ts (inputs, options, specs, results), plan.ts (validation),
 * ratio.ts (the log-space ratio helpers) and run.ts (IS correction, aggregation, metrics), and
 * docs/losses.md tabulates every kind.
 */
import { ConfigError } from '../../tensor/index.js';
import { LOSS_KINDS, type LossKind, type LossSpec, type PolicyLossInputs, type PolicyLossOptions, type PolicyLossResult } from './types.js';
import { runPolicyLoss, runPolicyLossAsync } from './run.js';
import { reinforce } from './reinforce.js';
import { minirl } from './minirl.js';
import { ppoClip } from './ppo-clip.js';
import { grpo } from './grpo.js';
import { drGrpo } from './dr-grpo.js';
import { dapo } from './dapo.js';
import { gspo } from './gspo.js';
import { gspoToken } from './gspo-token.js';
import { cispo } from './cispo.js';
import { gmpo } from './gmpo.js';
import { sapo } from './sapo.js';
import { decoupledPpo } from './decoupled-ppo.js';

export { LOSS_KINDS, type IsCorrectionSpec, type KindOptionName, type LossContext, type LossKind, type LossSpec, type LossTerms, type LossWeightStats, type OwnWeight, type PolicyLossInputs, type PolicyLossMetrics, type PolicyLossOptions, type PolicyLossResult, type ResolvedLossOptions } from './types.js';
export { logRatio, ratio } from './ratio.js';
export { runPolicyLoss, runPolicyLossAsync } from './run.js';
export * from './reinforce.js';
export * from './minirl.js';
export * from './ppo-clip.js';
export * from './grpo.js';
export * from './dr-grpo.js';
export * from './dapo.js';
export * from './gspo.js';
export * from './gspo-token.js';
export * from './cispo.js';
export * from './gmpo.js';
export * from './sapo.js';
export * from './decoupled-ppo.js';

/** Every kind's spec (formula, accepted options, defaults), by name. */
export const LOSS_SPECS: Readonly<Record<LossKind, LossSpec>> = {
  reinforce,
  minirl,
  'ppo-clip': ppoClip,
  grpo,
  'dr-grpo': drGrpo,
  dapo,
  gspo,
  'gspo-token': gspoToken,
  cispo,
  gmpo,
  sapo,
  'decoupled-ppo': decoupledPpo,
};

function specOf(kind: unknown): LossSpec {
  if (typeof kind !== 'string' || !Object.prototype.hasOwnProperty.call(LOSS_SPECS, kind)) {
    throw new ConfigError(`policyLoss: unknown kind ${JSON.stringify(kind)}; expected one of ${LOSS_KINDS.join(', ')}`);
  }
  return LOSS_SPECS[kind as LossKind];
}

/** The published defaults a kind uses (for logs and docs). */
export function policyLossDefaults(kind: LossKind): LossSpec['defaults'] {
  return specOf(kind).defaults;
}

/**
 * Computes one policy loss on CPU tensors: the scalar to minimise, its metrics, and the per-token
 * weight and loss it applied. Use `policyLossAsync` for tensors on the GPU.
 */
export function policyLoss(kind: LossKind, inputs: PolicyLossInputs, options: PolicyLossOptions = {}): PolicyLossResult {
  return runPolicyLoss(specOf(kind), inputs, options);
}

/** `policyLoss` for tensors on any device: the value checks and metrics await their reads. */
export function policyLossAsync(kind: LossKind, inputs: PolicyLossInputs, options: PolicyLossOptions = {}): Promise<PolicyLossResult> {
  return runPolicyLossAsync(specOf(kind), inputs, options);
}
