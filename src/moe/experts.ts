/**
 * SwiGLU experts (Shazeer 2020, "GLU Variants Improve Transformer"; the Mixtral/Qwen-MoE FFN):
 *
 *   expert_e(x) = W_down,e · ( silu(W_gate,e · x) ⊙ (W_up,e · x) )
 *
 * Storage: the E experts' weights are stacked into three parameters,
 *   wGate [E, H, D], wUp [E, H, D], wDown [E, D, H]   (torch layout [out, in] per expert),
 * so every expert runs in one batched matmul per weight: an input [E, M, D] (M rows per expert)
 * gives [E, M, D], and an input [1, N, D] (every token, broadcast over the experts: the dense
 * path) gives [E, N, D]. No per-expert slice of a weight is ever materialised, and each stacked
 * parameter receives its whole gradient from one matmul. State-dict names are
 * `experts.wGate`, `experts.wUp`, `experts.wDown`; expert e is row e of each.
 */
import { ShapeError, type DeviceName, type FloatDType, type Rng, type Tensor } from '../tensor/index.js';
import { fmtShape } from '../tensor/shape.js';
import { matmulT } from '../autograd/index.js';
import { Module } from '../nn/module.js';
import { kaimingUniform } from '../nn/init.js';

/**
 * Batched SwiGLU: x [E or 1, M, D] → [E, M, D], row m of batch e going through expert e.
 * Each product is matmulT(x, W, false, true) = x·Wᵀ, so no transpose is materialised.
 */
export function swigluExperts(x: Tensor, wGate: Tensor, wUp: Tensor, wDown: Tensor): Tensor {
  if (wGate.ndim !== 3 || wUp.ndim !== 3 || wDown.ndim !== 3) {
    throw new ShapeError(
      `swigluExperts: weights must be 3-D (wGate [E, H, D], wUp [E, H, D], wDown [E, D, H]), got ${fmtShape(wGate.shape)}, ${fmtShape(wUp.shape)}, ${fmtShape(wDown.shape)}`,
    );
  }
  const [e, h, d] = wGate.shape as [number, number, number];
  if (fmtShape(wUp.shape) !== fmtShape(wGate.shape) || fmtShape(wDown.shape) !== fmtShape([e, d, h])) {
    throw new ShapeError(
      `swigluExperts: wUp ${fmtShape(wUp.shape)} must equal wGate ${fmtShape(wGate.shape)} and wDown ${fmtShape(wDown.shape)} must be ${fmtShape([e, d, h])}`,
    );
  }
  if (x.ndim !== 3 || (x.shape[0] !== e && x.shape[0] !== 1) || x.shape[2] !== d) {
    throw new ShapeError(`swigluExperts: input ${fmtShape(x.shape)} must be [${e} or 1, M, ${d}]`);
  }
  const g = matmulT(x, wGate, false, true);
  const u = matmulT(x, wUp, false, true);
  return matmulT(g.silu().mul(u), wDown, false, true);
}

export interface ExpertsOptions {
  rng?: Rng;
  dtype?: FloatDType;
  device?: DeviceName;
}

/**
 * E SwiGLU experts of width H on a D-dim stream. Initialised as E independent torch
 * nn.Linear layers without bias: W_gate, W_up ~ U(−1/√D, 1/√D), W_down ~ U(−1/√H, 1/√H),
 * drawn in that order (all of wGate, then wUp, then wDown) from `rng`.
 */
export class SwiGLUExperts extends Module {
  readonly wGate: Tensor;
  readonly wUp: Tensor;
  readonly wDown: Tensor;

  constructor(readonly nExperts: number, readonly dModel: number, readonly hidden: number, opts: ExpertsOptions = {}) {
    super();
    this.wGate = this.param('wGate', kaimingUniform([nExperts, hidden, dModel], dModel, opts));
    this.wUp = this.param('wUp', kaimingUniform([nExperts, hidden, dModel], dModel, opts));
    this.wDown = this.param('wDown', kaimingUniform([nExperts, dModel, hidden], hidden, opts));
  }

  /** x [E or 1, M, D] → [E, M, D]. */
  forward(x: Tensor): Tensor {
    return swigluExperts(x, this.wGate, this.wUp, this.wDown);
  }
}
