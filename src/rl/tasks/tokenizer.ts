/**
 * The character-level tokenizer shared by the verifiable tasks (addition, sorting). Its
 * vocabulary has 18 ids, so it fits `moe-tiny` (vocab 32); ids 18..31 are never produced.
 *
 * The ids are stable (checkpoints and demonstrations depend on them):
 *
 * | id   | token                        |
 * |------|------------------------------|
 * | 0    | PAD  (written `<pad>`)       |
 * | 1    | BOS  (written `<bos>`)       |
 * | 2    | EOS  (written `<eos>`)       |
 * | 3–12 | the digits '0'–'9'           |
 * | 13   | '+'                          |
 * | 14   | '='                          |
 * | 15   | ','                          |
 * | 16   | '>'                          |
 * | 17   | ' '                          |
 *
 * `decode` writes the special tokens as the markers above and `encode` reads them back, so
 * `encode(decode(ids))` equals `ids` for every valid id list and `decode(encode(s))` equals `s`
 * for every string made of the characters and markers above.
 */
import { ConfigError, ValueError, type Rng } from '../../tensor/index.js';

export const PAD = 0;
export const BOS = 1;
export const EOS = 2;
/** Id of the digit '0'; digit d has id DIGIT0 + d. */
export const DIGIT0 = 3;
export const PLUS = 13;
export const EQUALS = 14;
export const COMMA = 15;
export const ARROW = 16;
export const SPACE = 17;
/** Number of ids the tokenizer uses (≤ 32, the vocabulary of moe-tiny). */
export const VOCAB_SIZE = 18;

/** Id → text, in id order. */
export const VOCAB: readonly string[] = Object.freeze([
  '<pad>', '<bos>', '<eos>',
  '0', '1', '2', '3', '4', '5', '6', '7', '8', '9',
  '+', '=', ',', '>', ' ',
]);

const SPECIAL_MARKERS: readonly [string, number][] = [['<pad>', PAD], ['<bos>', BOS], ['<eos>', EOS]];
const CHAR_TO_ID = new Map<string, number>();
for (let id = DIGIT0; id < VOCAB_SIZE; id++) CHAR_TO_ID.set(VOCAB[id]!, id);

/** Text → ids. Throws ValueError naming the first character it cannot encode and its position. */
export function encode(text: string): number[] {
  const out: number[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    if (ch === '<') {
      const m = SPECIAL_MARKERS.find(([marker]) => text.startsWith(marker, i));
      if (m) {
        out.push(m[1]);
        i += m[0].length;
        continue;
      }
    }
    const id = CHAR_TO_ID.get(ch);
    if (id === undefined) {
      throw new ValueError(
        `tokenizer.encode: unknown character ${JSON.stringify(ch)} at position ${i} in ${JSON.stringify(text)}; ` +
          `the vocabulary is digits 0-9, '+', '=', ',', '>', ' ' and the markers <pad>, <bos>, <eos>`,
      );
    }
    out.push(id);
    i++;
  }
  return out;
}

/** Ids → text (special tokens as `<pad>`, `<bos>`, `<eos>`). Throws ValueError on an id outside [0, VOCAB_SIZE). */
export function decode(ids: ArrayLike<number>): string {
  let s = '';
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    if (!Number.isInteger(id) || id < 0 || id >= VOCAB_SIZE) {
      throw new ValueError(`tokenizer.decode: id ${id} at position ${i} is outside the vocabulary [0, ${VOCAB_SIZE})`);
    }
    s += VOCAB[id]!;
  }
  return s;
}

/** The id of digit d (0–9). */
export function digitId(d: number): number {
  return DIGIT0 + d;
}

/** The digit a token id stands for, or -1 if it is not a digit. */
export function idDigit(id: number): number {
  return id >= DIGIT0 && id < DIGIT0 + 10 ? id - DIGIT0 : -1;
}

/**
 * The text a response stands for, up to (not including) its first EOS; null when it has no EOS
 * (a truncated response) or holds a PAD/BOS or an out-of-vocabulary id before the EOS.
 */
export function responseText(response: ArrayLike<number>): string | null {
  let s = '';
  for (let i = 0; i < response.length; i++) {
    const id = response[i]!;
    if (id === EOS) return s;
    if (!Number.isInteger(id) || id < DIGIT0 || id >= VOCAB_SIZE) return null;
    s += VOCAB[id]!;
  }
  return null;
}

/**
 * A response of exactly `length` tokens: the text's tokens, EOS, then PAD. Throws ValueError
 * if the text and its EOS do not fit.
 */
export function padResponse(text: string, length: number): number[] {
  const ids = encode(text);
  ids.push(EOS);
  if (ids.length > length) {
    throw new ValueError(`padResponse: ${JSON.stringify(text)} plus EOS needs ${ids.length} tokens, more than ${length}`);
  }
  while (ids.length < length) ids.push(PAD);
  return ids;
}

// ---- the task contract, shared by every task (kept here so tasks do not import each other) ----


export type Split = 'train' | 'eval';

/** One sampled problem: the prompt's tokens (starting with BOS) and the canonical answer text (no EOS). */
export interface TaskSample {
  prompt: number[];
  answer: string;
}

/** A verifiable task with a binary reward. */
export interface Task {
  readonly name: string;
  /** Tokens in every prompt of this task config (BOS included), so prompts batch together. */
  readonly promptLength: number;
  /** Tokens the policy generates per response, EOS included; shorter answers are padded with PAD after EOS. */
  readonly answerLength: number;
  /** The end-of-sequence token: a response ends at its first EOS (the trainer masks what follows). */
  readonly eosToken: number;
  /** Fraction of the problem space in the eval split (decided by `splitOf`). */
  readonly evalFraction: number;
  /** A problem of the given split, drawn from `rng` (deterministic given the rng state). */
  sample(rng: Rng, split: Split): TaskSample;
  /**
   * 1 if the response, read up to its first EOS, is a correct answer in an accepted format;
   * 0 if it is wrong, malformed, or has no EOS (truncated). Tokens after the first EOS are ignored.
   */
  reward(prompt: ArrayLike<number>, response: ArrayLike<number>): 0 | 1;
  /** Which split the problem behind a prompt belongs to (a hash of the problem; see `splitOfKey`). */
  splitOf(prompt: ArrayLike<number>): Split;
  /** The canonical answer text (no EOS) for a prompt of this task. Throws ValueError on a malformed prompt. */
  solve(prompt: ArrayLike<number>): string;
  /** A different but valid format of a canonical answer, which `reward` also accepts (may equal it). */
  reformat(answer: string): string;
}

/** 32-bit FNV-1a hash of a string's UTF-16 code units. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/**
 * The split of a problem with canonical key `key`: eval iff fnv1a(key) mod 10000 < evalFraction·10000.
 * The key identifies the problem up to the symmetries that leave its answer unchanged, so a
 * problem and its mirror image never fall in different splits.
 */
export function splitOfKey(key: string, evalFraction: number): Split {
  return fnv1a(key) % 10000 < Math.round(evalFraction * 10000) ? 'eval' : 'train';
}

/** Draws problems with `draw` until one lands in `split` (rejection sampling; bounded). */
export function sampleInSplit<T>(draw: () => T, keyOf: (p: T) => string, split: Split, evalFraction: number, who: string): T {
  if (split !== 'train' && split !== 'eval') {
    throw new ValueError(`${who}.sample: split must be 'train' or 'eval', got ${JSON.stringify(split)}`);
  }
  for (let attempt = 0; attempt < 100000; attempt++) {
    const p = draw();
    if (splitOfKey(keyOf(p), evalFraction) === split) return p;
  }
  throw new ValueError(`${who}.sample: no problem found in the ${split} split after 100000 draws (evalFraction ${evalFraction})`);
}

/**
 * Validates a task's options object: only `allowed` keys, each an integer in [min, max] or (for
 * evalFraction) a number in (0, 1). Throws ConfigError naming the field.
 */
export function checkTaskOptions(who: string, options: unknown, allowed: Record<string, [number, number]>): void {
  if (options === undefined) return;
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new ConfigError(`${who}: options must be an object, got ${JSON.stringify(options)}`);
  }
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined) continue;
    if (key === 'evalFraction') {
      if (typeof value !== 'number' || !(value > 0 && value < 1)) {
        throw new ConfigError(`${who}: option evalFraction must be a number in (0, 1), got ${JSON.stringify(value)}`);
      }
      continue;
    }
    const range = allowed[key];
    if (!range) {
      throw new ConfigError(
        `${who}: unknown option ${JSON.stringify(key)}; allowed: ${[...Object.keys(allowed), 'evalFraction'].join(', ')}`,
      );
    }
    if (typeof value !== 'number' || !Number.isInteger(value) || value < range[0] || value > range[1]) {
      throw new ConfigError(`${who}: option ${key} must be an integer in [${range[0]}, ${range[1]}], got ${JSON.stringify(value)}`);
    }
  }
}

/** Default fraction of each task's problem space held out for evaluation. */
export const DEFAULT_EVAL_FRACTION = 0.2;
