/**
 * src/autograd: the tape, the vjp rule of every op, backward(), grad(), noGrad(), gradcheck().
 * Importing it attaches the differentiable methods to Tensor (see methods.ts).
 */
import './methods.js';

export { noGrad, enableGrad, isGradEnabled } from './grad-mode.js';
export { record, topoSort } from './tape.js';
export type { BackwardOptions } from './backward.js';
export { backward, grad, valueAndGrad, type GradOptions } from './grad.js';
export { gradcheck, gradcheckReport, GradcheckError, type GradcheckOptions, type GradcheckReport } from './gradcheck.js';
export type { TensorLike } from './ops/common.js';
export {
  unary, binary, compare,
  add, sub, mul, div, pow, maximum, minimum, eq, ne, gt, ge, lt, le,
  neg, exp, log, sqrt, rsqrt, abs, tanh, sigmoid, relu, silu, gelu, softplus, sign, erf, log1p, expm1,
  sin, cos, square, reciprocal, roundBf16, roundFp8e4m3, where, clamp,
} from './ops/elementwise.js';
export { sum, mean, max, min, logsumexp, argmax, softmax, logSoftmax, type Dims } from './ops/reduce.js';
export { reshape, flatten, squeeze, unsqueeze, permute, transpose, expand, slice, cat, stack, detach, clone, to, toAsync } from './ops/shape.js';
export { gather, scatterAdd, embedding, topk, type TopK } from './ops/indexing.js';
export { matmul, matmulT } from './ops/matmul.js';
