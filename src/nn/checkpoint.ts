/**
 * Module checkpoints: a module's state dict written as one safetensors file (atomically, see
 * safetensors.ts) and read back into a module of the same architecture with strict name,
 * shape and dtype checks (Module.loadStateDict).
 */
import type { Module } from './module.js';
import { loadSafetensors, saveSafetensors } from './safetensors.js';

export async function saveModule(path: string, module: Module, metadata?: Record<string, string>): Promise<void> {
  await saveSafetensors(path, module.stateDict(), metadata);
}

/** Loads `path` into `module` (strict by default); returns the file's metadata. */
export async function loadModule(path: string, module: Module, opts: { strict?: boolean } = {}): Promise<Record<string, string>> {
  const { tensors, metadata } = await loadSafetensors(path);
  module.loadStateDict(tensors, opts.strict ?? true);
  for (const t of tensors.values()) t.dispose();
  return metadata;
}
