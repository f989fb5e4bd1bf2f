/**
 * Functional gradients: grad(f, inputs) and valueAndGrad(f, inputs) return df/dinputs without
 * touching anyone's .grad (as jax.grad / torch.autograd.grad), and Tensor.backward's body.
 */
import { AutogradError, isFloat, Tensor } from '../tensor/index.js';
import { zerosLike } from '../tensor/creation.js';
import { type BackwardOptions, runBackward } from './backward.js';
import { clone, detach } from './ops/shape.js';
import { checkTensor } from './ops/common.js';

/** Tensor.backward(seed?): accumulates d(this)/d(leaf) into every leaf's .grad. */
export function backward(t: Tensor, seed?: Tensor, opts: BackwardOptions = {}): void {
  checkTensor('backward', t);
  runBackward(t, seed, { ...opts, accumulate: true });
}

export interface GradOptions extends BackwardOptions {
  /** Seed for a non-scalar output (default: 1 for a scalar output). */
  seed?: Tensor;
}

/**
 * The value of f(...inputs) and its gradient with respect to each float input (zeros where f
 * does not depend on it; null for i32 inputs, which have no gradient). Inputs are differentiated
 * as fresh leaves, so their own .grad is left alone.
 */
export function valueAndGrad(
  f: (...xs: Tensor[]) => Tensor,
  inputs: readonly Tensor[],
  opts: GradOptions = {},
): { value: Tensor; grads: (Tensor | null)[] } {
  const leaves = inputs.map((x, i) => {
    checkTensor('grad', x, `input ${i}`);
    if (!isFloat(x.dtype)) return x;
    // Under createGraph an input that is itself recorded (grad of grad) must stay connected to
    // its graph, so it enters through an identity node; otherwise a detached copy is the leaf.
    const l = opts.createGraph && x.requiresGrad ? clone(x) : detach(x);
    l.requiresGrad = true;
    return l;
  });
  const value = f(...leaves);
  if (!(value instanceof Tensor)) throw new AutogradError('grad: f must return a Tensor');
  const floats = leaves.filter((l) => isFloat(l.dtype));
  if (!value.requiresGrad) {
    if (floats.length === 0) throw new AutogradError('grad: no input has a float dtype, so there is nothing to differentiate');
    return { value, grads: leaves.map((l) => (isFloat(l.dtype) ? zerosLike(l) : null)) };
  }
  const map = runBackward(value, opts.seed, { ...opts, accumulate: false });
  return { value, grads: leaves.map((l) => (isFloat(l.dtype) ? map.get(l) ?? zerosLike(l) : null)) };
}

export function grad(f: (...xs: Tensor[]) => Tensor, inputs: readonly Tensor[], opts: GradOptions = {}): (Tensor | null)[] {
  return valueAndGrad(f, inputs, opts).grads;
}
