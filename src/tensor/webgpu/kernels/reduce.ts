/**
 * WebGPU single-axis kernels over an [outer, n, inner] view: sum/max/min, argmax, logsumexp,
 * softmax/logSoftmax and topk. They mirror src/tensor/cpu/kernels/reduce/current.ts.
 *
 * Batch invariance: every output row (one (outer, inner) pair) is computed by exactly one
 * invocation with a sequential loop over the n axis in index order, so a row's result does not
 * depend on how many other rows are in the batch, bit for bit. Sums accumulate in f32 (the CPU
 * accumulates in f64 and rounds once, so results agree within f32 accumulation error).
 *
 * Iteration budget. Mesa's llvmpipe (the software adapter) stops every loop of an invocation
 * once 65535 loop iterations have run in total (gallivm's LP_MAX_TGSI_LOOP_ITERATIONS, one
 * counter shared by all loops of the shader), silently truncating the result. So each kernel
 * runs over a schedule of dispatches, each doing at most BUDGET iterations per invocation: a
 * kernel's work is a list of phases (max pass, sum pass, write pass; or topk's k selection
 * passes), each a loop over j in [0, n); a dispatch runs phases [ph0, ph1) over j in [j0, j1)
 * and keeps the row's state (running max, running sum, best index) in a small state buffer (or
 * in the output itself) between dispatches. Continuing an f32 accumulator from memory gives the
 * same bits as one long loop, and the schedule depends only on n (and k), never on the number
 * of rows, so chunking preserves batch invariance. Rows with phases·n ≤ BUDGET take one dispatch.
 *
 * Special values (checked with bit tests, which no compiler can fold away): max/min propagate
 * NaN; argmax takes the first maximum and NaN counts as the maximum; logsumexp returns the row
 * max itself when that is ±inf or NaN (an all -inf row gives -inf); softmax rows containing NaN
 * or +inf give NaN, -inf entries (masks) give 0 (log: -inf). -inf is passed as a uniform:
 * WGSL const-expressions may not evaluate to an infinity. Empty rows (n = 0) are filled on the
 * host with the CPU's values (sum 0, max -inf, min +inf, i32 extrema 0, argmax 0, lse -inf).
 *
 * topk is a per-row selection: k passes over the row, pass t picking the best element strictly
 * after pass t-1's pick in the order (value descending, NaN first, ties to the lower index).
 * No scratch memory beyond two indices per row; cost k·n reads per row (vocabulary 4096, k 8:
 * 32k reads, one dispatch). Correct for any k ≤ n, but O(n²) per row when k ≈ n, spread over
 * about k·n / BUDGET dispatches.
 */
import type { ReduceOp } from '../../backend.js';
import type { DType } from '../../dtype.js';
import { DTypeError } from '../../errors.js';
import type { GpuContext } from '../context.js';
import { Params } from '../params.js';
import type { WebGpuStorage } from '../storage.js';
import { groupsFor, main1d, shaderText, wgslType } from './common.js';

/** Loop iterations one invocation may run per dispatch (llvmpipe stops loops at 65535 in total). */
export const BUDGET = 32768;

/**
 * Uniform layout shared by every kernel here: row count, axis length, inner stride (= stride
 * along n), k (topk), this dispatch's phase range [ph0, ph1) and element range [j0, j1), -inf.
 */
const PARAMS = `struct Params { rows: u32, n: u32, inner: u32, k: u32, ph0: u32, ph1: u32, j0: u32, j1: u32, ninf: f32 }
@group(0) @binding(0) var<uniform> p: Params;
fn has(ph: u32) -> bool { return p.ph0 <= ph && ph < p.ph1; }`;

/** One dispatch of a schedule: phases [ph0, ph1) over elements [j0, j1). */
type Step = [ph0: number, ph1: number, j0: number, j1: number];

/**
 * Dispatches covering `phases` loops of n iterations with at most BUDGET iterations each:
 * several whole phases per dispatch when n is small, else each phase in chunks of BUDGET.
 * Depends only on n and phases (batch invariance).
 */
export function schedule(n: number, phases: number): Step[] {
  const steps: Step[] = [];
  if (n <= BUDGET) {
    const per = Math.max(1, Math.floor(BUDGET / Math.max(n, 1)));
    for (let ph = 0; ph < phases; ph += per) steps.push([ph, Math.min(phases, ph + per), 0, n]);
  } else {
    for (let ph = 0; ph < phases; ph++) {
      for (let j = 0; j < n; j += BUDGET) steps.push([ph, ph + 1, j, Math.min(n, j + BUDGET)]);
    }
  }
  return steps;
}

/** Runs `code` once per step of the schedule, rows invocations each. */
function runSchedule(
  b: GpuContext, code: string, buffers: readonly WebGpuStorage[], rows: number, n: number, inner: number, phases: number, k = 0,
): void {
  for (const [ph0, ph1, j0, j1] of schedule(n, phases)) {
    const params = new Params().u32(rows, n, inner, k, ph0, ph1, j0, j1).f32(-Infinity);
    b.run({ code, buffers, params, groups: groupsFor(rows) });
  }
}

/** isNan/isFinite by bit pattern for f32 (a no-op for i32). */
function specials(t: 'f32' | 'i32'): string {
  return t === 'f32'
    ? `fn isNan(v: f32) -> bool { return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u; }
fn isFinite(v: f32) -> bool { return (bitcast<u32>(v) & 0x7f800000u) != 0x7f800000u; }`
    : `fn isNan(v: i32) -> bool { return false; }`;
}

/** Launch header and row bookkeeping: `base` is the row's first element, `s` the stride along n. */
function rowHeader(): string {
  return `${main1d()}
  if (i >= p.rows) { return; }
  let s = p.inner;
  let base = (i / s) * p.n * s + i % s;`;
}

function floatOnly(op: string, x: WebGpuStorage): void {
  if (x.dtype !== 'f32') throw new DTypeError(`webgpu ${op}: input has dtype ${x.dtype}; it needs f32`);
}

/** Output for an empty axis (n = 0), as the CPU kernels give it. */
function filled(b: GpuContext, size: number, value: number, dtype: DType): WebGpuStorage {
  return b.full(size, dtype === 'i32' && !Number.isFinite(value) ? 0 : value, dtype) as WebGpuStorage;
}

const SUM_CODE = (t: 'f32' | 'i32') => `${PARAMS}
@group(0) @binding(1) var<storage, read> x: array<${t}>;
@group(0) @binding(2) var<storage, read_write> y: array<${t}>;
${rowHeader()}
  var acc = ${t}(0);
  if (p.j0 != 0u) { acc = y[i]; }
  for (var j = p.j0; j < p.j1; j++) { acc += x[base + j * s]; }
  y[i] = acc;
}`;

/**
 * max / min / argmax by the index of the first extreme (NaN counts as the extreme and ends the
 * scan). max and min output x[best] rather than a running value: shader compilers turn
 * `if (v > acc) { acc = v; }` into fmax, which may return +0 for (-0, +0) where the CPU keeps
 * the first; the index keeps the CPU's exact bits. The index lives in `st` between dispatches
 * (argmax: in its output y).
 */
function extremeCode(cmp: '>' | '<', t: 'f32' | 'i32', value: boolean): string {
  const st = value ? 'st' : 'y';
  return `${PARAMS}
@group(0) @binding(1) var<storage, read> x: array<${t}>;
@group(0) @binding(2) var<storage, read_write> y: array<${value ? t : 'i32'}>;
${value ? '@group(0) @binding(3) var<storage, read_write> st: array<i32>;' : ''}
${specials(t)}
${rowHeader()}
  var best = 0u;
  if (p.j0 != 0u) { best = u32(${st}[i]); }
  var bv = x[base + best * s];
  for (var j = p.j0; j < p.j1; j++) {
    if (isNan(bv)) { break; }
    let v = x[base + j * s];
    if (v ${cmp} bv || isNan(v)) { bv = v; best = j; }
  }
  ${st}[i] = i32(best);
  ${value ? 'if (p.j1 == p.n) { y[i] = x[base + best * s]; }' : ''}
}`;
}

/** 'sum' | 'max' | 'min' over the middle axis of [outer, n, inner] → [outer, inner], in x's dtype. */
export function reduce(b: GpuContext, op: ReduceOp, x: WebGpuStorage, outer: number, n: number, inner: number): WebGpuStorage {
  const t = wgslType(x.dtype);
  const rows = outer * inner;
  if (n === 0) return filled(b, rows, op === 'sum' ? 0 : op === 'max' ? -Infinity : Infinity, x.dtype);
  const y = b.alloc(x.dtype, rows);
  if (op === 'sum') {
    runSchedule(b, shaderText(`sum|${t}`, () => SUM_CODE(t)), [x, y], rows, n, inner, 1);
  } else {
    const st = b.alloc('i32', rows);
    runSchedule(b, shaderText(`extreme|${op}|${t}`, () => extremeCode(op === 'max' ? '>' : '<', t, true)), [x, y, st], rows, n, inner, 1);
    b.dispose(st);
  }
  return y;
}

/** Index (i32) of the first maximum along the axis; NaN counts as the maximum. */
export function argmax(b: GpuContext, x: WebGpuStorage, outer: number, n: number, inner: number): WebGpuStorage {
  const t = wgslType(x.dtype);
  const rows = outer * inner;
  if (n === 0) return filled(b, rows, 0, 'i32');
  const y = b.alloc('i32', rows);
  runSchedule(b, shaderText(`argmax|${t}`, () => extremeCode('>', t, false)), [x, y], rows, n, inner, 1);
  return y;
}

/**
 * Row state for the softmax family in st[2i] (running max m) and st[2i + 1] (running sum):
 * loaded unless this dispatch starts the row, stored at the end. Phase 0 is the max pass.
 */
const STATE_IN = `  var m = p.ninf;
  var acc = 0.0;
  if (p.ph0 != 0u || p.j0 != 0u) { m = st[2u * i]; acc = st[2u * i + 1u]; }
  if (has(0u)) {
    for (var j = p.j0; j < p.j1; j++) {
      let v = x[base + j * s];
      if (isNan(v)) { m = v; break; }
      if (v > m) { m = v; }
    }
  }
  if (has(1u) && p.j0 == 0u) { acc = 0.0; }`;
const STATE_OUT = `  st[2u * i] = m;
  st[2u * i + 1u] = acc;
}`;

function softmaxHead(): string {
  return `${PARAMS}
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> st: array<f32>;
${specials('f32')}
${rowHeader()}
${STATE_IN}`;
}

/** m + log Σ exp(x − m) with m the row max: finite whenever the true value is. Phases: max, sum. */
export function logsumexp(b: GpuContext, x: WebGpuStorage, outer: number, n: number, inner: number): WebGpuStorage {
  floatOnly('logsumexp', x);
  const rows = outer * inner;
  if (n === 0) return filled(b, rows, -Infinity, 'f32');
  const y = b.alloc('f32', rows);
  const st = b.alloc('f32', 2 * rows);
  const code = shaderText('logsumexp', () => `${softmaxHead()}
  if (has(1u)) {
    if (isFinite(m)) {
      for (var j = p.j0; j < p.j1; j++) { acc += exp(x[base + j * s] - m); }
    }
    if (p.j1 == p.n) { y[i] = select(m, m + log(acc), isFinite(m)); }
  }
${STATE_OUT}`);
  runSchedule(b, code, [x, y, st], rows, n, inner, 2);
  b.dispose(st);
  return y;
}

/**
 * softmax: exp(x − m) · (1 / Σ exp(x − m)), the exponentials stored in the sum pass and scaled
 * in the write pass; logSoftmax: (x − m) − log Σ exp(x − m), which keeps the small result
 * accurate when |x| is large (x − m is exact for x near m, whereas x − lse would lose the ulp
 * of lse ≈ |x|). Phases: max, sum, write.
 */
export function softmax(b: GpuContext, x: WebGpuStorage, outer: number, n: number, inner: number, log: boolean): WebGpuStorage {
  floatOnly(log ? 'logSoftmax' : 'softmax', x);
  const rows = outer * inner;
  const y = b.alloc('f32', x.size);
  if (n === 0 || rows === 0) return y;
  const st = b.alloc('f32', 2 * rows);
  const body = log
    ? `  if (has(1u)) {
    for (var j = p.j0; j < p.j1; j++) { acc += exp(x[base + j * s] - m); }
  }
  if (has(2u)) {
    let ls = log(acc);
    for (var j = p.j0; j < p.j1; j++) { let k = base + j * s; y[k] = (x[k] - m) - ls; }
  }`
    : `  if (has(1u)) {
    for (var j = p.j0; j < p.j1; j++) { let k = base + j * s; let e = exp(x[k] - m); y[k] = e; acc += e; }
  }
  if (has(2u)) {
    let inv = 1.0 / acc;
    for (var j = p.j0; j < p.j1; j++) { let k = base + j * s; y[k] = y[k] * inv; }
  }`;
  runSchedule(b, shaderText(`softmax|${log}`, () => `${softmaxHead()}\n${body}\n${STATE_OUT}`), [x, y, st], rows, n, inner, 3);
  b.dispose(st);
  return y;
}

/**
 * Largest k along the axis, sorted descending, ties to the lower index, NaN first: values
 * [outer, k, inner] in x's dtype and i32 indices. k selection passes of O(n) per row (phases
 * of the schedule); the previous pick and the current best index live in st between dispatches.
 */
export function topk(b: GpuContext, x: WebGpuStorage, outer: number, n: number, inner: number, k: number): [WebGpuStorage, WebGpuStorage] {
  const t = wgslType(x.dtype);
  const rows = outer * inner;
  const vals = b.alloc(x.dtype, outer * k * inner);
  const idx = b.alloc('i32', outer * k * inner);
  if (k === 0 || rows === 0) return [vals, idx];
  const st = b.alloc('i32', 2 * rows);
  const code = shaderText(`topk|${t}`, () => `${PARAMS}
@group(0) @binding(1) var<storage, read> x: array<${t}>;
@group(0) @binding(2) var<storage, read_write> vals: array<${t}>;
@group(0) @binding(3) var<storage, read_write> idx: array<i32>;
@group(0) @binding(4) var<storage, read_write> st: array<i32>;
${specials(t)}
/** True when (a, ia) comes before (b, ib): larger first, NaN largest, ties to the lower index. */
fn before(a: ${t}, ia: i32, b: ${t}, ib: i32) -> bool {
  let na = isNan(a);
  let nb = isNan(b);
  if (na || nb) { return na && (!nb || ia < ib); }
  return a > b || (a == b && ia < ib);
}
${rowHeader()}
  let ob = (i / s) * p.k * s + i % s;
  var pi = -1;
  var bi = -1;
  if (p.ph0 != 0u || p.j0 != 0u) { pi = st[2u * i]; bi = st[2u * i + 1u]; }
  for (var r = p.ph0; r < p.ph1; r++) {
    if (p.j0 == 0u) { bi = -1; }
    var pv = ${t}(0);
    if (pi >= 0) { pv = x[base + u32(pi) * s]; }
    var bv = ${t}(0);
    if (bi >= 0) { bv = x[base + u32(bi) * s]; }
    for (var j = p.j0; j < p.j1; j++) {
      let v = x[base + j * s];
      let ij = i32(j);
      if (pi >= 0 && !before(pv, pi, v, ij)) { continue; }
      if (bi < 0 || before(v, ij, bv, bi)) { bv = v; bi = ij; }
    }
    if (p.j1 == p.n) {
      vals[ob + r * s] = x[base + u32(bi) * s];
      idx[ob + r * s] = bi;
      pi = bi;
    }
  }
  st[2u * i] = pi;
  st[2u * i + 1u] = bi;
}`);
  runSchedule(b, code, [x, vals, idx, st], rows, n, inner, k, k);
  b.dispose(st);
  return [vals, idx];
}
