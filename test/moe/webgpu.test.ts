/**
 * The MoE stack on WebGPU (skipped, with the reason printed, where no adapter exists): the
 * dense dispatch path needs no read-back, so the layer and the transformer run with a
 * synchronous forward; their values match the CPU's within f32 tolerance; a trace recorded on
 * the GPU is pending until `await trace.resolve()`, replays on the device as it is, and equals
 * the CPU's routing where the logits are not near a tie.
 */
import { expect, it } from 'vitest';
import { DeviceError, Rng, liveTensors, tensor, tidy } from '../../src/index.js';
import { MOE_TINY, MoETransformer, moeForward, type MoEParams } from '../../src/moe/index.js';
import { describeGpu } from '../tensor/webgpu/gpu.js';
import { expectClose, randF64 } from './helpers.js';

describeGpu('MoE on WebGPU', () => {
  it('moeForward (dense dispatch) matches the CPU (sparse) within f32 tolerance, live and replayed', async () => {
    const rng = new Rng(1);
    const p64: MoEParams = {
      router: randF64(rng, [8, 16]), wGate: randF64(rng, [8, 12, 16], -0.3, 0.3), wUp: randF64(rng, [8, 12, 16], -0.3, 0.3), wDown: randF64(rng, [8, 16, 12], -0.3, 0.3),
    };
    const x64 = randF64(rng, [20, 16]);
    const cpuP = Object.fromEntries(Object.entries(p64).map(([k, v]) => [k, v.to('f32')])) as unknown as MoEParams;
    const gpuP = Object.fromEntries(Object.entries(cpuP).map(([k, v]) => [k, v.to('webgpu')])) as unknown as MoEParams;
    const xc = x64.to('f32');
    const xg = xc.to('webgpu');
    const c = moeForward(xc, cpuP, { k: 2, gate: 'softmax-topk', auxLossCoef: 0.01, zLossCoef: 0.001 });
    const g = moeForward(xg, gpuP, { k: 2, gate: 'softmax-topk', auxLossCoef: 0.01, zLossCoef: 0.001 });
    expect(Array.from(await g.indices.toArray())).toEqual(Array.from(c.indices.toArraySync()));
    expectClose(await g.output.toArray(), c.output.toArraySync(), 1e-4, 1e-5, 'output');
    expectClose(await g.auxLoss.toArray(), c.auxLoss.toArraySync(), 1e-4, 1e-6, 'aux');
    const replay = Int32Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? 7 : (i >> 1) % 7));
    const cr = moeForward(xc, cpuP, { k: 2, gate: 'sigmoid', replay });
    const gr = moeForward(xg, gpuP, { k: 2, gate: 'sigmoid', replay: tensor(replay, { dtype: 'i32', device: 'webgpu' }) });
    expectClose(await gr.output.toArray(), cr.output.toArraySync(), 1e-4, 1e-5, 'replayed output');
    expect(() => moeForward(xg, gpuP, { k: 2, gate: 'softmax-topk', dispatch: 'sparse' })).toThrow(DeviceError);
  });

  it('MoETransformer: GPU forward ≈ CPU forward; the pending trace replays on the device bit for bit and resolves to the CPU routing', async () => {
    const cpu = new MoETransformer(MOE_TINY, { rng: new Rng(2) });
    const gpu = new MoETransformer(MOE_TINY, { rng: new Rng(2), device: 'webgpu' });
    const toks = tensor(new Rng(3).int(2 * 8, 32), { shape: [2, 8], dtype: 'i32' });
    const c = cpu.forward(toks);
    const g = gpu.forward(toks.to('webgpu'));
    expect(g.routing.isResolved).toBe(false);
    expect(() => g.routing.layer(0)).toThrow(/await trace.resolve\(\)/);
    const rep = tidy(() => gpu.forward(toks.to('webgpu'), { routing: g.routing }).logits);
    expect(Array.from(await rep.toArray())).toEqual(Array.from(await g.logits.toArray()));
    expectClose(await g.logits.toArray(), c.logits.toArraySync(), 1e-3, 1e-4, 'logits');
    await g.routing.resolve();
    expect(g.routing.isResolved).toBe(true);
    expect(g.routing.agreement(c.routing)).toBe(1);
    // a resolved (host) trace replays on the GPU too
    const rep2 = gpu.forward(toks.to('webgpu'), { routing: c.routing });
    expectClose(await rep2.logits.toArray(), c.logits.toArraySync(), 1e-3, 1e-4, 'replayed CPU trace on GPU');
  });

  it('a training step\'s gradients on the GPU (replayed routing) match the CPU\'s', async () => {
    const cpu = new MoETransformer(MOE_TINY, { rng: new Rng(4) });
    const gpu = new MoETransformer(MOE_TINY, { rng: new Rng(4), device: 'webgpu' });
    const toks = tensor(new Rng(5).int(2 * 6, 32), { shape: [2, 6], dtype: 'i32' });
    const c = cpu.forward(toks);
    c.logits.logSoftmax(-1).mean().neg().add(c.auxLoss).backward();
    const g = gpu.forward(toks.to('webgpu'), { routing: c.routing });
    g.logits.logSoftmax(-1).mean().neg().add(g.auxLoss).backward();
    const cg = [...cpu.namedParameters()];
    const gg = [...gpu.namedParameters()];
    for (let i = 0; i < cg.length; i++) {
      expectClose(await gg[i]![1].grad!.toArray(), cg[i]![1].grad!.toArraySync(), 2e-3, 2e-5, cg[i]![0]);
    }
  });

  it('memory: a pending trace is disposed by a tidy scope that does not return it, and survives one that does', async () => {
    const gpu = new MoETransformer(MOE_TINY, { rng: new Rng(6), device: 'webgpu' });
    const toks = tensor(new Rng(7).int(2 * 4, 32), { shape: [2, 4], dtype: 'i32', device: 'webgpu' });
    const before = liveTensors();
    for (let step = 0; step < 3; step++) {
      const loss = tidy(() => {
        const r = gpu.forward(toks);
        const l = r.logits.logSoftmax(-1).mean().neg().add(r.auxLoss);
        l.backward();
        return l.detach();
      });
      loss.dispose();
      gpu.zeroGrad();
    }
    expect(liveTensors()).toBe(before);
    const kept = tidy(() => gpu.forward(toks).routing);
    expect(kept.isResolved).toBe(false);
    expect(kept.isDisposed).toBe(false);
    const again = tidy(() => gpu.forward(toks, { routing: kept }).routing);
    expect(again).toBe(kept);
    await kept.resolve();
    expect(kept.numLayers).toBe(2);
    expect(liveTensors()).toBe(before);
    const dropped = tidy(() => gpu.forward(toks).routing);
    expect(liveTensors()).toBe(before + 1 + 2); // the pending trace and the 2 layer tensors it owns
    dropped.dispose();
    expect(dropped.isDisposed).toBe(true);
    expect(() => dropped.layer(0)).toThrow(/disposed/);
    expect(liveTensors()).toBe(before);
  });
});
