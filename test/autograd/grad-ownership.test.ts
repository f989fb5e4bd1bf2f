/**
 * .grad belongs to its tensor: it survives an enclosing tidy (so `tidy(() => { loss.backward();
 * opt.step(); })` works step after step), and two leaves never share one grad tensor (add's vjp
 * hands the same gradient to both inputs).
 */
import { describe, expect, it } from 'vitest';
import { liveTensors, tensor, tidy } from '../../src/index.js';

describe('grad ownership', () => {
  it('leaf grads survive tidy and accumulate across steps without leaking', () => {
    const w = tensor([1, 2, 3], { requiresGrad: true });
    const before = liveTensors();
    for (let i = 0; i < 3; i++) tidy(() => { w.mul(w).sum().backward(); });
    expect(w.grad!.isDisposed).toBe(false);
    expect(Array.from(w.grad!.toArraySync())).toEqual([6, 12, 18]);
    // only the grad itself is left alive
    expect(liveTensors()).toBe(before + 1);
  });

  it('two leaves that receive the same gradient get separate tensors', () => {
    const a = tensor([1, 2], { requiresGrad: true });
    const b = tensor([3, 4], { requiresGrad: true });
    a.add(b).sum().backward();
    expect(a.grad).not.toBe(b.grad);
    a.grad!.dispose();
    expect(Array.from(b.grad!.toArraySync())).toEqual([1, 1]);
  });
});
