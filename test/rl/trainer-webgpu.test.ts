/**
 * The same trainer on WebGPU: `stablerl train --device webgpu` acquires the adapter, says which,
 * and runs end to end. Under the `exact` engine profile at N = 1 the engine's μ equals the
 * trainer's π bit for bit, so every step has ppoKl 0, training–inference KL 0 and IS weights 1.
 * (Skipped, with the reason printed, where no WebGPU adapter exists.)
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect, it } from 'vitest';
import { describeGpu } from '../helpers/gpu.js';
import { expectExactStep, type ExactStepFields } from '../helpers/trainer.js';

const CLI = resolve(__dirname, '../../dist/cli/main.js');

describeGpu('stablerl train --device webgpu', () => {
  it('3 steps under exact at N = 1: ppoKl 0, KL 0, IS weights 1; a checkpoint is written', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'stablerl-gpu-')), 'run');
    const r = spawnSync(process.execPath, [CLI, 'train', '--device', 'webgpu', '--out', out, '--steps', '3', '--promptsPerStep', '4',
      '--groupSize', '4', '--coldStartSteps', '10', '--coldStartBatch', '8', '--evalEvery', '3', '--evalPrompts', '8', '--checkpointEvery', '3'],
    { encoding: 'utf8', timeout: 300_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^webgpu: .+/m);
    expect(r.stdout).toMatch(/sorting on moe-tiny \(webgpu\)/);
    const recs = readFileSync(join(out, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as ExactStepFields & { gradNorm: number });
    expect(recs).toHaveLength(3);
    for (const m of recs) {
      expectExactStep(m);
      expect(Number.isFinite(m.gradNorm)).toBe(true);
    }
    expect(existsSync(join(out, 'checkpoint-000003'))).toBe(true);
  }, 300_000);
});
