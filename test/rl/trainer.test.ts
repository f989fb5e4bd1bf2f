/**
 * Trainer properties on moe-tiny with tiny batches: on-policy with the exact engine the first
 * mini-batch sees ppoKl = 0, mismatch KL = 0 and IS weights exactly 1; R3 gives
 * zero routing disagreement; R2's first mini-batch equals the π_old (live) forward; and a short
 * run improves the reward on a toy task (fixed seed, a margin well above the run-to-run noise).
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, tensor, type Rng } from '../../src/index.js';
import { Trainer, trainerConfig, type RLTask } from '../../src/rl/trainer/index.js';
import { expectExactStep } from '../helpers/trainer.js';

/** Toy task: a fixed 3-token prompt; reward 1 when the first response token is 7. */
const toy: RLTask = {
  promptLength: 3,
  answerLength: 2,
  sample: (rng: Rng) => ({ prompt: [1, 2, 3 + rng.int(1, 4)[0]!] }),
  reward: (_p, response) => (response[0] === 7 ? 1 : 0),
};

/** Rewards about half the samples (even first token), so advantages are never all zero. */
const parity: RLTask = { ...toy, reward: (_p, response) => ((response[0]! & 1) === 0 ? 1 : 0) };

describe('Trainer', () => {
  it('N = 1, exact profile: ppoKl = 0, KL(μ‖π_old) = 0 and IS weights exactly 1', async () => {
    const t = new Trainer(toy, { promptsPerStep: 2, groupSize: 4, miniBatches: 1, seed: 1 });
    expectExactStep(await t.trainStep());
  });

  it('R3: the π_old pass replays the engine routing, so disagreement is 0 even under bf16', async () => {
    const t = new Trainer(toy, { promptsPerStep: 2, groupSize: 4, replay: 'r3', profile: 'bf16', seed: 2 });
    const m = await t.trainStep();
    expect(m.routingDisagreement).toBe(0);
    expect(m.klK1).not.toBe(0); // bf16 still changes the numbers
  });

  it("R2: the first mini-batch equals the π_old forward (ppoKl 0); later ones are stale", async () => {
    const t = new Trainer(parity, { promptsPerStep: 4, groupSize: 4, miniBatches: 2, replay: 'r2', seed: 3, lr: 1e-2 });
    const m = await t.trainStep();
    expect(m.miniBatches[0]!.ppoKl).toBe(0);
    expect(m.miniBatches[1]!.ppoKl).not.toBe(0);
  });

  it('a short run raises the reward on the toy task', async () => {
    const t = new Trainer(toy, { promptsPerStep: 4, groupSize: 8, seed: 4, lr: 3e-3 });
    const rewards: number[] = [];
    for (let s = 0; s < 12; s++) rewards.push((await t.trainStep()).reward);
    const first = (rewards[0]! + rewards[1]! + rewards[2]!) / 3;
    const last = (rewards[9]! + rewards[10]! + rewards[11]!) / 3;
    console.log(`[trainer] toy reward first 3 steps ${first.toFixed(3)} → last 3 steps ${last.toFixed(3)}`);
    expect(last).toBeGreaterThan(first + 0.2);
  }, 120_000);

  it('the MoE auxiliary loss enters RL updates only when auxLossWeight > 0', async () => {
    // All-zero rewards: zero advantages, so only the auxiliary loss could move the weights.
    const zero: RLTask = { ...toy, reward: () => 0 };
    for (const [w, moves] of [[0, false], [1, true]] as const) {
      const t = new Trainer(zero, { promptsPerStep: 2, groupSize: 2, seed: 6, auxLossWeight: w });
      const before = t.model.blocks[0]!.moe.router.weight.toArraySync();
      await t.trainStep();
      const after = t.model.blocks[0]!.moe.router.weight.toArraySync();
      expect(Array.from(after).some((v, i) => v !== before[i])).toBe(moves);
    }
  });

  it('a non-finite loss stops the step with a typed error naming step and metric, before any update', async () => {
    const { NonFiniteError } = await import('../../src/rl/trainer/index.js');
    const t = new Trainer(parity, { promptsPerStep: 2, groupSize: 2, seed: 7 });
    await t.trainStep();
    // Poison the π_old/π_θ pass only (the engine keeps finite weights, so rollouts still work).
    const w = t.model.lmHead.weight;
    const before = t.model.blocks[0]!.attn.wq.toArraySync();
    const bad = w.toArraySync().map((v, i) => (i === 0 ? NaN : v));
    w.assign(tensor(bad, { shape: w.shape }));
    const err = await t.trainStep().then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(NonFiniteError);
    expect((err as Error).message).toMatch(/non-finite π_old log-prob at step 1; the update was not applied/);
    expect(Array.from(t.model.blocks[0]!.attn.wq.toArraySync())).toEqual(Array.from(before));
    expect(t.step).toBe(1);
  });

  it('a response ends at its first EOS: responseLength counts tokens up to and including it', async () => {
    const seen: number[][] = [];
    const eos: RLTask = { ...toy, answerLength: 4, eosToken: 5, reward: (_p, r) => { seen.push([...r]); return r[0] === 7 ? 1 : 0; } };
    const t = new Trainer(eos, { promptsPerStep: 4, groupSize: 8, seed: 6 });
    const m = await t.trainStep();
    const lens = seen.map((r) => (r.indexOf(5) < 0 ? 4 : r.indexOf(5) + 1));
    expect(lens.some((l) => l < 4)).toBe(true); // the untrained policy samples token 5 sometimes
    expect(m.responseLength).toBeCloseTo(lens.reduce((p, q) => p + q, 0) / lens.length, 12);
    const plain = await new Trainer({ ...toy, answerLength: 4 }, { promptsPerStep: 4, groupSize: 8, seed: 6 }).trainStep();
    expect(plain.responseLength).toBe(4);
  });

  it('config validation names the field', () => {
    expect(() => trainerConfig({ promptsPerStep: 3, miniBatches: 2 })).toThrow(/promptsPerStep 3 must be divisible by miniBatches 2/);
    expect(() => trainerConfig({ replay: 'r4' as never })).toThrow(ConfigError);
    expect(() => trainerConfig({ lr: -1 })).toThrow(/lr must be a positive finite number/);
    expect(() => trainerConfig({ lrr: 1 } as never)).toThrow(/unknown field 'lrr'/);
  });
});

describe('Trainer checkpoints', () => {
  it('resume from a checkpoint continues bit for bit like a run never interrupted', async () => {
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { saveTrainerCheckpoint, loadTrainerCheckpoint } = await import('../../src/rl/trainer/index.js');
    const cfg = { promptsPerStep: 2, groupSize: 4, miniBatches: 2, replay: 'r2' as const, seed: 5, lr: 3e-3, profile: 'bf16+logit-noise(0.01)' };
    const strip = (m: Awaited<ReturnType<Trainer['trainStep']>>) => JSON.stringify({ ...m, seconds: 0 });
    const a = new Trainer(parity, cfg);
    const straight: string[] = [];
    for (let s = 0; s < 4; s++) straight.push(strip(await a.trainStep()));

    const dir = mkdtempSync(join(tmpdir(), 'stablerl-resume-'));
    const b = new Trainer(parity, cfg);
    await b.trainStep();
    await b.trainStep();
    await saveTrainerCheckpoint(b, dir);
    const c = new Trainer(parity, { ...cfg });
    await loadTrainerCheckpoint(c, dir);
    expect(c.step).toBe(2);
    const resumed = [strip(await c.trainStep()), strip(await c.trainStep())];
    expect(resumed).toEqual(straight.slice(2));
  }, 120_000);
});
