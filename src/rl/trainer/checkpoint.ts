/**
 * Trainer checkpoints: everything a run needs to continue bit for bit — model weights and
 * AdamW state (safetensors), the trainer's and the engine's random streams, and the step.
 * A checkpoint is written into a temporary directory and renamed into place, then the
 * `latest` pointer is replaced atomically, so a run killed at any moment (SIGKILL included)
 * leaves the previous checkpoint intact and loadable.
 */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, Rng, type RngState } from '../../tensor/index.js';
import { loadSafetensors, saveSafetensors } from '../../nn/index.js';
import type { Trainer } from './trainer.js';

interface CheckpointState {
  step: number;
  rng: RngState;
  engine: { rng: RngState; calls: number };
}

async function writeAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(16).slice(2)}`;
  await writeFile(tmp, text);
  await rename(tmp, path);
}

/** Writes `dir/checkpoint-<step>` and points `dir/latest` at it; returns its path. */
export async function saveTrainerCheckpoint(trainer: Trainer, dir: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const name = `checkpoint-${String(trainer.step).padStart(6, '0')}`;
  const tmp = join(dir, `${name}.tmp-${process.pid}`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp);
  await saveSafetensors(join(tmp, 'model.safetensors'), trainer.model.stateDict(), { step: String(trainer.step) });
  await saveSafetensors(join(tmp, 'optimizer.safetensors'), trainer.optimizer.stateDict());
  const state: CheckpointState = { step: trainer.step, rng: trainer.rng.state(), engine: trainer.engine.randomState() };
  await writeFile(join(tmp, 'state.json'), JSON.stringify(state, null, 2));
  const final = join(dir, name);
  await rm(final, { recursive: true, force: true });
  await rename(tmp, final);
  await writeAtomic(join(dir, 'latest'), name);
  return final;
}

/** Restores weights, optimiser state, random streams and step from `dir/latest` (or a checkpoint dir). */
export async function loadTrainerCheckpoint(trainer: Trainer, dir: string): Promise<void> {
  let ckpt = dir;
  try {
    const latest = (await readFile(join(dir, 'latest'), 'utf8')).trim();
    ckpt = join(dir, latest);
  } catch {
    // `dir` is itself a checkpoint directory
  }
  let state: CheckpointState;
  try {
    state = JSON.parse(await readFile(join(ckpt, 'state.json'), 'utf8')) as CheckpointState;
  } catch (e) {
    throw new ConfigError(`resume: no readable checkpoint in '${dir}' (${(e as Error).message})`);
  }
  const model = await loadSafetensors(join(ckpt, 'model.safetensors'), { device: trainer.config.device });
  trainer.model.loadStateDict(model.tensors);
  const opt = await loadSafetensors(join(ckpt, 'optimizer.safetensors'));
  trainer.optimizer.loadStateDict(opt.tensors);
  trainer.engine.syncWeights();
  trainer.engine.setRandomState(state.engine);
  trainer.setRandomState(Rng.fromState(state.rng), state.step);
}
