/**
 * Sorting a list of `length` single digits in ascending order.
 *
 * Prompt: BOS, the digits, then '>' (length = 4: `<bos>3142>`, length + 2 tokens).
 * Canonical answer: the sorted digits, no separators, then EOS (`1234<eos>`).
 * answerLength = 2·length: room for the reformatted answer with separators ("1,2,3,4" plus EOS);
 * shorter responses are PAD after EOS.
 *
 * Reward: the response up to its first EOS must be digits, optionally with exactly one separator
 * (',' or ' ') between consecutive digits (no leading, trailing or doubled separators); with the
 * separators removed it must equal the sorted list. So "1234", "1,2,3,4", "1 2 3 4" and "12,34"
 * score 1; a wrong order or multiset, ",1234", "1,,234", a missing EOS, or PAD/BOS before the EOS
 * score 0. Tokens after the first EOS are ignored.
 *
 * Split: the problem's key is the sorted list (all orderings of one multiset share a split, so an
 * eval answer is never seen in training); eval iff fnv1a(key) mod 10000 < evalFraction·10000.
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

export interface SortingOptions {
  /** Digits in the list, 2–16 (default 4). */
  length?: number;
  /** Fraction of problems in the eval split (default 0.2). */
  evalFraction?: number;
}

export function sortingTask(options: SortingOptions = {}): Task {
  checkTaskOptions('sortingTask', options, { length: [2, 16] });
  const length = options.length ?? 4;
  const evalFraction = options.evalFraction ?? DEFAULT_EVAL_FRACTION;
  const name = 'sorting';
  const promptLength = length + 2;
  const answerLength = 2 * length;
  const sorted = (s: string) => [...s].sort().join('');

  const parsePrompt = (prompt: ArrayLike<number>): string => {
    const text = prompt.length === promptLength && prompt[0] === BOS ? decode(Array.from(prompt).slice(1)) : null;
    const m = text === null ? null : /^(\d+)>$/.exec(text);
    if (!m || m[1]!.length !== length) {
      throw new ValueError(
        `sorting(length=${length}): malformed prompt ${JSON.stringify(Array.from(prompt))}; expected BOS, ${length} digits, '>'`,
      );
    }
    return m[1]!;
  };

  return {
    name,
    promptLength,
    answerLength,
    eosToken: EOS,
    evalFraction,
    sample(rng: Rng, split: Split): TaskSample {
      const list = sampleInSplit(() => Array.from(rng.int(length, 10)).join(''), sorted, split, evalFraction, name);
      return { prompt: [BOS, ...encode(`${list}>`)], answer: sorted(list) };
    },
    reward(prompt: ArrayLike<number>, response: ArrayLike<number>): 0 | 1 {
      const list = parsePrompt(prompt);
      const text = responseText(response);
      if (text === null || !/^\d([, ]?\d)*$/.test(text)) return 0;
      return text.replace(/[, ]/g, '') === sorted(list) ? 1 : 0;
    },
    splitOf(prompt: ArrayLike<number>): Split {
      return splitOfKey(sorted(parsePrompt(prompt)), evalFraction);
    },
    solve(prompt: ArrayLike<number>): string {
      return sorted(parsePrompt(prompt));
    },
    /** The sorted digits separated by commas ("1234" → "1,2,3,4"). */
    reformat(answer: string): string {
      return [...answer].join(',');
    },
  };
}
