/**
 * The `stablerl` command line, end to end on a tiny run: train writes config.json,
 * metrics.jsonl, checkpoints and the four plots; eval and plot read the run back; --help works
 * everywhere; a bad option is a clear error with a non-zero exit.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const CLI = resolve(__dirname, '../dist/cli/main.js');
const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000 });

describe('stablerl CLI', () => {
  it('--help on every command', () => {
    for (const args of [['--help'], ['train', '--help'], ['eval', '--help'], ['plot', '--help']]) {
      const r = run(...args);
      expect(r.status).toBe(0);
      expect(r.stdout).toMatch(/stablerl/);
    }
  });

  it('train → eval → plot on a tiny run', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'stablerl-cli-')), 'run');
    const t = run('train', '--out', dir, '--steps', '3', '--promptsPerStep', '2', '--groupSize', '2', '--coldStartSteps', '3',
      '--coldStartBatch', '4', '--evalEvery', '2', '--evalPrompts', '4', '--checkpointEvery', '2', '--task', 'sorting');
    expect(t.stderr).toBe('');
    expect(t.status).toBe(0);
    expect(t.stdout).toMatch(/step 3\/3 reward/);
    for (const f of ['config.json', 'metrics.jsonl', 'latest', 'reward.svg', 'entropy.svg', 'kl.svg', 'clipfrac.svg']) {
      expect(existsSync(join(dir, f)), f).toBe(true);
    }
    const lines = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l.step)).toEqual([0, 1, 2]);
    expect(lines[1]!.evalAccuracy).toBeTypeOf('number');
    expect(readFileSync(join(dir, 'latest'), 'utf8')).toBe('checkpoint-000003');
    const e = run('eval', dir, '--evalPrompts', '4');
    expect(e.status).toBe(0);
    expect(e.stdout).toMatch(/eval accuracy at step 3: \d\.\d{4} over 4 prompts/);
    const p = run('plot', dir);
    expect(p.status).toBe(0);
    expect(p.stdout).toMatch(/reward\.svg/);
  }, 120_000);

  it('a bad option is a clear error', () => {
    const r = run('train', '--lrr', '1');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/ConfigError: unknown option --lrr/);
    const s = run('train', '--steps', '0', '--out', join(mkdtempSync(join(tmpdir(), 'stablerl-cli-')), 'x'));
    expect(s.status).toBe(1);
    expect(s.stderr).toMatch(/steps must be a positive integer/);
  });
});

describe('stablerl train --resume after SIGKILL', () => {
  it('produces the same metrics, bit for bit, as a run never interrupted', async () => {
    const { spawn } = await import('node:child_process');
    const base = mkdtempSync(join(tmpdir(), 'stablerl-kill-'));
    const args = (out: string) => ['train', '--out', out, '--steps', '6', '--promptsPerStep', '2', '--groupSize', '4', '--coldStartSteps', '3',
      '--coldStartBatch', '4', '--evalEvery', '3', '--evalPrompts', '4', '--checkpointEvery', '1', '--task', 'sorting',
      '--profile', 'bf16', '--replay', 'r2', '--miniBatches', '2'];
    const straight = join(base, 'straight');
    expect(run(...args(straight)).status).toBe(0);

    const killed = join(base, 'killed');
    const child = spawn(process.execPath, [CLI, ...args(killed)], { stdio: 'ignore' });
    // Kill it hard once a checkpoint after step 2 exists, mid-run.
    await new Promise<void>((done, fail) => {
      const t0 = Date.now();
      const poll = setInterval(() => {
        const latest = join(killed, 'latest');
        if (existsSync(latest) && readFileSync(latest, 'utf8') >= 'checkpoint-000002') {
          clearInterval(poll);
          child.kill('SIGKILL');
          child.on('exit', () => done());
        } else if (Date.now() - t0 > 60_000) {
          clearInterval(poll);
          fail(new Error('no checkpoint within 60 s'));
        }
      }, 20);
    });
    expect(readFileSync(join(killed, 'latest'), 'utf8') < 'checkpoint-000006').toBe(true);
    const resumed = run('train', '--resume', killed);
    expect(resumed.stderr).toBe('');
    expect(resumed.status).toBe(0);
    expect(resumed.stdout).toMatch(/resumed .* at step [2-5]/);
    const strip = (dir: string) =>
      readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => {
        const r = JSON.parse(l) as Record<string, unknown>;
        delete r.seconds;
        return JSON.stringify(r);
      });
    expect(strip(killed)).toEqual(strip(straight));
  }, 180_000);
});

describe('stablerl coldstart and reproduce', () => {
  it('a run started from coldstart weights (init) equals one that ran the same cold start inline, bit for bit', () => {
    const base = mkdtempSync(join(tmpdir(), 'stablerl-init-'));
    const weights = join(base, 'cs', 'canonical-seed3.safetensors');
    const c = run('coldstart', '--out', weights, '--task', 'sorting', '--length', '3', '--source', 'canonical', '--seed', '3',
      '--steps', '4', '--batch', '4', '--evalPrompts', '8');
    expect(c.stderr).toBe('');
    expect(c.status).toBe(0);
    const info = JSON.parse(readFileSync(weights.replace(/\.safetensors$/, '.json'), 'utf8')) as Record<string, unknown>;
    expect(info.steps).toBe(4);
    expect(info.evalAccuracy).toBeTypeOf('number');
    const common = ['--steps', '3', '--promptsPerStep', '2', '--groupSize', '4', '--evalEvery', '2', '--evalPrompts', '4', '--seed', '3',
      '--coldStartSteps', '4', '--coldStartBatch', '4', '--profile', 'bf16', '--checkpointEvery', '0'];
    const a = run('train', '--out', join(base, 'inline'), ...common);
    const b = run('train', '--out', join(base, 'init'), '--init', weights, '--evalBeforeRL', 'false', ...common);
    expect(a.status, a.stderr).toBe(0);
    expect(b.status, b.stderr).toBe(0);
    expect(b.stdout).toMatch(/initial weights from/);
    const metrics = (d: string) => readFileSync(join(base, d, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean)
      .map((l) => { const r = JSON.parse(l) as Record<string, unknown>; delete r.seconds; return r; });
    expect(metrics('init')).toEqual(metrics('inline'));
    expect(metrics('init')).toHaveLength(3);
    expect(existsSync(join(base, 'init', 'latest'))).toBe(false); // checkpointEvery 0: none written
  }, 120_000);

  it('reproduce and coldstart: --help, and bad options name the option', () => {
    for (const cmd of ['reproduce', 'coldstart']) {
      const h = run(cmd, '--help');
      expect(h.status).toBe(0);
      expect(h.stdout).toMatch(new RegExp(`stablerl ${cmd}`));
    }
    expect(run('reproduce', '--quick', '--only', 'f9').stderr).toMatch(/--only takes f1, f2f3, f4; got 'f9'/);
    expect(run('reproduce', '--jobz', '2').stderr).toMatch(/unknown option --jobz/);
    expect(run('coldstart', '--out', 'x.bin').stderr).toMatch(/--out must name a \.safetensors file/);
    expect(run('train', '--init', '/nonexistent.safetensors', '--steps', '1').stderr).toMatch(/init must name an existing weights file/);
  });

  it('theory: a seeded run writes the same theory.json and charts twice; bad options are ConfigErrors', () => {
    const base = mkdtempSync(join(tmpdir(), 'stablerl-theory-'));
    const a = run('theory', '--out', join(base, 'a'), '--seed', '1', '--lengths', '2,4', '--deltas', '0.3');
    const b = run('theory', '--out', join(base, 'b'), '--seed', '1', '--lengths', '2,4', '--deltas', '0.3');
    expect(a.status, a.stderr).toBe(0);
    expect(b.status, b.stderr).toBe(0);
    expect(a.stdout).toMatch(/wrote 12 SVG charts and theory.json/);
    const files = readdirSync(join(base, 'a')).sort();
    expect(files).toContain('theory.json');
    expect(files).toContain('routing-flip.svg');
    for (const f of files) expect(readFileSync(join(base, 'b', f), 'utf8'), f).toBe(readFileSync(join(base, 'a', f), 'utf8'));
    const data = JSON.parse(readFileSync(join(base, 'a', 'theory.json'), 'utf8')) as { options: { seed: number; lengths: number[] } };
    expect(data.options.seed).toBe(1);
    expect(data.options.lengths).toEqual([2, 4]);
    expect(run('theory', '--help').stdout).toMatch(/stablerl theory/);
    const bad = run('theory', '--lengths', '2,14');
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/ConfigError: lengths: T = 14 is outside the enumerable range/);
    expect(run('theory', '--deltas', '0.1,').stderr).toMatch(/--deltas must be a comma-separated list/);
    expect(run('theory', '--estimators', 'ppo').stderr).toMatch(/unknown estimator 'ppo'/);
    expect(run('theory', '--seed', '-2').stderr).toMatch(/--seed must be a non-negative integer/);
    expect(run('theory', '--out2', 'x').stderr).toMatch(/unknown option --out2/);
  }, 120_000);
});
