/**
 * The parameter bundle of one MoE layer and the signature of an expert runner: the types that
 * layer.ts (the layer) and expert-groups.ts (its per-expert grouping) both need, in a module of
 * their own so that neither imports the other's types back.
 */
import type { Tensor } from '../tensor/index.js';

export interface MoEParams {
  /** Router weight [E, D]. */
  router: Tensor;
  /** [E, H, D]. */
  wGate: Tensor;
  /** [E, H, D]. */
  wUp: Tensor;
  /** [E, D, H]. */
  wDown: Tensor;
}

/** Computes expert outputs for rows already grouped by expert: x [C or 1, M, D] with weights [C, ., .]. */
export type ExpertRunner = (x: Tensor, wGate: Tensor, wUp: Tensor, wDown: Tensor) => Tensor;
