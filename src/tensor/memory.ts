/**
 * Deterministic memory: tensors are counted while alive, and `tidy(fn)` disposes every tensor
 * created inside fn that fn does not return (as tfjs's tidy), so a long loop keeps a flat pool
 * without waiting for the garbage collector. `keep(t)` exempts a tensor from its scope.
 */
import { StablerlError } from './errors.js';

export interface Disposable {
  dispose(): void;
  readonly isDisposed: boolean;
}

const scopes: Set<Disposable>[] = [];
let live = 0;

export function trackCreated(t: Disposable): void {
  live++;
  scopes[scopes.length - 1]?.add(t);
}

export function trackDisposed(t: Disposable): void {
  live--;
  for (let i = scopes.length - 1; i >= 0; i--) if (scopes[i]!.delete(t)) break;
}

/** Tensors created and not yet disposed, on every device. */
export function liveTensors(): number {
  return live;
}

/** Removes `t` from every open tidy scope so it survives them. */
export function keep<T extends Disposable>(t: T): T {
  for (const s of scopes) s.delete(t);
  return t;
}

function collect(x: unknown, out: Set<unknown>, seen: Set<unknown>): void {
  if (x === null || typeof x !== 'object' || seen.has(x)) return;
  seen.add(x);
  if ('dispose' in x && 'isDisposed' in x) out.add(x);
  if (Array.isArray(x)) for (const v of x) collect(v, out, seen);
  else if (x instanceof Map) for (const v of x.values()) collect(v, out, seen);
  else if (Object.getPrototypeOf(x) === Object.prototype) for (const v of Object.values(x)) collect(v, out, seen);
}

export function tidy<T>(fn: () => T): T {
  const scope = new Set<Disposable>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
    if (result instanceof Promise) {
      throw new StablerlError('tidy: fn returned a Promise; tidy only scopes synchronous work (await outside it)');
    }
  } finally {
    scopes.pop();
  }
  const kept = new Set<unknown>();
  collect(result, kept, new Set());
  for (const t of scope) {
    if (kept.has(t)) scopes[scopes.length - 1]?.add(t);
    else if (!t.isDisposed) t.dispose();
  }
  return result;
}
