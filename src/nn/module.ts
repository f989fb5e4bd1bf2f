/**
 * Module: a named tree of parameters and submodules, as torch.nn.Module. Parameters are leaf
 * tensors with requiresGrad; `parameters()` walks the tree in registration order, so
 * `namedParameters()` gives stable dotted names ("blocks.0.attn.wq.weight") that state dicts
 * and checkpoints use.
 */
import { ShapeError, type Tensor } from '../tensor/index.js';
import { fmtShape } from '../tensor/shape.js';
import { noGrad } from '../autograd/index.js';

export abstract class Module {
  private readonly _params = new Map<string, Tensor>();
  private readonly _modules = new Map<string, Module>();
  training = true;

  /** Registers a parameter (a leaf that requires grad) under `name` and returns it. */
  protected param(name: string, t: Tensor): Tensor {
    if (t.dtype === 'i32') throw new ShapeError(`Module.param: parameter '${name}' must be a float tensor`);
    t.requiresGrad = true;
    this._params.set(name, t);
    return t;
  }

  /** Registers a submodule under `name` and returns it. */
  protected module<M extends Module>(name: string, m: M): M {
    this._modules.set(name, m);
    return m;
  }

  *namedParameters(prefix = ''): Generator<[string, Tensor]> {
    for (const [n, p] of this._params) yield [prefix + n, p];
    for (const [n, m] of this._modules) yield* m.namedParameters(`${prefix}${n}.`);
  }

  parameters(): Tensor[] {
    return [...this.namedParameters()].map(([, p]) => p);
  }

  *namedModules(prefix = ''): Generator<[string, Module]> {
    yield [prefix.replace(/\.$/, ''), this];
    for (const [n, m] of this._modules) yield* m.namedModules(`${prefix}${n}.`);
  }

  /** Sets .grad of every parameter to null. */
  zeroGrad(): void {
    for (const p of this.parameters()) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  train(on = true): this {
    for (const [, m] of this.namedModules()) m.training = on;
    return this;
  }
  eval(): this {
    return this.train(false);
  }

  /** name → parameter tensor (the live tensors, not copies). */
  stateDict(): Map<string, Tensor> {
    return new Map(this.namedParameters());
  }

  /**
   * Copies values into this module's parameters. Every parameter must be present with the same
   * shape and dtype unless `strict` is false; unknown names are an error in strict mode too.
   */
  loadStateDict(state: Map<string, Tensor> | Record<string, Tensor>, strict = true): void {
    const src = state instanceof Map ? state : new Map(Object.entries(state));
    const own = this.stateDict();
    if (strict) {
      const missing = [...own.keys()].filter((k) => !src.has(k));
      const unexpected = [...src.keys()].filter((k) => !own.has(k));
      if (missing.length || unexpected.length) {
        throw new ShapeError(
          `loadStateDict: ${missing.length ? `missing ${missing.join(', ')}` : ''}${missing.length && unexpected.length ? '; ' : ''}${unexpected.length ? `unexpected ${unexpected.join(', ')}` : ''}`,
        );
      }
    }
    noGrad(() => {
      for (const [name, p] of own) {
        const v = src.get(name);
        if (!v) continue;
        if (v.shape.length !== p.shape.length || v.shape.some((d, i) => d !== p.shape[i]) || v.dtype !== p.dtype) {
          throw new ShapeError(`loadStateDict: '${name}' has ${fmtShape(v.shape)} ${v.dtype}, the module expects ${fmtShape(p.shape)} ${p.dtype}`);
        }
        p.assign(v.device === p.device ? v : v.to(p.device));
      }
    });
  }
}
