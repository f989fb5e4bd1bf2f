#!/usr/bin/env node
/**
 * The `stablerl` command line: `train`, `eval`, `plot`, with `--help` everywhere. A run
 * directory holds config.json, metrics.jsonl, checkpoints and SVG plots. With no arguments,
 * `stablerl train` runs the embedded default: a short cold start on canonical demonstrations
 * of sorting three digits, then 40 steps of MiniRL (16 prompts × 8 responses) on moe-tiny on the
 * CPU, about a minute and a half on 2 cores.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, Rng } from '../tensor/index.js';
import { coldStart, loadTrainerCheckpoint, NonFiniteError, saveTrainerCheckpoint, Trainer, type TrainerConfig } from '../rl/trainer/index.js';
import { demonstrations, makeTask, type DemoSource } from '../rl/tasks/index.js';
import { MetricsLog, readMetrics, writeRunPlots } from '../rl/report/index.js';

export interface RunConfig {
  task: string;
  taskOptions: Record<string, unknown>;
  coldStartSource: DemoSource | 'none';
  coldStartSteps: number;
  coldStartBatch: number;
  evalEvery: number;
  evalPrompts: number;
  checkpointEvery: number;
  out: string;
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

const HELP: Record<string, string> = {
  main: `stablerl <command> [options]

Commands:
  train     run RL training (with a cold start); no options runs the embedded default on CPU
  eval      evaluate the latest checkpoint of a run:   stablerl eval RUN_DIR
  plot      (re)write the SVG plots of a run:          stablerl plot RUN_DIR

Run 'stablerl <command> --help' for a command's options.`,
  train: `stablerl train [--config file.json] [--flag value ...] [--resume RUN_DIR]

Writes RUN_DIR (default runs/<timestamp>) with config.json, metrics.jsonl, checkpoints and plots.
Run options:      --task addition|sorting  --coldStartSource canonical|reformatted|noisy|none
                  --coldStartSteps N  --coldStartBatch N  --evalEvery N  --evalPrompts N
                  --checkpointEvery N  --out DIR
Trainer options:  --steps N  --promptsPerStep B  --groupSize G  --miniBatches N  --lr X
                  --loss KIND  --replay none|r2|r3  --profile SPEC  --device cpu|webgpu
                  --seed N  --temperature X  --advantage group-mean|group-norm|rloo
A config file holds the same fields ({ "task": ..., "trainer": { "steps": ... } }).`,
  eval: 'stablerl eval RUN_DIR [--evalPrompts N]\n\nLoads RUN_DIR/config.json and its latest checkpoint and prints eval accuracy.',
  plot: 'stablerl plot RUN_DIR\n\nReads RUN_DIR/metrics.jsonl and writes reward.svg, entropy.svg, kl.svg, clipfrac.svg.',
};

const TRAINER_KEYS = new Set(['model', 'device', 'seed', 'steps', 'promptsPerStep', 'groupSize', 'miniBatches', 'lr', 'weightDecay',
  'maxGradNorm', 'temperature', 'loss', 'advantage', 'replay', 'profile', 'auxLossWeight']);
const RUN_KEYS = new Set(['task', 'coldStartSource', 'coldStartSteps', 'coldStartBatch', 'evalEvery', 'evalPrompts', 'checkpointEvery', 'out']);

function parseValue(v: string): unknown {
  if (/^-?\d+(\.\d+)?(e-?\d+)?$/i.test(v)) return Number(v);
  if (v === 'true' || v === 'false') return v === 'true';
  return v;
}

export function parseArgs(argv: string[]): { positional: string[]; flags: Record<string, string> } {
  const positional: string[] = [];
  const flags: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--help' || a === '-h') flags.help = 'true';
    else if (a.startsWith('--')) {
      const [k, inline] = a.slice(2).split('=', 2) as [string, string | undefined];
      const v = inline ?? argv[++i];
      if (v === undefined) throw new ConfigError(`option --${k} needs a value`);
      flags[k] = v;
    } else positional.push(a);
  }
  return { positional, flags };
}

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

async function train(flags: Record<string, string>): Promise<void> {
  const resume = flags.resume;
  const cfg: RunConfig = resume ? (JSON.parse(readFileSync(join(resume, 'config.json'), 'utf8')) as RunConfig) : buildRunConfig(flags);
  const dir = resume ?? (cfg.out || join('runs', new Date().toISOString().replace(/[:.]/g, '-')));
  mkdirSync(dir, { recursive: true });
  if (!resume) writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg, null, 2));
  const task = makeTask(cfg.task, cfg.taskOptions);
  const trainer = new Trainer(task, cfg.trainer);
  const metricsPath = join(dir, 'metrics.jsonl');
  const tty = process.stdout.isTTY === true;
  const say = (s: string) => process.stdout.write(`${s}\n`);
  if (resume && existsSync(join(dir, 'latest'))) {
    await loadTrainerCheckpoint(trainer, dir);
    // Steps logged after the checkpoint (a kill between logging and checkpointing) are redone.
    if (existsSync(metricsPath)) {
      const kept = readMetrics(metricsPath, { onTruncated: () => {} }).filter((r) => (r.step as number) < trainer.step);
      writeFileSync(`${metricsPath}.tmp`, kept.map((r) => `${JSON.stringify(r)}\n`).join(''));
      renameSync(`${metricsPath}.tmp`, metricsPath);
    }
    say(`resumed ${dir} at step ${trainer.step}`);
  } else if (cfg.coldStartSource !== 'none' && cfg.coldStartSteps > 0) {
    const demos = demonstrations(task, cfg.coldStartSource, 4096, new Rng(trainer.config.seed + 99));
    const losses = coldStart(trainer, demos, { steps: cfg.coldStartSteps, batchSize: cfg.coldStartBatch });
    say(`cold start (${cfg.coldStartSource}, ${cfg.coldStartSteps} steps): loss ${losses[0]!.toFixed(3)} → ${losses[losses.length - 1]!.toFixed(3)}`);
  }
  const log = new MetricsLog(metricsPath);
  say(`run ${dir}: ${cfg.task} on ${trainer.config.model} (${trainer.config.device}), loss ${trainer.config.loss}, replay ${trainer.config.replay}, engine profile ${trainer.engine.profile.name}`);
  if (trainer.step === 0) say(`eval accuracy before RL: ${(await trainer.evaluate(cfg.evalPrompts)).toFixed(3)} over ${cfg.evalPrompts} prompts`);
  const t0 = performance.now();
  const first = trainer.step;
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
    if ((m.step + 1) % cfg.checkpointEvery === 0 || m.step + 1 === trainer.config.steps) await saveTrainerCheckpoint(trainer, dir);
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

async function evalRun(positional: string[], flags: Record<string, string>): Promise<void> {
  const dir = positional[0];
  if (!dir) throw new ConfigError("eval needs a run directory: stablerl eval RUN_DIR");
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as RunConfig;
  const trainer = new Trainer(makeTask(cfg.task, cfg.taskOptions), cfg.trainer);
  await loadTrainerCheckpoint(trainer, dir);
  const n = flags.evalPrompts ? Number(flags.evalPrompts) : cfg.evalPrompts;
  process.stdout.write(`eval accuracy at step ${trainer.step}: ${(await trainer.evaluate(n)).toFixed(4)} over ${n} prompts\n`);
}

export async function main(argv: string[]): Promise<number> {
  const { positional, flags } = parseArgs(argv);
  const cmd = positional.shift();
  if (!cmd || !(cmd in HELP) || cmd === 'main') {
    process.stdout.write(`${HELP.main}\n`);
    return cmd && cmd !== 'main' && !flags.help ? 2 : 0;
  }
  if (flags.help) {
    process.stdout.write(`${HELP[cmd]}\n`);
    return 0;
  }
  if (cmd === 'train') await train(flags);
  else if (cmd === 'eval') await evalRun(positional, flags);
  else if (cmd === 'plot') {
    const dir = positional[0];
    if (!dir) throw new ConfigError('plot needs a run directory: stablerl plot RUN_DIR');
    const files = writeRunPlots(dir, readMetrics(join(dir, 'metrics.jsonl')));
    process.stdout.write(`wrote ${files.join(', ')}\n`);
  }
  return 0;
}

const isMain = process.argv[1] !== undefined && /stablerl|cli[\\/]main\.js$/.test(process.argv[1]);
if (isMain) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      process.stderr.write(`stablerl: ${(e as Error).name}: ${(e as Error).message}\n`);
      process.exit(1);
    },
  );
}
