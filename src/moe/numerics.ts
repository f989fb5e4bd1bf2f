/**
 * Numerics profiles of the inference engine: the knob that creates training–inference
 * discrepancy on purpose (docs/paper.md §1: the token surrogate is first-order exact only while
 * μ ≈ π). Stages compose with '+', e.g. "bf16+logit-noise(0.05)+route-flip(0.1)":
 *   exact            same kernels in the same order as training: μ = π_old bit for bit
 *   bf16 / fp8-e4m3  every matmul input (activations and weights) rounded to that format
 *   reduction-order  reductions split in two halves and combined (as split-K kernels do):
 *                    the same sums in a different order
 *   logit-noise(σ)   N(0, σ²) added to the final logits
 *   route-flip(p[,g]) a token whose k-th and (k+1)-th router logits are within g (default 0.1)
 *                    swaps those two experts with probability p
 */
import { ConfigError } from '../tensor/index.js';

export type Precision = 'exact' | 'bf16' | 'fp8-e4m3';

export interface NumericsProfile {
  precision: Precision;
  splitReductions: boolean;
  logitNoise: number;
  routeFlip: { p: number; gap: number } | null;
  /** The canonical spec string. */
  name: string;
}

const STAGE = /^([a-z0-9-]+)(?:\(([^)]*)\))?$/;

function num(stage: string, v: string | undefined, what: string, lo: number, hi: number): number {
  const x = Number(v);
  if (v === undefined || v.trim() === '' || !Number.isFinite(x) || x < lo || x > hi) {
    throw new ConfigError(`numerics profile: ${stage} needs ${what} in [${lo}, ${hi}], got '${v ?? ''}'`);
  }
  return x;
}

export function parseProfile(spec: string | NumericsProfile = 'exact'): NumericsProfile {
  if (typeof spec !== 'string') return spec;
  const p: NumericsProfile = { precision: 'exact', splitReductions: false, logitNoise: 0, routeFlip: null, name: '' };
  const parts = spec.split('+').map((s) => s.trim()).filter((s) => s.length > 0);
  if (parts.length === 0) throw new ConfigError(`numerics profile: empty spec '${spec}'`);
  for (const part of parts) {
    const m = STAGE.exec(part);
    if (!m) throw new ConfigError(`numerics profile: cannot parse stage '${part}' in '${spec}'`);
    const [, kind, args] = m;
    const a = args?.split(',').map((s) => s.trim());
    switch (kind) {
      case 'exact':
        break;
      case 'bf16':
      case 'fp8-e4m3':
        if (p.precision !== 'exact') throw new ConfigError(`numerics profile: two precisions in '${spec}'`);
        p.precision = kind;
        break;
      case 'reduction-order':
        p.splitReductions = true;
        break;
      case 'logit-noise':
        p.logitNoise = num(part, a?.[0], 'σ', 0, 1e3);
        break;
      case 'route-flip':
        p.routeFlip = { p: num(part, a?.[0], 'a probability p', 0, 1), gap: a?.[1] === undefined ? 0.1 : num(part, a[1], 'a logit gap', 0, 1e6) };
        break;
      default:
        throw new ConfigError(`numerics profile: unknown stage '${kind}' in '${spec}' (known: exact, bf16, fp8-e4m3, reduction-order, logit-noise(σ), route-flip(p[,gap]))`);
    }
  }
  const names: string[] = [];
  if (p.precision !== 'exact') names.push(p.precision);
  if (p.splitReductions) names.push('reduction-order');
  if (p.logitNoise > 0) names.push(`logit-noise(${p.logitNoise})`);
  if (p.routeFlip) names.push(`route-flip(${p.routeFlip.p},${p.routeFlip.gap})`);
  p.name = names.length === 0 ? 'exact' : names.join('+');
  return p;
}
