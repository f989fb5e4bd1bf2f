/**
 * Elementwise ops and their vector-Jacobian products. Each unary op's gradient sits in one
 * table row next to its name (x: input, y: output, g: output gradient), as tfjs keeps a
 * gradient config per kernel. Binary ops broadcast; their gradients are unbroadcast.
 */
import type { BinaryOp, CompareOp, Storage, Tensor, UnaryOp } from '../../tensor/index.js';
import { Tensor as TensorClass, DTypeError, ValueError, tryRoutine } from '../../tensor/index.js';
import { isGradEnabled } from '../grad-mode.js';
import { isFloat } from '../../tensor/dtype.js';
import { broadcastShapes, broadcastStrides } from '../../tensor/shape.js';
import { record } from '../tape.js';
import { checkSameDevice, checkTensor, operands, type TensorLike, unbroadcast } from './common.js';

type UnaryGrad = (x: Tensor, y: Tensor, g: Tensor) => Tensor;

/**
 * The backend's fused vjp routines (siluGrad; the CPU's are src/tensor/cpu/fused.ts) replace a
 * composed rule when the backward pass is not being recorded (no createGraph) and g matches x.
 * They are bit-identical to the composed rules; flag 'autograd.fusedVjps' turns them off.
 */
function fusedSiluGrad(x: Tensor, g: Tensor, sig?: Tensor): Tensor | null {
  if (isGradEnabled() || g.device !== x.device || g.dtype !== x.dtype || g.size !== x.size) return null;
  const s = tryRoutine(x.backend, 'siluGrad', x.storage, g.storage, sig?.storage);
  return s === null ? null : new TensorClass(s, x.shape);
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/** d/dx of each unary op, as a function of input x, output y and incoming gradient g. */
const UNARY_GRAD: Record<UnaryOp, UnaryGrad | null> = {
  neg: (_x, _y, g) => neg(g),
  exp: (_x, y, g) => mul(g, y),
  log: (x, _y, g) => div(g, x),
  sqrt: (_x, y, g) => div(g, mul(y, 2)),
  rsqrt: (_x, y, g) => mul(g, mul(pow(y, 3), -0.5)),
  abs: (x, _y, g) => mul(g, sign(x)),
  tanh: (_x, y, g) => mul(g, sub(1, mul(y, y))),
  sigmoid: (_x, y, g) => mul(g, mul(y, sub(1, y))),
  relu: (x, _y, g) => mul(g, gt(x, 0)),
  silu: (x, _y, g) => {
    const fused = fusedSiluGrad(x, g);
    if (fused) return fused;
    const s = sigmoid(x);
    return mul(g, mul(s, add(1, mul(x, sub(1, s)))));
  },
  // x·Φ(x)  →  Φ(x) + x·φ(x)
  gelu: (x, _y, g) => {
    const cdf = mul(add(erf(mul(x, Math.SQRT1_2)), 1), 0.5);
    const pdf = mul(exp(mul(mul(x, x), -0.5)), INV_SQRT_2PI);
    return mul(g, add(cdf, mul(x, pdf)));
  },
  // 0.5x(1 + tanh u), u = c(x + 0.044715x³)
  geluTanh: (x, _y, g) => {
    const x2 = mul(x, x);
    const t = tanh(mul(add(x, mul(mul(x2, x), 0.044715)), SQRT_2_OVER_PI));
    const du = mul(add(mul(x2, 3 * 0.044715), 1), SQRT_2_OVER_PI);
    const d = add(mul(add(t, 1), 0.5), mul(mul(mul(x, sub(1, mul(t, t))), du), 0.5));
    return mul(g, d);
  },
  softplus: (x, _y, g) => mul(g, sigmoid(x)),
  sign: null, // piecewise constant: no gradient flows
  erf: (x, _y, g) => mul(g, mul(exp(neg(mul(x, x))), 2 / Math.sqrt(Math.PI))),
  log1p: (x, _y, g) => div(g, add(x, 1)),
  expm1: (_x, y, g) => mul(g, add(y, 1)),
  sin: (x, _y, g) => mul(g, cos(x)),
  cos: (x, _y, g) => mul(g, neg(sin(x))),
  square: (x, _y, g) => mul(g, mul(x, 2)),
  reciprocal: (_x, y, g) => mul(g, neg(mul(y, y))),
  // Rounding is piecewise constant: no gradient (the inference engine never differentiates).
  roundBf16: null,
  roundFp8e4m3: null,
};

/** Unary ops that are meaningful on i32 tensors. */
const INT_UNARY = new Set<UnaryOp>(['neg', 'abs', 'sign', 'square', 'relu']);

export function unary(op: UnaryOp, x: Tensor): Tensor {
  checkTensor(op, x);
  if (!isFloat(x.dtype) && !INT_UNARY.has(op)) {
    throw new DTypeError(`${op}: input has dtype ${x.dtype}; ${op} needs f32 or f64 (convert with .to('f32'))`);
  }
  if (op === 'silu' && x.requiresGrad && isGradEnabled()) {
    const kept = tryRoutine(x.backend, 'siluWithSigmoid', x.storage);
    if (kept) return siluKeepingSigmoid(x, kept);
  }
  const y = new TensorClass(x.backend.unary(op, x.storage), x.shape);
  const rule = UNARY_GRAD[op];
  if (rule === null) return y;
  return record(op, [x], y, (g) => [rule(x, y, g)]);
}

/**
 * silu when its gradient will be wanted and the backend's siluWithSigmoid routine ran: the
 * forward pass also kept sigmoid(x) (rounded as the composed rule's sigmoid would be), so the
 * fused backward needs no exp. Values are those of unary('silu') and of the composed rule, bit
 * for bit.
 */
function siluKeepingSigmoid(x: Tensor, [ys, ss]: [Storage, Storage]): Tensor {
  const y = new TensorClass(ys, x.shape);
  const sig = new TensorClass(ss, x.shape);
  return record('silu', [x], y, (g) => {
    const fused = sig.isDisposed ? null : fusedSiluGrad(x, g, sig);
    return [fused ?? UNARY_GRAD.silu!(x, y, g)];
  });
}

export const neg = (x: Tensor) => unary('neg', x);
export const exp = (x: Tensor) => unary('exp', x);
export const log = (x: Tensor) => unary('log', x);
export const sqrt = (x: Tensor) => unary('sqrt', x);
export const rsqrt = (x: Tensor) => unary('rsqrt', x);
export const abs = (x: Tensor) => unary('abs', x);
export const tanh = (x: Tensor) => unary('tanh', x);
export const sigmoid = (x: Tensor) => unary('sigmoid', x);
export const relu = (x: Tensor) => unary('relu', x);
export const silu = (x: Tensor) => unary('silu', x);
/** GELU; approximate 'none' (erf, PyTorch's default) or 'tanh'. */
export const gelu = (x: Tensor, approximate: 'none' | 'tanh' = 'none') => unary(approximate === 'tanh' ? 'geluTanh' : 'gelu', x);
export const softplus = (x: Tensor) => unary('softplus', x);
export const sign = (x: Tensor) => unary('sign', x);
export const erf = (x: Tensor) => unary('erf', x);
export const log1p = (x: Tensor) => unary('log1p', x);
export const expm1 = (x: Tensor) => unary('expm1', x);
export const sin = (x: Tensor) => unary('sin', x);
export const cos = (x: Tensor) => unary('cos', x);
export const square = (x: Tensor) => unary('square', x);
export const reciprocal = (x: Tensor) => unary('reciprocal', x);
/** Rounds to bfloat16 and back (no gradient). */
export const roundBf16 = (x: Tensor) => unary('roundBf16', x);
/** Rounds to FP8 E4M3 (saturating at ±448) and back (no gradient). */
export const roundFp8e4m3 = (x: Tensor) => unary('roundFp8e4m3', x);

/**
 * Gradients of a binary op w.r.t. the operands that need one (`na`, `nb`); the other side is
 * null and never computed: a constant operand (a scalar, a mask) costs no backward pass.
 */
type BinaryGrad = (a: Tensor, b: Tensor, y: Tensor, g: Tensor, na: boolean, nb: boolean) => [Tensor | null, Tensor | null];

/** Ties in maximum/minimum split the gradient evenly, as PyTorch does. */
function pickGrad(win: (a: Tensor, b: Tensor) => Tensor): BinaryGrad {
  return (a, b, _y, g, na, nb) => {
    const tie = mul(eq(a, b), 0.5);
    return [na ? mul(g, add(win(a, b), tie)) : null, nb ? mul(g, add(win(b, a), tie)) : null];
  };
}

const BINARY_GRAD: Record<BinaryOp, BinaryGrad> = {
  add: (_a, _b, _y, g, na, nb) => [na ? g : null, nb ? g : null],
  sub: (_a, _b, _y, g, na, nb) => [na ? g : null, nb ? neg(g) : null],
  mul: (a, b, _y, g, na, nb) => [na ? mul(g, b) : null, nb ? mul(g, a) : null],
  div: (_a, b, y, g, na, nb) => [na ? div(g, b) : null, nb ? neg(div(mul(g, y), b)) : null],
  // d/da a^b = b·a^(b-1); d/db a^b = a^b·log a (taken as 0 where a = 0, as PyTorch)
  pow: (a, b, y, g, na, nb) => [
    na ? mul(g, mul(b, pow(a, sub(b, 1)))) : null,
    nb ? mul(g, where(eq(a, 0), 0, mul(y, log(a)))) : null,
  ],
  maximum: pickGrad((p, q) => gt(p, q)),
  minimum: pickGrad((p, q) => lt(p, q)),
};

const INT_BINARY = new Set<BinaryOp>(['add', 'sub', 'mul', 'maximum', 'minimum']);

export function binary(op: BinaryOp, a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = operands(op, [a, b]) as [Tensor, Tensor];
  if (!isFloat(x.dtype) && !INT_BINARY.has(op)) {
    throw new DTypeError(`${op}: operands have dtype ${x.dtype}; ${op} needs f32 or f64 (convert with .to('f32'))`);
  }
  const shape = broadcastShapes(op, x.shape, y.shape);
  const out = new TensorClass(
    x.backend.binary(op, x.storage, y.storage, shape, broadcastStrides(x.shape, shape), broadcastStrides(y.shape, shape)),
    shape,
  );
  return record(op, [x, y], out, (g, needs) => {
    const [ga, gb] = BINARY_GRAD[op](x, y, out, g, needs[0]!, needs[1]!);
    return [ga ? unbroadcast(ga, x.shape) : null, gb ? unbroadcast(gb, y.shape) : null];
  });
}

export const add = (a: TensorLike, b: TensorLike) => binary('add', a, b);
export const sub = (a: TensorLike, b: TensorLike) => binary('sub', a, b);
export const mul = (a: TensorLike, b: TensorLike) => binary('mul', a, b);
export const div = (a: TensorLike, b: TensorLike) => binary('div', a, b);
export const pow = (a: TensorLike, b: TensorLike) => binary('pow', a, b);
export const maximum = (a: TensorLike, b: TensorLike) => binary('maximum', a, b);
export const minimum = (a: TensorLike, b: TensorLike) => binary('minimum', a, b);

/**
 * Comparisons return a 0/1 mask with no gradient: in the operands' float dtype, or f32 for i32
 * operands (README.md, "Conventions a PyTorch user should know": masks are float 0/1).
 */
export function compare(op: CompareOp, a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = operands(op, [a, b]) as [Tensor, Tensor];
  const shape = broadcastShapes(op, x.shape, y.shape);
  const outDType = x.dtype === 'f64' ? 'f64' : 'f32';
  return new TensorClass(
    x.backend.compare(op, x.storage, y.storage, shape, broadcastStrides(x.shape, shape), broadcastStrides(y.shape, shape), outDType),
    shape,
  );
}

export const eq = (a: TensorLike, b: TensorLike) => compare('eq', a, b);
export const ne = (a: TensorLike, b: TensorLike) => compare('ne', a, b);
export const gt = (a: TensorLike, b: TensorLike) => compare('gt', a, b);
export const ge = (a: TensorLike, b: TensorLike) => compare('ge', a, b);
export const lt = (a: TensorLike, b: TensorLike) => compare('lt', a, b);
export const le = (a: TensorLike, b: TensorLike) => compare('le', a, b);

/** where(cond, a, b): a where cond ≠ 0, else b. cond may be any dtype; a and b broadcast. */
export function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
  const c = checkTensor('where', cond, 'cond');
  const [x, y] = operands('where', [a, b]) as [Tensor, Tensor];
  checkSameDevice('where', [c, x, y]);
  const shape = broadcastShapes('where', c.shape, x.shape, y.shape);
  const out = new TensorClass(
    x.backend.where(c.storage, x.storage, y.storage, shape,
      broadcastStrides(c.shape, shape), broadcastStrides(x.shape, shape), broadcastStrides(y.shape, shape)),
    shape,
  );
  return record('where', [x, y], out, (g, needs) => [
    needs[0] ? unbroadcast(where(c, g, 0), x.shape) : null,
    needs[1] ? unbroadcast(where(c, 0, g), y.shape) : null,
  ]);
}

/** Clamps into [min, max] (either bound may be omitted). Gradient 1 inside, 0 outside. */
export function clamp(x: Tensor, min?: number | null, max?: number | null): Tensor {
  checkTensor('clamp', x);
  const lo = min ?? -Infinity;
  const hi = max ?? Infinity;
  if (Number.isNaN(lo) || Number.isNaN(hi)) throw new ValueError('clamp: bounds must not be NaN');
  if (lo > hi) throw new ValueError(`clamp: min ${lo} is greater than max ${hi}`);
  const out = new TensorClass(x.backend.clamp(x.storage, lo, hi), x.shape);
  return record('clamp', [x], out, (g) => [mul(g, mul(ge(x, lo), le(x, hi)))]);
}
