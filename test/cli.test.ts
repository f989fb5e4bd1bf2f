/**
 * The `stablerl` command line, end to end on a tiny run: train writes config.json,
 * metrics.jsonl, checkpoints and the four plots; eval and plot read the run back; --help works
 * everywhere; a bad option is a clear error with a non-zero exit.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
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
