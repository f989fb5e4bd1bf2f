/**
 * The routine dispatcher (src/tensor/routines.ts): tryRoutine runs a backend's fused routine
 * only when the backend offers it and its flag is on, and returns null (so the caller runs the
 * composed ops) when it is absent, switched off, or declines the case. Every routine a backend
 * offers has an entry in ROUTINE_FLAGS.
 */
import { describe, expect, it } from 'vitest';
import { ROUTINE_FLAGS, cpuBackend, getFlag, hasRoutine, tryRoutine, withFlags, type Backend, type Routines, type Storage } from '../../src/index.js';
import { describeGpu, gpu } from '../helpers/gpu.js';

const fake = (routines: Routines | undefined) => ({ ...cpuBackend, name: 'cpu', routines }) as unknown as Backend;
const s = { size: 1 } as unknown as Storage;

describe('tryRoutine', () => {
  it('null where the backend has no routines or not this one', () => {
    expect(tryRoutine(fake(undefined), 'siluMul', s, s)).toBeNull();
    expect(tryRoutine(fake({}), 'siluMul', s, s)).toBeNull();
    expect(hasRoutine(fake({}), 'siluMul')).toBe(false);
  });

  it('runs the routine with its arguments and `this` = the routines object', () => {
    const r: Routines = {
      siluMul(g, u) {
        expect(this).toBe(r);
        return g === s && u === s ? s : null;
      },
    };
    expect(tryRoutine(fake(r), 'siluMul', s, s)).toBe(s);
  });

  it('null where the routine declines, and where its flag is off', () => {
    const calls: string[] = [];
    const b = fake({
      siluMul: () => (calls.push('siluMul'), null),
      groupChunks: () => (calls.push('groupChunks'), { cMax: 0, tokens: s, pos: s, chunkKey: s }),
    });
    expect(tryRoutine(b, 'siluMul', s, s)).toBeNull();
    withFlags({ 'moe.fusedMix': false }, () => {
      expect(hasRoutine(b, 'siluMul')).toBe(false);
      expect(tryRoutine(b, 'siluMul', s, s)).toBeNull();
    });
    expect(calls).toEqual(['siluMul']);
    // groupChunks has no flag: always taken where offered
    expect(ROUTINE_FLAGS.groupChunks).toBeNull();
    expect(tryRoutine(b, 'groupChunks', s, 1, 1, 1, 1)).not.toBeNull();
  });

  it('every flag named in ROUTINE_FLAGS exists; the CPU offers AdamW and the silu vjps', () => {
    for (const flag of Object.values(ROUTINE_FLAGS)) if (flag !== null) expect(typeof getFlag(flag)).toBe('boolean');
    expect(Object.keys(cpuBackend.routines!).sort()).toEqual(['adamw', 'siluGrad', 'siluWithSigmoid']);
  });
});

describeGpu('WebGPU routines', () => {
  it('every routine the WebGPU backend offers is named in ROUTINE_FLAGS', () => {
    const names = Object.keys(gpu!.routines).sort();
    expect(names).toEqual(Object.keys(ROUTINE_FLAGS).filter((n) => !['siluGrad', 'siluWithSigmoid'].includes(n)).sort());
  });
});
