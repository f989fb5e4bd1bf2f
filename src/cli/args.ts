/**
 * Command-line argument parsing shared by every `stablerl` command: `--flag value`,
 * `--flag=value`, the stand-alone boolean flags, and positional arguments.
 */
import { ConfigError } from '../tensor/index.js';

/** Flags that may stand alone (`--quick`); every other flag takes a value. */
const BOOLEAN_FLAGS = new Set(['quick']);

export function parseValue(v: string): unknown {
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
      if (inline === undefined && BOOLEAN_FLAGS.has(k) && (argv[i + 1] === undefined || argv[i + 1]!.startsWith('--'))) {
        flags[k] = 'true';
        continue;
      }
      const v = inline ?? argv[++i];
      if (v === undefined) throw new ConfigError(`option --${k} needs a value`);
      flags[k] = v;
    } else positional.push(a);
  }
  return { positional, flags };
}
