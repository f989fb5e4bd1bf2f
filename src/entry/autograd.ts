/** The `stablerl/autograd` entry: backward, grad, noGrad, gradcheck and the op functions. */
export * from '../autograd/index.js';
