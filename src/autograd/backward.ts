/**
 * Reverse mode, micrograd-style: sort the graph topologically from the output (tape.ts), seed
 * the output's gradient, walk the nodes in reverse order calling each node's vjp, and accumulate
 * the input gradients with +=. Leaves receive their total in .grad.
 */
import { AutogradError, isFloat, ShapeError, type Tensor } from '../tensor/index.js';
import { fmtShape, sameShape } from '../tensor/shape.js';
import { onesLike } from '../tensor/creation.js';
import { keep } from '../tensor/memory.js';
import { setGradEnabled } from './grad-mode.js';
import { add } from './ops/elementwise.js';
import { clone, detach } from './ops/shape.js';
import { topoSort } from './tape.js';

export interface BackwardOptions {
  /** Record the backward computation itself so gradients can be differentiated again. */
  createGraph?: boolean;
}

/**
 * Gradients of `root` (seeded with `seed`, default 1 for a scalar) with respect to every tensor
 * in its graph. Returns the map; accumulates into .grad of leaves (and retainGrad tensors)
 * when `accumulate` is set, as Tensor.backward() does.
 */
export function runBackward(
  root: Tensor,
  seed: Tensor | undefined,
  opts: BackwardOptions & { accumulate: boolean },
): Map<Tensor, Tensor> {
  if (!root.requiresGrad) {
    throw new AutogradError(
      `backward: this tensor does not require grad, so there is nothing to differentiate; create the inputs with { requiresGrad: true } (and do not compute it inside noGrad or from detached tensors)`,
    );
  }
  if (seed === undefined) {
    if (root.size !== 1) {
      throw new AutogradError(
        `backward: the output has shape ${fmtShape(root.shape)}; backward() without a seed needs a scalar. Reduce it first (e.g. .sum() or .mean()) or pass a seed gradient of the same shape`,
      );
    }
    seed = onesLike(root);
  } else if (!sameShape(seed.shape, root.shape)) {
    throw new ShapeError(`backward: seed has shape ${fmtShape(seed.shape)} but the output has shape ${fmtShape(root.shape)}`);
  }
  if (!isFloat(root.dtype)) throw new AutogradError(`backward: output dtype ${root.dtype} is not differentiable`);

  const grads = new Map<Tensor, Tensor>([[root, seed]]);
  setGradEnabled(opts.createGraph ?? false, () => {
    const order = topoSort(root);
    for (let i = order.length - 1; i >= 0; i--) {
      const t = order[i]!;
      const g = grads.get(t);
      if (g === undefined) continue;
      const node = t.gradNode;
      if ((node === null || t.retainsGrad) && opts.accumulate) {
        // .grad is owned by its tensor: a fresh copy (never shared with another leaf, which
        // add's vjp would otherwise do), kept out of enclosing tidy scopes, the old one freed.
        const prev = t.grad;
        t.grad = keep(prev ? add(prev, g) : opts.createGraph ? clone(g) : detach(g));
        prev?.dispose();
      }
      if (node === null) continue;
      const inGrads = node.vjp(g);
      node.inputs.forEach((x, j) => {
        const gx = inGrads[j];
        if (!node.needsGrad[j] || gx === null || gx === undefined) return;
        const prev = grads.get(x);
        grads.set(x, prev ? add(prev, gx) : gx);
      });
    }
  });
  return grads;
}
