/**
 * The MoE stack on WebGPU (skipped, with the reason printed, where no adapter exists): neither
 * dispatch path reads back (dense runs every expert on every token; sparse builds its plan on
 * the device), so the layer and the transformer run with a synchronous forward; their values
 * match the CPU's within f32 tolerance; the two GPU paths give the same forward bits (the GPU
 * matmul is row invariant) and gradients equal up to f32 rounding of differently grouped sums;
 * the device plan equals the host's dispatchPlan; a trace recorded on the GPU is pending until
 * `await trace.resolve()`, replays on the device as it is, and equals the CPU's routing where
 * the logits are not near a tie.
 */
import { expect, it } from 'vitest';
import { Rng, liveTensors, tensor, tidy } from '../../src/index.js';
import { MOE_TINY, MoETransformer, defaultRowsPerChunk, dispatchPlan, moeForward, type MoEParams } from '../../src/moe/index.js';
import { groupChunks, maxChunks } from '../../src/tensor/webgpu/kernels/group.js';
import type { WebGpuBackend, WebGpuStorage } from '../../src/tensor/webgpu/index.js';
import { describeGpu, gpu as gpuBackend } from '../helpers/gpu.js';
import { expectBitwise, expectClose } from '../helpers/assert.js';
import { randF64 } from '../helpers/moe.js';

describeGpu('MoE on WebGPU', () => {
  it('moeForward (dense and sparse dispatch) matches the CPU (sparse) within f32 tolerance, live and replayed', async () => {
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
    expectClose(await g.output.toArray(), c.output.toArraySync(), { rtol: 1e-4, atol: 1e-5, what: 'output' });
    expectClose(await g.auxLoss.toArray(), c.auxLoss.toArraySync(), { rtol: 1e-4, atol: 1e-6, what: 'aux' });
    const replay = Int32Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? 7 : (i >> 1) % 7));
    const cr = moeForward(xc, cpuP, { k: 2, gate: 'sigmoid', replay });
    const gr = moeForward(xg, gpuP, { k: 2, gate: 'sigmoid', replay: tensor(replay, { dtype: 'i32', device: 'webgpu' }) });
    expectClose(await gr.output.toArray(), cr.output.toArraySync(), { rtol: 1e-4, atol: 1e-5, what: 'replayed output' });
    const gs = moeForward(xg, gpuP, { k: 2, gate: 'softmax-topk', auxLossCoef: 0.01, zLossCoef: 0.001, dispatch: 'sparse' });
    expectClose(await gs.output.toArray(), c.output.toArraySync(), { rtol: 1e-4, atol: 1e-5, what: 'sparse output' });
  });

  it('the device-built dispatch plan equals the host dispatchPlan (padding as −1, unused chunks as −1)', async () => {
    const b = gpuBackend as WebGpuBackend;
    const rng = new Rng(9);
    for (const [n, k, e] of [[20, 2, 8], [7, 3, 5], [1, 1, 4], [64, 2, 16], [300, 2, 4]] as const) {
      for (let rep = 0; rep < 3; rep++) {
        // skewed routing half the time, so some experts are empty and some have many chunks
        const idx = new Int32Array(n * k);
        for (let t = 0; t < n; t++) {
          const perm = Array.from(rng.uniform(e)).map((u, i) => [rep === 0 ? u * (i + 1) : u, i] as const).sort((x, y) => y[0] - x[0]);
          for (let j = 0; j < k; j++) idx[t * k + j] = perm[j]![1];
        }
        const m = defaultRowsPerChunk(n, k, e);
        const host = dispatchPlan(idx, n, k, e, m);
        const ids = b.fromArray(idx) as WebGpuStorage;
        const plan = groupChunks(b, ids, n * k, k, e, m);
        expect(plan.cMax).toBe(maxChunks(n * k, e, m));
        expect(host.chunkExpert.length).toBeLessThanOrEqual(plan.cMax);
        const c = host.chunkExpert.length;
        const tokens = Array.from(await b.read(plan.tokens));
        const chunkKey = Array.from(await b.read(plan.chunkKey));
        expect(Array.from(await b.read(plan.pos))).toEqual(Array.from(host.pos));
        expect(chunkKey).toEqual([...host.chunkExpert, ...new Array(plan.cMax - c).fill(-1)]);
        // host padding is token 0; on the device it is −1; used rows agree
        const used = new Set(host.pos);
        const want = Array.from(host.tokens, (t, r) => (used.has(r) ? t : -1));
        expect(tokens).toEqual([...want, ...new Array((plan.cMax - c) * m).fill(-1)]);
        for (const s of [ids, plan.tokens, plan.pos, plan.chunkKey]) b.dispose(s);
      }
    }
  });

  it('sparse and dense dispatch on the GPU: the same forward bits, gradients equal up to rounding', async () => {
    const rng = new Rng(10);
    const p64: MoEParams = {
      router: randF64(rng, [6, 8]), wGate: randF64(rng, [6, 12, 8], -0.3, 0.3), wUp: randF64(rng, [6, 12, 8], -0.3, 0.3), wDown: randF64(rng, [6, 8, 12], -0.3, 0.3),
    };
    const x64 = randF64(rng, [37, 8]);
    const run = async (dispatch: 'sparse' | 'dense') => {
      const p = Object.fromEntries(Object.entries(p64).map(([k, v]) => [k, v.to('f32').to('webgpu').setRequiresGrad()])) as unknown as MoEParams;
      const x = x64.to('f32').to('webgpu').setRequiresGrad();
      const r = moeForward(x, p, { k: 2, gate: 'softmax-topk', auxLossCoef: 0.01, dispatch });
      r.output.square().sum().add(r.auxLoss).backward();
      const out = await r.output.toArray();
      const grads = await Promise.all([x, p.router, p.wGate, p.wUp, p.wDown].map((t) => t.grad!.toArray()));
      return { out, grads };
    };
    const s = await run('sparse');
    const d = await run('dense');
    expectBitwise(s.out, d.out, 'forward');
    // batch invariance of the sparse path: a token's row does not depend on the other tokens
    const p = Object.fromEntries(Object.entries(p64).map(([k, v]) => [k, v.to('f32').to('webgpu')])) as unknown as MoEParams;
    const few = await moeForward(x64.to('f32').slice(0, 3, 8).to('webgpu'), p, { k: 2, gate: 'softmax-topk', dispatch: 'sparse' }).output.toArray();
    expectBitwise(few, s.out.slice(3 * 8, 8 * 8), 'rows 3..7 alone vs in the batch');
    ['x', 'router', 'wGate', 'wUp', 'wDown'].forEach((name, i) => expectClose(s.grads[i]!, d.grads[i]!, { rtol: 1e-4, atol: 1e-6, what: name }));
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
    expectClose(await g.logits.toArray(), c.logits.toArraySync(), { rtol: 1e-3, atol: 1e-4, what: 'logits' });
    await g.routing.resolve();
    expect(g.routing.isResolved).toBe(true);
    expect(g.routing.agreement(c.routing)).toBe(1);
    // a resolved (host) trace replays on the GPU too
    const rep2 = gpu.forward(toks.to('webgpu'), { routing: c.routing });
    expectClose(await rep2.logits.toArray(), c.logits.toArraySync(), { rtol: 1e-3, atol: 1e-4, what: 'replayed CPU trace on GPU' });
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
      expectClose(await gg[i]![1].grad!.toArray(), cg[i]![1].grad!.toArraySync(), { rtol: 2e-3, atol: 2e-5, what: cg[i]![0] });
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
