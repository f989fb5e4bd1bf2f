/**
 * gradcheck: compares the vjp rules against central differences, in f64.
 * For each float input element x_j, the numeric Jacobian column is
 *   (f(x + ε e_j) − f(x − ε e_j)) / 2ε,
 * and for each probe vector r over the outputs (every unit vector when the output is small,
 * seeded random vectors otherwise) the analytic rᵀJ from backward must match rᵀJ_numeric:
 *   |analytic − numeric| ≤ atol + rtol · |numeric|   for every element.
 * On failure it reports the worst element: which input, its coordinates, both values.
 */
import { AutogradError, DTypeError, Rng, Tensor } from '../tensor/index.js';
import { isFloat } from '../tensor/dtype.js';
import { stridesOf } from '../tensor/shape.js';
import { tensor } from '../tensor/creation.js';
import { noGrad } from './grad-mode.js';
import { runBackward } from './backward.js';
import { mul } from './ops/elementwise.js';
import { sum } from './ops/reduce.js';

export interface GradcheckOptions {
  /** Finite-difference step (default 1e-6). */
  eps?: number;
  /** Relative tolerance (default 1e-6). */
  rtol?: number;
  /** Absolute tolerance (default 1e-8). */
  atol?: number;
  /** Use every output unit vector as a probe up to this many outputs (default 16). */
  fullJacobianUpTo?: number;
  /** Number of random probes for larger outputs (default 3). */
  probes?: number;
  /** Seed for the random probes. */
  seed?: number;
}

export interface GradcheckWorst {
  input: number;
  index: number;
  coords: number[];
  probe: number;
  analytic: number;
  numeric: number;
  error: number;
}

export interface GradcheckReport {
  ok: boolean;
  /** Largest |analytic − numeric| / (atol + rtol·|numeric|); ≤ 1 passes. */
  worstRatio: number;
  worst: GradcheckWorst | null;
}

export class GradcheckError extends AutogradError {
  constructor(readonly report: GradcheckReport) {
    const w = report.worst!;
    super(
      `gradcheck: gradient mismatch for input ${w.input} at coords [${w.coords.join(', ')}] (probe ${w.probe}): ` +
        `analytic ${w.analytic}, numeric ${w.numeric}, |diff| ${w.error.toExponential(3)} (${report.worstRatio.toFixed(2)}× the tolerance)`,
    );
  }
}

function coordsOf(index: number, shape: readonly number[]): number[] {
  const st = stridesOf(shape);
  return shape.map((_, i) => Math.floor(index / st[i]!) % shape[i]!);
}

export function gradcheckReport(f: (...xs: Tensor[]) => Tensor, inputs: readonly Tensor[], o: GradcheckOptions = {}): GradcheckReport {
  const eps = o.eps ?? 1e-6;
  const rtol = o.rtol ?? 1e-6;
  const atol = o.atol ?? 1e-8;
  const floatIdx = inputs.map((x, i) => (isFloat(x.dtype) ? i : -1)).filter((i) => i >= 0);
  if (floatIdx.length === 0) throw new DTypeError('gradcheck: no input has a float dtype, so there is nothing to check');
  for (const i of floatIdx) {
    if (inputs[i]!.dtype !== 'f64') {
      throw new DTypeError(`gradcheck: input ${i} is ${inputs[i]!.dtype}; central differences need f64 inputs (use .to('f64'))`);
    }
    if (inputs[i]!.device !== 'cpu') throw new DTypeError(`gradcheck: input ${i} must be on the cpu device (f64 is CPU only)`);
  }
  const base = inputs.map((x) => x.toArraySync());
  const make = (arrays: readonly ArrayLike<number>[], grad: boolean) =>
    inputs.map((x, i) =>
      isFloat(x.dtype)
        ? tensor(Float64Array.from(arrays[i]!), { shape: x.shape, requiresGrad: grad })
        : x,
    );
  const evalF = (xs: Tensor[]): Float64Array => {
    const y = noGrad(() => f(...xs));
    if (!(y instanceof Tensor) || y.dtype !== 'f64') {
      throw new DTypeError('gradcheck: f must return an f64 Tensor');
    }
    return y.toArraySync() as Float64Array;
  };

  // Numeric Jacobian: one column per float input element.
  const y0 = evalF(make(base, false));
  const nOut = y0.length;
  const cols: Float64Array[][] = inputs.map(() => []);
  for (const i of floatIdx) {
    const arr = Float64Array.from(base[i]!);
    for (let j = 0; j < arr.length; j++) {
      const orig = arr[j]!;
      const arrays = base.slice();
      arr[j] = orig + eps;
      arrays[i] = arr;
      const yp = evalF(make(arrays, false));
      arr[j] = orig - eps;
      const ym = evalF(make(arrays, false));
      arr[j] = orig;
      const col = new Float64Array(nOut);
      for (let t = 0; t < nOut; t++) col[t] = (yp[t]! - ym[t]!) / (2 * eps);
      cols[i]!.push(col);
    }
  }

  // Probes: unit vectors for small outputs, random otherwise.
  const probes: Float64Array[] = [];
  if (nOut <= (o.fullJacobianUpTo ?? 16)) {
    for (let t = 0; t < nOut; t++) {
      const r = new Float64Array(nOut);
      r[t] = 1;
      probes.push(r);
    }
  } else {
    const rng = new Rng(o.seed ?? 1234);
    for (let p = 0; p < (o.probes ?? 3); p++) probes.push(rng.uniform(nOut).map((u) => 2 * u - 1));
  }

  let worst: GradcheckWorst | null = null;
  let worstRatio = 0;
  probes.forEach((r, p) => {
    const xs = make(base, true);
    const y = f(...xs);
    // An output that does not depend on any input differentiably has an analytic gradient of 0.
    const grads = y.requiresGrad
      ? runBackward(sum(mul(y, tensor(r, { shape: y.shape }))), undefined, { accumulate: false })
      : new Map<Tensor, Tensor>();
    for (const i of floatIdx) {
      const g = grads.get(xs[i]!);
      const analytic = g ? g.toArraySync() : new Float64Array(base[i]!.length);
      cols[i]!.forEach((col, j) => {
        let numeric = 0;
        for (let t = 0; t < nOut; t++) numeric += r[t]! * col[t]!;
        const a = analytic[j]!;
        const err = Math.abs(a - numeric);
        const ratio = Number.isNaN(err) ? Infinity : err / (atol + rtol * Math.abs(numeric));
        if (ratio > worstRatio || (worst === null && ratio >= worstRatio)) {
          worstRatio = ratio;
          worst = { input: i, index: j, coords: coordsOf(j, inputs[i]!.shape), probe: p, analytic: a, numeric, error: err };
        }
      });
    }
  });
  return { ok: worstRatio <= 1, worstRatio, worst };
}

/**
 * torch.autograd.gradcheck's contract: returns true when every analytic gradient matches its
 * central difference, and throws GradcheckError naming the worst element otherwise.
 */
export function gradcheck(f: (...xs: Tensor[]) => Tensor, inputs: readonly Tensor[], o: GradcheckOptions = {}): true {
  const report = gradcheckReport(f, inputs, o);
  if (!report.ok) throw new GradcheckError(report);
  return true;
}
