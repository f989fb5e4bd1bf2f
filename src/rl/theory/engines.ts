/**
 * Exact inference engines: the rollout distribution μ_θold derived from the trainer's policy
 * π_θold with a controlled, persistent error, the training–inference discrepancy of
 * docs/paper.md §1 (Eq. 5's first factor, π_old/μ_old). An engine maps θ_old to μ's logit table
 * (and, for a MoE policy, the routing the engine chose, e^μ_old: docs/paper.md §2).
 *
 *   logitErrorEngine(δ, e)    μ logits = z(θ_old) + δ·e              a fixed per-token error
 *   scaledErrorEngine(δ, e)   μ logits = z(θ_old) + δ·|z(θ_old)|⊙e   an error that grows with the
 *                                                                  logit magnitude, like the
 *                                                                  relative rounding of FP8
 *   exactEngine               μ = π_old
 * The MoE policy's route-flipping engine is in moe-policy.ts (routeFlipEngine).
 */
import { ConfigError } from '../../tensor/index.js';
import type { ExactPolicy, Routing } from './policy.js';

export interface EngineOutput {
  /** μ's logit table [P·V]. */
  logits: Float64Array;
  /** The engine's routing e^μ_old (MoE only). */
  routing?: Routing;
}

export interface ExactEngine {
  readonly name: string;
  /** μ_θold for the policy at θ_old. */
  sample(policy: ExactPolicy, thetaOld: Float64Array): EngineOutput;
}

/** Largest |δ| an engine accepts: beyond it μ is no longer "derived from π" in any useful sense. */
export const MAX_DELTA = 10;

export function checkDelta(delta: number, field = 'delta'): void {
  if (!Number.isFinite(delta) || Math.abs(delta) > MAX_DELTA) {
    throw new ConfigError(`${field}: expected a finite discrepancy with |δ| ≤ ${MAX_DELTA}, got ${delta}`);
  }
}

function checkDirection(policy: ExactPolicy, e: ArrayLike<number>): void {
  const want = policy.space.numPrefixes * policy.space.vocab;
  if (e.length !== want) throw new ConfigError(`engine direction: expected ${want} entries (P·V of the policy's space), got ${e.length}`);
}

export const exactEngine: ExactEngine = {
  name: 'exact',
  sample(policy, thetaOld) {
    const routing = policy.route?.(thetaOld);
    return { logits: policy.logits(thetaOld, routing), routing };
  },
};

/** An engine whose logits are the trainer's with `error(z_j)·direction_j` added to each. */
function perturbedEngine(name: string, direction: ArrayLike<number>, error: (z: number) => number): ExactEngine {
  return {
    name,
    sample(policy, thetaOld) {
      checkDirection(policy, direction);
      const routing = policy.route?.(thetaOld);
      const z = policy.logits(thetaOld, routing);
      for (let j = 0; j < z.length; j++) z[j]! += error(z[j]!) * direction[j]!;
      return { logits: z, routing };
    },
  };
}

export function logitErrorEngine(delta: number, direction: ArrayLike<number>): ExactEngine {
  checkDelta(delta);
  return perturbedEngine(`logit-error(δ=${delta})`, direction, () => delta);
}

export function scaledErrorEngine(delta: number, direction: ArrayLike<number>): ExactEngine {
  checkDelta(delta);
  return perturbedEngine(`scaled-error(δ=${delta})`, direction, (z) => delta * Math.abs(z));
}
