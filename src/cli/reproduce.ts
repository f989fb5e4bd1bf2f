/**
 * `stablerl reproduce [--quick]`: the paper's experiments in miniature
 * (src/rl/experiments/plan.ts says which), run as child processes two at a time.
 *
 * Each job is an ordinary CLI invocation, so any one run can be repeated by hand from the
 * config.json it leaves behind:
 *   1. `stablerl coldstart` per (demonstration source, seed): SFT weights + eval before RL;
 *   2. `stablerl train --config RUN/config.json` per distinct run, starting from those weights
 *      (`init`), with no checkpoints (only metrics.jsonl and the plots are kept);
 *   3. the summary: summary.md / summary.json and seed-mean plots per experiment group.
 * Re-running with the same --out skips finished jobs (a run is finished when its metrics.jsonl
 * has every step), so an interrupted reproduce continues where it stopped. Child processes are
 * deterministic given their config: the order in which the pool finishes them changes nothing.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../tensor/index.js';
import { readMetrics } from '../rl/report/index.js';
import {
  FULL_SCALE, QUICK_SCALE, reproducePlan, summarizeReproduce, summaryMarkdown,
  type ExperimentId, type ReproducePlan, type RunSpec,
} from '../rl/experiments/index.js';
import type { RunConfig } from './train.js';

export const REPRODUCE_HELP = `stablerl reproduce [--quick] [--out DIR] [--jobs N] [--only f1,f2f3,f4]

Runs the paper's experiments in miniature (docs/results.md explains them):
  F1 on-policy: MiniRL, w/o train-infer IS, w/ length-norm, + R3
  F2/F3 off-policy N ∈ {2,4,8}: MiniRL (no clip), + R2 (no clip), + R2, + R3
  F4 cold start: canonical / reformatted / noisy demonstrations, then MiniRL + R2 (N = 2)
Full: 3 seeds × 40 steps per arm, 54 runs (17 min on 2 cores; docs/results/ holds its outputs).
--quick: 2 seeds × 16 steps, N ∈ {2, 8}, 28 runs (7 min on a loaded 2-core machine). Writes DIR (default runs/reproduce-<full|quick>-<time>) with
coldstart/, one directory per run, summary.md, summary.json and plots/. Re-running with the same
--out skips the jobs already finished. --summarize DIR only rewrites DIR's summary and plots.`;

const CLI = join(dirname(fileURLToPath(import.meta.url)), 'main.js');

interface Job {
  name: string;
  args: string[];
  log: string;
  done: () => boolean;
  before?: () => void;
}

function runJob(job: Job): Promise<number> {
  return new Promise((res, rej) => {
    mkdirSync(dirname(job.log), { recursive: true });
    const chunks: Buffer[] = [];
    const child = spawn(process.execPath, [CLI, ...job.args], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (d: Buffer) => chunks.push(d));
    child.stderr.on('data', (d: Buffer) => chunks.push(d));
    child.on('error', rej);
    child.on('close', (code) => {
      writeFileSync(job.log, Buffer.concat(chunks));
      res(code ?? 1);
    });
  });
}

async function pool(jobs: Job[], width: number, say: (s: string) => void, label: string): Promise<void> {
  const todo = jobs.filter((j) => !j.done());
  if (jobs.length > todo.length) say(`${label}: ${jobs.length - todo.length} of ${jobs.length} already done`);
  let next = 0;
  let finished = 0;
  const t0 = performance.now();
  const failures: string[] = [];
  const worker = async () => {
    while (next < todo.length) {
      const job = todo[next++]!;
      job.before?.();
      const t = performance.now();
      const code = await runJob(job);
      finished++;
      const el = (performance.now() - t0) / 1000;
      const eta = (el / finished) * (todo.length - finished);
      if (code !== 0) failures.push(`${job.name} (exit ${code}, log ${job.log})`);
      say(`${label} [${finished}/${todo.length}] ${job.name} ${code === 0 ? 'done' : `FAILED (exit ${code})`} in ${((performance.now() - t) / 1000).toFixed(0)} s, ETA ${Math.round(eta)} s`);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(width, todo.length)) }, worker));
  if (failures.length > 0) throw new ConfigError(`reproduce: ${failures.length} job(s) failed: ${failures.join('; ')}`);
}

function runConfigOf(plan: ReproducePlan, run: RunSpec, root: string): RunConfig {
  const s = plan.scale;
  return {
    task: s.task,
    taskOptions: s.taskOptions,
    coldStartSource: run.coldStartSource,
    coldStartSteps: s.coldStartSteps,
    coldStartBatch: s.coldStartBatch,
    evalEvery: s.evalEvery,
    evalPrompts: s.evalPrompts,
    checkpointEvery: 0,
    out: join(root, run.dir),
    init: join(root, 'coldstart', `${run.coldStartSource}-seed${run.seed}.safetensors`),
    evalBeforeRL: false,
    trainer: run.trainer,
  };
}

function runFinished(dir: string, steps: number): boolean {
  const p = join(dir, 'metrics.jsonl');
  if (!existsSync(p)) return false;
  try {
    return readMetrics(p, { onTruncated: () => {} }).length >= steps;
  } catch {
    return false;
  }
}

export async function reproduceCommand(flags: Record<string, string>): Promise<void> {
  const known = new Set(['quick', 'out', 'jobs', 'only', 'summarize']);
  for (const k of Object.keys(flags)) if (!known.has(k)) throw new ConfigError(`reproduce: unknown option --${k}; see 'stablerl reproduce --help'`);
  if (flags.summarize) {
    process.stdout.write(resummarize(flags.summarize));
    return;
  }
  const quick = flags.quick !== undefined && flags.quick !== 'false';
  const scale = quick ? QUICK_SCALE : FULL_SCALE;
  const only = flags.only ? (flags.only.split(',') as ExperimentId[]) : undefined;
  for (const o of only ?? []) if (!['f1', 'f2f3', 'f4'].includes(o)) throw new ConfigError(`reproduce: --only takes f1, f2f3, f4; got '${o}'`);
  const jobs = flags.jobs === undefined ? Math.max(1, Math.min(availableParallelism(), 4)) : Number(flags.jobs);
  if (!Number.isInteger(jobs) || jobs < 1) throw new ConfigError(`reproduce: --jobs must be a positive integer, got '${flags.jobs}'`);
  const root = resolve(flags.out ?? join('runs', `reproduce-${quick ? 'quick' : 'full'}-${new Date().toISOString().replace(/[:.]/g, '-')}`));
  const plan = reproducePlan(scale, only);
  const say = (s: string) => process.stdout.write(`${s}\n`);
  mkdirSync(root, { recursive: true });
  writeFileSync(join(root, 'plan.json'), `${JSON.stringify({ quick, only: only ?? null, scale, runs: plan.runs, coldStarts: plan.coldStarts }, null, 2)}\n`);
  say(`reproduce (${quick ? 'quick' : 'full'}): ${plan.coldStarts.length} cold starts, ${plan.runs.length} runs, ${jobs} at a time → ${root}`);
  const t0 = performance.now();

  const s = scale;
  const csJobs: Job[] = plan.coldStarts.map(({ source, seed }) => {
    const file = join(root, 'coldstart', `${source}-seed${seed}.safetensors`);
    return {
      name: `coldstart ${source} seed ${seed}`,
      log: join(root, 'coldstart', `${source}-seed${seed}.log`),
      done: () => existsSync(file) && existsSync(file.replace(/\.safetensors$/, '.json')),
      args: ['coldstart', '--out', file, '--task', s.task, ...Object.entries(s.taskOptions).flatMap(([k, v]) => [`--${k}`, String(v)]),
        '--source', source, '--seed', String(seed), '--steps', String(s.coldStartSteps), '--batch', String(s.coldStartBatch),
        '--evalPrompts', String(s.evalPrompts), '--profile', s.profile],
    };
  });
  await pool(csJobs, jobs, say, 'cold start');

  const runJobs: Job[] = plan.runs.map((run) => {
    const dir = join(root, run.dir);
    const cfgPath = join(dir, 'config.json');
    return {
      name: run.dir,
      log: join(dir, 'train.log'),
      done: () => runFinished(dir, scale.steps),
      before: () => {
        rmSync(dir, { recursive: true, force: true }); // an unfinished run restarts from its cold start
        mkdirSync(dir, { recursive: true });
        writeFileSync(cfgPath, `${JSON.stringify(runConfigOf(plan, run, root), null, 2)}\n`);
      },
      args: ['train', '--config', cfgPath],
    };
  });
  await pool(runJobs, jobs, say, 'run');

  const groups = summarizeReproduce(plan, root, join(root, 'plots'));
  const md = `# stablerl reproduce (${quick ? 'quick' : 'full'})\n\n${summaryMarkdown(plan, groups, 'plots/')}`;
  writeFileSync(join(root, 'summary.md'), md);
  writeFileSync(join(root, 'summary.json'), `${JSON.stringify({ quick, scale, groups }, null, 2)}\n`);
  say(md);
  say(`reproduce finished in ${((performance.now() - t0) / 60000).toFixed(1)} min; summary in ${join(root, 'summary.md')}`);
}

/** Re-reads a reproduce directory's runs and rewrites its summary (no training). */
export function resummarize(root: string): string {
  const planFile = JSON.parse(readFileSync(join(root, 'plan.json'), 'utf8')) as { quick: boolean; only: ExperimentId[] | null; scale: typeof FULL_SCALE };
  const plan = reproducePlan(planFile.scale, planFile.only ?? undefined);
  const groups = summarizeReproduce(plan, root, join(root, 'plots'));
  const md = `# stablerl reproduce (${planFile.quick ? 'quick' : 'full'})\n\n${summaryMarkdown(plan, groups, 'plots/')}`;
  writeFileSync(join(root, 'summary.md'), md);
  writeFileSync(join(root, 'summary.json'), `${JSON.stringify({ quick: planFile.quick, scale: planFile.scale, groups }, null, 2)}\n`);
  return md;
}
