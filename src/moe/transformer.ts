/**
 * The decoder-only MoE transformer the RL stack trains (presets `moe-tiny` / `moe-small`, config.ts):
 *
 *   h_0 = Embed(tokens)
 *   for each block l:   a   = h + Attn_l(RMSNorm(h))                 (causal, RoPE)
 *                       h'  = a + MoE_l(RMSNorm(a))                  (top-k SwiGLU experts)
 *   logits = LMHead(RMSNorm(h_L))                                    (Linear, no bias)
 *
 * `forward(tokens, { routing })` routes live and records the trace ('record', the default) or
 * replays a RoutingTrace (docs/paper.md §2.1: only the expert ids are replayed, the gate weights
 * come from the live router logits). It returns the logits, the trace it used and the summed
 * auxiliary loss Σ_l (L_lb,l + L_z,l). Since the live path and the replay path compute the gate
 * weights with the same function, forward(tokens, { routing: forward(tokens).routing }) gives
 * the same logits bit for bit (the R2 identity at θ = θ_old).
 *
 * Parameter names: embed.weight, blocks.{l}.attnNorm.weight, blocks.{l}.attn.{wq,wk,wv,wo},
 * blocks.{l}.moeNorm.weight, blocks.{l}.moe.router.weight,
 * blocks.{l}.moe.experts.{wGate,wUp,wDown}, norm.weight, lmHead.weight.
 */
import {
  DTypeError, IndexError, ShapeError, Tensor, type DeviceName, type FloatDType, type Rng,
} from '../tensor/index.js';
import { fmtShape } from '../tensor/shape.js';
import { Module } from '../nn/module.js';
import { Embedding, Linear, RMSNorm } from '../nn/layers.js';
import { CausalSelfAttention, type KVCache, type KVCacheLayer } from '../nn/attention.js';
import { validateMoEConfig, type MoEConfig } from './config.js';
import { MoELayer, type Dispatch, type MoEResult } from './layer.js';
import { RoutingTrace } from './trace.js';

export interface MoETransformerOptions {
  rng?: Rng;
  dtype?: FloatDType;
  device?: DeviceName;
  /** Expert dispatch ('auto': sparse on the CPU; elsewhere sparse or dense by a shape-only cost model, see layer.ts autoDispatch). */
  dispatch?: Dispatch;
}

export interface MoEForwardCallOptions {
  /** 'record' (default): route live and return the trace; a RoutingTrace: replay it. */
  routing?: 'record' | RoutingTrace;
  /** Appends this call's keys/values per layer and attends over the cache. */
  cache?: KVCache;
  /** Absolute position of the first token (default: the cache length, or 0). */
  positionOffset?: number;
}

export interface MoEForwardResult {
  /** [B, T, V]. */
  logits: Tensor;
  /** The routing this pass used (the replayed trace itself when replaying). */
  routing: RoutingTrace;
  /** Σ over MoE layers of load-balancing + z-loss (scalar). */
  auxLoss: Tensor;
  /** Each MoE layer's full result (router logits, gate weights, expert load, losses). */
  moe: MoEResult[];
}

/** One block: pre-norm attention and pre-norm MoE, each with a residual. */
export class MoEBlock extends Module {
  readonly attnNorm: RMSNorm;
  readonly attn: CausalSelfAttention;
  readonly moeNorm: RMSNorm;
  readonly moe: MoELayer;

  constructor(c: MoEConfig, o: MoETransformerOptions) {
    super();
    const t = { dtype: o.dtype, device: o.device };
    this.attnNorm = this.module('attnNorm', new RMSNorm(c.dModel, { ...t, eps: c.normEps }));
    this.attn = this.module('attn', new CausalSelfAttention(c.dModel, c.nHeads, { ...t, rng: o.rng, ropeTheta: c.ropeTheta }));
    this.moeNorm = this.module('moeNorm', new RMSNorm(c.dModel, { ...t, eps: c.normEps }));
    this.moe = this.module(
      'moe',
      new MoELayer(c.dModel, c.nExperts, c.expertHidden, c.topK, {
        ...t, rng: o.rng, gate: c.gate, auxLossCoef: c.auxLossCoef, zLossCoef: c.zLossCoef, dispatch: o.dispatch,
      }),
    );
  }

  /** h [B, T, D] → [B, T, D] and the MoE layer's result. */
  forward(h: Tensor, o: { replay?: Int32Array | Tensor; cache?: KVCacheLayer; positionOffset: number }): { h: Tensor; moe: MoEResult } {
    const a = h.add(this.attn.forward(this.attnNorm.forward(h), { cache: o.cache, positionOffset: o.positionOffset }));
    const moe = this.moe.forward(this.moeNorm.forward(a), { replay: o.replay });
    return { h: a.add(moe.output), moe };
  }
}

export class MoETransformer extends Module {
  readonly config: Readonly<MoEConfig>;
  readonly embed: Embedding;
  readonly blocks: readonly MoEBlock[];
  readonly norm: RMSNorm;
  readonly lmHead: Linear;
  readonly dtype: FloatDType;
  readonly device: DeviceName;

  /** Parameters are drawn from `rng` in registration order: embed, blocks 0..L−1, lmHead. */
  constructor(config: MoEConfig, opts: MoETransformerOptions = {}) {
    super();
    const c = Object.freeze({ ...validateMoEConfig({ ...config }) });
    this.config = c;
    this.dtype = opts.dtype ?? 'f32';
    this.device = opts.device ?? 'cpu';
    const o = { ...opts, dtype: this.dtype, device: this.device };
    this.embed = this.module('embed', new Embedding(c.vocabSize, c.dModel, o));
    const blocks: MoEBlock[] = [];
    for (let l = 0; l < c.nLayers; l++) blocks.push(this.module(`blocks.${l}`, new MoEBlock(c, o)));
    this.blocks = blocks;
    this.norm = this.module('norm', new RMSNorm(c.dModel, { dtype: o.dtype, device: o.device, eps: c.normEps }));
    this.lmHead = this.module('lmHead', new Linear(c.dModel, c.vocabSize, { ...o, bias: false }));
  }

  /** Checks tokens [B, T] (i32, ids in the vocabulary on the CPU) and the context length. */
  private checkTokens(tokens: Tensor, offset: number): [number, number] {
    const c = this.config;
    if (!(tokens instanceof Tensor)) throw new DTypeError('MoETransformer.forward: tokens must be an i32 Tensor [B, T]');
    if (tokens.dtype !== 'i32') throw new DTypeError(`MoETransformer.forward: tokens must be i32 ids, got ${tokens.dtype}`);
    if (tokens.ndim !== 2 || tokens.shape[1] === 0) {
      throw new ShapeError(`MoETransformer.forward: tokens must be [B, T] with T ≥ 1, got ${fmtShape(tokens.shape)}`);
    }
    const [b, t] = tokens.shape as [number, number];
    if (!Number.isInteger(offset) || offset < 0) throw new ShapeError(`MoETransformer.forward: positionOffset must be a non-negative integer, got ${offset}`);
    if (offset + t > c.contextLength) {
      throw new ShapeError(
        `MoETransformer.forward: positions ${offset}..${offset + t - 1} exceed the contextLength ${c.contextLength} (tokens ${fmtShape(tokens.shape)}, positionOffset ${offset})`,
      );
    }
    if (tokens.device === 'cpu') {
      const ids = tokens.toArraySync();
      for (let i = 0; i < ids.length; i++) {
        if (ids[i]! < 0 || ids[i]! >= c.vocabSize) {
          throw new IndexError(
            `MoETransformer.forward: token id ${ids[i]} at [${Math.floor(i / t)}, ${i % t}] is outside the vocabulary (vocabSize ${c.vocabSize}: ids 0..${c.vocabSize - 1})`,
          );
        }
      }
    }
    return [b, t];
  }

  /**
   * tokens i32 [B, T] → logits [B, T, V], the routing used, and the auxiliary loss. With
   * `routing` a RoutingTrace, every MoE layer replays it (ReplayMismatchError if its layers,
   * B, T, k, experts or layout differ; never live routing instead).
   */
  forward(tokens: Tensor, opts: MoEForwardCallOptions = {}): MoEForwardResult {
    const c = this.config;
    const cache = opts.cache;
    if (cache !== undefined && cache.nLayers !== c.nLayers) {
      throw new ShapeError(`MoETransformer.forward: the KV cache has ${cache.nLayers} layers, the model ${c.nLayers}`);
    }
    const offset = opts.positionOffset ?? cache?.length ?? 0;
    const [b, t] = this.checkTokens(tokens, offset);
    const routing = opts.routing ?? 'record';
    const replay = routing instanceof RoutingTrace ? routing : null;
    if (replay === null && routing !== 'record') {
      throw new DTypeError(`MoETransformer.forward: routing must be 'record' or a RoutingTrace, got ${String(routing)}`);
    }
    replay?.checkReplay({ numLayers: c.nLayers, batch: b, seqLen: t, k: c.topK, nExperts: c.nExperts }, 'MoETransformer.forward');

    let h = this.embed.forward(tokens);
    const results: MoEResult[] = [];
    this.blocks.forEach((block, l) => {
      const r = block.forward(h, { replay: replay?.replayLayer(l, this.device), cache: cache?.layer(l), positionOffset: offset });
      h = r.h;
      results.push(r.moe);
    });
    const logits = this.lmHead.forward(this.norm.forward(h));
    let auxLoss = results[0]!.auxLoss;
    for (let l = 1; l < results.length; l++) auxLoss = auxLoss.add(results[l]!.auxLoss);
    const trace = replay ?? new RoutingTrace({ batch: b, seqLen: t, k: c.topK, nExperts: c.nExperts }, results.map((r) => r.indices));
    return { logits, routing: trace, auxLoss, moe: results };
  }
}
