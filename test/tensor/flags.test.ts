/**
 * The flag registry (src/tensor/flags.ts): every flag is listed with its default and a
 * description, withFlags puts the flags it set back (on return, on throw, when an async fn
 * settles), unknown names and wrong values are ConfigErrors naming the flag, and every flag is
 * observed by the code it claims to switch (one smoke check per flag; the bit-for-bit
 * comparisons of the two sides live in the tests of each consumer).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ConfigError, Rng, cpuBackend, embedding, getFlag, listFlags, matmulT, noGrad, randn, resetFlags, setFlags, tensor, tidy, withFlags,
  type FlagName, type RoutineName, type Tensor,
} from '../../src/index.js';
import { AdamW } from '../../src/nn/optim.js';
import { addRmsNorm, rmsNorm } from '../../src/nn/layers.js';
import { KVCacheLayer, decodeAttention, ropeHeads } from '../../src/nn/attention.js';
import { InferenceEngine, MOE_TINY, MoETransformer } from '../../src/moe/index.js';
import type { KernelCall, WebGpuStorage } from '../../src/tensor/webgpu/index.js';
import { describeGpu, gpu } from '../helpers/gpu.js';

const ALL: FlagName[] = [
  'webgpu.elementwiseVersion', 'webgpu.matmulVersion', 'webgpu.indexingVersion', 'webgpu.writeBufferUploads',
  'webgpu.cacheConstants', 'webgpu.shareIdentityCopies', 'autograd.fusedVjps', 'nn.fusedRmsNorm', 'nn.fusedRope',
  'nn.fusedAttention', 'nn.fusedAdamW', 'moe.fusedMix', 'moe.deviceRouting',
];

afterEach(() => {
  resetFlags();
  vi.restoreAllMocks();
});

describe('flag registry', () => {
  it('lists every flag once, in one naming style, with its default, current value and a description', () => {
    const flags = listFlags();
    expect(flags.map((f) => f.name).sort()).toEqual([...ALL].sort());
    for (const f of flags) {
      expect(f.name).toMatch(/^(webgpu|autograd|nn|moe)\.[a-z][A-Za-z0-9]*$/);
      expect(f.value).toBe(f.default);
      expect(getFlag(f.name)).toBe(f.default);
      expect(f.description.length).toBeGreaterThan(20);
    }
    expect(Object.fromEntries(flags.map((f) => [f.name, f.default]))).toEqual({
      'webgpu.elementwiseVersion': 2, 'webgpu.matmulVersion': 2, 'webgpu.indexingVersion': 2, 'webgpu.writeBufferUploads': true,
      'webgpu.cacheConstants': true, 'webgpu.shareIdentityCopies': true, 'autograd.fusedVjps': true, 'nn.fusedRmsNorm': true,
      'nn.fusedRope': true, 'nn.fusedAttention': true, 'nn.fusedAdamW': true, 'moe.fusedMix': true, 'moe.deviceRouting': true,
    });
    expect(flags.find((f) => f.name === 'webgpu.matmulVersion')!.choices).toEqual([1, 2]);
  });

  it('setFlags changes values, listFlags reports them, resetFlags restores the defaults', () => {
    setFlags({ 'nn.fusedRope': false, 'webgpu.matmulVersion': 1 });
    expect(getFlag('nn.fusedRope')).toBe(false);
    expect(getFlag('webgpu.matmulVersion')).toBe(1);
    expect(listFlags().find((f) => f.name === 'nn.fusedRope')).toMatchObject({ default: true, value: false });
    resetFlags();
    expect(listFlags().every((f) => f.value === f.default)).toBe(true);
  });

  it('withFlags returns fn\'s result and puts back only the flags it set, also when fn throws', () => {
    expect(withFlags({ 'moe.fusedMix': false }, () => getFlag('moe.fusedMix'))).toBe(false);
    expect(getFlag('moe.fusedMix')).toBe(true);
    setFlags({ 'nn.fusedRope': false });
    expect(() => withFlags({ 'nn.fusedRope': true, 'webgpu.indexingVersion': 1 }, () => {
      setFlags({ 'moe.deviceRouting': false }); // not one of withFlags' flags: it stays
      throw new Error('boom');
    })).toThrow('boom');
    expect(getFlag('nn.fusedRope')).toBe(false);
    expect(getFlag('webgpu.indexingVersion')).toBe(2);
    expect(getFlag('moe.deviceRouting')).toBe(false);
    // nested
    withFlags({ 'nn.fusedAdamW': false }, () => {
      withFlags({ 'nn.fusedAdamW': true }, () => expect(getFlag('nn.fusedAdamW')).toBe(true));
      expect(getFlag('nn.fusedAdamW')).toBe(false);
    });
    expect(getFlag('nn.fusedAdamW')).toBe(true);
  });

  it('withFlags with an async fn keeps the flags until its promise settles, resolved or rejected', async () => {
    const p = withFlags({ 'nn.fusedAttention': false }, async () => {
      await new Promise((r) => setTimeout(r, 1));
      return getFlag('nn.fusedAttention');
    });
    expect(getFlag('nn.fusedAttention')).toBe(false);
    expect(await p).toBe(false);
    expect(getFlag('nn.fusedAttention')).toBe(true);
    await expect(withFlags({ 'webgpu.cacheConstants': false }, async () => {
      await new Promise((r) => setTimeout(r, 1));
      throw new Error('late');
    })).rejects.toThrow('late');
    expect(getFlag('webgpu.cacheConstants')).toBe(true);
  });

  it('unknown names and wrong values are ConfigErrors naming the flag, and change nothing', () => {
    const bad = (f: () => unknown, msg: RegExp) => {
      expect(f).toThrow(ConfigError);
      expect(f).toThrow(msg);
    };
    bad(() => getFlag('nn.fusedRMSNorm' as FlagName), /unknown flag 'nn\.fusedRMSNorm'/);
    bad(() => setFlags({ 'nn.fusedRope': false, 'EW_VERSION': 2 } as never), /unknown flag 'EW_VERSION'/);
    bad(() => withFlags({ 'moe.fused': true } as never, () => 0), /unknown flag 'moe\.fused'/);
    bad(() => setFlags({ 'nn.fusedRope': 1 } as never), /'nn\.fusedRope' takes a boolean/);
    bad(() => setFlags({ 'webgpu.matmulVersion': true } as never), /'webgpu\.matmulVersion' takes a number/);
    bad(() => setFlags({ 'webgpu.matmulVersion': 3 } as never), /'webgpu\.matmulVersion' must be one of 1, 2/);
    bad(() => setFlags({ 'moe.deviceRouting': undefined } as never), /'moe\.deviceRouting' takes a boolean/);
    bad(() => setFlags(null as never), /setFlags takes an object/);
    bad(() => withFlags({ 'nn.fusedRope': false }, 'fn' as never), /withFlags takes a function/);
    expect(listFlags().every((f) => f.value === f.default)).toBe(true);
  });
});

describe('each flag is observed by its consumer (CPU)', () => {
  it("'autograd.fusedVjps': silu keeps its sigmoid for the fused backward only when on", () => {
    const spy = vi.spyOn(cpuBackend.routines, 'siluWithSigmoid');
    for (const on of [true, false]) {
      withFlags({ 'autograd.fusedVjps': on }, () => tidy(() => {
        const x = tensor([0.5, -2, 3], { requiresGrad: true });
        x.silu().sum().backward();
        x.dispose();
      }));
      expect(spy.mock.calls.length, `on = ${on}`).toBe(1);
    }
  });

  it("'nn.fusedAdamW': AdamW.step takes the fused update only when on", () => {
    const spy = vi.spyOn(cpuBackend.routines, 'adamw');
    for (const on of [true, false]) {
      const p = tensor([1, 2, 3], { requiresGrad: true });
      const opt = new AdamW([p]);
      tidy(() => p.square().sum().backward());
      withFlags({ 'nn.fusedAdamW': on }, () => opt.step());
      expect(spy.mock.calls.length, `on = ${on}`).toBe(1);
      opt.zeroGrad();
      p.dispose();
    }
  });
});

describeGpu('each flag is observed by its consumer (WebGPU)', () => {
  /** The shader text of every dispatch fn encodes. */
  const shaders = (fn: () => Tensor | Tensor[]): string[] => {
    const spy = vi.spyOn(gpu!, 'run');
    const out = tidy(fn);
    const codes = spy.mock.calls.map(([c]) => (c as KernelCall).code);
    spy.mockRestore();
    for (const t of [out].flat()) t.dispose();
    return codes;
  };
  const differ = (name: FlagName, a: unknown, b: unknown, fn: () => Tensor | Tensor[]) => {
    const x = withFlags({ [name]: a }, () => shaders(fn));
    const y = withFlags({ [name]: b }, () => shaders(fn));
    expect(x.length).toBeGreaterThan(0);
    expect(x, name).not.toEqual(y);
  };
  const dev = { device: 'webgpu' as const };

  it("'webgpu.elementwiseVersion', 'webgpu.matmulVersion', 'webgpu.indexingVersion' pick other shaders", () => {
    const x = tensor(Float32Array.from({ length: 12 }, (_, i) => i - 5), { shape: [3, 4], ...dev });
    const w = tensor(Float32Array.from({ length: 8 }, (_, i) => i / 3), { shape: [2, 4], ...dev });
    const ids = tensor(Int32Array.from([2, 0, 1, 2]), { dtype: 'i32', ...dev });
    differ('webgpu.elementwiseVersion', 2, 1, () => x.mul(2));
    if (gpu!.info.path !== 'hardware') differ('webgpu.matmulVersion', 2, 1, () => matmulT(x, w, false, true));
    differ('webgpu.indexingVersion', 2, 1, () => embedding(x, ids));
    for (const t of [x, w, ids]) t.dispose();
  });

  it("'webgpu.writeBufferUploads': uploads take a clean buffer for writeBuffer only when on", () => {
    const spy = vi.spyOn(gpu!.pool, 'acquireClean');
    for (const on of [true, false]) {
      withFlags({ 'webgpu.writeBufferUploads': on }, () => tensor([1, 2, 3], dev)).dispose();
      expect(spy.mock.calls.length, `on = ${on}`).toBe(1);
    }
  });

  it("'webgpu.cacheConstants' and 'webgpu.shareIdentityCopies': shared buffers only when on", () => {
    const buf = (t: Tensor) => (t.storage as WebGpuStorage).buffer;
    for (const on of [true, false]) {
      const [p, q] = withFlags({ 'webgpu.cacheConstants': on }, () => [gpu!.full(1, 0.75, 'f32'), gpu!.full(1, 0.75, 'f32')] as WebGpuStorage[]);
      expect(p!.buffer === q!.buffer, `cacheConstants ${on}`).toBe(on);
      gpu!.dispose(p!);
      gpu!.dispose(q!);
      const x = tensor([1, 2, 3], dev);
      const y = withFlags({ 'webgpu.shareIdentityCopies': on }, () => x.clone());
      expect(buf(y) === buf(x), `shareIdentityCopies ${on}`).toBe(on);
      x.dispose();
      y.dispose();
    }
  });

  it("'nn.fusedRmsNorm', 'nn.fusedRope', 'nn.fusedAttention': the fused kernels run only when on", () => {
    const rng = new Rng(3);
    const x = randn([2, 3, 8], { rng, ...dev });
    const g = randn([8], { rng, ...dev });
    const q = randn([2, 2, 1, 4], { rng, ...dev });
    const k = randn([2, 2, 5, 4], { rng, ...dev });
    const cases: [FlagName, RoutineName[], () => unknown][] = [
      ['nn.fusedRmsNorm', ['rmsNorm', 'addRmsNorm'], () => [rmsNorm(x, g), ...addRmsNorm(x, x, g)]],
      ['nn.fusedRope', ['rope'], () => ropeHeads(x, 2, 0)],
      ['nn.fusedAttention', ['decodeAttention', 'appendKV'], () => {
        const cache = new KVCacheLayer();
        cache.append(k.mul(1), k.mul(1));
        cache.append(q.mul(1), q.mul(1));
        cache.dispose();
        return decodeAttention(q, k, k);
      }],
    ];
    for (const [flag, methods, fn] of cases) {
      const spies = methods.map((m) => vi.spyOn(gpu!.routines, m as RoutineName));
      for (const on of [true, false]) noGrad(() => tidy(() => withFlags({ [flag]: on }, fn)));
      for (const s of spies) expect(s.mock.calls.length, flag).toBe(1);
    }
    for (const t of [x, g, q, k]) t.dispose();
  });

  it("'moe.fusedMix' and 'moe.deviceRouting': the engine's fused expert mix and device-side ids only when on", async () => {
    const model = new MoETransformer(MOE_TINY, { rng: new Rng(1), ...dev });
    const eng = new InferenceEngine(model);
    const spy = vi.spyOn(gpu!.routines, 'chosenExperts');
    const gen = () => eng.generate([[1, 2, 3]], { maxNewTokens: 2, rng: new Rng(4) });
    for (const on of [true, false]) await withFlags({ 'moe.fusedMix': on }, gen);
    // 2 layers × 2 forwards with the fused mix, none without
    expect(spy.mock.calls.length).toBe(2 * 2);
    const submits: number[] = [];
    for (const on of [true, false]) {
      const s0 = gpu!.submits;
      await withFlags({ 'moe.deviceRouting': on }, gen);
      submits.push(gpu!.submits - s0);
    }
    // per-layer id read-backs add a submit per layer per forward
    expect(submits[1]).toBeGreaterThan(submits[0]!);
    eng.dispose();
  });
});
