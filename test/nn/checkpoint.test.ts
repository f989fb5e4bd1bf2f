/**
 * Module checkpoints through safetensors: a MoE transformer saved and loaded into a fresh one
 * reproduces its logits bit for bit; a file for another architecture is a clear error; a
 * truncated file is a clear error and leaves the module untouched.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Rng, ShapeError, tensor } from '../../src/index.js';
import { loadModule, saveModule } from '../../src/nn/index.js';
import { MoETransformer, moeConfig } from '../../src/moe/index.js';

describe('module checkpoints', () => {
  const dir = mkdtempSync(join(tmpdir(), 'stablerl-ckpt-'));
  const cfg = moeConfig('moe-tiny', { nLayers: 1, dModel: 32, expertHidden: 32, nExperts: 4 });
  const tokens = tensor([[1, 2, 3, 4, 5]], { dtype: 'i32' });

  it('save → load into a fresh model reproduces the logits bit for bit', async () => {
    const a = new MoETransformer(cfg, { rng: new Rng(1) });
    const b = new MoETransformer(cfg, { rng: new Rng(2) });
    const path = join(dir, 'model.safetensors');
    await saveModule(path, a, { step: '7' });
    expect(Array.from(b.forward(tokens).logits.toArraySync())).not.toEqual(Array.from(a.forward(tokens).logits.toArraySync()));
    const meta = await loadModule(path, b);
    expect(meta.step).toBe('7');
    expect(Array.from(b.forward(tokens).logits.toArraySync())).toEqual(Array.from(a.forward(tokens).logits.toArraySync()));
  });

  it('another architecture is a ShapeError naming the parameter; a truncated file is a clear error', async () => {
    const a = new MoETransformer(cfg, { rng: new Rng(1) });
    const path = join(dir, 'other.safetensors');
    await saveModule(path, a);
    const wider = new MoETransformer({ ...cfg, dModel: 48, nHeads: 4 }, { rng: new Rng(1) });
    await expect(loadModule(path, wider)).rejects.toThrow(ShapeError);
    await expect(loadModule(path, wider)).rejects.toThrow(/'embed.weight' has \[32, 32\] f32, the module expects \[32, 48\] f32/);
    const bytes = readFileSync(path);
    const cut = join(dir, 'cut.safetensors');
    writeFileSync(cut, bytes.subarray(0, bytes.length - 100));
    const before = Array.from(a.forward(tokens).logits.toArraySync());
    await expect(loadModule(cut, a)).rejects.toThrow(/cut\.safetensors/);
    expect(Array.from(a.forward(tokens).logits.toArraySync())).toEqual(before);
  });
});
