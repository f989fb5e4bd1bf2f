/**
 * Helpers for the MoE suites: seeded f64 tensors, a plain-JavaScript reference of the MoE layer
 * (every expert on every token, in float64 loops, combined with the gate weights), and an
 * adapter that turns "run this module" into a function of some of its parameters so that
 * gradcheck can differentiate a whole model with respect to them.
 */
import { Rng, noGrad, record, tensor, zerosLike, type Tensor } from '../../src/index.js';
import type { GateMode } from '../../src/moe/index.js';

/** f64 tensor [shape] with entries U(lo, hi) from a seeded stream. */
export function randF64(rng: Rng, shape: number[], lo = -1, hi = 1): Tensor {
  const n = shape.reduce((p, d) => p * d, 1);
  return tensor(rng.uniform(n).map((u) => lo + (hi - lo) * u), { shape, dtype: 'f64' });
}

const silu = (v: number) => v / (1 + Math.exp(-v));

/** Gate weights of the chosen experts from one token's logits, by mode (float64 reference). */
export function gateRef(logits: number[], chosen: number[], mode: GateMode): number[] {
  const sel = chosen.map((e) => logits[e]!);
  if (mode === 'sigmoid') {
    const s = sel.map((v) => 1 / (1 + Math.exp(-v)));
    const z = s.reduce((a, b) => a + b, 0);
    return chosen.length > 1 ? s.map((v) => v / z) : s;
  }
  // softmax over all experts, renormalised over the chosen ones (the textbook softmax-topk form)
  const m = Math.max(...logits);
  const p = logits.map((v) => Math.exp(v - m));
  const z = chosen.reduce((a, e) => a + p[e]!, 0);
  return chosen.map((e) => p[e]! / z);
}

/** The k largest of a row (ties → lower index). */
export function topkRef(row: number[], k: number): number[] {
  return row.map((v, i) => [v, i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]).slice(0, k).map(([, i]) => i);
}

/**
 * Dense float64 reference of the MoE layer: for each token, every expert is evaluated; the
 * output sums the chosen experts' outputs times their gate weights. `chosen` gives each token's
 * experts (default: top-k of the reference logits).
 */
export function moeRef(
  x: Tensor, router: Tensor, wGate: Tensor, wUp: Tensor, wDown: Tensor, k: number, mode: GateMode, chosen?: number[][],
): { out: number[]; chosen: number[][]; logits: number[][] } {
  const [n, d] = x.shape as [number, number];
  const [e, h] = wGate.shape as [number, number];
  const X = x.toArraySync();
  const R = router.toArraySync();
  const G = wGate.toArraySync();
  const U = wUp.toArraySync();
  const Dn = wDown.toArraySync();
  const out: number[] = [];
  const allChosen: number[][] = [];
  const allLogits: number[][] = [];
  for (let t = 0; t < n; t++) {
    const xt = Array.from(X.subarray(t * d, (t + 1) * d));
    const logits = Array.from({ length: e }, (_, ex) => xt.reduce((s, v, i) => s + v * R[ex * d + i]!, 0));
    const ch = chosen?.[t] ?? topkRef(logits, k);
    const g = gateRef(logits, ch, mode);
    // every expert on this token (dense), then the gated combination of the chosen ones
    const ys = Array.from({ length: e }, (_, ex) => {
      const a = Array.from({ length: h }, (_, j) => {
        let gv = 0;
        let uv = 0;
        for (let i = 0; i < d; i++) {
          gv += G[(ex * h + j) * d + i]! * xt[i]!;
          uv += U[(ex * h + j) * d + i]! * xt[i]!;
        }
        return silu(gv) * uv;
      });
      return Array.from({ length: d }, (_, i) => a.reduce((s, v, j) => s + v * Dn[(ex * d + i) * h + j]!, 0));
    });
    for (let i = 0; i < d; i++) out.push(ch.reduce((s, ex, j) => s + g[j]! * ys[ex]![i]!, 0));
    allChosen.push(ch);
    allLogits.push(logits);
  }
  return { out, chosen: allChosen, logits: allLogits };
}

/**
 * Makes `run` (which reads the given parameter tensors, e.g. a model's forward) a function of
 * those parameters' values, for gradcheck: f(...xs) copies xs into the parameters, runs, and
 * attaches a tape node whose vjp is the module's own backward (out.backward(g) into the
 * parameters' .grad). So gradcheck compares the module's backward with central differences of
 * the module's forward, parameter by parameter.
 */
export function asFunctionOf(params: Tensor[], run: () => Tensor): (...xs: Tensor[]) => Tensor {
  return (...xs: Tensor[]) => {
    noGrad(() => params.forEach((p, i) => p.assign(xs[i]!.detach())));
    const out = run();
    const y = out.detach();
    return record('asFunctionOf', xs, y, (g) => {
      for (const p of params) p.grad = null;
      out.backward(g);
      return params.map((p) => p.grad ?? zerosLike(p));
    });
  };
}
