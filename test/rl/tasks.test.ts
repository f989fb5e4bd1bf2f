/**
 * Verifiable tasks (src/rl/tasks): the tokenizer round trip and its errors; seeded, reproducible
 * sampling with disjoint train/eval splits and fixed lengths; the binary reward against an
 * independent reference parser on fast-check draws; the three demonstration sources.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError, Rng, ValueError } from '../../src/tensor/index.js';
import {
  BOS,
  DEMO_SOURCES,
  EOS,
  PAD,
  TASKS,
  VOCAB_SIZE,
  additionTask,
  decode,
  demonstrations,
  encode,
  makeTask,
  sortingTask,
  type Task,
} from '../../src/rl/tasks/index.js';

// ---- independent references (raw id arithmetic; no tokenizer, no regexes) -------------------
const ID0 = 3; // '0'
const COMMA_ID = 15;
const SPACE_ID = 17;
const isDigitId = (t: number) => t >= ID0 && t <= ID0 + 9;
/** Prompt → [a, b] by walking ids: BOS, digits, '+'(13), digits, '='(14). */
function refAdditionOperands(prompt: number[]): [number, number] {
  let i = 1;
  let a = 0;
  let b = 0;
  while (isDigitId(prompt[i]!)) a = a * 10 + (prompt[i++]! - ID0);
  i++; // '+'
  while (isDigitId(prompt[i]!)) b = b * 10 + (prompt[i++]! - ID0);
  return [a, b];
}
/** Reference addition reward: 1..digits+1 digit ids then EOS, with value a+b. */
function refAdditionReward(digits: number, prompt: number[], resp: number[]): 0 | 1 {
  const [a, b] = refAdditionOperands(prompt);
  let v = 0;
  let n = 0;
  for (const t of resp) {
    if (t === EOS) return n >= 1 && n <= digits + 1 && v === a + b ? 1 : 0;
    if (!isDigitId(t)) return 0;
    v = v * 10 + (t - ID0);
    n++;
  }
  return 0;
}
/** Reference sorting reward: digits with single ','/' ' between digits, then EOS; counts match and ascending. */
function refSortingReward(prompt: number[], resp: number[]): 0 | 1 {
  const list = prompt.slice(1, -1).map((t) => t - ID0);
  const got: number[] = [];
  let prevSep = true; // at the start a separator is not allowed
  for (const t of resp) {
    if (t === EOS) {
      if (prevSep) return 0; // empty or trailing separator
      const want = [...list].sort((x, y) => x - y);
      return got.length === want.length && got.every((d, i) => d === want[i]) ? 1 : 0;
    }
    if (isDigitId(t)) {
      got.push(t - ID0);
      prevSep = false;
    } else if (t === COMMA_ID || t === SPACE_ID) {
      if (prevSep) return 0;
      prevSep = true;
    } else return 0;
  }
  return 0;
}

const toks = (s: string, len: number) => {
  const ids = [...encode(s), EOS];
  while (ids.length < len) ids.push(PAD);
  return ids;
};

describe('tokenizer', () => {
  it('has a stable vocabulary that fits moe-tiny', () => {
    expect(VOCAB_SIZE).toBeLessThanOrEqual(32);
    expect([PAD, BOS, EOS]).toEqual([0, 1, 2]);
    expect(encode('0123456789+=,> ')).toEqual([3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]);
  });
  it('round-trips text and ids', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...'0123456789+=,> '.split(''), '<pad>', '<bos>', '<eos>')), (parts) => {
        const s = parts.join('');
        expect(decode(encode(s))).toBe(s);
      }),
    );
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: VOCAB_SIZE - 1 })), (ids) => {
        expect(encode(decode(ids))).toEqual(ids);
      }),
    );
  });
  it('names unknown characters and bad ids', () => {
    expect(() => encode('12a')).toThrow(ValueError);
    expect(() => encode('12a')).toThrow(/"a"/);
    expect(() => encode('<foo>')).toThrow(/"<"/);
    expect(() => decode([3, VOCAB_SIZE])).toThrow(ValueError);
    expect(() => decode([-1])).toThrow(ValueError);
    expect(() => decode([1.5])).toThrow(ValueError);
  });
});

const TASK_CONFIGS: [string, Task][] = [
  ['addition d=1', additionTask({ digits: 1 })],
  ['addition d=2', additionTask()],
  ['addition d=3', additionTask({ digits: 3 })],
  ['sorting n=3', sortingTask({ length: 3 })],
  ['sorting n=4', sortingTask()],
];
const refReward = (task: Task, prompt: number[], resp: number[]) =>
  task.name === 'addition' ? refAdditionReward((task.promptLength - 3) / 2, prompt, resp) : refSortingReward(prompt, resp);

describe('sampling', () => {
  it('default sizes suit moe-tiny (prompts ≤ 8, answers ≤ 8, total ≤ 64)', () => {
    expect([additionTask().promptLength, additionTask().answerLength]).toEqual([7, 4]);
    expect([sortingTask().promptLength, sortingTask().answerLength]).toEqual([6, 8]);
  });
  for (const [label, task] of TASK_CONFIGS) {
    it(`${label}: seeded, reproducible, fixed lengths, disjoint splits`, () => {
      for (const split of ['train', 'eval'] as const) {
        const r1 = new Rng(7);
        const r2 = new Rng(7);
        const seen = new Set<string>();
        for (let i = 0; i < 300; i++) {
          const s1 = task.sample(r1, split);
          expect(task.sample(r2, split)).toEqual(s1);
          expect(s1.prompt.length).toBe(task.promptLength);
          expect(s1.prompt[0]).toBe(BOS);
          expect(s1.answer.length + 1).toBeLessThanOrEqual(task.answerLength);
          expect(task.splitOf(s1.prompt)).toBe(split);
          expect(task.solve(s1.prompt)).toBe(s1.answer);
          seen.add(decode(s1.prompt));
        }
        expect(seen.size).toBeGreaterThan(task.name === 'addition' && task.promptLength === 5 ? 5 : 50);
      }
      // rng state round trip reproduces the continuation
      const r = new Rng(3);
      task.sample(r, 'train');
      const st = r.state();
      const a = task.sample(r, 'eval');
      expect(task.sample(Rng.fromState(st), 'eval')).toEqual(a);
    });
  }
  it('train and eval problems are disjoint over many draws (addition: up to operand order; sorting: up to list order)', () => {
    for (const task of [additionTask(), sortingTask()]) {
      const key = (p: number[]) =>
        task.name === 'addition' ? refAdditionOperands(p).sort((x, y) => x - y).join('+') : p.slice(1, -1).sort().join('');
      const rng = new Rng(11);
      const train = new Set<string>();
      const evalSet = new Set<string>();
      for (let i = 0; i < 5000; i++) train.add(key(task.sample(rng, 'train').prompt));
      for (let i = 0; i < 2000; i++) evalSet.add(key(task.sample(rng, 'eval').prompt));
      expect(evalSet.size).toBeGreaterThan(100);
      for (const k of evalSet) expect(train.has(k)).toBe(false);
    }
  });
  it('the eval split holds about evalFraction of the problems', () => {
    // all 10^4 two-digit addition problems: eval share near 0.2 (hash-based; ±0.03 is ~7σ for a fair hash)
    const task = additionTask();
    let evalCount = 0;
    for (let a = 0; a < 100; a++) {
      for (let b = 0; b < 100; b++) {
        const p = [BOS, ...encode(`${String(a).padStart(2, '0')}+${String(b).padStart(2, '0')}=`)];
        if (task.splitOf(p) === 'eval') evalCount++;
      }
    }
    expect(Math.abs(evalCount / 10000 - 0.2)).toBeLessThan(0.03);
  });
  it('rejects a bad split and malformed prompts', () => {
    const task = additionTask();
    expect(() => task.sample(new Rng(0), 'test' as 'train')).toThrow(ValueError);
    expect(() => task.reward([BOS, ...encode('1+2=')], toks('3', 4))).toThrow(ValueError);
    expect(() => sortingTask().solve([BOS, ...encode('12+4>')])).toThrow(ValueError);
  });
});

describe('reward', () => {
  it('hand-picked cases', () => {
    const add = additionTask();
    const p = [BOS, ...encode('07+35=')];
    expect(add.reward(p, toks('042', 4))).toBe(1);
    expect(add.reward(p, toks('42', 4))).toBe(1);
    expect(add.reward(p, [...encode('42'), EOS, 5])).toBe(1); // after EOS ignored
    expect(add.reward(p, toks('043', 4))).toBe(0);
    expect(add.reward(p, toks('', 4))).toBe(0);
    expect(add.reward(p, encode('0420'))).toBe(0); // no EOS: truncated
    expect(add.reward(p, [...encode('04'), PAD, EOS])).toBe(0);
    expect(add.reward(p, [...encode('4 2'), EOS])).toBe(0);
    const sort = sortingTask();
    const q = [BOS, ...encode('3142>')];
    for (const s of ['1234', '1,2,3,4', '1 2 3 4', '12,34']) expect(sort.reward(q, toks(s, 8))).toBe(1);
    for (const s of ['1243', '123', '12344', ',1234', '1234,', '1,,234', '1+234', '']) expect(sort.reward(q, toks(s, 8))).toBe(0);
    expect(sort.reward(q, encode('1234'))).toBe(0);
  });
  for (const [label, task] of TASK_CONFIGS) {
    it(`${label}: reward 1 on canonical and reformatted answers`, () => {
      const rng = new Rng(5);
      for (let i = 0; i < 200; i++) {
        const { prompt, answer } = task.sample(rng, i % 2 ? 'train' : 'eval');
        expect(task.reward(prompt, toks(answer, task.answerLength))).toBe(1);
        expect(task.reward(prompt, toks(task.reformat(answer), task.answerLength))).toBe(1);
      }
    });
    it(`${label}: reward equals the reference parser on random responses`, () => {
      const tokenArb = fc.oneof(
        { weight: 6, arbitrary: fc.integer({ min: ID0, max: ID0 + 9 }) },
        { weight: 2, arbitrary: fc.constant(EOS) },
        { weight: 1, arbitrary: fc.constantFrom(COMMA_ID, SPACE_ID) },
        { weight: 1, arbitrary: fc.integer({ min: 0, max: VOCAB_SIZE - 1 }) },
      );
      let ones = 0;
      fc.assert(
        fc.property(
          fc.integer({ min: 0, max: 1e9 }),
          fc.array(tokenArb, { minLength: task.answerLength, maxLength: task.answerLength }),
          fc.integer({ min: 0, max: 3 }),
          fc.nat(),
          (seed, random, mode, pos) => {
            const { prompt, answer } = task.sample(new Rng(seed), 'train');
            let resp = random;
            if (mode > 0) {
              // a correct answer (either format), mutated in one place for mode 3
              resp = toks(mode === 1 ? answer : task.reformat(answer), task.answerLength);
              if (mode === 3) resp[pos % resp.length] = random[0]!;
            }
            const r = task.reward(prompt, resp);
            ones += r;
            expect(r).toBe(refReward(task, prompt, resp));
          },
        ),
        { numRuns: 500 },
      );
      expect(ones).toBeGreaterThan(100);
    });
  }
});

describe('demonstrations', () => {
  for (const [label, task] of TASK_CONFIGS) {
    it(`${label}: lengths exact; canonical and reformatted always reward 1; seeded`, () => {
      for (const source of DEMO_SOURCES) {
        const demos = demonstrations(task, source, 300, new Rng(9));
        expect(demonstrations(task, source, 300, new Rng(9))).toEqual(demos);
        for (const d of demos) {
          expect(d.prompt.length).toBe(task.promptLength);
          expect(d.response.length).toBe(task.answerLength);
          expect(task.splitOf(d.prompt)).toBe('train');
          if (source !== 'noisy') expect(task.reward(d.prompt, d.response)).toBe(1);
        }
      }
    });
  }
  it('reformatted differs from canonical on the stated fraction', () => {
    // addition d=2: differs iff a+b < 100, probability 0.505 for uniform operands; the train split
    // shifts it little. Bound ±0.05 ≈ 4.5σ at n = 2000 (σ ≈ 0.011).
    const n = 2000;
    for (const task of [additionTask(), sortingTask()]) {
      const canon = demonstrations(task, 'canonical', n, new Rng(1));
      const ref = demonstrations(task, 'reformatted', n, new Rng(1));
      let differ = 0;
      for (let i = 0; i < n; i++) {
        expect(ref[i]!.prompt).toEqual(canon[i]!.prompt);
        if (ref[i]!.response.join() !== canon[i]!.response.join()) differ++;
      }
      if (task.name === 'addition') expect(Math.abs(differ / n - 0.505)).toBeLessThan(0.05);
      else expect(differ).toBe(n); // sorting: commas always added
    }
  });
  it('noisy: reward 0 on about p of them (Binomial, 5σ bound), only by a one-digit change', () => {
    const n = 2000;
    for (const task of [additionTask(), sortingTask()]) {
      for (const p of [0.2, 0.5]) {
        const noisy = demonstrations(task, 'noisy', n, new Rng(2), { noiseRate: p });
        const zeros = noisy.filter((d) => task.reward(d.prompt, d.response) === 0).length;
        const sigma = Math.sqrt(n * p * (1 - p));
        expect(Math.abs(zeros - n * p)).toBeLessThan(5 * sigma);
        for (const d of noisy) {
          const canon = toks(task.solve(d.prompt), task.answerLength);
          const diffs = canon.filter((t, i) => t !== d.response[i]).length;
          expect(diffs).toBe(task.reward(d.prompt, d.response) ? 0 : 1);
        }
      }
      expect(demonstrations(task, 'noisy', 200, new Rng(3), { noiseRate: 0 }).every((d) => task.reward(d.prompt, d.response) === 1)).toBe(true);
    }
  });
  it('validates its arguments', () => {
    const task = additionTask();
    expect(() => demonstrations(task, 'teacher' as 'noisy', 1, new Rng(0))).toThrow(ConfigError);
    expect(() => demonstrations(task, 'noisy', -1, new Rng(0))).toThrow(ConfigError);
    expect(() => demonstrations(task, 'noisy', 1, new Rng(0), { noiseRate: 1.5 })).toThrow(ConfigError);
    expect(() => demonstrations(task, 'noisy', 1, new Rng(0), { split: 'dev' as 'eval' })).toThrow(ConfigError);
    expect(demonstrations(task, 'canonical', 0, new Rng(0))).toEqual([]);
  });
});

describe('registry', () => {
  it('makeTask builds tasks by name and validates options', () => {
    expect(Object.keys(TASKS).sort()).toEqual(['addition', 'sorting']);
    expect(makeTask('addition', { digits: 3 }).promptLength).toBe(9);
    expect(makeTask('sorting', { length: 5 }).answerLength).toBe(10);
    expect(makeTask('sorting').name).toBe('sorting');
    expect(() => makeTask('multiplication')).toThrow(ConfigError);
    expect(() => makeTask('toString')).toThrow(ConfigError);
    expect(() => makeTask('addition', { length: 3 })).toThrow(/unknown option "length"/);
    expect(() => makeTask('addition', { digits: 0 })).toThrow(/digits/);
    expect(() => makeTask('addition', { digits: 2.5 })).toThrow(ConfigError);
    expect(() => makeTask('sorting', { length: '4' })).toThrow(/length/);
    expect(() => makeTask('sorting', { evalFraction: 1 })).toThrow(/evalFraction/);
    expect(() => additionTask(null as unknown as {})).toThrow(ConfigError);
  });
});
