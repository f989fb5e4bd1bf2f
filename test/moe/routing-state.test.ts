/**
 * Routing is never global state: a forward pass takes its routing as an argument (live, or a
 * trace to replay) and returns the routing it used as a value. Interleaving replays of different
 * traces, live passes and other models changes nothing about any one pass, and no module of
 * src/moe keeps mutable state at its top level.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Rng, randint, noGrad } from '../../src/index.js';
import { MOE_TINY, MoETransformer } from '../../src/moe/index.js';

describe('routing flows as an argument and a return value', () => {
  it('interleaved live passes, replays of other traces and another model leave every pass unchanged', () => {
    const a = new MoETransformer(MOE_TINY, { rng: new Rng(1) });
    const b = new MoETransformer(MOE_TINY, { rng: new Rng(2) });
    const x1 = randint(0, MOE_TINY.vocabSize, [2, 6], { rng: new Rng(3) });
    const x2 = randint(0, MOE_TINY.vocabSize, [2, 6], { rng: new Rng(4) });
    noGrad(() => {
      const live1 = a.forward(x1);
      const live2 = b.forward(x2); // another model's trace, the same shape
      const bits = (t: { logits: { toArraySync(): ArrayLike<number> } }) => Array.from(t.logits.toArraySync());
      const first = bits(a.forward(x1, { routing: live2.routing })); // a replays b's experts
      a.forward(x2);
      b.forward(x1, { routing: live1.routing });
      expect(bits(a.forward(x1, { routing: live2.routing }))).toEqual(first);
      expect(bits(a.forward(x1))).toEqual(bits(live1));
      expect(a.forward(x1).routing.agreement(live1.routing)).toBe(1);
    });
  });

  it('no src/moe module keeps mutable state at its top level', () => {
    const dir = resolve(__dirname, '../../src/moe');
    const offenders: string[] = [];
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.ts'))) {
      readFileSync(join(dir, f), 'utf8').split('\n').forEach((line, i) => {
        if (/^(export\s+)?(let|var)\s/.test(line)) offenders.push(`${f}:${i + 1}: ${line.trim()}`);
      });
    }
    expect(offenders).toEqual([]);
  });
});
