/**
 * Addition of two `digits`-digit numbers.
 *
 * Prompt: BOS then "a+b=" with both operands zero-padded to `digits` digits, so every prompt has
 * 2·digits + 3 tokens (digits = 2: `<bos>07+35=`, 7 tokens).
 * Canonical answer: a+b zero-padded to digits+1 digits, then EOS (digits = 2: `042<eos>`), so
 * answerLength = digits + 2.
 *
 * Reward: the response up to its first EOS must be 1 to digits+1 decimal digits and nothing else;
 * it is read as a number and compared to a+b. So the canonical zero-padded answer ("042") and the
 * reformatted one without padding ("42") both score 1; "0042" cannot (it does not fit), "4 2",
 * "", a missing EOS, or any PAD/BOS before the EOS score 0. Tokens after the first EOS are ignored.
 *
 * Split: the problem's key is the unordered operand pair "min+max" (a+b and b+a share a split);
 * eval iff fnv1a(key) mod 10000 < evalFraction·10000 (default 0.2).
 */
import { ValueError, type Rng } from '../../tensor/index.js';
import {
  BOS,
  EOS,
  DEFAULT_EVAL_FRACTION,
  checkTaskOptions,
  decode,
  encode,
  responseText,
  sampleInSplit,
  splitOfKey,
  type Split,
  type Task,
  type TaskSample,
} from './tokenizer.js';

export interface AdditionOptions {
  /** Digits per operand, 1–9 (default 2). */
  digits?: number;
  /** Fraction of problems in the eval split (default 0.2). */
  evalFraction?: number;
}

export function additionTask(options: AdditionOptions = {}): Task {
  checkTaskOptions('additionTask', options, { digits: [1, 9] });
  const digits = options.digits ?? 2;
  const evalFraction = options.evalFraction ?? DEFAULT_EVAL_FRACTION;
  const name = 'addition';
  const bound = 10 ** digits;
  const promptLength = 2 * digits + 3;
  const answerLength = digits + 2;
  const pad = (x: number, w: number) => String(x).padStart(w, '0');
  const keyOf = ([a, b]: [number, number]) => `${Math.min(a, b)}+${Math.max(a, b)}`;

  const parsePrompt = (prompt: ArrayLike<number>): [number, number] => {
    const text = prompt.length === promptLength && prompt[0] === BOS ? decode(Array.from(prompt).slice(1)) : null;
    const m = text === null ? null : /^(\d+)\+(\d+)=$/.exec(text);
    if (!m || m[1]!.length !== digits || m[2]!.length !== digits) {
      throw new ValueError(
        `addition(digits=${digits}): malformed prompt ${JSON.stringify(Array.from(prompt))}; expected BOS then "a+b=" with ${digits}-digit operands`,
      );
    }
    return [Number(m[1]), Number(m[2])];
  };

  return {
    name,
    promptLength,
    answerLength,
    eosToken: EOS,
    evalFraction,
    sample(rng: Rng, split: Split): TaskSample {
      const [a, b] = sampleInSplit(
        () => {
          const r = rng.int(2, bound);
          return [r[0]!, r[1]!] as [number, number];
        },
        keyOf,
        split,
        evalFraction,
        name,
      );
      return { prompt: [BOS, ...encode(`${pad(a, digits)}+${pad(b, digits)}=`)], answer: pad(a + b, digits + 1) };
    },
    reward(prompt: ArrayLike<number>, response: ArrayLike<number>): 0 | 1 {
      const [a, b] = parsePrompt(prompt);
      const text = responseText(response);
      if (text === null || text.length < 1 || text.length > digits + 1 || !/^\d+$/.test(text)) return 0;
      return Number(text) === a + b ? 1 : 0;
    },
    splitOf(prompt: ArrayLike<number>): Split {
      return splitOfKey(keyOf(parsePrompt(prompt)), evalFraction);
    },
    solve(prompt: ArrayLike<number>): string {
      const [a, b] = parsePrompt(prompt);
      return pad(a + b, digits + 1);
    },
    /** The sum without zero-padding ("042" → "42", "000" → "0"). */
    reformat(answer: string): string {
      return String(Number(answer));
    },
  };
}
