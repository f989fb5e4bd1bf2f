/**
 * `stablerl coldstart`: the supervised cold start alone. Writes the SFT weights and, beside
 * them, a JSON with their eval accuracy on held-out prompts (the "before RL" point that
 * `stablerl train --init` starts from).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ConfigError } from '../tensor/index.js';
import { saveModule } from '../nn/index.js';
import { Trainer } from '../rl/trainer/index.js';
import { makeTask, type DemoSource } from '../rl/tasks/index.js';
import { runColdStart } from './train.js';

export const COLDSTART_HELP = `stablerl coldstart --out FILE.safetensors [--task sorting] [--source canonical|reformatted|noisy]
                   [--seed N] [--steps N] [--batch N] [--evalPrompts N] [--profile SPEC]

Initialises moe-tiny from the seed, runs the supervised cold start on the source's
demonstrations, writes the weights and FILE.json (eval accuracy on held-out prompts, losses).`;

/** `stablerl coldstart`: weights after SFT plus their eval accuracy (the "before RL" point). */
export async function coldstartCommand(flags: Record<string, string>): Promise<void> {
  const out = flags.out;
  if (!out || !out.endsWith('.safetensors')) throw new ConfigError('coldstart: --out must name a .safetensors file');
  const known = new Set(['out', 'task', 'source', 'seed', 'steps', 'batch', 'evalPrompts', 'profile', 'length', 'digits']);
  for (const k of Object.keys(flags)) if (!known.has(k)) throw new ConfigError(`coldstart: unknown option --${k}; see 'stablerl coldstart --help'`);
  const taskName = flags.task ?? 'sorting';
  const taskOptions: Record<string, unknown> = {};
  if (flags.length) taskOptions.length = Number(flags.length);
  if (flags.digits) taskOptions.digits = Number(flags.digits);
  const source = (flags.source ?? 'canonical') as DemoSource;
  if (!['canonical', 'reformatted', 'noisy'].includes(source)) throw new ConfigError(`coldstart: --source must be canonical, reformatted or noisy, got '${source}'`);
  const int = (k: string, d: number) => {
    const v = flags[k] === undefined ? d : Number(flags[k]);
    if (!Number.isInteger(v) || v < 0) throw new ConfigError(`coldstart: --${k} must be a non-negative integer, got '${flags[k]}'`);
    return v;
  };
  const task = makeTask(taskName, taskOptions);
  const trainer = new Trainer(task, { seed: int('seed', 0), steps: 1, profile: flags.profile ?? 'exact' });
  const t0 = performance.now();
  const losses = await runColdStart(trainer, task, source, int('steps', 40), int('batch', 32));
  const evalPrompts = int('evalPrompts', 128);
  const evalAccuracy = evalPrompts > 0 ? await trainer.evaluate(evalPrompts) : null;
  mkdirSync(dirname(out), { recursive: true });
  await saveModule(out, trainer.model, { source, seed: String(trainer.config.seed) });
  const info = { task: taskName, taskOptions, source, seed: trainer.config.seed, steps: losses.length, lossFirst: losses[0] ?? null,
    lossLast: losses[losses.length - 1] ?? null, evalAccuracy, evalPrompts, profile: trainer.engine.profile.name, seconds: (performance.now() - t0) / 1000 };
  writeFileSync(out.replace(/\.safetensors$/, '.json'), `${JSON.stringify(info, null, 2)}\n`);
  process.stdout.write(`cold start ${source} seed ${info.seed}: loss ${info.lossFirst?.toFixed(3)} → ${info.lossLast?.toFixed(3)}, eval ${evalAccuracy?.toFixed(3)}\n`);
}
