#!/usr/bin/env node
/**
 * The `stablerl` command line: dispatches to one module per command (train, eval, plot,
 * coldstart, reproduce, theory), each exporting its help text and its run function, with
 * `--help` everywhere.
 */
import { parseArgs } from './args.js';
import { COLDSTART_HELP, coldstartCommand } from './coldstart.js';
import { EVAL_HELP, evalCommand } from './eval.js';
import { PLOT_HELP, plotCommand } from './plot.js';
import { REPRODUCE_HELP, reproduceCommand } from './reproduce.js';
import { THEORY_HELP, theoryCommand } from './theory.js';
import { TRAIN_HELP, trainCommand } from './train.js';

const HELP: Record<string, string> = {
  main: `stablerl <command> [options]

Commands:
  train     run RL training (with a cold start); no options runs the embedded default on CPU
  eval      evaluate the latest checkpoint of a run:   stablerl eval RUN_DIR
  plot      (re)write the SVG plots of a run:          stablerl plot RUN_DIR
  reproduce the paper's experiments in miniature:    stablerl reproduce [--quick]
  coldstart supervised warm-up only, writes weights: stablerl coldstart --out FILE.safetensors
  theory    the exact-theory figures (docs/theory.md): stablerl theory [--out DIR]

Run 'stablerl <command> --help' for a command's options.`,
  train: TRAIN_HELP,
  eval: EVAL_HELP,
  plot: PLOT_HELP,
  reproduce: REPRODUCE_HELP,
  coldstart: COLDSTART_HELP,
  theory: THEORY_HELP,
};

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
  if (cmd === 'train') await trainCommand(flags);
  else if (cmd === 'eval') await evalCommand(positional, flags);
  else if (cmd === 'reproduce') await reproduceCommand(flags);
  else if (cmd === 'coldstart') await coldstartCommand(flags);
  else if (cmd === 'theory') await theoryCommand(flags);
  else if (cmd === 'plot') plotCommand(positional);
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
