/**
 * CPU elementwise kernels: unary maps, broadcasting binary ops and comparisons, where().
 *
 * Why it looks like this: a training step of the MoE model runs hundreds of these, many on
 * broadcast operands (x·rsqrt(ms) with ms [..., 1], x·g with g [D], a [T, Tk] mask over
 * [B, H, T, Tk] scores), and the reference (reference.ts) spends more time calling per-element
 * table functions through a per-row callback than doing arithmetic. Here every op has its own loop (so the JIT inlines the arithmetic), and the
 * operands' strides are first coalesced: size-1 dims dropped, adjacent dims that every operand
 * walks contiguously merged, so a broadcast is at most a few nested loops with constant inner
 * strides. Each output element is still the same single operation on the same two inputs, so
 * results are bit-identical to the reference (test/tensor/cpu/elementwise.test.ts). relu and the
 * comparisons also avoid data-dependent branches (on random signs a mispredicted branch per
 * element makes them 5x slower than an add). Large f32 add/sub/mul/div (bias adds,
 * SGD updates, gradient products) run in WebAssembly SIMD (../matmul/wasm.ts,
 * elementwiseWasmF32): every non-NaN result has the same bits as the reference, since one f32 rounding
 * of these four operations equals JS's f64 result rounded to f32; a NaN result is still NaN,
 * but its sign and payload are x86's, not necessarily V8's (the tests compare with Object.is,
 * which treats all NaNs alike, as the matmul contract does).
 */
import type { BinaryOp, CompareOp, UnaryOp } from '../../../backend.js';
import type { TypedArray } from '../../../dtype.js';
import { elementwiseWasmF32, type WasmElementwiseOp } from '../matmul/wasm.js';
import { erf, gelu, geluTanh, roundBf16, roundFp8e4m3, roundFp8e4m3F32Into, sigmoid, softplus } from '../../scalar-math.js';
import { BINARY_FN, COMPARE_FN, UNARY_FN, type Fn2 } from './ops.js';

/**
 * From this many output elements, f32 add/sub/mul/div go to WebAssembly SIMD (copying the
 * operands in and out costs about 1 µs plus 0.1 ns per element and value; JS takes 1.3-1.7 ns
 * per element). Rows repeating b must be at least WASM_MIN_ROW long (one call per row).
 */
const WASM_MIN_ELEMS = 4096;
const WASM_MIN_ROW = 64;

/** out[i] = op(x[i]): one loop per op, each the same formula as UNARY_FN[op]. */
export function unaryInto(op: UnaryOp, x: TypedArray, out: TypedArray): void {
  const n = x.length;
  switch (op) {
    case 'neg': for (let i = 0; i < n; i++) out[i] = -x[i]!; return;
    case 'exp': for (let i = 0; i < n; i++) out[i] = Math.exp(x[i]!); return;
    case 'log': for (let i = 0; i < n; i++) out[i] = Math.log(x[i]!); return;
    case 'sqrt': for (let i = 0; i < n; i++) out[i] = Math.sqrt(x[i]!); return;
    case 'rsqrt': for (let i = 0; i < n; i++) out[i] = 1 / Math.sqrt(x[i]!); return;
    case 'abs': for (let i = 0; i < n; i++) out[i] = Math.abs(x[i]!); return;
    case 'tanh': for (let i = 0; i < n; i++) out[i] = Math.tanh(x[i]!); return;
    case 'sigmoid': for (let i = 0; i < n; i++) out[i] = sigmoid(x[i]!); return;
    case 'relu':
      if (x instanceof Float32Array && out instanceof Float32Array) reluF32Bits(x, out);
      else for (let i = 0; i < n; i++) { const v = x[i]!; out[i] = v > 0 ? v : 0; }
      return;
    case 'silu': for (let i = 0; i < n; i++) { const v = x[i]!; out[i] = v * sigmoid(v); } return;
    case 'gelu': for (let i = 0; i < n; i++) out[i] = gelu(x[i]!); return;
    case 'geluTanh': for (let i = 0; i < n; i++) out[i] = geluTanh(x[i]!); return;
    case 'softplus': for (let i = 0; i < n; i++) out[i] = softplus(x[i]!); return;
    case 'sign': for (let i = 0; i < n; i++) { const v = x[i]!; out[i] = v > 0 ? 1 : v < 0 ? -1 : 0; } return;
    case 'erf': for (let i = 0; i < n; i++) out[i] = erf(x[i]!); return;
    case 'log1p': for (let i = 0; i < n; i++) out[i] = Math.log1p(x[i]!); return;
    case 'expm1': for (let i = 0; i < n; i++) out[i] = Math.expm1(x[i]!); return;
    case 'sin': for (let i = 0; i < n; i++) out[i] = Math.sin(x[i]!); return;
    case 'cos': for (let i = 0; i < n; i++) out[i] = Math.cos(x[i]!); return;
    case 'square': for (let i = 0; i < n; i++) { const v = x[i]!; out[i] = v * v; } return;
    case 'reciprocal': for (let i = 0; i < n; i++) out[i] = 1 / x[i]!; return;
    case 'roundBf16': for (let i = 0; i < n; i++) out[i] = roundBf16(x[i]!); return;
    case 'roundFp8e4m3':
      if (x instanceof Float32Array && out instanceof Float32Array) return roundFp8e4m3F32Into(x, out);
      for (let i = 0; i < n; i++) out[i] = roundFp8e4m3(x[i]!);
      return;
    default: {
      // An op added to UNARY_OPS before it gets its own loop.
      const f = UNARY_FN[op as UnaryOp];
      for (let i = 0; i < n; i++) out[i] = f(x[i]!);
    }
  }
}

/**
 * relu on f32 through the bit patterns, without a branch: `v > 0 ? v : 0` compiles to a
 * branch that mispredicts on about half of all activations (measured 5.8 ns per element on
 * random signs against 1.3 here). With i the f32 bits read as a signed int32, v > 0 holds
 * exactly when 1 <= i <= 0x7f800000 (the smallest denormal up to +inf), i.e. when i - 1, read
 * unsigned, is below 0x7f800000; NaNs of either sign, ±0 and negatives fail it. The output is
 * either x's bits or +0's bits, as the reference's formula gives.
 */
function reluF32Bits(x: Float32Array, out: Float32Array): void {
  const xi = new Int32Array(x.buffer, x.byteOffset, x.length);
  const oi = new Int32Array(out.buffer, out.byteOffset, out.length);
  const n = xi.length;
  for (let i = 0; i < n; i++) {
    const v = xi[i]!;
    // (v - 1) >>> 1 is in [0, 2^31): subtracting half the bound keeps the sign test in int32.
    oi[i] = v & ((((v - 1) >>> 1) - 0x3fc00000) >> 31);
  }
}

/**
 * A broadcast walk after coalescing: `dims` (outermost first, no size-1 dims, never empty:
 * a scalar is [1]) and one stride list per operand.
 */
interface Walk {
  dims: number[];
  strides: number[][];
}

/**
 * Drops size-1 dims and merges dim i into dim i−1 when every operand's stride of i−1 equals
 * its stride of i times size(i) (a broadcast stride 0 merges with 0). The walk visits the
 * same (output, input) offset pairs in the same order as the unmerged shape.
 */
export function coalesce(shape: readonly number[], strides: readonly (readonly number[])[]): Walk {
  const dims: number[] = [];
  const st: number[][] = strides.map(() => []);
  for (let i = 0; i < shape.length; i++) {
    const n = shape[i]!;
    if (n === 1) continue;
    const last = dims.length - 1;
    let merge = last >= 0;
    for (let t = 0; t < strides.length && merge; t++) merge = st[t]![last] === strides[t]![i]! * n;
    if (merge) {
      dims[last]! *= n;
      for (let t = 0; t < strides.length; t++) st[t]![last] = strides[t]![i]!;
    } else {
      dims.push(n);
      for (let t = 0; t < strides.length; t++) st[t]!.push(strides[t]![i]!);
    }
  }
  if (dims.length === 0) {
    dims.push(1);
    for (const s of st) s.push(0);
  }
  return { dims, strides: st };
}

// Op codes of the inlined arithmetic loops.
const Op = { Add: 0, Sub: 1, Mul: 2, Div: 3, Other: 4, Eq: 5, Ne: 6, Gt: 7, Ge: 8, Lt: 9, Le: 10 } as const;
type Op = (typeof Op)[keyof typeof Op];

function opOf(f: Fn2): Op {
  if (f === BINARY_FN.add) return Op.Add;
  if (f === BINARY_FN.sub) return Op.Sub;
  if (f === BINARY_FN.mul) return Op.Mul;
  if (f === BINARY_FN.div) return Op.Div;
  if (f === COMPARE_FN.eq) return Op.Eq;
  if (f === COMPARE_FN.ne) return Op.Ne;
  if (f === COMPARE_FN.gt) return Op.Gt;
  if (f === COMPARE_FN.ge) return Op.Ge;
  if (f === COMPARE_FN.lt) return Op.Lt;
  if (f === COMPARE_FN.le) return Op.Le;
  return Op.Other;
}

/** Op code -> map2's op code (Other never goes there). */
const WASM_OP: WasmElementwiseOp[] = [0, 1, 2, 3, 0, 4, 5, 7, 9, 6, 8];

/**
 * Comparisons, any strides: `+(x > y)` is the same 1 or 0 as COMPARE_FN's `x > y ? 1 : 0`
 * (NaN compares false, or unequal, either way), but V8 emits a setcc instead of a branch
 * that mispredicts on mixed data (relu's backward mask x > 0: 6.4 ns per element through the
 * callback, 1.1 here).
 */
function compareRow(
  op: Op, a: TypedArray, b: TypedArray, out: TypedArray,
  o: number, len: number, ia: number, da: number, ib: number, db: number,
): void {
  switch (op) {
    case Op.Eq: for (let j = 0; j < len; j++) out[o + j] = +(a[ia + j * da]! === b[ib + j * db]!); return;
    case Op.Ne: for (let j = 0; j < len; j++) out[o + j] = +(a[ia + j * da]! !== b[ib + j * db]!); return;
    case Op.Gt: for (let j = 0; j < len; j++) out[o + j] = +(a[ia + j * da]! > b[ib + j * db]!); return;
    case Op.Ge: for (let j = 0; j < len; j++) out[o + j] = +(a[ia + j * da]! >= b[ib + j * db]!); return;
    case Op.Lt: for (let j = 0; j < len; j++) out[o + j] = +(a[ia + j * da]! < b[ib + j * db]!); return;
    default: for (let j = 0; j < len; j++) out[o + j] = +(a[ia + j * da]! <= b[ib + j * db]!); return;
  }
}

/** One innermost row: out[o + j] = f(a[ia + j·da], b[ib + j·db]) for j < len. */
function row2(
  op: Op, f: Fn2, a: TypedArray, b: TypedArray, out: TypedArray,
  o: number, len: number, ia: number, da: number, ib: number, db: number,
): void {
  if (op > Op.Other) {
    compareRow(op, a, b, out, o, len, ia, da, ib, db);
    return;
  }
  if (da === 1 && db === 1) {
    switch (op) {
      case Op.Add: for (let j = 0; j < len; j++) out[o + j] = a[ia + j]! + b[ib + j]!; return;
      case Op.Sub: for (let j = 0; j < len; j++) out[o + j] = a[ia + j]! - b[ib + j]!; return;
      case Op.Mul: for (let j = 0; j < len; j++) out[o + j] = a[ia + j]! * b[ib + j]!; return;
      case Op.Div: for (let j = 0; j < len; j++) out[o + j] = a[ia + j]! / b[ib + j]!; return;
      default: for (let j = 0; j < len; j++) out[o + j] = f(a[ia + j]!, b[ib + j]!); return;
    }
  }
  if (db === 0) {
    const bv = b[ib]!;
    switch (op) {
      case Op.Add: for (let j = 0; j < len; j++) out[o + j] = a[ia + j * da]! + bv; return;
      case Op.Sub: for (let j = 0; j < len; j++) out[o + j] = a[ia + j * da]! - bv; return;
      case Op.Mul: for (let j = 0; j < len; j++) out[o + j] = a[ia + j * da]! * bv; return;
      case Op.Div: for (let j = 0; j < len; j++) out[o + j] = a[ia + j * da]! / bv; return;
      default: for (let j = 0; j < len; j++) out[o + j] = f(a[ia + j * da]!, bv); return;
    }
  }
  if (da === 0) {
    const av = a[ia]!;
    switch (op) {
      case Op.Add: for (let j = 0; j < len; j++) out[o + j] = av + b[ib + j * db]!; return;
      case Op.Sub: for (let j = 0; j < len; j++) out[o + j] = av - b[ib + j * db]!; return;
      case Op.Mul: for (let j = 0; j < len; j++) out[o + j] = av * b[ib + j * db]!; return;
      case Op.Div: for (let j = 0; j < len; j++) out[o + j] = av / b[ib + j * db]!; return;
      default: for (let j = 0; j < len; j++) out[o + j] = f(av, b[ib + j * db]!); return;
    }
  }
  switch (op) {
    case Op.Add: for (let j = 0; j < len; j++) out[o + j] = a[ia + j * da]! + b[ib + j * db]!; return;
    case Op.Sub: for (let j = 0; j < len; j++) out[o + j] = a[ia + j * da]! - b[ib + j * db]!; return;
    case Op.Mul: for (let j = 0; j < len; j++) out[o + j] = a[ia + j * da]! * b[ib + j * db]!; return;
    case Op.Div: for (let j = 0; j < len; j++) out[o + j] = a[ia + j * da]! / b[ib + j * db]!; return;
    default: for (let j = 0; j < len; j++) out[o + j] = f(a[ia + j * da]!, b[ib + j * db]!); return;
  }
}

/**
 * out[idx] = f(a[idx·sa], b[idx·sb]) over the broadcast output shape. `f` is BINARY_FN[op],
 * COMPARE_FN[op] or Math.imul (i32 mul); the four arithmetic ops get inlined loops.
 */
export function binaryInto(
  f: Fn2, a: TypedArray, b: TypedArray, out: TypedArray,
  shape: readonly number[], sa: readonly number[], sb: readonly number[],
): void {
  if (out.length === 0) return;
  const op = opOf(f);
  const { dims, strides } = coalesce(shape, [sa, sb]);
  const r = dims.length;
  const [ta, tb] = strides as [number[], number[]];
  const len = dims[r - 1]!;
  const da = ta[r - 1]!;
  const db = tb[r - 1]!;
  if (op !== Op.Other && out.length >= WASM_MIN_ELEMS && a instanceof Float32Array && b instanceof Float32Array && out instanceof Float32Array) {
    // Large f32 arithmetic in WebAssembly SIMD when the walk is one contiguous run against a
    // contiguous, scalar or per-row-repeated b (same bits, see elementwiseWasmF32).
    const wop = WASM_OP[op]!;
    if (r === 1 && da === 1 && (db === 1 || db === 0) && elementwiseWasmF32(wop, a, b, db === 1 ? 0 : 1, out, 1, len)) return;
    if (r === 2 && da === 1 && ta[0] === len && db === 1 && tb[0] === 0 && len >= WASM_MIN_ROW && elementwiseWasmF32(wop, a, b, 2, out, dims[0]!, len)) return;
  }
  if (r === 1) {
    row2(op, f, a, b, out, 0, len, 0, da, 0, db);
    return;
  }
  if (r === 2) {
    const rows = dims[0]!;
    const ra = ta[0]!;
    const rb = tb[0]!;
    for (let i = 0; i < rows; i++) row2(op, f, a, b, out, i * len, len, i * ra, da, i * rb, db);
    return;
  }
  // Rank ≥ 3 after coalescing: an odometer over the leading dims.
  const lead = r - 1;
  const idx = new Array<number>(lead).fill(0);
  const rows = out.length / len;
  let ia = 0;
  let ib = 0;
  for (let q = 0; q < rows; q++) {
    row2(op, f, a, b, out, q * len, len, ia, da, ib, db);
    for (let d = lead - 1; d >= 0; d--) {
      idx[d]!++;
      ia += ta[d]!;
      ib += tb[d]!;
      if (idx[d]! < dims[d]!) break;
      ia -= ta[d]! * dims[d]!;
      ib -= tb[d]! * dims[d]!;
      idx[d] = 0;
    }
  }
}

/** out[idx] = c[idx·sc] ≠ 0 ? a[idx·sa] : b[idx·sb], over the broadcast output shape. */
export function whereInto(
  c: TypedArray, a: TypedArray, b: TypedArray, out: TypedArray,
  shape: readonly number[], sc: readonly number[], sa: readonly number[], sb: readonly number[],
): void {
  if (out.length === 0) return;
  const { dims, strides } = coalesce(shape, [sc, sa, sb]);
  const r = dims.length;
  const [tc, ta, tb] = strides as [number[], number[], number[]];
  const len = dims[r - 1]!;
  const dc = tc[r - 1]!;
  const da = ta[r - 1]!;
  const db = tb[r - 1]!;
  const lead = r - 1;
  const idx = new Array<number>(lead).fill(0);
  const rows = out.length / len;
  let ic = 0;
  let ia = 0;
  let ib = 0;
  for (let q = 0; q < rows; q++) {
    const o = q * len;
    if (db === 0) {
      // where(mask, x, constant): the attention mask's shape
      const bv = b[ib]!;
      for (let j = 0; j < len; j++) out[o + j] = c[ic + j * dc] !== 0 ? a[ia + j * da]! : bv;
    } else if (da === 0) {
      const av = a[ia]!;
      for (let j = 0; j < len; j++) out[o + j] = c[ic + j * dc] !== 0 ? av : b[ib + j * db]!;
    } else {
      for (let j = 0; j < len; j++) out[o + j] = c[ic + j * dc] !== 0 ? a[ia + j * da]! : b[ib + j * db]!;
    }
    for (let d = lead - 1; d >= 0; d--) {
      idx[d]!++;
      ic += tc[d]!;
      ia += ta[d]!;
      ib += tb[d]!;
      if (idx[d]! < dims[d]!) break;
      ic -= tc[d]! * dims[d]!;
      ia -= ta[d]! * dims[d]!;
      ib -= tb[d]! * dims[d]!;
      idx[d] = 0;
    }
  }
}

/**
 * Walks a row-major output of `shape`, calling `row(outOffset, len, inOffsets, inInnerStrides)`
 * once per innermost row. Offsets of each input advance with its own strides. (Used by the
 * data-movement kernels' general case; the dims are coalesced first, so rows are as long as
 * the layout allows.)
 */
export function stridedWalk(
  shape: readonly number[],
  strides: readonly (readonly number[])[],
  row: (outOffset: number, len: number, offs: number[], inner: number[]) => void,
): void {
  const k = strides.length;
  const { dims, strides: st } = coalesce(shape, strides);
  const rank = dims.length;
  const len = dims[rank - 1]!;
  const inner = st.map((s) => s[rank - 1]!);
  const rows = len === 0 ? 0 : sizeOfPrefix(dims, rank - 1);
  const idx = new Array<number>(rank - 1).fill(0);
  const offs = new Array<number>(k).fill(0);
  for (let r = 0; r < rows; r++) {
    row(r * len, len, offs, inner);
    for (let d = rank - 2; d >= 0; d--) {
      idx[d]!++;
      for (let t = 0; t < k; t++) offs[t]! += st[t]![d]!;
      if (idx[d]! < dims[d]!) break;
      for (let t = 0; t < k; t++) offs[t]! -= st[t]![d]! * dims[d]!;
      idx[d] = 0;
    }
  }
}

function sizeOfPrefix(shape: readonly number[], n: number): number {
  let s = 1;
  for (let i = 0; i < n; i++) s *= shape[i]!;
  return s;
}
