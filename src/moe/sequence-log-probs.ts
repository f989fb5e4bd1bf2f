/**
 * The trainer's log-probabilities of a sequence under the model: log π(y_t) of every next token,
 * through the training forward (model.forward), with optional routing replay. It sits beside the
 * model rather than in the inference engine, which has its own code path (engine.ts).
 */
import { DTypeError, type Tensor } from '../tensor/index.js';
import { div, logSoftmax, slice } from '../autograd/index.js';
import type { RoutingTrace } from './trace.js';
import type { MoETransformer } from './transformer.js';

/**
 * The trainer's side of the engine's numbers: log π(y_t) of every next token of `tokens` [B, L]
 * (positions 1..L−1) under the model at temperature τ, with optional routing replay (R3 passes
 * the engine's trace). Returns logp [B, L−1] (differentiable) and the routing used.
 */
export function sequenceLogProbs(
  model: MoETransformer, tokens: Tensor, opts: { temperature?: number; routing?: 'record' | RoutingTrace } = {},
): { logp: Tensor; routing: RoutingTrace; auxLoss: Tensor } {
  if (tokens.dtype !== 'i32' || tokens.ndim !== 2 || tokens.shape[1]! < 2) {
    throw new DTypeError(`sequenceLogProbs: tokens must be i32 [B, L] with L ≥ 2, got ${tokens.dtype} [${tokens.shape.join(', ')}]`);
  }
  const L = tokens.shape[1]!;
  const inputs = slice(tokens, 1, 0, L - 1);
  const targets = slice(tokens, 1, 1, L);
  const r = model.forward(inputs, { routing: opts.routing ?? 'record' });
  const logp = logSoftmax(div(r.logits, opts.temperature ?? 1), -1).gather(-1, targets.unsqueeze(-1)).squeeze(-1);
  return { logp, routing: r.routing, auxLoss: r.auxLoss };
}
