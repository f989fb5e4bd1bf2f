/**
 * Grad mode: whether ops record onto the tape. noGrad(fn) turns recording off for fn (as
 * torch.no_grad); backward itself runs with recording off unless asked to build a graph.
 */
let enabled = true;

export function isGradEnabled(): boolean {
  return enabled;
}

export function setGradEnabled<T>(on: boolean, fn: () => T): T {
  const prev = enabled;
  enabled = on;
  try {
    return fn();
  } finally {
    enabled = prev;
  }
}

/** Runs fn without recording any op on the tape. */
export function noGrad<T>(fn: () => T): T {
  return setGradEnabled(false, fn);
}

/** Runs fn with recording on (inside a noGrad region, for example). */
export function enableGrad<T>(fn: () => T): T {
  return setGradEnabled(true, fn);
}
