/**
 * Optimisers and gradient clipping, with torch semantics. Parameters are updated in place with
 * `p.assign(...)` (the tensor keeps its identity, so modules and the inference engine holding
 * it see the new values) under noGrad, and intermediates are freed by tidy.
 *
 * AdamW (Loshchilov & Hutter 2019, "Decoupled Weight Decay Regularization"; torch.optim.AdamW),
 * per parameter p with gradient g, at that parameter's step t = 1, 2, ...:
 *   m ← β1·m + (1 − β1)·g
 *   v ← β2·v + (1 − β2)·g²
 *   m̂ = m / (1 − β1^t),   v̂ = v / (1 − β2^t)
 *   p ← p − lr·wd·p                                  (decoupled weight decay)
 *   p ← p − lr·m̂ / (√v̂ + eps)
 * computed as torch does: p·(1 − lr·wd), then p − (lr/(1 − β1^t))·m / (√v/√(1 − β2^t) + eps).
 * Where the backend offers an adamw routine (the CPU: one fused loop, src/tensor/cpu/optim.ts;
 * WebGPU: one kernel, src/tensor/webgpu/kernels/optim.ts) the update is one call, bit-identical
 * to the composed tensor ops of adamwUpdateComposed, which every other case runs.
 * A parameter whose .grad is null is skipped entirely (no decay, no state change), and, as in
 * torch, t counts only the steps at which that parameter had a gradient.
 *
 * SGD (torch.optim.SGD): g ← g + wd·p; with momentum μ, b ← g at the first step and
 * b ← μ·b + (1 − dampening)·g after, then g ← b (or g + μ·b with nesterov); p ← p − lr·g.
 *
 * clipGradNorm (torch.nn.utils.clip_grad_norm_): n = √(Σ_p ‖g_p‖²) over every gradient;
 * every gradient is multiplied by min(1, maxNorm / (n + 1e-6)) in place; n is returned.
 *
 * State dicts are flat Map<string, Tensor> (as Module.stateDict), so a checkpoint writer can
 * store them as they are: 'step' (i32 scalar, the number of step() calls) and per parameter
 * index i that has state, 'param.i.step' (i32 scalar) and 'param.i.m' / 'param.i.v' (AdamW) or
 * 'param.i.momentum' (SGD). Hyperparameters are not part of it: they belong to the constructor.
 */
import {
  ConfigError, DeviceError, DTypeError, ShapeError, Tensor,
  full, keep, tensor, tidy, tryRoutine, zerosLike, type AdamWScalars,
} from '../tensor/index.js';
import { fmtShape, sameShape } from '../tensor/shape.js';
import { noGrad } from '../autograd/index.js';

export type StateDictInput = Map<string, Tensor> | Record<string, Tensor>;

function asMap(state: StateDictInput): Map<string, Tensor> {
  return state instanceof Map ? state : new Map(Object.entries(state));
}

function scalarI32(n: number): Tensor {
  return tensor(new Int32Array([n]), { shape: [] });
}

function readCount(op: string, key: string, t: Tensor | undefined, min: number): number {
  if (!(t instanceof Tensor)) throw new ShapeError(`${op}: the state dict has no '${key}'`);
  if (t.dtype !== 'i32' || t.size !== 1 || t.device !== 'cpu') {
    throw new ShapeError(`${op}: '${key}' must be a one-element i32 tensor on the cpu, got ${fmtShape(t.shape)} ${t.dtype} on ${t.device}`);
  }
  const n = t.toArraySync()[0]!;
  if (n < min) throw new ShapeError(`${op}: '${key}' is ${n}; it must be at least ${min}`);
  return n;
}

function checkHyper(op: string, name: string, v: number, lo: number, hi = Infinity, hiOpen = false): void {
  if (typeof v !== 'number' || Number.isNaN(v) || v < lo || (hiOpen ? v >= hi : v > hi)) {
    throw new ConfigError(`${op}: ${name} must be in [${lo}, ${hi}${hiOpen ? ')' : ']'}, got ${v}`);
  }
}

/** What every optimiser shares: the parameter list, zeroGrad, the gradient checks. */
export abstract class Optimizer {
  readonly params: readonly Tensor[];
  /** Number of step() calls so far. */
  stepCount = 0;

  constructor(protected readonly opName: string, params: Iterable<Tensor>) {
    const list = [...params];
    const seen = new Set<Tensor>();
    list.forEach((p, i) => {
      if (!(p instanceof Tensor)) throw new ConfigError(`${opName}: parameter ${i} is not a Tensor`);
      if (p.dtype === 'i32') throw new DTypeError(`${opName}: parameter ${i} ${fmtShape(p.shape)} is i32; only float tensors can be optimised`);
      if (seen.has(p)) throw new ConfigError(`${opName}: parameter ${i} ${fmtShape(p.shape)} appears more than once`);
      seen.add(p);
    });
    this.params = Object.freeze(list);
  }

  abstract step(): void;
  abstract stateDict(): Map<string, Tensor>;
  abstract loadStateDict(state: StateDictInput): void;

  /** Sets every parameter's .grad to null (torch's zero_grad(set_to_none=True)). */
  zeroGrad(): void {
    for (const p of this.params) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /** The gradient of parameter i, checked against it, or null when it has none. */
  protected gradOf(i: number): Tensor | null {
    const p = this.params[i]!;
    const g = p.grad;
    if (g === null) return null;
    if (!sameShape(g.shape, p.shape) || g.dtype !== p.dtype || g.device !== p.device) {
      throw new ShapeError(
        `${this.opName}.step: the grad of parameter ${i} is ${fmtShape(g.shape)} ${g.dtype} on ${g.device}, the parameter is ${fmtShape(p.shape)} ${p.dtype} on ${p.device}`,
      );
    }
    return g;
  }

  /** Checks a checkpoint tensor against parameter i (shape, dtype, a device it can come from). */
  protected checkStateTensor(key: string, t: Tensor | undefined, i: number): Tensor {
    const p = this.params[i]!;
    const op = `${this.opName}.loadStateDict`;
    if (!(t instanceof Tensor)) throw new ShapeError(`${op}: the state dict has 'param.${i}.*' entries but no '${key}'`);
    if (!sameShape(t.shape, p.shape) || t.dtype !== p.dtype) {
      throw new ShapeError(`${op}: '${key}' is ${fmtShape(t.shape)} ${t.dtype}, parameter ${i} is ${fmtShape(p.shape)} ${p.dtype}`);
    }
    if (t.device !== p.device && t.device !== 'cpu') {
      throw new DeviceError(`${op}: '${key}' is on '${t.device}'; move it to the cpu or to '${p.device}' first`);
    }
    return t;
  }

  /** A private copy of a (checked) checkpoint tensor on parameter i's device. */
  protected stateCopy(src: Tensor, i: number): Tensor {
    const device = this.params[i]!.device;
    return keep(noGrad(() => (src.device === device ? src.detach() : src.to(device))));
  }

  /** Indices i named by 'param.i.*' keys; anything else but 'step' is an error. */
  protected stateIndices(state: Map<string, Tensor>, fields: readonly string[]): Set<number> {
    const op = `${this.opName}.loadStateDict`;
    const out = new Set<number>();
    for (const key of state.keys()) {
      if (key === 'step') continue;
      const m = /^param\.(\d+)\.(\w+)$/.exec(key);
      if (!m || !fields.includes(m[2]!)) {
        throw new ShapeError(`${op}: unexpected key '${key}' (expected 'step' and 'param.<i>.${fields.join('|')}')`);
      }
      const i = Number(m[1]);
      if (i >= this.params.length) {
        throw new ShapeError(`${op}: '${key}' names parameter ${i}, but this optimiser has ${this.params.length} parameters`);
      }
      out.add(i);
    }
    return out;
  }
}

/**
 * One AdamW update of p, m, v in place (identity kept, values replaced), composed from tensor
 * ops: the reference, and the path wherever the backend has no adamw routine. Call under noGrad,
 * in a tidy scope.
 */
export function adamwUpdateComposed(p: Tensor, g: Tensor, m: Tensor, v: Tensor, s: AdamWScalars): void {
  const { beta1: b1, beta2: b2, eps, lr, weightDecay: wd, bc1, bc2 } = s;
  m.assign(m.mul(b1).add(g.mul(1 - b1)));
  v.assign(v.mul(b2).add(g.mul(g).mul(1 - b2)));
  const decayed = lr * wd !== 0 ? p.mul(1 - lr * wd) : p;
  const denom = v.sqrt().div(Math.sqrt(bc2)).add(eps);
  p.assign(decayed.sub(m.div(denom).mul(lr / bc1)));
}

/**
 * The same update as adamwUpdateComposed, bit for bit: the backend's adamw routine (one pass)
 * where it offers one, otherwise the composed ops. Call under noGrad, in a tidy scope.
 */
export function adamwUpdate(p: Tensor, g: Tensor, m: Tensor, v: Tensor, s: AdamWScalars): void {
  const fused = [g, m, v].every((t) => t.device === p.device && t.dtype === p.dtype)
    ? tryRoutine(p.backend, 'adamw', p.storage, g.storage, m.storage, v.storage, s)
    : null;
  if (fused === null) return adamwUpdateComposed(p, g, m, v, s);
  const [np, nm, nv] = fused;
  // assign of a same-size CPU tensor shares its array (no copy); the wrappers go with the tidy.
  m.assign(new Tensor(nm, m.shape));
  v.assign(new Tensor(nv, v.shape));
  p.assign(new Tensor(np, p.shape));
}

export interface AdamWOptions {
  lr?: number;
  betas?: readonly [number, number];
  eps?: number;
  weightDecay?: number;
}

interface AdamState {
  step: number;
  m: Tensor;
  v: Tensor;
}

/** torch.optim.AdamW (see the header for the update). */
export class AdamW extends Optimizer {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  private state: (AdamState | null)[];

  constructor(params: Iterable<Tensor>, o: AdamWOptions = {}) {
    super('AdamW', params);
    this.lr = o.lr ?? 1e-3;
    [this.beta1, this.beta2] = o.betas ?? [0.9, 0.999];
    this.eps = o.eps ?? 1e-8;
    this.weightDecay = o.weightDecay ?? 1e-2;
    checkHyper('AdamW', 'lr', this.lr, 0);
    checkHyper('AdamW', 'betas[0]', this.beta1, 0, 1, true);
    checkHyper('AdamW', 'betas[1]', this.beta2, 0, 1, true);
    checkHyper('AdamW', 'eps', this.eps, 0);
    checkHyper('AdamW', 'weightDecay', this.weightDecay, 0);
    this.state = this.params.map(() => null);
  }

  step(): void {
    const { lr, beta1: b1, beta2: b2, eps, weightDecay: wd } = this;
    const grads = this.params.map((_, i) => this.gradOf(i));
    this.stepCount++;
    noGrad(() => {
      this.params.forEach((p, i) => {
        const g = grads[i];
        if (!g) return;
        let s = this.state[i];
        if (!s) s = this.state[i] = { step: 0, m: keep(zerosLike(p)), v: keep(zerosLike(p)) };
        const st = s;
        st.step++;
        const scalars = { beta1: b1, beta2: b2, eps, lr, weightDecay: wd, bc1: 1 - b1 ** st.step, bc2: 1 - b2 ** st.step };
        tidy(() => adamwUpdate(p, g, st.m, st.v, scalars));
      });
    });
  }

  /**
   * m and v are the live state tensors (as Module.stateDict's parameters: the next step changes
   * their values, so write or copy them before it); the step counts are fresh i32 CPU scalars.
   */
  stateDict(): Map<string, Tensor> {
    const out = new Map<string, Tensor>([['step', scalarI32(this.stepCount)]]);
    this.state.forEach((s, i) => {
      if (!s) return;
      out.set(`param.${i}.step`, scalarI32(s.step));
      out.set(`param.${i}.m`, s.m);
      out.set(`param.${i}.v`, s.v);
    });
    return out;
  }

  /** Replaces the whole state with a copy of `state`; validated before anything changes. */
  loadStateDict(state: StateDictInput): void {
    const src = asMap(state);
    const op = 'AdamW.loadStateDict';
    const stepCount = readCount(op, 'step', src.get('step'), 0);
    const idx = this.stateIndices(src, ['step', 'm', 'v']);
    const steps = new Map<number, number>();
    for (const i of idx) {
      steps.set(i, readCount(op, `param.${i}.step`, src.get(`param.${i}.step`), 1));
      for (const f of ['m', 'v']) this.checkStateTensor(`param.${i}.${f}`, src.get(`param.${i}.${f}`), i);
    }
    const next = this.params.map((_, i): AdamState | null =>
      idx.has(i) ? { step: steps.get(i)!, m: this.stateCopy(src.get(`param.${i}.m`)!, i), v: this.stateCopy(src.get(`param.${i}.v`)!, i) } : null,
    );
    for (const s of this.state) {
      s?.m.dispose();
      s?.v.dispose();
    }
    this.state = next;
    this.stepCount = stepCount;
  }
}

export interface SGDOptions {
  lr?: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

/** torch.optim.SGD (see the header for the update). */
export class SGD extends Optimizer {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
  private buffers: (Tensor | null)[];

  constructor(params: Iterable<Tensor>, o: SGDOptions = {}) {
    super('SGD', params);
    this.lr = o.lr ?? 1e-3;
    this.momentum = o.momentum ?? 0;
    this.dampening = o.dampening ?? 0;
    this.weightDecay = o.weightDecay ?? 0;
    this.nesterov = o.nesterov ?? false;
    checkHyper('SGD', 'lr', this.lr, 0);
    checkHyper('SGD', 'momentum', this.momentum, 0);
    checkHyper('SGD', 'dampening', this.dampening, 0);
    checkHyper('SGD', 'weightDecay', this.weightDecay, 0);
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) {
      throw new ConfigError('SGD: nesterov needs momentum > 0 and dampening 0');
    }
    this.buffers = this.params.map(() => null);
  }

  step(): void {
    const { lr, momentum: mu, dampening, weightDecay: wd, nesterov } = this;
    const grads = this.params.map((_, i) => this.gradOf(i));
    this.stepCount++;
    noGrad(() => {
      this.params.forEach((p, i) => {
        const g0 = grads[i];
        if (!g0) return;
        tidy(() => {
          let g = wd !== 0 ? g0.add(p.mul(wd)) : g0;
          if (mu !== 0) {
            const b = this.buffers[i];
            if (!b) this.buffers[i] = keep(g === g0 ? g0.detach() : g);
            else b.assign(b.mul(mu).add(g.mul(1 - dampening)));
            const buf = this.buffers[i]!;
            g = nesterov ? g.add(buf.mul(mu)) : buf;
          }
          p.assign(p.sub(g.mul(lr)));
        });
      });
    });
  }

  stateDict(): Map<string, Tensor> {
    const out = new Map<string, Tensor>([['step', scalarI32(this.stepCount)]]);
    this.buffers.forEach((b, i) => {
      if (b) out.set(`param.${i}.momentum`, b);
    });
    return out;
  }

  loadStateDict(state: StateDictInput): void {
    const src = asMap(state);
    const stepCount = readCount('SGD.loadStateDict', 'step', src.get('step'), 0);
    const idx = this.stateIndices(src, ['momentum']);
    for (const i of idx) this.checkStateTensor(`param.${i}.momentum`, src.get(`param.${i}.momentum`), i);
    const next = this.params.map((_, i) => (idx.has(i) ? this.stateCopy(src.get(`param.${i}.momentum`)!, i) : null));
    for (const b of this.buffers) b?.dispose();
    this.buffers = next;
    this.stepCount = stepCount;
  }
}

/**
 * Scales every gradient in place by min(1, maxNorm / (n + 1e-6)), n the global L2 norm over all
 * of them, and returns n as a 0-d tensor on the gradients' device (null when no parameter has a
 * gradient). No value is read back, so on WebGPU this does not wait for the device.
 */
export function clipGradNormTensor(params: Iterable<Tensor>, maxNorm: number): Tensor | null {
  if (typeof maxNorm !== 'number' || Number.isNaN(maxNorm) || maxNorm < 0) {
    throw new ConfigError(`clipGradNorm: maxNorm must be a number ≥ 0, got ${maxNorm}`);
  }
  const grads = [...params].map((p) => p.grad).filter((g): g is Tensor => g !== null);
  if (grads.length === 0) return null;
  const dtype = grads[0]!.dtype;
  return noGrad(() => {
    const total = tidy(() => {
      let acc: Tensor | null = null;
      for (const g of grads) {
        const s = g.square().sum().to(dtype);
        acc = acc ? acc.add(s) : s;
      }
      return acc!.sqrt();
    });
    tidy(() => {
      const coef = full([], maxNorm, { dtype, device: total.device }).div(total.add(1e-6)).clamp(null, 1);
      for (const g of grads) g.assign(g.mul(coef.to(g.dtype)));
    });
    return total;
  });
}

/**
 * torch.nn.utils.clip_grad_norm_: clips in place and returns the total norm before clipping
 * (0 when no parameter has a gradient). CPU gradients only, since the value is read back
 * synchronously; use clipGradNormAsync (or clipGradNormTensor) on WebGPU.
 */
export function clipGradNorm(params: Iterable<Tensor>, maxNorm: number): number {
  const ps = [...params];
  const off = ps.find((p) => p.grad && p.grad.device !== 'cpu');
  if (off) {
    throw new DeviceError(`clipGradNorm: gradients are on '${off.grad!.device}', where reads are async; use await clipGradNormAsync(params, maxNorm)`);
  }
  const total = clipGradNormTensor(ps, maxNorm);
  if (!total) return 0;
  const n = total.itemSync();
  total.dispose();
  return n;
}

/** clipGradNorm on any device: clips in place, then reads the total norm back. */
export async function clipGradNormAsync(params: Iterable<Tensor>, maxNorm: number): Promise<number> {
  const total = clipGradNormTensor(params, maxNorm);
  if (!total) return 0;
  const n = await total.item();
  total.dispose();
  return n;
}
