/**
 * The tape: every op whose inputs require grad leaves a GradNode on its output (record()), and
 * topoSort() lists a graph's nodes inputs-first. This module imports no op, so every op can
 * import it; the reverse walk that calls the ops' vjps is backward.ts.
 */
import type { Tensor } from '../tensor/index.js';
import { isGradEnabled } from './grad-mode.js';

/** Attaches a node to `out` when recording is on and some input requires grad. */
export function record(
  op: string,
  inputs: readonly Tensor[],
  out: Tensor,
  vjp: (g: Tensor, needsGrad: readonly boolean[]) => readonly (Tensor | null)[],
): Tensor {
  if (!isGradEnabled()) return out;
  const needsGrad = inputs.map((t) => t.requiresGrad);
  if (!needsGrad.some(Boolean)) return out;
  out.requiresGrad = true;
  out.gradNode = { op, inputs, needsGrad, vjp: (g) => vjp(g, needsGrad) };
  return out;
}

/** Nodes reachable from `root` through tensors that require grad, inputs before outputs. */
export function topoSort(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  // Iterative DFS: graphs of long training runs are deeper than the JS call stack.
  const stack: [Tensor, number][] = [[root, 0]];
  seen.add(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    const [t, i] = top;
    const inputs = t.gradNode?.inputs ?? [];
    if (i < inputs.length) {
      top[1] = i + 1;
      const child = inputs[i]!;
      if (child.requiresGrad && !seen.has(child)) {
        seen.add(child);
        stack.push([child, 0]);
      }
    } else {
      stack.pop();
      order.push(t);
    }
  }
  return order;
}
