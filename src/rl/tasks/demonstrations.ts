/**
 * Cold-start demonstration sources: three different "teachers" for the supervised warm-up,
 * standing in for the paper's cold-start data distilled from different models.
 *
 * - `canonical`: the task's canonical answer (addition: zero-padded sum; sorting: "1234").
 *   Every demonstration gets reward 1.
 * - `reformatted`: a different but valid format that the task's reward also accepts (addition:
 *   the sum without zero-padding, "42" for "042"; sorting: comma-separated, "1,2,3,4").
 *   Every demonstration gets reward 1. Its tokens differ from the canonical ones exactly when the
 *   formats differ: for addition when the sum has a leading zero, i.e. a+b < 10^digits (for
 *   uniform operands a fraction (10^digits + 1) / (2·10^digits), 0.505 at digits = 2); for
 *   sorting always (length ≥ 2).
 * - `noisy`: the canonical answer, but each demonstration independently, with probability
 *   `noiseRate` (default 0.2), has one digit replaced by a different digit at a uniformly chosen
 *   position. A replaced digit changes the sum (addition) or the multiset (sorting), so exactly
 *   the corrupted demonstrations get reward 0: their count is Binomial(n, noiseRate).
 *
 * Responses are the answer's tokens, EOS, then PAD up to exactly `task.answerLength` tokens.
 * Prompts are drawn from the train split unless `split` says otherwise.
 */
import { ConfigError, type Rng } from '../../tensor/index.js';
import { padResponse, type Split, type Task } from './tokenizer.js';

export type DemoSource = 'canonical' | 'reformatted' | 'noisy';
export const DEMO_SOURCES: readonly DemoSource[] = Object.freeze(['canonical', 'reformatted', 'noisy']);
export const DEFAULT_NOISE_RATE = 0.2;

export interface Demonstration {
  prompt: number[];
  response: number[];
}

export interface DemonstrationOptions {
  /** Probability that a `noisy` demonstration is corrupted (default 0.2). */
  noiseRate?: number;
  /** Split the prompts come from (default 'train'). */
  split?: Split;
}

/** Replaces the digit at a uniformly drawn position with a different uniformly drawn digit. */
function corrupt(answer: string, rng: Rng): string {
  const positions: number[] = [];
  for (let i = 0; i < answer.length; i++) if (answer[i]! >= '0' && answer[i]! <= '9') positions.push(i);
  const pos = positions[rng.int(1, positions.length)[0]!]!;
  const old = Number(answer[pos]);
  const replacement = (old + 1 + rng.int(1, 9)[0]!) % 10; // a digit ≠ old, uniform over the other nine
  return answer.slice(0, pos) + String(replacement) + answer.slice(pos + 1);
}

/** n demonstrations of `task` from `source`, drawn from `rng` (deterministic given its state). */
export function demonstrations(
  task: Task,
  source: DemoSource,
  n: number,
  rng: Rng,
  options: DemonstrationOptions = {},
): Demonstration[] {
  if (!DEMO_SOURCES.includes(source)) {
    throw new ConfigError(`demonstrations: unknown source ${JSON.stringify(source)}; expected one of ${DEMO_SOURCES.join(', ')}`);
  }
  if (!Number.isInteger(n) || n < 0) {
    throw new ConfigError(`demonstrations: n must be a non-negative integer, got ${n}`);
  }
  const noiseRate = options.noiseRate ?? DEFAULT_NOISE_RATE;
  if (typeof noiseRate !== 'number' || !(noiseRate >= 0 && noiseRate <= 1)) {
    throw new ConfigError(`demonstrations: noiseRate must be a number in [0, 1], got ${JSON.stringify(noiseRate)}`);
  }
  const split = options.split ?? 'train';
  if (split !== 'train' && split !== 'eval') {
    throw new ConfigError(`demonstrations: split must be 'train' or 'eval', got ${JSON.stringify(split)}`);
  }
  const out: Demonstration[] = [];
  for (let i = 0; i < n; i++) {
    const { prompt, answer } = task.sample(rng, split);
    let text = answer;
    if (source === 'reformatted') text = task.reformat(answer);
    else if (source === 'noisy' && rng.uniform(1)[0]! < noiseRate) text = corrupt(answer, rng);
    out.push({ prompt, response: padResponse(text, task.answerLength) });
  }
  return out;
}
