/**
 * The MoE transformer's configuration, its validation, and the two named presets that the
 * benchmarks and tests measure by name (`moe-tiny`, `moe-small`). A config is plain data so it
 * can be stored next to a checkpoint; `validateMoEConfig` turns every wrong field into a
 * ConfigError that names it.
 */
import { ConfigError } from '../tensor/index.js';

/**
 * How router logits become gate weights (docs/paper.md §2.1, verl's `_patched_topk_routing_with_score_function`):
 *   'softmax-topk'  softmax over all E experts, keep the top k, renormalise over the k
 *                   (Megatron use_pre_softmax=True with norm_topk_prob; Qwen3-MoE, Mixtral)
 *   'topk-softmax'  top k of the logits, softmax over those k (Megatron use_pre_softmax=False)
 *   'sigmoid'       s = sigmoid(logits), top k of s, divided by its sum over the k (DeepSeek-V3)
 * With renormalisation the two softmax modes are the same function of the logits (see router.ts).
 */
export type GateMode = 'softmax-topk' | 'topk-softmax' | 'sigmoid';
export const GATE_MODES: readonly GateMode[] = Object.freeze(['softmax-topk', 'topk-softmax', 'sigmoid']);

export interface MoEConfig {
  /** Number of token ids. */
  vocabSize: number;
  /** Width of the residual stream. */
  dModel: number;
  /** Number of blocks, each [attention, MoE]; every block has one MoE layer. */
  nLayers: number;
  /** Attention heads; dModel / nHeads must be an even integer (RoPE rotates pairs). */
  nHeads: number;
  /** Experts per MoE layer. */
  nExperts: number;
  /** Experts each token is routed to. */
  topK: number;
  /** Hidden width H of each SwiGLU expert. */
  expertHidden: number;
  /** Longest sequence (prompt + response) the model accepts. */
  contextLength: number;
  gate: GateMode;
  /** RoPE base θ. */
  ropeTheta: number;
  /** α of the Switch load-balancing loss α·E·Σ_e f_e·P_e (0 turns it off). */
  auxLossCoef: number;
  /** Coefficient of the router z-loss mean(logsumexp(logits)²) (ST-MoE; 0 turns it off). */
  zLossCoef: number;
  /** ε of every RMSNorm. */
  normEps: number;
}

const DEFAULTS = { gate: 'softmax-topk', ropeTheta: 10000, auxLossCoef: 0.01, zLossCoef: 0.001, normEps: 1e-6 } as const;

/** `moe-tiny`: vocab 32, d_model 64, 2 layers, 4 heads, 8 experts, top-2, hidden 128, context 64. */
export const MOE_TINY: Readonly<MoEConfig> = Object.freeze({
  vocabSize: 32, dModel: 64, nLayers: 2, nHeads: 4, nExperts: 8, topK: 2, expertHidden: 128, contextLength: 64, ...DEFAULTS,
});

/** `moe-small`: vocab 64, d_model 128, 4 layers, 4 heads, 16 experts, top-2, hidden 256, context 128. */
export const MOE_SMALL: Readonly<MoEConfig> = Object.freeze({
  vocabSize: 64, dModel: 128, nLayers: 4, nHeads: 4, nExperts: 16, topK: 2, expertHidden: 256, contextLength: 128, ...DEFAULTS,
});

export const MOE_PRESETS: Readonly<Record<'moe-tiny' | 'moe-small', Readonly<MoEConfig>>> = Object.freeze({
  'moe-tiny': MOE_TINY,
  'moe-small': MOE_SMALL,
});

const INT_FIELDS = ['vocabSize', 'dModel', 'nLayers', 'nHeads', 'nExperts', 'topK', 'expertHidden', 'contextLength'] as const;
const KNOWN = new Set<string>([...INT_FIELDS, 'gate', 'ropeTheta', 'auxLossCoef', 'zLossCoef', 'normEps']);

/**
 * Checks every field of a config and returns it typed. Throws ConfigError naming the first
 * wrong field: missing, non-integer or non-positive sizes, topK > nExperts, a dModel that the
 * heads do not split into even head dims, an unknown gate, negative or non-finite coefficients,
 * and unknown fields (a typo would otherwise be silently ignored).
 */
export function validateMoEConfig(c: unknown): MoEConfig {
  if (c === null || typeof c !== 'object' || Array.isArray(c)) {
    throw new ConfigError(`MoEConfig: expected an object, got ${c === null ? 'null' : Array.isArray(c) ? 'an array' : typeof c}`);
  }
  const o = c as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!KNOWN.has(k)) throw new ConfigError(`MoEConfig: unknown field '${k}' (known: ${[...KNOWN].join(', ')})`);
  }
  for (const f of INT_FIELDS) {
    const v = o[f];
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
      throw new ConfigError(`MoEConfig.${f} must be a positive integer, got ${v === undefined ? 'nothing (missing)' : String(v)}`);
    }
  }
  const cfg = o as unknown as MoEConfig;
  if (cfg.topK > cfg.nExperts) {
    throw new ConfigError(`MoEConfig.topK = ${cfg.topK} must be at most nExperts = ${cfg.nExperts}`);
  }
  if (cfg.dModel % cfg.nHeads !== 0 || (cfg.dModel / cfg.nHeads) % 2 !== 0) {
    throw new ConfigError(
      `MoEConfig.nHeads = ${cfg.nHeads} must divide dModel = ${cfg.dModel} into an even head dim (RoPE rotates pairs)`,
    );
  }
  if (typeof cfg.gate !== 'string' || !GATE_MODES.includes(cfg.gate)) {
    throw new ConfigError(`MoEConfig.gate must be one of ${GATE_MODES.join(', ')}, got ${String(cfg.gate)}`);
  }
  const pos = (f: 'ropeTheta' | 'normEps') => {
    const v = o[f];
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new ConfigError(`MoEConfig.${f} must be a finite number > 0, got ${String(v)}`);
  };
  const nonNeg = (f: 'auxLossCoef' | 'zLossCoef') => {
    const v = o[f];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new ConfigError(`MoEConfig.${f} must be a finite number ≥ 0, got ${String(v)}`);
  };
  pos('ropeTheta');
  pos('normEps');
  nonNeg('auxLossCoef');
  nonNeg('zLossCoef');
  return cfg;
}

/** A validated copy of a preset (by name or value) with some fields replaced. */
export function moeConfig(base: 'moe-tiny' | 'moe-small' | Readonly<MoEConfig>, overrides: Partial<MoEConfig> = {}): MoEConfig {
  const b = typeof base === 'string' ? MOE_PRESETS[base] : base;
  if (b === undefined) throw new ConfigError(`moeConfig: unknown preset '${String(base)}' (known: ${Object.keys(MOE_PRESETS).join(', ')})`);
  return validateMoEConfig({ ...b, ...overrides });
}
