// The PyTorch column: runs the eager PyTorch twin of the MoE presets and the MLP step
// (bench/peers/torch_moe.py, with Debian's /usr/bin/python3) at the sizes bench/moe.bench.mjs
// and bench/cpu.bench.mjs also time stablerl at, after bench/peers/check_twin.py has checked that
// the twin computes stablerl's function (same weights in, same logits, losses and gradients out,
// up to f32 rounding). The Python script appends its own result lines (bench/util.mjs `report`
// format) to STABLERL_BENCH_RESULTS. When torch is not installed, every row says so instead:
// `bash scripts/setup-torch.sh` installs it. Arguments are passed on to torch_moe.py
// (`--threads N`, `--quick`). Benchmark-only: no test needs torch.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { report, WORKLOADS } from './util.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const PYTHON = '/usr/bin/python3';
const args = process.argv.slice(2);
const threadsAt = args.indexOf('--threads');
const threads = threadsAt >= 0 ? Number(args[threadsAt + 1]) : 1;
const column = `pytorch (${threads} thread${threads === 1 ? '' : 's'})`;
const ROWS = ['tinyTrain32', 'tinyGen64', 'smallTrain32', 'smallGen64', 'mlp'];

const probe = existsSync(PYTHON)
  ? spawnSync(PYTHON, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' })
  : null;
if (probe === null || probe.status !== 0) {
  const why = probe === null ? `${PYTHON} not found` : (probe.stderr.trim().split('\n').pop() ?? 'import torch failed');
  const note = 'not installed (bash scripts/setup-torch.sh)';
  console.log(`## PyTorch peer\n\nPyTorch ${note}: ${why}\n`);
  console.log(`| workload | ${column} |`);
  console.log('|---|---|');
  for (const key of ROWS) {
    console.log(`| ${WORKLOADS[key]} | ${note} |`);
    if (!args.includes('--quick')) report(WORKLOADS[key], column, null, 'ms', note);
  }
  console.log('');
  process.exit(0);
}

const env = { ...process.env, NODE: process.execPath };
const check = spawnSync(PYTHON, [join(here, 'peers', 'check_twin.py')], { stdio: 'inherit', env });
console.log('');
const run = spawnSync(PYTHON, [join(here, 'peers', 'torch_moe.py'), ...args], { stdio: 'inherit', env });
if (check.status !== 0) console.log('(check_twin.py: the PyTorch twin does not compute stablerl\'s function; its times compare different models)\n');
process.exit(run.status === 0 && check.status === 0 ? 0 : 1);
