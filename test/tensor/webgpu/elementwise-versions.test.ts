/**
 * Elementwise kernels v2 (vec4 flat path with broadcast scalars, rank-specialised strided path;
 * src/tensor/webgpu/kernels/elementwise/current.ts) against v1 (v1.ts), through the
 * public API: v2 only changes how values are fetched, so every output must equal v1's bit for bit (NaN payloads aside,
 * compared as bits too): every unary op, binary ops with broadcasting and 0-d scalars, i32
 * arithmetic, comparisons, where, clamp, casts, permute and expand, at sizes that are not
 * multiples of 4.
 */
import fc from 'fast-check';
import { expect, it } from 'vitest';
import { roundBf16, roundFp8e4m3, tensor, where, withFlags, type Tensor } from '../../../src/index.js';
import { broadcastPairArb, shapeArb, sizeOf } from '../../helpers/arbitraries.js';
import { describeGpu } from '../../helpers/gpu.js';

/** Runs f under kernel version v and returns the raw bits of its result. */
async function bits(v: 1 | 2, f: () => Tensor): Promise<number[]> {
  // the kernels are chosen when an op is called, so only the call needs the flag
  const t = withFlags({ 'webgpu.elementwiseVersion': v }, f);
  const a = await t.toArray();
  t.dispose();
  return Array.from(a instanceof Float32Array ? new Uint32Array(a.buffer, a.byteOffset, a.length) : a);
}

async function same(what: string, f: () => Tensor): Promise<void> {
  const [a, b] = [await bits(1, f), await bits(2, f)];
  expect(b, what).toEqual(a);
}

const vals = (n: number, lo = -4, hi = 4) =>
  fc.array(fc.oneof({ weight: 6, arbitrary: fc.double({ min: lo, max: hi, noNaN: true }) }, { weight: 1, arbitrary: fc.constantFrom(0, -0, 1e-40, 88, -88) }), {
    minLength: n,
    maxLength: n,
  });

const UNARY: ((x: Tensor) => Tensor)[] = [
  (x) => x.neg(), (x) => x.exp(), (x) => x.log(), (x) => x.sqrt(), (x) => x.rsqrt(), (x) => x.abs(), (x) => x.tanh(),
  (x) => x.sigmoid(), (x) => x.relu(), (x) => x.silu(), (x) => x.gelu(), (x) => x.gelu('tanh'), (x) => x.softplus(),
  (x) => x.erf(), (x) => x.log1p(), (x) => x.expm1(), (x) => x.sin(), (x) => x.cos(), (x) => x.square(), (x) => x.reciprocal(),
  (x) => x.clamp(-1, 0.5), (x) => roundBf16(x), (x) => roundFp8e4m3(x), (x) => x.to('i32'),
];

describeGpu('webgpu elementwise v2 equals v1 bit for bit', () => {
  it('every unary op, any size (vec4 tails included)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 23 }).chain((n) => vals(n)), async (v) => {
        const x = tensor(Float32Array.from(v), { device: 'webgpu' });
        for (const [k, f] of UNARY.entries()) await same(`unary #${k} of ${v.length}`, () => f(x));
        x.dispose();
      }),
      { numRuns: 15 },
    );
  });

  it('binary ops and comparisons with broadcasting and 0-d scalar operands, f32 and i32', async () => {
    await fc.assert(
      fc.asyncProperty(
        broadcastPairArb(4, 4).chain(([sa, sb]) => fc.tuple(fc.constant(sa), fc.constant(sb), vals(sizeOf(sa)), vals(sizeOf(sb), 0.5, 3), fc.double({ min: -3, max: 3, noNaN: true }))),
        async ([sa, sb, va, vb, s]) => {
          const a = tensor(Float32Array.from(va), { shape: sa, device: 'webgpu' });
          const b = tensor(Float32Array.from(vb), { shape: sb, device: 'webgpu' });
          const ai = a.mul(100).to('i32');
          const bi = b.mul(100).to('i32');
          const what = `[${sa}] op [${sb}]`;
          await same(`add ${what}`, () => a.add(b));
          await same(`sub ${what}`, () => b.sub(a));
          await same(`mul ${what}`, () => a.mul(b));
          await same(`div ${what}`, () => a.div(b));
          await same(`pow ${what}`, () => b.pow(a));
          await same(`maximum ${what}`, () => a.maximum(b));
          await same(`scalar mul ${what}`, () => a.mul(s));
          await same(`scalar rsub ${what}`, () => a.neg().add(s));
          await same(`gt ${what}`, () => a.gt(b));
          await same(`eq ${what}`, () => a.eq(a));
          await same(`where ${what}`, () => where(a.gt(0), a, b));
          await same(`i32 add ${what}`, () => ai.add(bi));
          await same(`i32 mul scalar ${what}`, () => ai.mul(3));
          await same(`i32 minimum ${what}`, () => ai.minimum(bi));
          for (const t of [a, b, ai, bi]) t.dispose();
        },
      ),
      { numRuns: 40 },
    );
  });

  it('broadcasts along rows and columns whose inner dim is a multiple of 4 (the vec4 strided path)', async () => {
    const pairs: [number[], number[]][] = [
      [[3, 8], [8]], [[3, 8], [3, 1]], [[2, 3, 4], [2, 1, 4]], [[5, 2, 12], [5, 1, 1]], [[4, 4], [4, 1]], [[2, 8, 4], [8, 1]],
    ];
    const r = new Float32Array(4096).map((_, i) => Math.sin(i * 12.9898) * 3);
    for (const [sa, sb] of pairs) {
      const a = tensor(r.slice(0, sizeOf(sa)), { shape: sa, device: 'webgpu' });
      const b = tensor(r.slice(100, 100 + sizeOf(sb)), { shape: sb, device: 'webgpu' });
      await same(`add [${sa}] + [${sb}]`, () => a.add(b));
      await same(`sub [${sb}] - [${sa}]`, () => b.sub(a));
      await same(`where [${sa}], [${sb}]`, () => where(a.gt(0), b, a));
      if (sb.length === sa.length) await same(`transposed [${sa}] * [${sb}]`, () => a.transpose(0, -1).mul(b.transpose(0, -1)));
      a.dispose();
      b.dispose();
    }
  });

  it('permute, transpose and expand', async () => {
    await fc.assert(
      fc.asyncProperty(shapeArb(1, 5, 5).chain((s) => fc.tuple(fc.constant(s), vals(sizeOf(s)), fc.shuffledSubarray(s.map((_, i) => i), { minLength: s.length }))), async ([s, v, perm]) => {
        const x = tensor(Float32Array.from(v), { shape: s, device: 'webgpu' });
        await same(`permute [${s}] by ${perm}`, () => x.permute(perm));
        await same(`transpose [${s}]`, () => x.transpose(0, s.length - 1));
        await same(`expand [${s}]`, () => x.unsqueeze(0).expand([3, ...s]));
        x.dispose();
      }),
      { numRuns: 30 },
    );
  });
});
