/**
 * The MoE layer: every token goes to its k experts, with no capacity limit and so no token
 * dropping, and the expert outputs are combined with the gate weights:
 *
 *   y_n = Σ_{j<k} g_{n,j} · expert_{e_{n,j}}(x_n)                   (Shazeer et al. 2017)
 *
 * and it returns the auxiliary losses
 *
 *   L_lb = α · E · Σ_e f_e · P_e     f_e = (1/(N·k)) · #{(n, j): e_{n,j} = e}   (no gradient)
 *                                     P_e = (1/N) · Σ_n softmax(logits_n)_e     (Switch Transformer,
 *                                     Fedus et al. 2021, eq. 4, with f over the N·k choices)
 *   L_z  = β · (1/N) · Σ_n logsumexp(logits_n)²                               (ST-MoE router z-loss)
 *
 * Dispatch. 'sparse' (the CPU default) groups the tokens by expert into chunks of m rows (see
 * dispatchPlan), gathers each chunk's expert weights, runs all chunks in one batched SwiGLU,
 * and gathers each token's k output rows back by position. On the CPU the plan is made on the
 * host from the routing (a synchronous read; padding rows repeat token 0 and are never read
 * back). On WebGPU, where reads are async and `forward` is not, the same plan is built on the
 * device (the backend's groupChunks routine, src/tensor/webgpu/kernels/group.ts) into buffers
 * sized for the worst case, with
 * padding rows and unused chunks as out-of-range indices that gather zeros and add nothing.
 * 'dense' runs every expert on every token, Y [E, N, D], and gathers row e·N + n for each
 * choice: no plan at all, E/k times the expert FLOPs, and no weight gathers, which wins when N is
 * small (decoding). 'auto' is 'sparse' on the CPU and, elsewhere, whichever of the two the cost
 * model in autoDispatch expects to be cheaper for the shapes (never the data). All paths then
 * combine the same [N, k, D] rows in the same order, and the matmuls of both backends are batch
 * invariant (a row's result does not depend on the other rows of the product), so on one
 * backend the paths agree bit for bit in the forward pass, and a token's output never depends on
 * which other tokens share its batch. (Gradients of the expert weights are sums over tokens, and
 * the paths sum them in different groupings: equal up to f32 rounding.) `expertRows` is that
 * shared step, exported so an inference engine can run the same dispatch with its own expert
 * numerics.
 */
import {
  ConfigError, DeviceError, ShapeError, Tensor, arange, ones, tensor, tryRoutine, zeros, type DeviceName, type FloatDType, type Rng,
} from '../tensor/index.js';
import { fmtShape } from '../tensor/shape.js';
import { embedding, isGradEnabled, logsumexp, noGrad, scatterAdd, softmax } from '../autograd/index.js';
import { expertRowsPerExpert } from './expert-groups.js';
import type { ExpertRunner, MoEParams } from './params.js';
import { Module } from '../nn/module.js';
import type { GateMode } from './config.js';
import { Router, route, routerLogits } from './router.js';
import { SwiGLUExperts, swigluExperts } from './experts.js';

export type { ExpertRunner, MoEParams } from './params.js';

export type Dispatch = 'auto' | 'sparse' | 'dense';


export interface MoEForwardOptions {
  k: number;
  gate: GateMode;
  auxLossCoef?: number;
  zLossCoef?: number;
  /** Expert ids to replay, [N·k] token-major (Int32Array, or an i32 tensor). */
  replay?: Int32Array | Tensor;
  dispatch?: Dispatch;
}

export interface MoEResult {
  /** [N, D]. */
  output: Tensor;
  /** The experts used, i32 [N, k] (replayed or live). */
  indices: Tensor;
  /** Gate weights [N, k]. */
  weights: Tensor;
  /** Router logits [N, E]. */
  logits: Tensor;
  /** loadBalanceLoss + zLoss (scalar). */
  auxLoss: Tensor;
  /** α·E·Σ f_e·P_e (scalar; 0 when α = 0). */
  loadBalanceLoss: Tensor;
  /** β·mean(logsumexp(logits)²) (scalar; 0 when β = 0). */
  zLoss: Tensor;
  /** f_e, the fraction of the N·k choices that went to expert e, [E] (no gradient). */
  expertLoad: Tensor;
}

export interface DispatchPlan {
  /** Rows per chunk. */
  m: number;
  /** The expert of each chunk, [C]: chunks of one expert are consecutive, experts ascending. */
  chunkExpert: Int32Array;
  /** Which token fills row r of chunk c, [C·m] (padding: token 0, never read back). */
  tokens: Int32Array;
  /** Where each (token, slot) choice's output lands, [N·k] (= c·m + r). */
  pos: Int32Array;
}

/** The chunk size the layer uses: m = ⌈N·k / 2E⌉ (half the mean load), at least 1. */
export function defaultRowsPerChunk(n: number, k: number, e: number): number {
  return Math.max(1, Math.ceil((n * k) / (2 * e)));
}

/**
 * Groups the N·k (token, slot) choices by expert into chunks of m rows. Tokens keep their
 * order within an expert; padding rows hold token 0.
 *  - rowsPerChunk given (what the layer does, with defaultRowsPerChunk): expert e gets
 *    ⌈load_e / m⌉ chunks, an unused expert none. The padded rows stay below (m − 1) per
 *    expert however unbalanced the routing, and a single-token decode step runs k chunks of
 *    1 row rather than E.
 *  - rowsPerChunk omitted: one chunk per expert, used or not, with m = the largest load
 *    (chunkExpert = 0..E−1, tokens laid out [E, m]).
 */
export function dispatchPlan(idx: Int32Array, n: number, k: number, e: number, rowsPerChunk?: number): DispatchPlan {
  const counts = new Int32Array(e);
  for (let i = 0; i < n * k; i++) counts[idx[i]!]!++;
  const m = rowsPerChunk ?? Math.max(1, ...counts);
  if (!Number.isInteger(m) || m < 1) throw new ShapeError(`dispatchPlan: rowsPerChunk must be a positive integer, got ${m}`);
  const firstChunk = new Int32Array(e + 1);
  for (let ex = 0; ex < e; ex++) firstChunk[ex + 1] = firstChunk[ex]! + (rowsPerChunk === undefined ? 1 : Math.ceil(counts[ex]! / m));
  const c = firstChunk[e]!;
  const chunkExpert = new Int32Array(c);
  for (let ex = 0; ex < e; ex++) chunkExpert.fill(ex, firstChunk[ex]!, firstChunk[ex + 1]!);
  const tokens = new Int32Array(c * m);
  const pos = new Int32Array(n * k);
  const fill = new Int32Array(e);
  for (let t = 0; t < n; t++) {
    for (let j = 0; j < k; j++) {
      const ex = idx[t * k + j]!;
      const p = firstChunk[ex]! * m + fill[ex]!++;
      tokens[p] = t;
      pos[t * k + j] = p;
    }
  }
  return { m, chunkExpert, tokens, pos };
}

/** Stacked expert weight w [E, A, B] → the weights of the given chunks, [C, A, B] (differentiable). */
function chunkWeights(w: Tensor, chunkExpert: Int32Array): Tensor {
  const [e, a, b] = w.shape as [number, number, number];
  if (chunkExpert.length === e && chunkExpert.every((v, i) => v === i)) return w;
  return embedding(w.reshape([e, a * b]), tensor(chunkExpert, { dtype: 'i32', device: w.device })).reshape([chunkExpert.length, a, b]);
}


/**
 * The k expert outputs of each token, [N, k, D] (row j of token n = expert_{e_{n,j}}(x_n)),
 * for x [N, D] and the chosen experts `ids` (i32 [N, k], a tensor or a host array). 'sparse'
 * groups the choices into chunks (dispatchPlan) and needs the ids on the host (a CPU tensor or
 * an Int32Array); 'dense' runs every expert on every token. `run` computes the experts
 * (default swigluExperts); an engine with its own numerics passes its own.
 */
export function expertRows(
  x: Tensor, ids: Tensor | Int32Array, p: MoEParams, dispatch: 'sparse' | 'dense', run: ExpertRunner = swigluExperts,
): Tensor {
  const [n, d] = x.shape as [number, number];
  const [e] = p.wGate.shape as [number];
  const k = ids instanceof Tensor ? ids.shape[1]! : ids.length / n;
  const dev = { device: x.device };
  if (dispatch === 'sparse') {
    if (ids instanceof Tensor && ids.device !== 'cpu') {
      const out = sparseOnDevice(x, ids, p, run);
      if (out) return out;
      throw new DeviceError(`MoE: 'sparse' dispatch needs the routing on the cpu or on a backend with the groupChunks routine (got '${ids.device}'); use dispatch 'dense'`);
    }
    const host = ids instanceof Tensor ? (ids.toArraySync() as Int32Array) : ids;
    // No gradient wanted: run each expert on a view of its weights instead of copying them.
    if (x.device === 'cpu' && !isGradEnabled()) return expertRowsPerExpert(x, host, k, p, run);
    const plan = dispatchPlan(host, n, k, e, defaultRowsPerChunk(n, k, e));
    const c = plan.chunkExpert.length;
    const xe = embedding(x, tensor(plan.tokens, { shape: [c, plan.m], dtype: 'i32', ...dev }));
    const [wg, wu, wd] = [p.wGate, p.wUp, p.wDown].map((w) => chunkWeights(w, plan.chunkExpert)) as [Tensor, Tensor, Tensor];
    const y = run(xe, wg, wu, wd).reshape([c * plan.m, d]);
    return embedding(y, tensor(plan.pos, { shape: [n, k], dtype: 'i32', ...dev }));
  }
  const y = run(x.unsqueeze(0), p.wGate, p.wUp, p.wDown).reshape([e * n, d]);
  let pos: Tensor;
  if (ids instanceof Tensor) {
    pos = noGrad(() => ids.mul(n).add(arange(0, n, 1, { dtype: 'i32', ...dev }).unsqueeze(1)));
  } else {
    const a = new Int32Array(n * k);
    for (let t = 0; t < n; t++) for (let j = 0; j < k; j++) a[t * k + j] = ids[t * k + j]! * n + t;
    pos = tensor(a, { shape: [n, k], dtype: 'i32', ...dev });
  }
  return embedding(y, pos);
}

/**
 * The sparse dispatch with the routing left on its device: the plan (dispatchPlan's, with the
 * same rows per chunk) is built there by the backend's groupChunks routine, for the worst-case
 * number of chunks, so nothing is read back; padding rows and unused chunks gather zeros. Null
 * when the backend offers no such routine (the host plan in expertRows is the other way).
 */
function sparseOnDevice(x: Tensor, ids: Tensor, p: MoEParams, run: ExpertRunner): Tensor | null {
  const [n, d] = x.shape as [number, number];
  const [e] = p.wGate.shape as [number];
  const k = ids.shape[1]!;
  const m = defaultRowsPerChunk(n, k, e);
  const plan = tryRoutine(ids.backend, 'groupChunks', ids.storage, n * k, k, e, m);
  if (plan === null) return null;
  const c = plan.cMax;
  const tokens = new Tensor(plan.tokens, [c, m]);
  const pos = new Tensor(plan.pos, [n, k]);
  const chunkExpert = new Tensor(plan.chunkKey, [c]);
  const xe = embedding(x, tokens);
  const [wg, wu, wd] = [p.wGate, p.wUp, p.wDown].map((w) => {
    const [, a, b] = w.shape as [number, number, number];
    return embedding(w.reshape([e, a * b]), chunkExpert).reshape([c, a, b]);
  }) as [Tensor, Tensor, Tensor];
  const y = run(xe, wg, wu, wd).reshape([c * m, d]);
  return embedding(y, pos);
}

/**
 * 'auto' dispatch: sparse on the CPU; elsewhere sparse when its cost is below dense's, by a
 * model of the WebGPU backend on shapes alone (so the choice, like the result, never depends on
 * the routing): dense runs E·N expert rows; sparse runs cMax·m rows and also gathers cMax sets
 * of expert weights, and their gradients, costed as WEIGHT_COPY_ROWS rows each. Calibrated on
 * the software adapter with moe-small's layer (E 16, k 2, D 128, H 256), forward + backward:
 * dense is cheaper at N = 32 and 64 tokens (43 vs 69, 61 vs 70 CPU-ms), sparse from N = 128
 * (80 vs 116) to 512 (156 vs 472); WEIGHT_COPY_ROWS = 24 puts the switch between 64 and 128.
 */
export function autoDispatch(device: string, n: number, k: number, e: number): 'sparse' | 'dense' {
  if (device === 'cpu') return 'sparse';
  const m = defaultRowsPerChunk(n, k, e);
  const cMax = Math.min(n * k, Math.floor((n * k) / m) + Math.min(e, n * k));
  return cMax * (m + WEIGHT_COPY_ROWS) < e * n ? 'sparse' : 'dense';
}
const WEIGHT_COPY_ROWS = 24;

/** The MoE layer as a pure function of x [N, D] and its parameters (what gradcheck tests). */
export function moeForward(x: Tensor, p: MoEParams, o: MoEForwardOptions): MoEResult {
  if (x.ndim !== 2) throw new ShapeError(`moeForward: input must be [N, D], got ${fmtShape(x.shape)}`);
  const logits = routerLogits(x, p.router);
  const [n, e] = logits.shape as [number, number];
  if (p.wGate.ndim !== 3 || p.wGate.shape[0] !== e) {
    throw new ShapeError(`moeForward: the router has ${e} experts but wGate is ${fmtShape(p.wGate.shape)}`);
  }
  const { indices, weights } = route(logits, o.k, o.gate, o.replay);
  const dispatch = o.dispatch === undefined || o.dispatch === 'auto' ? autoDispatch(x.device, n, o.k, e) : o.dispatch;
  const rows = expertRows(x, indices, p, dispatch);
  const output = rows.mul(weights.unsqueeze(-1)).sum(1);

  const opts = { dtype: logits.dtype, device: logits.device };
  const expertLoad = noGrad(() => scatterAdd(zeros([n, e], opts), 1, indices, ones([n, o.k], opts)).sum(0).div(n * o.k));
  const alpha = o.auxLossCoef ?? 0;
  const beta = o.zLossCoef ?? 0;
  const loadBalanceLoss = alpha > 0 ? softmax(logits, -1).mean(0).mul(expertLoad).sum().mul(alpha * e) : zeros([], opts);
  const zLoss = beta > 0 ? logsumexp(logits, -1).square().mean().mul(beta) : zeros([], opts);
  const auxLoss = loadBalanceLoss.add(zLoss);
  return { output, indices, weights, logits, auxLoss, loadBalanceLoss, zLoss, expertLoad };
}

export interface MoELayerOptions {
  gate?: GateMode;
  auxLossCoef?: number;
  zLossCoef?: number;
  dispatch?: Dispatch;
  rng?: Rng;
  dtype?: FloatDType;
  device?: DeviceName;
}

/** Router + E SwiGLU experts. Parameters: `router.weight`, `experts.wGate|wUp|wDown`. */
export class MoELayer extends Module {
  readonly router: Router;
  readonly experts: SwiGLUExperts;
  readonly gate: GateMode;
  readonly auxLossCoef: number;
  readonly zLossCoef: number;
  dispatch: Dispatch;

  constructor(
    readonly dModel: number,
    readonly nExperts: number,
    readonly hidden: number,
    readonly topK: number,
    opts: MoELayerOptions = {},
  ) {
    super();
    if (!Number.isInteger(topK) || topK < 1 || topK > nExperts) {
      throw new ConfigError(`MoELayer: topK = ${topK} must be an integer in 1..nExperts (${nExperts})`);
    }
    const o = { rng: opts.rng, dtype: opts.dtype, device: opts.device };
    this.router = this.module('router', new Router(dModel, nExperts, o));
    this.experts = this.module('experts', new SwiGLUExperts(nExperts, dModel, hidden, o));
    this.gate = opts.gate ?? 'softmax-topk';
    this.auxLossCoef = opts.auxLossCoef ?? 0;
    this.zLossCoef = opts.zLossCoef ?? 0;
    this.dispatch = opts.dispatch ?? 'auto';
  }

  params(): MoEParams {
    return { router: this.router.weight, wGate: this.experts.wGate, wUp: this.experts.wUp, wDown: this.experts.wDown };
  }

  /** x [..., D] → output of the same shape; routing over the flattened tokens. */
  forward(x: Tensor, opts: { replay?: Int32Array | Tensor } = {}): MoEResult {
    if (!(x instanceof Tensor) || x.ndim < 1 || x.shape[x.ndim - 1] !== this.dModel) {
      throw new ShapeError(`MoELayer.forward: input must be [..., ${this.dModel}], got ${x instanceof Tensor ? fmtShape(x.shape) : typeof x}`);
    }
    const flat = x.ndim === 2 ? x : x.reshape([-1, this.dModel]);
    const r = moeForward(flat, this.params(), {
      k: this.topK, gate: this.gate, auxLossCoef: this.auxLossCoef, zLossCoef: this.zLossCoef, replay: opts.replay, dispatch: this.dispatch,
    });
    return x.ndim === 2 ? r : { ...r, output: r.output.reshape(x.shape) };
  }
}
