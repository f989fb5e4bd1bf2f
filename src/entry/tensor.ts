/**
 * The `stablerl/tensor` entry: tensors, creation, devices and every op in function form, with
 * the differentiable methods attached (it loads autograd's method seam).
 */
export * from '../tensor/index.js';
export * from '../autograd/index.js';
