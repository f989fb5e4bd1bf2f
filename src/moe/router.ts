/**
 * The router: a linear map from the residual stream to one logit per expert, and `route`, which
 * turns logits into the k experts of each token and their gate weights, live or replayed
 * (docs/paper.md §2.1, "What exactly is replayed").
 *
 * Replay is the mechanism of Routing Replay (docs/paper.md §2; paper §3, Eq. (6)): it fixes the
 * experts e_t that the training forward uses, so the token ratio of Eq. (6) is evaluated on given
 * routes instead of the ones the current weights would pick (live: π_θ(y_t | ·, e^π_t)):
 *   R2   π_θ(y_t | ·, e^π_old,t)   the training engine's own routes, recorded in the π_θold pass
 *   R3   π_θ(y_t | ·, e^μ_old,t)   the inference engine's routes, returned with the rollout
 *
 *   logits = x·W_rᵀ                       W_r is [E, D], no bias
 *   idx    = topk(logits, k)              live (ties → lower expert id), or the replayed ids
 *   g      = normalise_mode(logits.gather(1, idx))
 *     'softmax-topk', 'topk-softmax':  g = softmax over the k gathered logits
 *                                      = ms-swift's g_replay,i = I_i·exp(s_i) / Σ_j I_j·exp(s_j)
 *     'sigmoid':                       s = sigmoid(gathered);  g = s / Σ_k s   (k > 1; g = s for k = 1)
 *
 * The selection step carries no gradient; the gate weights are a differentiable function of the
 * live logits restricted to the selected experts, so under replay the router keeps its gradient,
 * and d g / d logits is exactly zero in the columns of unselected experts.
 *
 * The live path computes its weights with the same function as the replay path (only the source
 * of `idx` differs), so replaying the indices a forward pass chose reproduces it bit for bit.
 * For the same reason 'softmax-topk' is computed as a softmax over the k gathered logits rather
 * than softmax(all).gather(idx)/Σ: the two are algebraically equal (the common factor
 * Σ_all exp cancels), the gathered form is exact where the other leaves rounding-sized gradient
 * in unselected columns. Both softmax modes are therefore the same function; both names exist so
 * configs ported from Megatron/HF (use_pre_softmax, norm_topk_prob) read as their source does.
 * Selection ranks logits in every mode: softmax and sigmoid are increasing, so the top k of the
 * scores are the top k of the logits, and ranking logits avoids ties created when f32 scores
 * saturate (sigmoid(20) = sigmoid(21) = 1 in f32).
 */
import { ConfigError, DTypeError, ReplayMismatchError, ShapeError, Tensor, ValueError, tensor, type DeviceName, type FloatDType, type Rng } from '../tensor/index.js';
import { fmtShape } from '../tensor/shape.js';
import { gather, matmulT, noGrad, softmax, topk } from '../autograd/index.js';
import { Module } from '../nn/module.js';
import { kaimingUniform } from '../nn/init.js';
import { GATE_MODES, type GateMode } from './config.js';

export interface Routing {
  /** Selected experts, i32 [N, k], on the logits' device (no gradient). */
  indices: Tensor;
  /** Gate weights [N, k], differentiable w.r.t. the logits. */
  weights: Tensor;
}

/** Router logits [N, E] = x [N, D] · W_rᵀ, W_r [E, D]. */
export function routerLogits(x: Tensor, weight: Tensor): Tensor {
  if (x.ndim !== 2 || weight.ndim !== 2 || x.shape[1] !== weight.shape[1]) {
    throw new ShapeError(`routerLogits: input ${fmtShape(x.shape)} must be [N, D] and weight ${fmtShape(weight.shape)} [E, D]`);
  }
  return matmulT(x, weight, false, true);
}

function checkMode(op: string, mode: string): asserts mode is GateMode {
  if (!GATE_MODES.includes(mode as GateMode)) throw new ConfigError(`${op}: unknown gate mode '${mode}' (known: ${GATE_MODES.join(', ')})`);
}

/** The live top-k experts of each row of logits [N, E] → i32 [N, k] (sorted by logit, ties → lower id). */
export function selectExperts(logits: Tensor, k: number): Tensor {
  return noGrad(() => topk(logits.detach(), k, -1).indices);
}

/** Gate weights [N, k] of the experts `indices` (i32 [N, k]) from live logits [N, E], by mode. */
export function gateWeights(logits: Tensor, indices: Tensor, mode: GateMode): Tensor {
  checkMode('gateWeights', mode);
  const sel = gather(logits, 1, indices);
  if (mode === 'sigmoid') {
    const s = sel.sigmoid();
    return indices.shape[1]! > 1 ? s.div(s.sum(-1, true)) : s;
  }
  return softmax(sel, -1);
}

/**
 * Checks a replayed index array against logits [N, E] and k: length N·k, every id in [0, E),
 * no id twice for one token (a duplicate would count an expert twice). Returns it as i32 [N, k]
 * on the logits' device. Device tensors are only shape-checked (reading them would be async).
 */
export function replayIndices(replay: Int32Array | Tensor, n: number, e: number, k: number, device: DeviceName): Tensor {
  const len = replay instanceof Tensor ? replay.size : replay.length;
  if (len !== n * k) {
    throw new ReplayMismatchError(`route: the replayed routing holds ${len} expert ids, but ${n} tokens × k = ${k} need ${n * k}`);
  }
  if (replay instanceof Tensor) {
    if (replay.dtype !== 'i32') throw new DTypeError(`route: replayed indices must be i32, got ${replay.dtype}`);
    if (replay.device === 'cpu') return replayIndices(replay.toArraySync() as Int32Array, n, e, k, device);
    const t = replay.reshape([n, k]);
    return t.device === device ? t : t.to(device);
  }
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < k; j++) {
      const v = replay[i * k + j]!;
      if (!Number.isInteger(v) || v < 0 || v >= e) {
        throw new ReplayMismatchError(`route: replayed expert id ${v} for token ${i} is out of range for ${e} experts`);
      }
      for (let j2 = 0; j2 < j; j2++) {
        if (replay[i * k + j2] === v) throw new ReplayMismatchError(`route: token ${i} replays expert ${v} twice`);
      }
    }
  }
  return tensor(replay, { shape: [n, k], dtype: 'i32', device });
}

/**
 * Routes N tokens given their router logits [N, E]: the k experts of each (live top-k, or the
 * `replay` ids, [N·k] in token-major order) and their gate weights recomputed from the live
 * logits. Never falls back to live routing when `replay` is given.
 */
export function route(logits: Tensor, k: number, mode: GateMode, replay?: Int32Array | Tensor): Routing {
  checkMode('route', mode);
  if (!(logits instanceof Tensor) || logits.ndim !== 2) {
    throw new ShapeError(`route: logits must be [N, E], got ${logits instanceof Tensor ? fmtShape(logits.shape) : typeof logits}`);
  }
  if (logits.dtype === 'i32') throw new DTypeError('route: logits must be f32 or f64, got i32');
  const [n, e] = logits.shape as [number, number];
  if (!Number.isInteger(k) || k < 1 || k > e) throw new ValueError(`route: k = ${k} must be an integer in 1..${e} (the number of experts)`);
  const indices = replay === undefined ? selectExperts(logits, k) : replayIndices(replay, n, e, k, logits.device);
  return { indices, weights: gateWeights(logits, indices, mode) };
}

export interface RouterOptions {
  rng?: Rng;
  dtype?: FloatDType;
  device?: DeviceName;
}

/** W_r [E, D], initialised U(−1/√D, 1/√D) as torch's nn.Linear(D, E, bias=False). */
export class Router extends Module {
  readonly weight: Tensor;
  constructor(readonly dModel: number, readonly nExperts: number, opts: RouterOptions = {}) {
    super();
    this.weight = this.param('weight', kaimingUniform([nExperts, dModel], dModel, opts));
  }
  /** x [N, D] → logits [N, E]. */
  forward(x: Tensor): Tensor {
    return routerLogits(x, this.weight);
  }
}
