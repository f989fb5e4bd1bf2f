/** `stablerl eval RUN_DIR`: the eval accuracy of a run's latest checkpoint. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../tensor/index.js';
import { loadTrainerCheckpoint, Trainer } from '../rl/trainer/index.js';
import { makeTask } from '../rl/tasks/index.js';
import type { RunConfig } from './train.js';

export const EVAL_HELP = 'stablerl eval RUN_DIR [--evalPrompts N]\n\nLoads RUN_DIR/config.json and its latest checkpoint and prints eval accuracy.';

export async function evalCommand(positional: string[], flags: Record<string, string>): Promise<void> {
  const dir = positional[0];
  if (!dir) throw new ConfigError("eval needs a run directory: stablerl eval RUN_DIR");
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as RunConfig;
  const trainer = new Trainer(makeTask(cfg.task, cfg.taskOptions), cfg.trainer);
  await loadTrainerCheckpoint(trainer, dir);
  const n = flags.evalPrompts ? Number(flags.evalPrompts) : cfg.evalPrompts;
  process.stdout.write(`eval accuracy at step ${trainer.step}: ${(await trainer.evaluate(n)).toFixed(4)} over ${n} prompts\n`);
}
