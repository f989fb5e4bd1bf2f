/**
 * Cold start: supervised warm-up on demonstrations before RL (the paper's cold-start data
 * distilled from different teachers: paper §4.5, docs/paper.md §4). Cross-entropy on the
 * response tokens only, one AdamW step per batch, with the trainer's own model and optimiser.
 */
import { ConfigError, Rng, tensor } from '../../tensor/index.js';
import { AdamW, clipGradNormAsync } from '../../nn/index.js';
import type { Trainer } from './trainer.js';

export interface Demonstration {
  prompt: readonly number[];
  response: readonly number[];
}

export interface ColdStartOptions {
  steps: number;
  batchSize: number;
  /** Learning rate of the warm-up's own AdamW (default 2e-3); the RL optimiser's state is untouched. */
  lr?: number;
  rng?: Rng;
}

/** Runs `steps` SFT steps on batches drawn from `demos`; resolves to the loss per step. Reads are awaited, so it runs on any device. */
export async function coldStart(trainer: Trainer, demos: readonly Demonstration[], o: ColdStartOptions): Promise<number[]> {
  if (demos.length === 0) throw new ConfigError('coldStart: no demonstrations');
  const P = demos[0]!.prompt.length;
  const A = demos[0]!.response.length;
  for (const [i, d] of demos.entries()) {
    if (d.prompt.length !== P || d.response.length !== A) {
      throw new ConfigError(`coldStart: demonstration ${i} has prompt/response lengths ${d.prompt.length}/${d.response.length}, expected ${P}/${A}`);
    }
  }
  const rng = o.rng ?? new Rng(trainer.config.seed + 17);
  // Its own optimiser: SFT moments must not leak into the RL phase (Adam would keep stepping
  // at full size on near-zero RL gradients).
  const opt = new AdamW(trainer.model.parameters(), { lr: o.lr ?? 2e-3, weightDecay: 0 });
  const L = P + A;
  const losses: number[] = [];
  for (let s = 0; s < o.steps; s++) {
    const pick = rng.int(o.batchSize, demos.length);
    const toks = Int32Array.from(Array.from(pick).flatMap((i) => [...demos[i]!.prompt, ...demos[i]!.response]));
    const t = tensor(toks, { shape: [o.batchSize, L], dtype: 'i32', device: trainer.config.device });
    const mask = new Float32Array(o.batchSize * (L - 1));
    for (let b = 0; b < o.batchSize; b++) mask.fill(1, b * (L - 1) + P - 1, (b + 1) * (L - 1));
    const m = tensor(mask, { shape: [o.batchSize, L - 1], device: trainer.config.device });
    const r = trainer.model.forward(t.slice(1, 0, L - 1));
    const nll = r.logits.logSoftmax(-1).gather(-1, t.slice(1, 1, L).unsqueeze(-1)).squeeze(-1).mul(m).sum().div(-o.batchSize * A);
    nll.add(r.auxLoss).backward();
    await clipGradNormAsync(trainer.model.parameters(), trainer.config.maxGradNorm);
    opt.step();
    opt.zeroGrad();
    losses.push(await nll.item());
  }
  trainer.engine.syncWeights();
  return losses;
}
