/**
 * The paper's experiments in miniature (docs/paper.md §4; run by `stablerl reproduce`): which
 * arms each finding compares, and the list of runs that realise them.
 *
 *   F1  on-policy (N = 1): MiniRL, MiniRL without the train–inference IS weight (Σ_t Â·log π_θ,
 *       the `reinforce` kind), MiniRL with length normalisation ((1/|y|)Σ_t), MiniRL + R3.
 *   F2/F3  off-policy, N ∈ {2, 4, 8}: MiniRL without clipping (M_t ≡ 1), MiniRL + R2 without
 *       clipping, MiniRL + R2, MiniRL + R3.
 *   F4  cold start: the three demonstration sources, each followed by one stable recipe
 *       (MiniRL + R2, N = 2, the paper's Fig. 5 setup).
 *
 * Every arm starts from the same cold-start weights for a given (source, seed), as the paper's arms
 * start from one SFT checkpoint; runs whose configurations coincide (F4's canonical arm is F2's
 * MiniRL + R2 at N = 2) are run once and shared.
 *
 * Scale choices (documented in docs/results.md): the inference engine runs the `fp8-e4m3`
 * profile (the paper's FP8 inference against BF16 training; here FP8 against f32), which with
 * the MoE router's drift gives a training–inference KL of ~1e-2 and ~5–15% of routing choices
 * differing. The global batch is fixed (B prompts × G responses) and off-policiness comes from
 * splitting it into N mini-batches; the paper instead fixed the mini-batch and grew the global
 * batch. Both make the last mini-batches N − 1 updates stale; ours keeps the rollout cost per
 * global step constant across N.
 */
import type { TrainerConfig } from '../trainer/index.js';
import type { DemoSource } from '../tasks/index.js';

export type ExperimentId = 'f1' | 'f2f3' | 'f4';

/** "MiniRL (no clipping)": M_t ≡ 1. JSON has no Infinity; every ratio is exp(clamp(Δ, ±20)) < 1e9. */
export const NO_CLIP = Object.freeze({ epsLow: 1, epsHigh: 1e9 });

export interface ArmSpec {
  /** Short id used in paths ("minirl-r2-noclip"). */
  id: string;
  /** The paper's name for the arm. */
  label: string;
  trainer: Partial<TrainerConfig>;
  coldStartSource: DemoSource;
}

export interface ReproduceScale {
  seeds: number[];
  /** RL steps per run. */
  steps: number;
  promptsPerStep: number;
  groupSize: number;
  lr: number;
  /** N of the off-policy experiment. */
  offPolicyN: number[];
  /** N of the cold-start experiment's recipe. */
  coldStartRecipeN: number;
  coldStartSteps: number;
  coldStartBatch: number;
  evalEvery: number;
  evalPrompts: number;
  profile: string;
  task: string;
  taskOptions: Record<string, unknown>;
}

export const FULL_SCALE: Readonly<ReproduceScale> = Object.freeze({
  seeds: [0, 1, 2],
  steps: 40,
  promptsPerStep: 8,
  groupSize: 8,
  lr: 1e-3,
  offPolicyN: [2, 4, 8],
  coldStartRecipeN: 2,
  coldStartSteps: 40,
  coldStartBatch: 32,
  evalEvery: 10,
  evalPrompts: 128,
  profile: 'fp8-e4m3',
  task: 'sorting',
  taskOptions: { length: 3 },
});

/** `--quick`: every experiment and arm, fewer seeds and steps, N ∈ {2, 8}. */
export const QUICK_SCALE: Readonly<ReproduceScale> = Object.freeze({
  ...FULL_SCALE,
  seeds: [0, 1],
  steps: 16,
  offPolicyN: [2, 8],
  evalEvery: 8,
  evalPrompts: 96,
});

export function f1Arms(): ArmSpec[] {
  const base = { loss: 'minirl', miniBatches: 1 } as const;
  return [
    { id: 'minirl', label: 'MiniRL', trainer: { ...base }, coldStartSource: 'canonical' },
    { id: 'minirl-no-is', label: 'MiniRL w/o train-infer IS', trainer: { ...base, loss: 'reinforce' }, coldStartSource: 'canonical' },
    {
      id: 'minirl-length-norm', label: 'MiniRL w/ length-norm',
      trainer: { ...base, lossOptions: { aggregation: 'seq-mean-token-mean' } }, coldStartSource: 'canonical',
    },
    { id: 'minirl-r3', label: 'MiniRL + R3', trainer: { ...base, replay: 'r3' }, coldStartSource: 'canonical' },
  ];
}

export function f2f3Arms(N: number): ArmSpec[] {
  const base = { loss: 'minirl', miniBatches: N } as const;
  return [
    { id: 'minirl-noclip', label: 'MiniRL (no clipping)', trainer: { ...base, lossOptions: { ...NO_CLIP } }, coldStartSource: 'canonical' },
    {
      id: 'minirl-r2-noclip', label: 'MiniRL + R2 (no clipping)',
      trainer: { ...base, replay: 'r2', lossOptions: { ...NO_CLIP } }, coldStartSource: 'canonical',
    },
    { id: 'minirl-r2', label: 'MiniRL + R2', trainer: { ...base, replay: 'r2' }, coldStartSource: 'canonical' },
    { id: 'minirl-r3', label: 'MiniRL + R3', trainer: { ...base, replay: 'r3' }, coldStartSource: 'canonical' },
  ];
}

export function f4Arms(N: number): ArmSpec[] {
  return (['canonical', 'reformatted', 'noisy'] as const).map((source) => ({
    id: `coldstart-${source}`,
    label: `cold start: ${source}`,
    trainer: { loss: 'minirl', miniBatches: N, replay: 'r2' },
    coldStartSource: source,
  }));
}

/** One run: a trainer config, the cold start it starts from, and where its outputs go. */
export interface RunSpec {
  /** Relative directory, unique per distinct configuration ("f2f3/N4/minirl-r2/seed1"). */
  dir: string;
  seed: number;
  coldStartSource: DemoSource;
  trainer: Partial<TrainerConfig>;
}

/** A group of runs compared in one finding: one per (arm, seed). */
export interface ExperimentGroup {
  experiment: ExperimentId;
  /** "F1", "F2/F3, N = 4", "F4". */
  title: string;
  N: number;
  arms: { arm: ArmSpec; runs: RunSpec[] }[];
}

export interface ReproducePlan {
  scale: ReproduceScale;
  groups: ExperimentGroup[];
  /** The distinct runs, in execution order. */
  runs: RunSpec[];
  /** Cold starts needed: one per (source, seed). */
  coldStarts: { source: DemoSource; seed: number }[];
}

function canonicalKey(o: unknown): string {
  if (o === null || typeof o !== 'object') return JSON.stringify(o);
  if (Array.isArray(o)) return `[${o.map(canonicalKey).join(',')}]`;
  const keys = Object.keys(o as object).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalKey((o as Record<string, unknown>)[k])}`).join(',')}}`;
}

export function reproducePlan(scale: ReproduceScale, only?: readonly ExperimentId[]): ReproducePlan {
  const want = (e: ExperimentId) => !only || only.length === 0 || only.includes(e);
  const groups: ExperimentGroup[] = [];
  const byKey = new Map<string, RunSpec>();
  const runs: RunSpec[] = [];
  const common = (seed: number): Partial<TrainerConfig> => ({
    seed, steps: scale.steps, promptsPerStep: scale.promptsPerStep, groupSize: scale.groupSize, lr: scale.lr, profile: scale.profile,
  });
  const add = (experiment: ExperimentId, title: string, N: number, arms: ArmSpec[], prefix: string) => {
    const g: ExperimentGroup = { experiment, title, N, arms: [] };
    for (const arm of arms) {
      const armRuns: RunSpec[] = [];
      for (const seed of scale.seeds) {
        const trainer = { ...common(seed), ...arm.trainer };
        const key = canonicalKey({ trainer, source: arm.coldStartSource });
        let run = byKey.get(key);
        if (!run) {
          run = { dir: `${prefix}/${arm.id}/seed${seed}`, seed, coldStartSource: arm.coldStartSource, trainer };
          byKey.set(key, run);
          runs.push(run);
        }
        armRuns.push(run);
      }
      g.arms.push({ arm, runs: armRuns });
    }
    groups.push(g);
  };
  if (want('f1')) add('f1', 'F1: on-policy (N = 1)', 1, f1Arms(), 'f1');
  if (want('f2f3')) for (const N of scale.offPolicyN) add('f2f3', `F2/F3: off-policy, N = ${N}`, N, f2f3Arms(N), `f2f3/N${N}`);
  if (want('f4')) add('f4', `F4: cold start (MiniRL + R2, N = ${scale.coldStartRecipeN})`, scale.coldStartRecipeN, f4Arms(scale.coldStartRecipeN), 'f4');
  const cs = new Map<string, { source: DemoSource; seed: number }>();
  for (const r of runs) cs.set(`${r.coldStartSource}/${r.seed}`, { source: r.coldStartSource, seed: r.seed });
  return { scale, groups, runs, coldStarts: [...cs.values()] };
}
