/**
 * Running one policy loss: the kind's terms on the validated plan, the train–inference IS
 * correction, the aggregation, and the metrics.
 *
 * IS correction (`isCorrection` option). `isCorrection` (is-corrections.ts) is applied
 * to π_old/μ_old: logNum = oldLogp, logDen = rolloutLogp. Its weights multiply ℓ (as verl's
 * `rollout_is_weights`), and tokens it rejects (weight 0: token-mis, seq-mis, geo-mean, k3, opsm)
 * leave the mask used for aggregation and metrics (verl: rejection sampling modifies the response
 * mask). If rejection empties the batch the loss is 0 with zero gradient. minirl and decoupled-ppo
 * already carry π_old/μ in their own weight, so they refuse the option (docs/paper.md §6 pitfall 8).
 *
 * Reads. Value checks (finite inputs, 0/1 mask) and metrics need the data on the host:
 * `runPolicyLoss` reads CPU tensors synchronously; `runPolicyLossAsync` awaits the reads and works
 * on any device. The loss itself is built from tensor ops on the device of `logp`.
 */
import { DeviceError, Tensor, type TypedArray } from '../../tensor/index.js';
import { detach, expand, mul, reshape, to, where } from '../../autograd/index.js';
import { aggregateUnchecked } from '../aggregate.js';
import { isCorrection, isCorrectionAsync, type ISCorrectionResult } from '../is-corrections.js';
import { type PolicyLossInputs, type PolicyLossOptions, type LossContext, type LossTerms, type LossSpec, type LossWeightStats, type PolicyLossMetrics, type PolicyLossResult } from './types.js';
import { type Plan, planLoss, checkValues } from './plan.js';
import { logRatio } from './ratio.js';

interface Built {
  ctx: LossContext;
  terms: LossTerms;
  loss: Tensor;
  /** Tensors the metrics read: mask, weight, clipped, clippedLower, ppoKl log-ratio, own weight parts. */
  reads: Tensor[];
}

function buildLoss(p: Plan, isRes: ISCorrectionResult | null): Built {
  const { inputs, B, T } = p;
  const dtype = inputs.logp.dtype;
  const cast = (t: Tensor): Tensor => detach(to(t, dtype));
  const mask0 = cast(inputs.mask);
  const advIn = cast(inputs.advantages);
  const adv = advIn.ndim === 1 ? expand(reshape(advIn, [B, 1]), [B, T]) : advIn;
  let mask = mask0;
  let isWeight: Tensor | null = null;
  if (isRes !== null) {
    isWeight = detach(isRes.weights);
    mask = detach(mul(mask0, isWeight.gt(0)));
  }
  const ctx: LossContext = {
    op: p.op,
    B,
    T,
    logp: inputs.logp,
    sg: detach(inputs.sgLogp ?? inputs.logp),
    old: inputs.oldLogp ? detach(inputs.oldLogp) : null,
    mu: inputs.rolloutLogp ? detach(inputs.rolloutLogp) : null,
    adv,
    mask,
    isWeight,
  };
  const terms = p.spec.terms(ctx, p.o);
  const loss = aggregateUnchecked(terms.perToken, mask, p.o.aggregation, p.agg);
  const zero = mul(mask, 0);
  const kl = ctx.old ? logRatio(ctx.old, ctx.sg) : zero;
  const own = terms.ownWeight;
  const reads = [
    mask, detach(terms.weight), terms.clipped ?? zero, terms.clippedLower ?? zero, kl,
    ...(own ? [own.weight, own.masked ?? zero, own.clipped ?? zero] : []),
  ];
  return { ctx, terms, loss, reads };
}

function weightStats(w: ArrayLike<number>, m: ArrayLike<number>, masked: ArrayLike<number>, clipped: ArrayLike<number>): LossWeightStats {
  let n = 0, s = 0, s2 = 0, min = Infinity, max = -Infinity, nm = 0, nc = 0;
  for (let i = 0; i < m.length; i++) {
    if (m[i] !== 1) continue;
    const x = w[i]!;
    n++;
    s += x;
    s2 += x * x;
    if (x < min) min = x;
    if (x > max) max = x;
    nm += masked[i]!;
    nc += clipped[i]!;
  }
  if (n === 0) return { mean: 0, min: 0, max: 0, maskedFraction: 0, clippedFraction: 0, ess: 0 };
  return { mean: s / n, min, max, maskedFraction: nm / n, clippedFraction: nc / n, ess: s2 > 0 ? (s * s) / (n * s2) : 0 };
}

function finishLoss(p: Plan, b: Built, isRes: ISCorrectionResult | null, arrays: readonly TypedArray[]): PolicyLossResult {
  const [m, w, c, cl, kl, ow, om, oc] = arrays as TypedArray[];
  const { B, T } = p;
  let tokens = 0, seqs = 0, sw = 0, sc = 0, scl = 0, skl = 0;
  for (let i = 0; i < B; i++) {
    let n = 0;
    for (let t = 0; t < T; t++) {
      const k = i * T + t;
      if (m![k] !== 1) continue;
      n++;
      sw += w![k]!;
      sc += c![k]!;
      scl += cl![k]!;
      skl += kl![k]!;
    }
    tokens += n;
    if (n > 0) seqs++;
  }
  const mean = (s: number): number => (tokens > 0 ? s / tokens : 0);
  const metrics: PolicyLossMetrics = {
    clipfrac: mean(sc),
    clipfracLower: mean(scl),
    ppoKl: mean(skl),
    meanWeight: mean(sw),
    tokens,
    seqs,
  };
  if (isRes !== null) metrics.isWeight = isRes.stats;
  else if (ow !== undefined) metrics.isWeight = weightStats(ow, m!, om!, oc!);
  const m0 = b.ctx.mask;
  return { loss: b.loss, metrics, weight: detach(mul(b.terms.weight, m0)), perToken: where(m0, b.terms.perToken, 0), mask: m0 };
}

function isInputs(p: Plan) {
  const i = p.inputs;
  return { logNum: i.oldLogp!, logDen: i.rolloutLogp!, mask: detach(to(i.mask, i.logp.dtype)), advantages: detach(to(i.advantages, i.logp.dtype)) };
}

/** Runs one kind on CPU tensors (synchronous reads). */
export function runPolicyLoss(spec: LossSpec, inputs: PolicyLossInputs, options: PolicyLossOptions = {}): PolicyLossResult {
  const p = planLoss(spec, inputs, options);
  if (inputs.logp.device !== 'cpu') {
    throw new DeviceError(
      `${p.op}: inputs are on '${inputs.logp.device}'; the value checks and metrics read them on the host, `
      + 'and GPU reads are async: use await policyLossAsync(...)',
    );
  }
  checkValues(p, p.checked.map(([, t]) => t.toArraySync()));
  const isRes = p.is ? isCorrection(p.is.kind, isInputs(p), p.is.options) : null;
  const b = buildLoss(p, isRes);
  return finishLoss(p, b, isRes, b.reads.map((t) => t.toArraySync()));
}

/** Runs one kind on tensors of any device (awaited reads). */
export async function runPolicyLossAsync(spec: LossSpec, inputs: PolicyLossInputs, options: PolicyLossOptions = {}): Promise<PolicyLossResult> {
  const p = planLoss(spec, inputs, options);
  checkValues(p, await Promise.all(p.checked.map(([, t]) => t.toArray())));
  const isRes = p.is ? await isCorrectionAsync(p.is.kind, isInputs(p), p.is.options) : null;
  const b = buildLoss(p, isRes);
  return finishLoss(p, b, isRes, await Promise.all(b.reads.map((t) => t.toArray())));
}

/**
 * The two functions every kind exports, derived from its spec: `<kind>Loss(inputs, options)`
 * (= policyLoss on CPU tensors) and `<kind>Weight(inputs, options)`, the detached per-token
 * weight [B, T] it applies.
 */
export function lossFunctions(spec: LossSpec): {
  loss: (inputs: PolicyLossInputs, options?: PolicyLossOptions) => PolicyLossResult;
  weight: (inputs: PolicyLossInputs, options?: PolicyLossOptions) => Tensor;
} {
  const loss = (inputs: PolicyLossInputs, options: PolicyLossOptions = {}) => runPolicyLoss(spec, inputs, options);
  return { loss, weight: (inputs, options = {}) => loss(inputs, options).weight };
}
