/**
 * Recycling of disposed CPU arrays (src/tensor/cpu/pool.ts, ArrayPool): a recycled array is
 * never still referenced (reshape and slice aliases keep their buffer out of the pool until the
 * last of them is disposed), zero-initialised outputs (zeros, indexAdd's accumulator) come back
 * zeroed even from a pool full of garbage, the pool stays within its bound (and its eviction
 * queue stays short when one array cycles through it), and training steps of a small MoE model
 * give the same bits with recycling on and off.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Rng, cpuBackend, nn, randint, tensor, tidy, zeros, moe } from '../../../src/index.js';
import { expectBitwise } from '../../helpers/assert.js';

const pool = cpuBackend.pool;
const defaultMax = pool.maxBytes;
afterEach(() => {
  pool.maxBytes = defaultMax;
});

/** Fills the pool with garbage arrays of n f32 elements. */
function poison(n: number, count = 4): void {
  for (let i = 0; i < count; i++) tensor(Float32Array.from({ length: n }, (_, j) => j + 0.5 + i)).dispose();
}

describe('CPU array recycling', () => {
  it('a disposed array is reused for the next output of the same dtype and length', () => {
    pool.clear();
    const x = tensor(new Float32Array(1000).fill(3));
    x.dispose();
    expect(pool.heldBytes).toBe(4000);
    const y = zeros([1000]);
    expect(pool.heldBytes).toBe(0);
    expectBitwise(y.toArraySync(), new Float32Array(1000), "zeros from a recycled array");
    y.dispose();
  });

  it('aliases keep their buffer out of the pool: reshape and slice views stay intact', () => {
    pool.clear();
    const vals = Float32Array.from({ length: 64 }, (_, i) => i * 1.25 - 7);
    const x = tensor(vals, { shape: [8, 8] });
    const r = x.reshape([64]);
    const s = x.slice(0, 2, 5);
    x.dispose();
    poison(64);
    const z = zeros([8, 8]);
    const w = tensor(new Float32Array(64).fill(-1));
    expectBitwise(r.toArraySync(), vals, 'reshape alias');
    expectBitwise(s.toArraySync(), vals.slice(16, 40), 'slice alias');
    r.dispose();
    // the slice still refers to the buffer: new outputs must not land on it
    poison(64);
    const z2 = zeros([8, 8]);
    expectBitwise(s.toArraySync(), vals.slice(16, 40), 'slice alias after the reshape went');
    s.dispose();
    for (const t of [z, w, z2]) t.dispose();
  });

  it('zero-initialised kernels are right on recycled garbage (embedding gradient, zeros, full(0))', () => {
    const run = () =>
      tidy(() => {
        const w = tensor(Float32Array.from({ length: 40 }, (_, i) => Math.sin(i)), { shape: [10, 4], requiresGrad: true });
        const idx = tensor(new Int32Array([3, 3, 7, 0]), { dtype: 'i32' });
        w.embedding(idx).mul(tensor([1, -2, 3, 0.5])).sum().backward();
        return [w.grad!.toArraySync(), zeros([10, 4]).toArraySync()];
      });
    pool.maxBytes = 0;
    const [g0, z0] = run();
    pool.maxBytes = defaultMax;
    poison(40, 8);
    const [g1, z1] = run();
    expectBitwise(g1!, g0!, 'embedding gradient');
    expectBitwise(z1!, z0!, 'zeros');
  });

  it('stays within its bound, letting the longest-held arrays go first', () => {
    pool.clear();
    pool.maxBytes = 10_000;
    for (let i = 0; i < 10; i++) tensor(new Float32Array(1000)).dispose();
    expect(pool.heldBytes).toBeLessThanOrEqual(10_000);
    // A new size evicts old ones rather than being refused.
    tensor(new Float32Array(1500)).dispose();
    expect(pool.take('f32', 1500)).toBeDefined();
    expect(pool.heldBytes).toBeLessThanOrEqual(10_000);
    pool.clear();
  });

  it('one array taken and given back many times keeps the eviction queue bounded', () => {
    pool.clear();
    const x = tensor(new Float32Array(256).fill(1));
    for (let i = 0; i < 5000; i++) {
      x.transpose(0, 0).mul(2).dispose();
      if (pool.queued > 2 * pool.heldCount + 1024) expect.fail(`iteration ${i}: ${pool.queued} queued for ${pool.heldCount} held`);
    }
    x.dispose();
    pool.clear();
  });

  it('moe-tiny training steps: the same bits with recycling on and off', () => {
    const train = (maxBytes: number) => {
      pool.clear();
      pool.maxBytes = maxBytes;
      const cfg = moe.MOE_PRESETS['moe-tiny'];
      const model = new moe.MoETransformer(cfg, { rng: new Rng(1) });
      const opt = new nn.AdamW(model.parameters(), { lr: 1e-2 });
      const tokens = randint(0, cfg.vocabSize, [4, 17], { rng: new Rng(2) });
      const losses: number[] = [];
      for (let i = 0; i < 3; i++) {
        tidy(() => {
          const r = model.forward(tokens.slice(1, 0, 16));
          const loss = r.logits.logSoftmax(-1).gather(-1, tokens.slice(1, 1, 17).unsqueeze(-1)).mean().neg().add(r.auxLoss);
          losses.push(loss.itemSync());
          loss.backward();
          opt.step();
          opt.zeroGrad();
        });
      }
      const params = model.parameters().map((p) => p.toArraySync());
      return { losses, params };
    };
    const off = train(0);
    const on = train(defaultMax);
    expectBitwise(on.losses, off.losses, 'losses');
    on.params.forEach((p, i) => expectBitwise(p, off.params[i]!, `parameter ${i}`));
  });
});
