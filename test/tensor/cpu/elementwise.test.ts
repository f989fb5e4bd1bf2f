/**
 * The CPU elementwise and copy kernels (src/tensor/cpu/kernels/elementwise/current.ts,
 * indexing/current.ts) against the reference (elementwise/reference.ts): every binary op, every
 * comparison, i32 multiplication, where() and every unary op, over broadcast shape pairs of
 * rank 0–5 with dims up to 5 (so coalescing meets size-1 dims, stretched dims and contiguous
 * runs in every arrangement), in f32, f64 and i32, with NaN, ±0 and ±Inf among the values:
 * outputs agree bit for bit. Also expand/permute against a direct index computation.
 */
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { BINARY_OPS, COMPARE_OPS, UNARY_OPS } from '../../../src/tensor/backend.js';
import { binaryInto, unaryInto, whereInto } from '../../../src/tensor/cpu/kernels/elementwise/current.js';
import { BINARY_FN, COMPARE_FN } from '../../../src/tensor/cpu/kernels/elementwise/ops.js';
import { binaryIntoV1, unaryIntoV1, whereIntoV1 } from '../../../src/tensor/cpu/kernels/elementwise/reference.js';
import { expandInto, permuteInto } from '../../../src/tensor/cpu/kernels/indexing/current.js';
import { broadcastShapes, broadcastStrides, stridesOf } from '../../../src/tensor/shape.js';
import { expectBitwise } from '../../helpers/assert.js';

type Shape = number[];
const RUNS = { numRuns: 300 } as const;

const shapeArb = (maxRank = 5, maxDim = 5) =>
  fc.array(fc.oneof(fc.constant(1), fc.integer({ min: 1, max: maxDim })), { minLength: 0, maxLength: maxRank });

/** k shapes that broadcast to a common output: drop leading dims, set dims to 1. */
function broadcastArb(k: number): fc.Arbitrary<Shape[]> {
  return shapeArb().chain((out) => {
    const derive = fc
      .tuple(fc.integer({ min: 0, max: out.length }), fc.array(fc.boolean(), { minLength: out.length, maxLength: out.length }))
      .map(([drop, ones]) => out.slice(drop).map((d, i) => (ones[i + drop] ? 1 : d)));
    return fc.tuple(...Array.from({ length: k }, () => derive)).map((s) => [...s, out]);
  });
}

const special = fc.constantFrom(NaN, 0, -0, Infinity, -Infinity, 1, -1, 2);
const valueArb = fc.oneof({ weight: 4, arbitrary: fc.double({ min: -5, max: 5, noNaN: true }) }, { weight: 1, arbitrary: special });

const size = (s: readonly number[]) => s.reduce((p, q) => p * q, 1);

function fill(dtype: 'f32' | 'f64' | 'i32', n: number, seed: number, vals: number[]): Float32Array | Float64Array | Int32Array {
  const a = dtype === 'f32' ? new Float32Array(n) : dtype === 'f64' ? new Float64Array(n) : new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = dtype === 'i32' ? Math.trunc((vals[(i + seed) % vals.length] ?? 0) * 1000) | 0 : (vals[(i + seed) % vals.length] ?? 0);
  return a;
}

const dtypeArb = fc.constantFrom('f32' as const, 'f64' as const, 'i32' as const);

describe('CPU elementwise kernels vs v1 (bit for bit)', () => {
  it('binary ops and comparisons over broadcast shapes', () => {
    const fns = [...BINARY_OPS.map((o) => BINARY_FN[o]), ...COMPARE_OPS.map((o) => COMPARE_FN[o]), Math.imul];
    fc.assert(
      fc.property(broadcastArb(2), dtypeArb, fc.integer({ min: 0, max: fns.length - 1 }), fc.array(valueArb, { minLength: 1, maxLength: 40 }), (shapes, dtype, fi, vals) => {
        const [sa, sb, out] = shapes as [Shape, Shape, Shape];
        const shape = broadcastShapes('t', sa, sb);
        const a = fill(dtype, size(sa), 0, vals);
        const b = fill(dtype, size(sb), 7, vals);
        const o1 = fill(dtype, size(shape), 0, [0]);
        const o2 = fill(dtype, size(shape), 0, [0]);
        const f = fns[fi]!;
        binaryInto(f, a, b, o1, shape, broadcastStrides(sa, shape), broadcastStrides(sb, shape));
        binaryIntoV1(f, a, b, o2, shape, broadcastStrides(sa, shape), broadcastStrides(sb, shape));
        expectBitwise(o1, o2, `binary #${fi} ${dtype} [${sa}] [${sb}] → [${out}]`);
      }),
      RUNS,
    );
  });

  it('where over three broadcast operands', () => {
    fc.assert(
      fc.property(broadcastArb(3), fc.constantFrom('f32' as const, 'f64' as const), fc.array(valueArb, { minLength: 1, maxLength: 40 }), (shapes, dtype, vals) => {
        const [sc, sa, sb] = shapes as [Shape, Shape, Shape];
        const shape = broadcastShapes('t', sc, sa, sb);
        const c = fill('f32', size(sc), 3, vals.map((v) => (v > 0 ? 1 : 0)));
        const a = fill(dtype, size(sa), 0, vals);
        const b = fill(dtype, size(sb), 5, vals);
        const o1 = fill(dtype, size(shape), 0, [0]);
        const o2 = fill(dtype, size(shape), 0, [0]);
        const st = (s: Shape) => broadcastStrides(s, shape);
        whereInto(c, a, b, o1, shape, st(sc), st(sa), st(sb));
        whereIntoV1(c, a, b, o2, shape, st(sc), st(sa), st(sb));
        expectBitwise(o1, o2, `where [${sc}] [${sa}] [${sb}]`);
      }),
      RUNS,
    );
  });

  it('every unary op, f32 and f64', () => {
    fc.assert(
      fc.property(fc.constantFrom(...UNARY_OPS), fc.constantFrom('f32' as const, 'f64' as const), fc.array(valueArb, { minLength: 1, maxLength: 60 }), (op, dtype, vals) => {
        const x = fill(dtype, vals.length, 0, vals);
        const o1 = fill(dtype, vals.length, 0, [0]);
        const o2 = fill(dtype, vals.length, 0, [0]);
        unaryInto(op, x, o1);
        unaryIntoV1(op, x, o2);
        expectBitwise(o1, o2, `${op} ${dtype}`);
      }),
      RUNS,
    );
  });

  it('expand and permute equal a direct index computation', () => {
    fc.assert(
      fc.property(broadcastArb(1), fc.array(valueArb, { minLength: 1, maxLength: 30 }), fc.integer({ min: 0, max: 1000 }), (shapes, vals, seed) => {
        const [sx] = shapes as [Shape];
        const shape = shapes[1]!;
        const x = fill('f64', size(sx), 0, vals);
        // expand x to the output shape
        const st = broadcastStrides(sx, shape);
        const got = new Float64Array(size(shape));
        expandInto(x, got, shape, st);
        const want = new Float64Array(size(shape));
        const os = stridesOf(shape);
        for (let i = 0; i < want.length; i++) {
          let src = 0;
          for (let d = 0; d < shape.length; d++) src += Math.floor(i / os[d]!) % shape[d]! * st[d]!;
          want[i] = x[src]!;
        }
        expectBitwise(got, want, `expand [${sx}] → [${shape}]`);
        // a permutation of the output shape's dims, applied to `want`
        const perm = shape.map((_, i) => i);
        for (let i = perm.length - 1; i > 0; i--) {
          const j = (seed * (i + 7)) % (i + 1);
          [perm[i], perm[j]] = [perm[j]!, perm[i]!];
        }
        const pShape = perm.map((p) => shape[p]!);
        const pGot = new Float64Array(want.length);
        permuteInto(want, pGot, shape, perm);
        const ps = stridesOf(pShape);
        const pWant = new Float64Array(want.length);
        for (let i = 0; i < pWant.length; i++) {
          let src = 0;
          for (let d = 0; d < pShape.length; d++) src += Math.floor(i / ps[d]!) % pShape[d]! * os[perm[d]!]!;
          pWant[i] = want[src]!;
        }
        expectBitwise(pGot, pWant, `permute [${shape}] by [${perm}]`);
      }),
      RUNS,
    );
  });
});

// relu on f32 and the comparisons take branch-free paths that work on bit patterns
// or on `+(x > y)`; these run them over every class of f32 bit pattern (denormals, the largest
// finite, ±inf, quiet and signalling NaNs of both signs, ±0) and random bits.
describe('branch-free relu and comparisons vs v1 on edge bit patterns', () => {
  const edges = [0, 1, 2, 0x007fffff, 0x00800000, 0x3f800000, 0x7f7fffff, 0x7f800000, 0x7f800001, 0x7fa00000,
    0x7fc00000, 0x7fffffff, 0x80000000, 0x80000001, 0x807fffff, 0xbf800000, 0xff7fffff, 0xff800000, 0xff800001,
    0xffc00000, 0xffffffff];
  const bitsArb = fc.array(fc.oneof(fc.constantFrom(...edges), fc.integer({ min: 0, max: 0xffffffff })), { minLength: 1, maxLength: 64 });
  const f32FromBits = (bits: number[]) => new Float32Array(Uint32Array.from(bits).buffer);

  it('relu f32: the same bits as v1', () => {
    fc.assert(
      fc.property(bitsArb, (bits) => {
        const x = f32FromBits(bits);
        const o1 = new Float32Array(x.length);
        const o2 = new Float32Array(x.length);
        unaryInto('relu', x, o1);
        unaryIntoV1('relu', x, o2);
        expectBitwise(new Int32Array(o1.buffer), new Int32Array(o2.buffer), `relu [${bits.map((b) => b.toString(16))}]`);
      }),
      RUNS,
    );
  });

  it('comparisons, contiguous and against a broadcast scalar: the same bits as v1', () => {
    fc.assert(
      fc.property(bitsArb, bitsArb, fc.constantFrom(...COMPARE_OPS), fc.boolean(), (ba, bb, op, scalar) => {
        const a = f32FromBits(ba);
        const b = scalar ? f32FromBits(bb.slice(0, 1)) : f32FromBits(Array.from({ length: ba.length }, (_, i) => bb[i % bb.length]!));
        const shape = [a.length];
        const sb = scalar ? [0] : [1];
        const o1 = new Float32Array(a.length);
        const o2 = new Float32Array(a.length);
        binaryInto(COMPARE_FN[op], a, b, o1, shape, [1], sb);
        binaryIntoV1(COMPARE_FN[op], a, b, o2, shape, [1], sb);
        expectBitwise(new Int32Array(o1.buffer), new Int32Array(o2.buffer), `${op}`);
      }),
      RUNS,
    );
  });
});

type Fn2Name = 'add' | 'sub' | 'mul' | 'div' | (typeof COMPARE_OPS)[number];

// Large f32 add/sub/mul/div and comparisons run in WebAssembly SIMD (elementwiseWasmF32, from 4096 elements):
// contiguous, scalar and row-broadcast b, lengths that are not multiples of 4, values with
// NaN, ±0, ±Inf, denormals and overflowing products. Non-NaN results must have v1's bits;
// NaN results only stay NaN (Object.is), as the header of gemm-f32.ts's map2 states.
describe('large f32 arithmetic (WebAssembly path) vs v1', () => {
  const specials = [NaN, 0, -0, Infinity, -Infinity, 1e-45, -3e-39, 3.4e38, -3.4e38, 1, -1, 0.1];
  it('every arithmetic op and comparison, contiguous / scalar / per-row b', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 80 }), fc.integer({ min: 64, max: 130 }), fc.constantFrom<Fn2Name>('add', 'sub', 'mul', 'div', ...COMPARE_OPS),
        fc.constantFrom(0, 1, 2), fc.integer({ min: 1, max: 1 << 30 }),
        (rows0, len, op, bKind, seed) => {
          const rows = Math.max(rows0, Math.ceil(4096 / len));
          const n = rows * len;
          let s = seed;
          const next = () => {
            s = (Math.imul(s, 1103515245) + 12345) >>> 0;
            return s % 10 === 0 ? specials[s % specials.length]! : (s / 2 ** 32 - 0.5) * 2 ** ((s % 40) - 20);
          };
          const a = Float32Array.from({ length: n }, next);
          const b = Float32Array.from({ length: bKind === 0 ? n : bKind === 1 ? 1 : len }, next);
          const shape = [rows, len];
          const sb = bKind === 0 ? [len, 1] : bKind === 1 ? [0, 0] : [0, 1];
          const o1 = new Float32Array(n);
          const o2 = new Float32Array(n);
          const f = op in COMPARE_FN ? COMPARE_FN[op as keyof typeof COMPARE_FN] : BINARY_FN[op as 'add'];
          binaryInto(f, a, b, o1, shape, [len, 1], sb);
          binaryIntoV1(f, a, b, o2, shape, [len, 1], sb);
          expectBitwise(o1, o2, `${op} bKind ${bKind} [${rows}, ${len}]`);
        },
      ),
      { numRuns: 100 },
    );
  });
});
