/**
 * The inference engine: batched autoregressive sampling with a KV cache over the trainer's
 * weights, on its own code path (as vLLM is to a trainer). It returns, per sequence, the tokens,
 * the sampling log-probs μ of the temperature-scaled distribution, and the RoutingTrace it used
 * (the experts it chose at every input position; R3 replays them in the trainer). One file of
 * ~470 lines because prefill, decode and every numerics profile share the KV cache and the
 * per-layer routing state of one generate() call.
 *
 * Under the `exact` profile every kernel runs in the trainer's order on row-invariant kernels,
 * so μ equals the trainer's log π_old bit for bit. The other profiles (numerics.ts) perturb
 * the computation the way real inference engines do, creating the training–inference
 * discrepancy that IS correction and R3 are there to remove.
 *
 * On WebGPU's software adapter a decode step is bound by its number of dispatches (30–80 µs
 * each whatever their size) and by the dense expert dispatch running every expert on every
 * token. So the decode path there keeps the routing on the device (one read-back per step),
 * runs RoPE, the residual add + RMSNorm, the one-query attention, the KV growth and the chosen
 * experts as the backend's fused routines (Backend.routines; WebGPU's are in
 * src/tensor/webgpu/kernels/fused.ts), each bit-identical to the composed ops it replaces, so the exact profile still gives μ == π bit for bit (test/moe/engine-webgpu.test.ts).
 * Flags 'moe.deviceRouting', 'moe.fusedMix' and 'nn.fused*' turn each of these off (src/tensor/flags.ts).
 */
import {
  ConfigError, Rng, ShapeError, Tensor, getFlag, hasRoutine, tensor, tidy, tryRoutine, type DeviceName, type RngState,
} from '../tensor/index.js';
import {
  add, cat, div, embedding, exp, logSoftmax, logsumexp, matmulT, mul, noGrad, reshape, roundBf16,
  roundFp8e4m3, slice, softmax, square, sum, transpose, where,
} from '../autograd/index.js';
import { fromTypedArray } from '../tensor/creation.js';
import { addRmsNorm, rmsNorm } from '../nn/layers.js';
import { decodeAttention, KVCache, MASKED_SCORE, ropeHeads, ropeTables } from '../nn/attention.js';
import type { MoETransformer } from './transformer.js';
import { expertRows } from './layer.js';
import { gateWeights } from './router.js';
import { RoutingTrace } from './trace.js';
import { type NumericsProfile, parseProfile } from './numerics.js';

export interface InferenceEngineOptions {
  /** Numerics profile spec (default 'exact'); see numerics.ts. */
  profile?: string | NumericsProfile;
  /** Seed of the engine's own stream (logit noise, route flips) when none is passed to generate. */
  seed?: number;
}

export interface GenerateOptions {
  maxNewTokens: number;
  /** Sampling temperature τ > 0 (default 1); μ is the log-prob under softmax(logits / τ). */
  temperature?: number;
  /** Sampling stream (default: a stream seeded from the engine's seed and call count). */
  rng?: Rng;
}

export interface GeneratedSequence {
  /** Prompt followed by the sampled response. */
  tokens: number[];
  promptLength: number;
  response: number[];
  /** μ_old(y_t) per response token, log of the temperature-scaled probability. */
  logProbs: number[];
  /** The engine's experts at every input position (tokens.length − 1 positions), B = 1. */
  routing: RoutingTrace;
}

type W = {
  embed: Tensor; norm: Tensor; lmHead: Tensor;
  blocks: { attnNorm: Tensor; wq: Tensor; wk: Tensor; wv: Tensor; wo: Tensor; moeNorm: Tensor; router: Tensor; wGate: Tensor; wUp: Tensor; wDown: Tensor }[];
};

/**
 * One synchronous stretch of the engine's work, between two awaits: without recording (noGrad
 * around an async function would only cover it up to its first await) and with every
 * intermediate disposed on the spot (tidy), so decoding keeps no tape and returns its arrays to
 * the backend's pool instead of leaving them to the garbage collector. The caller owns, and
 * disposes, what it returns.
 */
function segment<T>(fn: () => T): T {
  return noGrad(() => tidy(fn));
}

export class InferenceEngine {
  readonly profile: NumericsProfile;
  private w!: W;
  private owned: Tensor[] = [];
  private rng: Rng;
  private calls = 0;

  constructor(readonly model: MoETransformer, opts: InferenceEngineOptions = {}) {
    this.profile = parseProfile(opts.profile ?? 'exact');
    if (this.profile.precision !== 'exact' && model.dtype !== 'f32') {
      throw new ConfigError(`InferenceEngine: profile '${this.profile.name}' rounds f32 values; the model is ${model.dtype}`);
    }
    this.rng = new Rng(opts.seed ?? 0);
    this.syncWeights();
  }

  /** Rounds a matmul input to the profile's precision (identity for exact). */
  private round(x: Tensor): Tensor {
    switch (this.profile.precision) {
      case 'bf16': return roundBf16(x);
      case 'fp8-e4m3': return roundFp8e4m3(x);
      default: return x;
    }
  }

  /**
   * Takes the model's current weights (call after every optimiser step). The exact profile
   * references the live tensors; low-precision profiles keep rounded copies.
   */
  syncWeights(): void {
    for (const t of this.owned) t.dispose();
    this.owned = [];
    const m = this.model;
    const w = (t: Tensor) => {
      if (this.profile.precision === 'exact') return t;
      const r = noGrad(() => this.round(t));
      this.owned.push(r);
      return r;
    };
    this.w = {
      embed: m.embed.weight,
      norm: m.norm.weight,
      lmHead: w(m.lmHead.weight),
      blocks: m.blocks.map((b) => {
        const p = b.moe.params();
        return {
          attnNorm: b.attnNorm.weight, wq: w(b.attn.wq), wk: w(b.attn.wk), wv: w(b.attn.wv), wo: w(b.attn.wo),
          moeNorm: b.moeNorm.weight, router: w(p.router), wGate: w(p.wGate), wUp: w(p.wUp), wDown: w(p.wDown),
        };
      }),
    };
  }

  dispose(): void {
    for (const t of this.owned) t.dispose();
    this.owned = [];
  }

  /** The engine's own random state (logit noise, route flips, default sampling streams), for checkpoints. */
  randomState(): { rng: RngState; calls: number } {
    return { rng: this.rng.state(), calls: this.calls };
  }
  setRandomState(s: { rng: RngState; calls: number }): void {
    this.rng = Rng.fromState(s.rng);
    this.calls = s.calls;
  }

  // ---- the engine's kernels: the trainer's op order, with the profile's perturbations ----

  /**
   * op(a)·op(b) with rounded inputs; split-K in two halves under reduction-order. Weights were
   * rounded once at syncWeights, and so were the expert rows gathered from them (`bRounded`):
   * only activations are rounded here (rounding is idempotent, so this changes no bit).
   */
  private mm(a: Tensor, b: Tensor, tA: boolean, tB: boolean, bRounded = false): Tensor {
    const ra = this.round(a);
    const bb = bRounded || this.isWeight(b) ? b : this.round(b);
    const k = tA ? a.shape[a.ndim - 2]! : a.shape[a.ndim - 1]!;
    if (!this.profile.splitReductions || k < 2) return matmulT(ra, bb, tA, tB);
    const h = k >> 1;
    const aDim = tA ? a.ndim - 2 : a.ndim - 1;
    const bDim = tB ? b.ndim - 1 : b.ndim - 2;
    return add(
      matmulT(slice(ra, aDim, 0, h), slice(bb, bDim, 0, h), tA, tB),
      matmulT(slice(ra, aDim, h, k), slice(bb, bDim, h, k), tA, tB),
    );
  }
  private isWeight(t: Tensor): boolean {
    return this.profile.precision === 'exact' || this.owned.includes(t);
  }

  /** Sum over the last dim (keepdim), in two halves under reduction-order. */
  private lastSum(x: Tensor): Tensor {
    const n = x.shape[x.ndim - 1]!;
    if (!this.profile.splitReductions || n < 2) return sum(x, -1, true);
    return add(sum(slice(x, -1, 0, n >> 1), -1, true), sum(slice(x, -1, n >> 1, n), -1, true));
  }

  private rmsNorm(x: Tensor, weight: Tensor, eps: number): Tensor {
    if (!this.profile.splitReductions) return rmsNorm(x, weight, eps); // the trainer's (fused on WebGPU)
    const d = x.shape[x.ndim - 1]!;
    const ms = this.profile.splitReductions ? mul(this.lastSum(square(x)), 1 / d) : square(x).mean(-1, true);
    return x.mul(ms.add(eps).rsqrt()).mul(weight);
  }

  /** [x + r, rmsNorm(x + r)]: one fused dispatch on WebGPU in the exact reduction order. */
  private addNorm(x: Tensor, r: Tensor, weight: Tensor, eps: number): [Tensor, Tensor] {
    if (!this.profile.splitReductions) return addRmsNorm(x, r, weight, eps);
    const s = x.add(r);
    return [s, this.rmsNorm(s, weight, eps)];
  }

  private logSoftmax(x: Tensor): Tensor {
    if (!this.profile.splitReductions) return logSoftmax(x, -1);
    const n = x.shape[x.ndim - 1]!;
    const a = logsumexp(slice(x, -1, 0, n >> 1), -1, true);
    const b = logsumexp(slice(x, -1, n >> 1, n), -1, true);
    return x.sub(logsumexp(cat([a, b], -1), -1, true));
  }

  private softmax(x: Tensor): Tensor {
    return this.profile.splitReductions ? exp(this.logSoftmax(x)) : softmax(x, -1);
  }

  private attention(x: Tensor, l: number, cache: KVCache, offset: number, tables?: [Tensor, Tensor]): Tensor {
    const b = this.w.blocks[l]!;
    const attn = this.model.blocks[l]!.attn;
    const [B, T, D] = x.shape as [number, number, number];
    const H = attn.nHeads;
    const hd = D / H;
    // With one token per sequence (decode), [B, 1, H, hd] and [B, H, 1, hd] are the same memory:
    // a reshape, where transpose would launch a copy.
    const heads = (t: Tensor) => (T === 1 ? reshape(t, [B, H, 1, hd]) : transpose(reshape(t, [B, T, H, hd]), 1, 2));
    const q = ropeHeads(this.mm(x, b.wq, false, true), H, offset, attn.ropeTheta, tables);
    let k = ropeHeads(this.mm(x, b.wk, false, true), H, offset, attn.ropeTheta, tables);
    let v = heads(this.mm(x, b.wv, false, true));
    // The cache keeps K and V as the score and mix matmuls read them, rounded to the profile's
    // precision once when appended rather than again on every decode step (the same bits).
    if (this.profile.precision !== 'exact') {
      k = this.round(k);
      v = this.round(v);
    }
    const past = cache.layer(l).length;
    ({ keys: k, values: v } = cache.layer(l).append(k, v));
    const Tk = past + T;
    if (T === 1 && this.profile.precision === 'exact' && !this.profile.splitReductions) {
      // The same ops as below (mm is plain matmulT here), fused on WebGPU.
      return this.mm(reshape(decodeAttention(q, k, v), [B, T, D]), b.wo, false, true);
    }
    let scores = div(this.mm(q, k, false, true, true), Math.sqrt(hd));
    if (T > 1) {
      const m = new Float32Array(T * Tk);
      for (let i = 0; i < T; i++) m.fill(1, i * Tk, i * Tk + past + i + 1);
      scores = where(fromTypedArray(m, [T, Tk], { device: x.device }), scores, MASKED_SCORE);
    }
    const o = this.mm(this.softmax(scores), v, false, false, true);
    return this.mm(reshape(T === 1 ? o : transpose(o, 1, 2), [B, T, D]), b.wo, false, true);
  }

  /**
   * The MoE layer on x [N, D] with the engine's own expert choice; returns output and ids. On
   * WebGPU without route flips the chosen ids stay on the device (a Tensor [N, k], read back by
   * the caller once per decode step) instead of being awaited here: the same ids, gate weights
   * and expert rows, but one submit-and-wait per step instead of one per layer.
   */
  private async moe(x: Tensor, l: number): Promise<{ out: Tensor; ids: Int32Array | Tensor }> {
    const b = this.w.blocks[l]!;
    const layer = this.model.blocks[l]!.moe;
    const k = layer.topK;
    const [n, d] = x.shape as [number, number];
    const logits = segment(() => this.mm(x, b.router, false, true));
    const e = logits.shape[1]!;
    const top = segment(() => logits.topk(k, -1).indices);
    const flip = this.profile.routeFlip;
    if (getFlag('moe.deviceRouting') && x.device === 'webgpu' && !(flip && k < e)) {
      const out = segment(() => this.expertMix(x, l, logits, top));
      logits.dispose();
      return { out, ids: top };
    }
    const ids = (await top.toArray()) as Int32Array;
    top.dispose();
    if (flip && k < e) {
      const L = await logits.toArray();
      for (let t = 0; t < n; t++) {
        const row = L.subarray(t * e, (t + 1) * e);
        // the best expert outside the chosen k
        let out = -1;
        for (let j = 0; j < e; j++) {
          let chosen = false;
          for (let s = 0; s < k; s++) if (ids[t * k + s] === j) chosen = true;
          if (!chosen && (out < 0 || row[j]! > row[out]!)) out = j;
        }
        const last = ids[t * k + k - 1]!;
        if (row[last]! - row[out]! < flip.gap && this.rng.uniform(1)[0]! < flip.p) ids[t * k + k - 1] = out;
      }
    }
    const out = segment(() => this.expertMix(x, l, logits, ids));
    logits.dispose();
    return { out, ids };
  }

  /** Gate weights, the chosen experts' rows and their weighted sum, for ids on the host or the device. */
  private expertMix(x: Tensor, l: number, logits: Tensor, ids: Int32Array | Tensor): Tensor {
    const b = this.w.blocks[l]!;
    const layer = this.model.blocks[l]!.moe;
    const k = layer.topK;
    const n = x.shape[0]!;
    const idx = ids instanceof Tensor ? ids : tensor(ids, { shape: [n, k], dtype: 'i32', device: x.device });
    const weights = gateWeights(logits, idx, layer.gate);
    const [, hid] = b.wGate.shape as [number, number, number];
    const d = x.shape[1]!;
    if (this.profile.precision === 'exact' && !this.profile.splitReductions && layer.dispatch !== 'sparse' && weights.dtype === x.dtype) {
      // The dense dispatch's values (the composed path below) without running the unchosen experts.
      const fused = tryRoutine(x.backend, 'chosenExperts', x.storage, idx.storage, b.wGate.storage, b.wUp.storage, b.wDown.storage, weights.storage, n, k, d, hid);
      if (fused) return new Tensor(fused, [n, d]);
    }
    const sparse = layer.dispatch === 'sparse' || (layer.dispatch === 'auto' && x.device === 'cpu');
    // The trainer's dispatch, with the engine's own expert matmuls (rounded / split-K).
    const run = (xe: Tensor, wg: Tensor, wu: Tensor, wd: Tensor) => {
      const g = this.mm(xe, wg, false, true, true);
      const u = this.mm(xe, wu, false, true, true);
      const same = u.dtype === g.dtype && u.device === g.device && u.ndim === g.ndim && g.shape.every((s, i) => s === u.shape[i]);
      const fused = same ? tryRoutine(g.backend, 'siluMul', g.storage, u.storage) : null;
      const h = fused ? new Tensor(fused, g.shape) : g.silu().mul(u);
      return this.mm(h, wd, false, true, true);
    };
    const rows = expertRows(x, ids, { router: b.router, wGate: b.wGate, wUp: b.wUp, wDown: b.wDown }, sparse ? 'sparse' : 'dense', run);
    if (!this.profile.splitReductions && weights.dtype === rows.dtype && weights.device === rows.device) {
      const fused = tryRoutine(rows.backend, 'weightedRows', rows.storage, weights.storage, n, k, d);
      if (fused) return new Tensor(fused, [n, d]);
    }
    return this.profile.splitReductions
      ? add(mul(slice(rows, 1, 0, 1), slice(weights, 1, 0, 1).unsqueeze(-1)).sum(1), mul(slice(rows, 1, 1, k), slice(weights, 1, 1, k).unsqueeze(-1)).sum(1))
      : rows.mul(weights.unsqueeze(-1)).sum(1);
  }

  /** One engine forward of tokens [B, T] at `offset`: logits [B, T, V] and per-layer ids. */
  private async forward(tokens: Tensor, cache: KVCache, offset: number): Promise<{ logits: Tensor; ids: (Int32Array | Tensor)[] }> {
    const c = this.model.config;
    const [B, T] = tokens.shape as [number, number];
    let h = segment(() => embedding(this.w.embed, tokens));
    // One pair of RoPE tables for every layer's q and k (the fused kernel's inputs).
    const theta = this.model.blocks[0]!.attn.ropeTheta;
    const hd = c.dModel / c.nHeads;
    const tables = hasRoutine(tokens.backend, 'rope') && this.model.blocks.every((b) => b.attn.ropeTheta === theta)
      ? ropeTables(T, hd, offset, theta, this.model.dtype, tokens.device) : undefined;
    const ids: (Int32Array | Tensor)[] = [];
    // hn is the normed h for the next norm's consumer (layer l's attention, or the head): each
    // residual add is fused with the norm that follows it (addNorm).
    let hn = segment(() => this.rmsNorm(h, this.w.blocks[0]!.attnNorm, this.model.blocks[0]!.attnNorm.eps));
    for (let l = 0; l < c.nLayers; l++) {
      const blk = this.model.blocks[l]!;
      const [a, y] = segment(() => {
        const [a, an] = this.addNorm(h, this.attention(hn, l, cache, offset, tables), this.w.blocks[l]!.moeNorm, blk.moeNorm.eps);
        return [a, an.reshape([B * T, c.dModel])] as const;
      });
      h.dispose();
      hn.dispose();
      const r = await this.moe(y, l);
      ids.push(r.ids);
      const last = l + 1 === c.nLayers;
      const [nw, eps] = last ? [this.w.norm, this.model.norm.eps] : [this.w.blocks[l + 1]!.attnNorm, this.model.blocks[l + 1]!.attnNorm.eps];
      [h, hn] = segment(() => this.addNorm(a, r.out.reshape([B, T, c.dModel]), nw, eps));
      for (const t of [a, y, r.out]) t.dispose();
    }
    const logits = segment(() => {
      let lg = this.mm(hn, this.w.lmHead, false, true);
      if (this.profile.logitNoise > 0) {
        const noise = this.rng.normal(lg.size);
        lg = lg.add(tensor(Float32Array.from(noise, (z) => z * this.profile.logitNoise), { shape: lg.shape, device: lg.device }).to(lg.dtype));
      }
      return lg;
    });
    h.dispose();
    hn.dispose();
    tables?.forEach((t) => t.dispose());
    return { logits, ids };
  }

  /**
   * Samples `maxNewTokens` tokens after each prompt. Prompts of equal length run as one batch
   * (with a shared KV cache); different lengths run as separate batches. Results are in the
   * prompts' order.
   */
  async generate(prompts: readonly (readonly number[])[], opts: GenerateOptions): Promise<GeneratedSequence[]> {
    const c = this.model.config;
    const tau = opts.temperature ?? 1;
    if (!(tau > 0) || !Number.isFinite(tau)) throw new ConfigError(`generate: temperature must be a positive finite number, got ${tau}`);
    if (!Number.isInteger(opts.maxNewTokens) || opts.maxNewTokens < 1) {
      throw new ConfigError(`generate: maxNewTokens must be a positive integer, got ${opts.maxNewTokens}`);
    }
    const rng = opts.rng ?? new Rng(this.rng.seed * 1000 + this.calls + 1);
    this.calls++;
    const groups = new Map<number, number[]>();
    prompts.forEach((p, i) => {
      if (!Array.isArray(p) || p.length === 0) throw new ShapeError(`generate: prompt ${i} must be a non-empty array of token ids`);
      for (const t of p) {
        if (!Number.isInteger(t) || t < 0 || t >= c.vocabSize) {
          throw new ShapeError(`generate: prompt ${i} has token id ${t}, outside the vocabulary 0..${c.vocabSize - 1}`);
        }
      }
      if (p.length + opts.maxNewTokens - 1 > c.contextLength) {
        throw new ShapeError(
          `generate: prompt ${i} (${p.length} tokens) + ${opts.maxNewTokens} new tokens needs ${p.length + opts.maxNewTokens - 1} positions, over the contextLength ${c.contextLength}`,
        );
      }
      groups.set(p.length, [...(groups.get(p.length) ?? []), i]);
    });
    const out: GeneratedSequence[] = new Array(prompts.length);
    for (const [len, members] of groups) {
      const res = await noGrad(() => this.generateBatch(members.map((i) => prompts[i]!), len, opts.maxNewTokens, tau, rng));
      members.forEach((i, j) => (out[i] = res[j]!));
    }
    return out;
  }

  private async generateBatch(prompts: (readonly number[])[], len: number, maxNew: number, tau: number, rng: Rng): Promise<GeneratedSequence[]> {
    const c = this.model.config;
    const B = prompts.length;
    const device: DeviceName = this.model.device;
    const cache = new KVCache(c.nLayers);
    const seqs = prompts.map((p) => [...p]);
    const logProbs: number[][] = prompts.map(() => []);
    const idsPerLayer: Int32Array[][] = Array.from({ length: c.nLayers }, () => []);
    try {
      let input = tensor(Int32Array.from(prompts.flat()), { shape: [B, len], dtype: 'i32', device });
      let offset = 0;
      for (let step = 0; step < maxNew; step++) {
        const T = input.shape[1]!;
        const { logits, ids } = await this.forward(input, cache, offset);
        input.dispose();
        const lp = segment(() => this.logSoftmax(div(T === 1 ? logits : slice(logits, 1, T - 1, T), tau)));
        logits.dispose();
        // Ids left on the device are read back here, with the log-probs: one copy of all layers' ids.
        const onDevice = ids.filter((a): a is Tensor => a instanceof Tensor);
        const packed = onDevice.length > 0 ? segment(() => cat(onDevice, 1)) : null;
        const [logp, all] = await Promise.all([lp.toArray(), packed?.toArray()]);
        lp.dispose();
        packed?.dispose();
        let at = 0;
        ids.forEach((a, l) => {
          if (!(a instanceof Tensor)) return idsPerLayer[l]!.push(a);
          const [n, k] = a.shape as [number, number];
          const w = onDevice.length * k;
          const h = new Int32Array(n * k);
          for (let t = 0; t < n; t++) h.set((all as Int32Array).subarray(t * w + at, t * w + at + k), t * k);
          at += k;
          a.dispose();
          idsPerLayer[l]!.push(h);
        });
        const V = c.vocabSize;
        const u = rng.uniform(B);
        const next = new Int32Array(B);
        for (let b = 0; b < B; b++) {
          const row = logp.subarray(b * V, (b + 1) * V);
          let acc = 0;
          let tok = V - 1;
          for (let v = 0; v < V; v++) {
            acc += Math.exp(row[v]!);
            if (u[b]! < acc) {
              tok = v;
              break;
            }
          }
          next[b] = tok;
          seqs[b]!.push(tok);
          logProbs[b]!.push(row[tok]!);
        }
        offset += T;
        if (step + 1 < maxNew) input = tensor(next, { shape: [B, 1], dtype: 'i32', device });
      }
    } finally {
      cache.dispose();
    }
    // Layer l's ids are [B, T_chunk, k] per forward call; interleave them into [B, L−1, k].
    const k = c.topK;
    const positions = len + maxNew - 1;
    const layers = idsPerLayer.map((chunks) => {
      const a = new Int32Array(B * positions * k);
      let at = 0;
      for (const ch of chunks) {
        const t = ch.length / (B * k);
        for (let b = 0; b < B; b++) a.set(ch.subarray(b * t * k, (b + 1) * t * k), (b * positions + at) * k);
        at += t;
      }
      return a;
    });
    const trace = new RoutingTrace({ batch: B, seqLen: positions, k, nExperts: c.nExperts }, layers);
    return seqs.map((tokens, b) => ({
      tokens,
      promptLength: len,
      response: tokens.slice(len),
      logProbs: logProbs[b]!,
      routing: trace.sliceSequences(b, b + 1),
    }));
  }
}
