/**
 * MoE configs: the presets by name (their sizes as src/moe/config.ts documents them), and
 * validation that names the offending field.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/index.js';
import { MOE_PRESETS, MOE_SMALL, MOE_TINY, moeConfig, validateMoEConfig, type MoEConfig } from '../../src/moe/index.js';

describe('MoE configs', () => {
  it('presets match their documented sizes', () => {
    expect(MOE_TINY).toMatchObject({ vocabSize: 32, dModel: 64, nLayers: 2, nHeads: 4, nExperts: 8, topK: 2, expertHidden: 128, contextLength: 64 });
    expect(MOE_SMALL).toMatchObject({ vocabSize: 64, dModel: 128, nLayers: 4, nHeads: 4, nExperts: 16, topK: 2, expertHidden: 256, contextLength: 128 });
    expect(MOE_PRESETS['moe-tiny']).toBe(MOE_TINY);
    expect(MOE_PRESETS['moe-small']).toBe(MOE_SMALL);
    expect(validateMoEConfig({ ...MOE_TINY })).toEqual(MOE_TINY);
    expect(Object.isFrozen(MOE_TINY)).toBe(true);
    expect(moeConfig('moe-tiny', { gate: 'sigmoid' })).toEqual({ ...MOE_TINY, gate: 'sigmoid' });
  });

  it('every bad field is a ConfigError that names it', () => {
    const bad: [Partial<Record<keyof MoEConfig, unknown>> & Record<string, unknown>, RegExp][] = [
      [{ vocabSize: 0 }, /vocabSize must be a positive integer/],
      [{ dModel: 64.5 }, /dModel must be a positive integer/],
      [{ nLayers: -1 }, /nLayers/],
      [{ nExperts: '8' }, /nExperts/],
      [{ expertHidden: undefined }, /expertHidden must be a positive integer, got nothing \(missing\)/],
      [{ contextLength: 0 }, /contextLength/],
      [{ topK: 9 }, /topK = 9 must be at most nExperts = 8/],
      [{ nHeads: 3 }, /nHeads = 3 must divide dModel = 64/],
      [{ nHeads: 64 }, /even head dim/],
      [{ gate: 'softmax' }, /gate must be one of softmax-topk, topk-softmax, sigmoid/],
      [{ ropeTheta: 0 }, /ropeTheta/],
      [{ normEps: Number.NaN }, /normEps/],
      [{ auxLossCoef: -0.1 }, /auxLossCoef must be a finite number ≥ 0/],
      [{ zLossCoef: Infinity }, /zLossCoef/],
      [{ nExpert: 8 }, /unknown field 'nExpert'/],
    ];
    for (const [patch, msg] of bad) {
      const c = { ...MOE_TINY, ...patch };
      expect(() => validateMoEConfig(c), JSON.stringify(patch)).toThrow(ConfigError);
      expect(() => validateMoEConfig(c), JSON.stringify(patch)).toThrow(msg);
    }
    expect(() => validateMoEConfig(null)).toThrow(ConfigError);
    expect(() => moeConfig('moe-huge' as 'moe-tiny')).toThrow(/unknown preset 'moe-huge'/);
  });
});
