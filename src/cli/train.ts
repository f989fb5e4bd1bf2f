/**
 * `stablerl train`: one RL run. A run directory holds config.json, metrics.jsonl, checkpoints and
 * SVG plots; with no arguments it runs the embedded default (a short cold start on canonical
 * demonstrations of sorting three digits, then 40 steps of MiniRL with 16 prompts × 8 responses
 * on moe-tiny, on the CPU, about 15 s on 2 cores). `--resume RUN_DIR` continues a killed run bit
 * for bit. The run config (RunConfig) and the cold start of a run live here too, for the
 * commands that start runs of their own (coldstart, reproduce).
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, DeviceError, initWebGpu, Rng } from '../tensor/index.js';
import { coldStart, loadTrainerCheckpoint, NonFiniteError, saveTrainerCheckpoint, Trainer, type TrainerConfig } from '../rl/trainer/index.js';
import { demonstrations, makeTask, type DemoSource, type Task } from '../rl/tasks/index.js';
import { loadModule } from '../nn/index.js';
import { MetricsLog, readMetrics, writeRunPlots } from '../rl/report/index.js';
import { parseValue } from './args.js';

export interface RunConfig {
  task: string;
  taskOptions: Record<string, unknown>;
  coldStartSource: DemoSource | 'none';
  coldStartSteps: number;
  coldStartBatch: number;
  evalEvery: number;
  evalPrompts: number;
  /** Checkpoint every k steps and at the end; 0: never (the reproduce runs keep only metrics). */
  checkpointEvery: number;
  out: string;
  /** Start from these weights (a `stablerl coldstart` output) instead of running a cold start. */
  init?: string;
  /** Evaluate once before the first RL step (printed, not logged); default true. */
  evalBeforeRL?: boolean;
  trainer: Partial<TrainerConfig>;
}

export const DEFAULT_RUN: RunConfig = {
  task: 'sorting',
  taskOptions: { length: 3 },
  coldStartSource: 'canonical',
  coldStartSteps: 40,
  coldStartBatch: 32,
  evalEvery: 10,
  evalPrompts: 128,
  checkpointEvery: 10,
  out: '',
  trainer: { steps: 40, promptsPerStep: 16, groupSize: 8, lr: 5e-4, loss: 'minirl' },
};

export const TRAIN_HELP = `stablerl train [--config file.json] [--flag value ...] [--resume RUN_DIR]

Writes RUN_DIR (default runs/<timestamp>) with config.json, metrics.jsonl, checkpoints and plots.
Run options:      --task addition|sorting  --coldStartSource canonical|reformatted|noisy|none
                  --coldStartSteps N  --coldStartBatch N  --evalEvery N  --evalPrompts N
                  --checkpointEvery N  --out DIR
Trainer options:  --steps N  --promptsPerStep B  --groupSize G  --miniBatches N  --lr X
                  --loss KIND  --replay none|r2|r3  --profile SPEC  --device cpu|webgpu
                  --seed N  --temperature X  --advantage group-mean|group-norm|rloo
A config file holds the same fields ({ "task": ..., "trainer": { "steps": ... } }).`;

const TRAINER_KEYS = new Set(['model', 'device', 'seed', 'steps', 'promptsPerStep', 'groupSize', 'miniBatches', 'lr', 'weightDecay',
  'maxGradNorm', 'temperature', 'loss', 'advantage', 'replay', 'profile', 'auxLossWeight']);
const RUN_KEYS = new Set(['task', 'coldStartSource', 'coldStartSteps', 'coldStartBatch', 'evalEvery', 'evalPrompts', 'checkpointEvery', 'out', 'init', 'evalBeforeRL']);

export function buildRunConfig(flags: Record<string, string>): RunConfig {
  const cfg: RunConfig = { ...DEFAULT_RUN, trainer: { ...DEFAULT_RUN.trainer }, taskOptions: { ...DEFAULT_RUN.taskOptions } };
  if (flags.config) {
    const file = JSON.parse(readFileSync(flags.config, 'utf8')) as Partial<RunConfig>;
    for (const k of Object.keys(file)) {
      if (!RUN_KEYS.has(k) && k !== 'trainer' && k !== 'taskOptions') throw new ConfigError(`config file ${flags.config}: unknown field '${k}'`);
    }
    Object.assign(cfg, { ...file, trainer: { ...cfg.trainer, ...(file.trainer ?? {}) }, taskOptions: file.taskOptions ?? (file.task && file.task !== cfg.task ? {} : cfg.taskOptions) });
  }
  for (const [k, v] of Object.entries(flags)) {
    if (k === 'config' || k === 'resume' || k === 'help') continue;
    if (TRAINER_KEYS.has(k)) (cfg.trainer as Record<string, unknown>)[k] = parseValue(v);
    else if (RUN_KEYS.has(k)) {
      (cfg as unknown as Record<string, unknown>)[k] = parseValue(v);
      if (k === 'task') cfg.taskOptions = {};
    } else throw new ConfigError(`unknown option --${k}; see 'stablerl train --help'`);
  }
  return cfg;
}

function fmtEta(s: number): string {
  return s >= 60 ? `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${Math.round(s)}s`;
}

/** Field checks of a run config, naming the field (the trainer validates its own fields). */
export function validateRunConfig(cfg: RunConfig): RunConfig {
  const int = (k: keyof RunConfig, min: number) => {
    const v = cfg[k];
    if (!Number.isInteger(v) || (v as number) < min) throw new ConfigError(`run config: ${k} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
  };
  int('coldStartSteps', 0);
  int('coldStartBatch', 1);
  int('evalEvery', 1);
  int('evalPrompts', 1);
  int('checkpointEvery', 0);
  if (!['canonical', 'reformatted', 'noisy', 'none'].includes(cfg.coldStartSource)) {
    throw new ConfigError(`run config: coldStartSource must be canonical, reformatted, noisy or none, got ${JSON.stringify(cfg.coldStartSource)}`);
  }
  if (typeof cfg.out !== 'string') throw new ConfigError(`run config: out must be a string, got ${JSON.stringify(cfg.out)}`);
  if (cfg.init !== undefined && (typeof cfg.init !== 'string' || !existsSync(cfg.init))) {
    throw new ConfigError(`run config: init must name an existing weights file, got ${JSON.stringify(cfg.init)}`);
  }
  if (cfg.evalBeforeRL !== undefined && typeof cfg.evalBeforeRL !== 'boolean') {
    throw new ConfigError(`run config: evalBeforeRL must be true or false, got ${JSON.stringify(cfg.evalBeforeRL)}`);
  }
  return cfg;
}

/**
 * Acquires the WebGPU device for `--device webgpu` (the hardware adapter first, then Mesa's
 * software adapter) and says which adapter it got; when none can be had, a DeviceError that
 * names the fix.
 */
export async function acquireWebGpu(): Promise<string> {
  try {
    const b = await initWebGpu();
    return `${b.info.adapter} (${b.info.path}, ${b.info.featureLevel})`;
  } catch (e) {
    throw new DeviceError(
      `train --device webgpu: no WebGPU adapter could be acquired (${(e as Error).message}). On a Linux machine without a GPU, `
      + "install the software adapter with 'bash scripts/setup-webgpu.sh'; or run with --device cpu",
    );
  }
}

/** The cold start of a run config: its demonstrations through `coldStart`; returns the losses. */
export function runColdStart(trainer: Trainer, task: Task, source: DemoSource, steps: number, batchSize: number): Promise<number[]> {
  const demos = demonstrations(task, source, 4096, new Rng(trainer.config.seed + 99));
  return coldStart(trainer, demos, { steps, batchSize });
}

export async function trainCommand(flags: Record<string, string>): Promise<void> {
  const resume = flags.resume;
  const cfg: RunConfig = validateRunConfig(resume ? (JSON.parse(readFileSync(join(resume, 'config.json'), 'utf8')) as RunConfig) : buildRunConfig(flags));
  const dir = resume ?? (cfg.out || join('runs', new Date().toISOString().replace(/[:.]/g, '-')));
  mkdirSync(dir, { recursive: true });
  if (!resume) writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg, null, 2));
  const task = makeTask(cfg.task, cfg.taskOptions);
  const say = (s: string) => process.stdout.write(`${s}\n`);
  if (cfg.trainer.device === 'webgpu') say(`webgpu: ${await acquireWebGpu()}`);
  const trainer = new Trainer(task, cfg.trainer);
  const metricsPath = join(dir, 'metrics.jsonl');
  const tty = process.stdout.isTTY === true;
  if (resume && existsSync(join(dir, 'latest'))) {
    await loadTrainerCheckpoint(trainer, dir);
    // Steps logged after the checkpoint (a kill between logging and checkpointing) are redone.
    if (existsSync(metricsPath)) {
      const kept = readMetrics(metricsPath, { onTruncated: () => {} }).filter((r) => (r.step as number) < trainer.step);
      writeFileSync(`${metricsPath}.tmp`, kept.map((r) => `${JSON.stringify(r)}\n`).join(''));
      renameSync(`${metricsPath}.tmp`, metricsPath);
    }
    say(`resumed ${dir} at step ${trainer.step}`);
  } else if (cfg.init) {
    await loadModule(cfg.init, trainer.model);
    trainer.engine.syncWeights();
    say(`initial weights from ${cfg.init}`);
  } else if (cfg.coldStartSource !== 'none' && cfg.coldStartSteps > 0) {
    const losses = await runColdStart(trainer, task, cfg.coldStartSource, cfg.coldStartSteps, cfg.coldStartBatch);
    say(`cold start (${cfg.coldStartSource}, ${cfg.coldStartSteps} steps): loss ${losses[0]!.toFixed(3)} → ${losses[losses.length - 1]!.toFixed(3)}`);
  }
  if (resume && !existsSync(join(dir, 'latest')) && existsSync(metricsPath)) writeFileSync(metricsPath, ''); // no checkpoint: start over
  const log = new MetricsLog(metricsPath);
  say(`run ${dir}: ${cfg.task} on ${trainer.config.model} (${trainer.config.device}), loss ${trainer.config.loss}, replay ${trainer.config.replay}, engine profile ${trainer.engine.profile.name}`);
  if (trainer.step === 0 && cfg.evalBeforeRL !== false) say(`eval accuracy before RL: ${(await trainer.evaluate(cfg.evalPrompts)).toFixed(3)} over ${cfg.evalPrompts} prompts`);
  const t0 = performance.now();
  const first = trainer.step;
  const checkpointDue = (step: number) => cfg.checkpointEvery > 0 && (step % cfg.checkpointEvery === 0 || step === trainer.config.steps);
  while (trainer.step < trainer.config.steps) {
    let m;
    try {
      m = await trainer.trainStep();
    } catch (e) {
      if (e instanceof NonFiniteError) {
        const at = await saveTrainerCheckpoint(trainer, dir);
        throw new NonFiniteError(e.step, e.metric, e.miniBatch).withCheckpoint(at);
      }
      throw e;
    }
    const rec: Record<string, unknown> = { ...m, miniBatches: undefined };
    if ((m.step + 1) % cfg.evalEvery === 0 || m.step + 1 === trainer.config.steps) {
      rec.evalAccuracy = await trainer.evaluate(cfg.evalPrompts);
    }
    log.append(rec);
    if (checkpointDue(m.step + 1)) await saveTrainerCheckpoint(trainer, dir);
    const done = trainer.step - first;
    const eta = ((performance.now() - t0) / 1000 / done) * (trainer.config.steps - trainer.step);
    const line = `step ${m.step + 1}/${trainer.config.steps} reward ${m.reward.toFixed(3)}${rec.evalAccuracy !== undefined ? ` eval ${(rec.evalAccuracy as number).toFixed(3)}` : ''} kl ${m.klK3.toExponential(2)} clipfrac ${m.clipfrac.toFixed(3)} ETA ${fmtEta(eta)}`;
    if (tty) {
      const w = 24;
      const f = Math.round((w * trainer.step) / trainer.config.steps);
      process.stdout.write(`\r[${'#'.repeat(f)}${'.'.repeat(w - f)}] ${line}   `);
      if (trainer.step === trainer.config.steps) process.stdout.write('\n');
    } else say(line);
  }
  const records = readMetrics(metricsPath);
  const files = writeRunPlots(dir, records);
  const rewards = records.map((r) => r.reward as number);
  const k = Math.max(1, Math.min(10, Math.floor(rewards.length / 2)));
  const mean = (a: number[]) => a.reduce((p, q) => p + q, 0) / a.length;
  say(`reward: mean of the first ${k} steps ${mean(rewards.slice(0, k)).toFixed(3)} → last ${k} steps ${mean(rewards.slice(-k)).toFixed(3)}`);
  say(`wrote ${files.length} plots and metrics.jsonl to ${dir}`);
}
