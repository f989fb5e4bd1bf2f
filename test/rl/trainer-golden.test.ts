/**
 * Fixed-seed CPU training runs give the metrics recorded in test/fixtures/ (recorded at commit
 * 68dc0b2), bit for bit, timings aside. Any refactor of
 * the trainer, the losses or the kernels underneath must keep these.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const CLI = resolve(__dirname, '../../dist/cli/main.js');
const FIXTURES = resolve(__dirname, '../fixtures');
const COMMON = ['--steps', '5', '--promptsPerStep', '8', '--groupSize', '4', '--evalEvery', '5', '--evalPrompts', '16', '--checkpointEvery', '0', '--seed', '0'];
const CASES: Record<string, string[]> = {
  a: [],
  b: ['--miniBatches', '2', '--replay', 'r2', '--profile', 'bf16'],
  c: ['--miniBatches', '2', '--replay', 'r3', '--profile', 'fp8-e4m3'],
};

const records = (text: string) => text.split('\n').filter(Boolean).map((l) => {
  const r = JSON.parse(l) as Record<string, unknown>;
  delete r.seconds;
  return r;
});

describe('fixed-seed CPU training is unchanged', () => {
  for (const [name, extra] of Object.entries(CASES)) {
    it(`case ${name}: ${extra.join(' ') || 'MiniRL, N = 1, exact engine'}`, () => {
      const out = join(mkdtempSync(join(tmpdir(), 'stablerl-golden-')), 'run');
      const r = spawnSync(process.execPath, [CLI, 'train', '--out', out, ...COMMON, ...extra], { encoding: 'utf8', timeout: 120_000 });
      expect(r.status, r.stderr).toBe(0);
      expect(records(readFileSync(join(out, 'metrics.jsonl'), 'utf8'))).toEqual(records(readFileSync(join(FIXTURES, `train-golden-${name}.jsonl`), 'utf8')));
    }, 120_000);
  }
});
