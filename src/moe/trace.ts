/**
 * RoutingTrace: the routing a forward pass used, as an explicit value (docs/paper.md §2.1). Per
 * MoE layer l it holds e_{l,b,t,j}, the j-th of the k expert ids chosen for token t of sequence
 * b, as i32 in the layout
 *
 *   layer(l)[(b·T + t)·k + j]          (LAYOUT = 'layer,batch,seq,k', row-major)
 *
 * which is exactly the [N·k] token-major order the MoE layer replays (N = B·T, tokens flattened
 * as the model flattens them). Only the discrete ids are recorded: replay recomputes the gate
 * weights from the live router logits.
 *
 * R2 records it in the π_θold forward and replays it in every training forward of the step; R3
 * takes it from the inference engine. In the paper's Eq. (6) (docs/paper.md §2) a trace is one
 * route set e: replaying the π_θold pass's trace gives R2's π_θ(y_t | ·, e^π_old,t), replaying
 * the engine's gives R3's π_θ(y_t | ·, e^μ_old,t).
 *
 * Replaying a trace into a batch with a different number of layers, sequences, tokens per
 * sequence, k, experts or layout throws ReplayMismatchError naming every field that differs;
 * nothing falls back to live routing.
 *
 * A trace recorded on a GPU device may hold its layers as i32 device tensors ("pending": reads
 * are async there and `forward` is synchronous). Such a trace replays on its device as is;
 * `await trace.resolve()` reads it back, after which every method works; `dispose()` frees it.
 * Memory: a pending trace owns its device tensors and is itself tracked like a tensor, so a
 * `tidy` scope that does not return it disposes it (and counts it in liveTensors() until then);
 * one that returns it hands it to the enclosing scope. A resolved or host trace holds no device
 * memory and is not tracked.
 */
import { DeviceError, ReplayMismatchError, ShapeError, Tensor, keep, type DeviceName } from '../tensor/index.js';
import { trackCreated, trackDisposed } from '../tensor/memory.js';

export const TRACE_LAYOUT = 'layer,batch,seq,k';
export const TRACE_FORMAT = 'stablerl.routing-trace';

export interface TraceShape {
  numLayers: number;
  /** Sequences (B). */
  batch: number;
  /** Tokens per sequence (T). */
  seqLen: number;
  k: number;
  /** Experts per layer (ids lie in [0, nExperts)). */
  nExperts: number;
}

export interface RoutingTraceJSON extends TraceShape {
  format: typeof TRACE_FORMAT;
  version: 1;
  layout: string;
  /** One array of B·T·k ids per layer. */
  layers: number[][];
}

const FIELDS = ['numLayers', 'batch', 'seqLen', 'k', 'nExperts'] as const;

/** Human-readable list of the fields where two trace shapes differ (empty when they match). */
export function traceShapeDiff(have: TraceShape & { layout?: string }, want: TraceShape & { layout?: string }): string[] {
  const out: string[] = [];
  for (const f of FIELDS) if (have[f] !== want[f]) out.push(`${f} ${have[f]} ≠ ${want[f]}`);
  const hl = have.layout ?? TRACE_LAYOUT;
  const wl = want.layout ?? TRACE_LAYOUT;
  if (hl !== wl) out.push(`layout '${hl}' ≠ '${wl}'`);
  return out;
}

function posInt(what: string, v: unknown, allowZero = false): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < (allowZero ? 0 : 1)) {
    throw new ShapeError(`RoutingTrace: ${what} must be a ${allowZero ? 'non-negative' : 'positive'} integer, got ${String(v)}`);
  }
  return v;
}

export class RoutingTrace implements TraceShape {
  readonly layout = TRACE_LAYOUT;
  readonly numLayers: number;
  readonly batch: number;
  readonly seqLen: number;
  readonly k: number;
  readonly nExperts: number;
  private readonly _layers: (Int32Array | Tensor)[];
  private _tracked = false;
  private _disposed = false;

  /**
   * `layers`: one entry per MoE layer, each B·T·k ids (an Int32Array, or an i32 tensor of that
   * size, which the trace then owns). Host arrays are checked: ids in [0, nExperts).
   */
  constructor(shape: Omit<TraceShape, 'numLayers'>, layers: readonly (Int32Array | Tensor)[]) {
    this.batch = posInt('batch', shape.batch, true);
    this.seqLen = posInt('seqLen', shape.seqLen, true);
    this.k = posInt('k', shape.k);
    this.nExperts = posInt('nExperts', shape.nExperts);
    if (this.k > this.nExperts) throw new ShapeError(`RoutingTrace: k = ${this.k} exceeds nExperts = ${this.nExperts}`);
    this.numLayers = layers.length;
    const want = this.numTokens * this.k;
    this._layers = layers.map((a, l) => {
      if (a instanceof Tensor) {
        if (a.dtype !== 'i32' || a.size !== want) {
          throw new ShapeError(`RoutingTrace: layer ${l} must hold ${want} i32 ids (B ${this.batch} × T ${this.seqLen} × k ${this.k}), got ${a.size} ${a.dtype}`);
        }
        return a.device === 'cpu' ? (a.toArraySync() as Int32Array).slice() : keep(a);
      }
      if (!(a instanceof Int32Array) || a.length !== want) {
        throw new ShapeError(
          `RoutingTrace: layer ${l} must be an Int32Array of ${want} ids (B ${this.batch} × T ${this.seqLen} × k ${this.k}), got ${a instanceof Int32Array ? a.length : typeof a}`,
        );
      }
      for (let i = 0; i < a.length; i++) {
        if (a[i]! < 0 || a[i]! >= this.nExperts) {
          throw new ShapeError(`RoutingTrace: layer ${l} holds expert id ${a[i]} at ${i}, outside 0..${this.nExperts - 1}`);
        }
      }
      return a;
    });
    if (!this.isResolved) {
      this._tracked = true;
      trackCreated(this);
    }
  }

  /** B·T. */
  get numTokens(): number {
    return this.batch * this.seqLen;
  }

  get shape(): TraceShape {
    return { numLayers: this.numLayers, batch: this.batch, seqLen: this.seqLen, k: this.k, nExperts: this.nExperts };
  }

  /** True when every layer is in host memory (always, for traces recorded on the CPU). */
  get isResolved(): boolean {
    return this._layers.every((a) => a instanceof Int32Array);
  }

  /** Reads device-held layers back (async), so that layer(), slicing, equals and JSON work. */
  async resolve(): Promise<this> {
    for (let l = 0; l < this._layers.length; l++) {
      const a = this._layers[l]!;
      if (a instanceof Tensor) {
        this._layers[l] = (await a.toArray()) as Int32Array;
        a.dispose();
      }
    }
    this.untrack();
    return this;
  }

  private untrack(): void {
    if (this._tracked) {
      this._tracked = false;
      trackDisposed(this);
    }
  }

  /** True once dispose() freed device-held layers (a host trace is never disposed). */
  get isDisposed(): boolean {
    return this._disposed;
  }

  /** Frees device-held layers; a no-op for a host (resolved) trace. */
  dispose(): void {
    if (this.isResolved || this._disposed) return;
    for (const a of this._layers) if (a instanceof Tensor) a.dispose();
    this._disposed = true;
    this.untrack();
  }

  /** The ids of MoE layer l, [B·T·k] in (b, t, j) order. The array is the trace's own: do not mutate it. */
  layer(l: number): Int32Array {
    if (!Number.isInteger(l) || l < 0 || l >= this.numLayers) {
      throw new ShapeError(`RoutingTrace.layer: layer ${l} is out of range for a trace of ${this.numLayers} layers`);
    }
    const a = this._layers[l]!;
    if (this._disposed) throw new DeviceError(`RoutingTrace.layer: the trace was disposed`);
    if (a instanceof Tensor) {
      throw new DeviceError(`RoutingTrace.layer: layer ${l} is still on '${a.device}'; call await trace.resolve() first`);
    }
    return a;
  }

  /** Layer l as what the MoE layer replays: the host array, or the device tensor on its device. */
  replayLayer(l: number, device: DeviceName): Int32Array | Tensor {
    const a = this._layers[l]!;
    return a instanceof Tensor && a.device === device && !this._disposed ? a : this.layer(l);
  }

  /** The expert ids of token t of sequence b in layer l (a copy). */
  choices(l: number, b: number, t: number): number[] {
    const base = (b * this.seqLen + t) * this.k;
    return [...this.layer(l).subarray(base, base + this.k)];
  }

  /**
   * Throws ReplayMismatchError unless this trace fits a forward pass of `want` (same layers,
   * sequences, tokens per sequence, k, experts and layout), naming each field that differs.
   */
  checkReplay(want: TraceShape, op = 'replay'): void {
    const diff = traceShapeDiff(this, want);
    if (diff.length > 0) {
      throw new ReplayMismatchError(`${op}: the routing trace does not match this forward pass (trace vs batch): ${diff.join('; ')}`);
    }
  }

  private mapLayers(meta: Omit<TraceShape, 'numLayers' | 'nExperts'>, f: (a: Int32Array) => Int32Array): RoutingTrace {
    return new RoutingTrace({ ...meta, nExperts: this.nExperts }, this._layers.map((_, l) => f(this.layer(l))));
  }

  /** Sequences [start, end) (a mini-batch of the rollout batch), as a new trace. */
  sliceSequences(start: number, end: number = this.batch): RoutingTrace {
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > this.batch || start > end) {
      throw new ShapeError(`RoutingTrace.sliceSequences: [${start}, ${end}) is not a range of the ${this.batch} sequences`);
    }
    const w = this.seqLen * this.k;
    return this.mapLayers({ batch: end - start, seqLen: this.seqLen, k: this.k }, (a) => a.slice(start * w, end * w));
  }

  /** Token positions [start, end) of every sequence, as a new trace. */
  sliceTokens(start: number, end: number = this.seqLen): RoutingTrace {
    if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > this.seqLen || start > end) {
      throw new ShapeError(`RoutingTrace.sliceTokens: [${start}, ${end}) is not a range of the ${this.seqLen} positions`);
    }
    const t = end - start;
    const { k, seqLen } = this;
    return this.mapLayers({ batch: this.batch, seqLen: t, k }, (a) => {
      const out = new Int32Array(this.batch * t * k);
      for (let b = 0; b < this.batch; b++) out.set(a.subarray((b * seqLen + start) * k, (b * seqLen + end) * k), b * t * k);
      return out;
    });
  }

  /**
   * Joins traces along the sequences ('batch': same T) or along the positions ('seq': same B,
   * e.g. the prompt's trace and one per decoded token). Layers, k and experts must agree.
   */
  static concat(traces: readonly RoutingTrace[], axis: 'batch' | 'seq'): RoutingTrace {
    if (traces.length === 0) throw new ShapeError('RoutingTrace.concat: needs at least one trace');
    const t0 = traces[0]!;
    for (const t of traces) {
      const diff = traceShapeDiff(
        { ...t.shape, batch: axis === 'batch' ? 0 : t.batch, seqLen: axis === 'seq' ? 0 : t.seqLen },
        { ...t0.shape, batch: axis === 'batch' ? 0 : t0.batch, seqLen: axis === 'seq' ? 0 : t0.seqLen },
      );
      if (diff.length > 0) throw new ReplayMismatchError(`RoutingTrace.concat along '${axis}': traces differ: ${diff.join('; ')}`);
    }
    const k = t0.k;
    const batch = axis === 'batch' ? traces.reduce((s, t) => s + t.batch, 0) : t0.batch;
    const seqLen = axis === 'seq' ? traces.reduce((s, t) => s + t.seqLen, 0) : t0.seqLen;
    const layers: Int32Array[] = [];
    for (let l = 0; l < t0.numLayers; l++) {
      const out = new Int32Array(batch * seqLen * k);
      if (axis === 'batch') {
        let off = 0;
        for (const t of traces) {
          out.set(t.layer(l), off);
          off += t.layer(l).length;
        }
      } else {
        for (let b = 0; b < batch; b++) {
          let off = b * seqLen * k;
          for (const t of traces) {
            const w = t.seqLen * k;
            out.set(t.layer(l).subarray(b * w, (b + 1) * w), off);
            off += w;
          }
        }
      }
      layers.push(out);
    }
    return new RoutingTrace({ batch, seqLen, k, nExperts: t0.nExperts }, layers);
  }

  /** Same shape and the same ids in the same order (slot order matters: it fixes the sum order). */
  equals(other: RoutingTrace): boolean {
    if (traceShapeDiff(this, other).length > 0) return false;
    for (let l = 0; l < this.numLayers; l++) {
      const a = this.layer(l);
      const b = other.layer(l);
      for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    }
    return true;
  }

  /**
   * Per layer, the fraction of tokens whose k experts agree with `other` as sets (order
   * ignored). Throws ReplayMismatchError when the traces do not cover the same tokens.
   */
  agreementByLayer(other: RoutingTrace): number[] {
    const diff = traceShapeDiff(this, other);
    if (diff.length > 0) throw new ReplayMismatchError(`RoutingTrace.agreement: traces differ: ${diff.join('; ')}`);
    const { k } = this;
    const n = this.numTokens;
    const out: number[] = [];
    for (let l = 0; l < this.numLayers; l++) {
      const a = this.layer(l);
      const b = other.layer(l);
      let same = 0;
      for (let t = 0; t < n; t++) {
        let ok = true;
        for (let j = 0; j < k && ok; j++) {
          const v = a[t * k + j]!;
          let found = false;
          for (let j2 = 0; j2 < k; j2++) if (b[t * k + j2] === v) found = true;
          ok = found;
        }
        if (ok) same++;
      }
      out.push(n === 0 ? 1 : same / n);
    }
    return out;
  }

  /** The fraction of (layer, token) choices whose k experts agree with `other` as sets. */
  agreement(other: RoutingTrace): number {
    const per = this.agreementByLayer(other);
    return per.length === 0 ? 1 : per.reduce((s, v) => s + v, 0) / per.length;
  }

  toJSON(): RoutingTraceJSON {
    return {
      format: TRACE_FORMAT, version: 1, layout: TRACE_LAYOUT,
      numLayers: this.numLayers, batch: this.batch, seqLen: this.seqLen, k: this.k, nExperts: this.nExperts,
      layers: this._layers.map((_, l) => Array.from(this.layer(l))),
    };
  }

  /** Parses what toJSON wrote (an object or its JSON text); a malformed trace is a ShapeError. */
  static fromJSON(json: RoutingTraceJSON | string): RoutingTrace {
    const o = (typeof json === 'string' ? JSON.parse(json) : json) as Partial<RoutingTraceJSON> | null;
    if (o === null || typeof o !== 'object') throw new ShapeError('RoutingTrace.fromJSON: expected an object');
    if (o.format !== TRACE_FORMAT || o.version !== 1) {
      throw new ShapeError(`RoutingTrace.fromJSON: not a routing trace (format ${String(o.format)}, version ${String(o.version)})`);
    }
    if (o.layout !== TRACE_LAYOUT) {
      throw new ReplayMismatchError(`RoutingTrace.fromJSON: layout '${String(o.layout)}' is not '${TRACE_LAYOUT}'`);
    }
    if (!Array.isArray(o.layers) || o.layers.length !== o.numLayers) {
      throw new ShapeError(`RoutingTrace.fromJSON: numLayers ${String(o.numLayers)} but ${Array.isArray(o.layers) ? o.layers.length : 'no'} layers`);
    }
    const layers = o.layers.map((a, l) => {
      if (!Array.isArray(a) || a.some((v) => !Number.isInteger(v))) throw new ShapeError(`RoutingTrace.fromJSON: layer ${l} is not an array of integers`);
      return Int32Array.from(a);
    });
    return new RoutingTrace({ batch: o.batch!, seqLen: o.seqLen!, k: o.k!, nExperts: o.nExperts! }, layers);
  }

  /** Builds a trace from per-layer host arrays (tests, and engines that assemble their own). */
  static fromLayers(shape: Omit<TraceShape, 'numLayers'>, layers: readonly (Int32Array | readonly number[])[]): RoutingTrace {
    return new RoutingTrace(shape, layers.map((a) => (a instanceof Int32Array ? a : Int32Array.from(a))));
  }
}
