/**
 * Shared fast-check arbitraries for the op property suites: shapes of rank 0–4 with size-1
 * dims, broadcast-compatible shape pairs, and values (two families: valueArb and the more
 * uniform spreadValueArb) that can be kept away from an op's kinks (so central differences are
 * valid).
 */
import fc from 'fast-check';

export type Shape = number[];

/** A shape of rank in [minRank, maxRank] with dims in [1, maxDim] (size-1 dims are common). */
export function shapeArb(minRank = 0, maxRank = 4, maxDim = 3): fc.Arbitrary<Shape> {
  return fc.array(fc.oneof(fc.constant(1), fc.integer({ min: 1, max: maxDim })), { minLength: minRank, maxLength: maxRank });
}

/**
 * Two shapes that broadcast together: start from an output shape, then for each operand drop
 * some leading dims and set some dims to 1.
 */
export function broadcastPairArb(maxRank = 4, maxDim = 3): fc.Arbitrary<[Shape, Shape]> {
  return shapeArb(0, maxRank, maxDim).chain((out) => {
    const derive = fc
      .tuple(fc.integer({ min: 0, max: out.length }), fc.array(fc.boolean(), { minLength: out.length, maxLength: out.length }))
      .map(([drop, ones]) => out.slice(drop).map((d, i) => (ones[i + drop] ? 1 : d)));
    return fc.tuple(derive, derive);
  });
}

export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((p, q) => p * q, 1);
}

/**
 * Finite doubles in [min, max]. fc.double alone favours the bounds, 0 and subnormals, so four
 * draws in five are spread evenly over the range and the fifth keeps those edge cases.
 */
export function valueArb(min = -3, max = 3): fc.Arbitrary<number> {
  const even = fc.integer({ min: 0, max: 2 ** 30 }).map((i) => min + ((max - min) * i) / 2 ** 30);
  const edgy = fc.double({ min, max, noNaN: true, noDefaultInfinity: true });
  return fc.oneof({ weight: 4, arbitrary: even }, { weight: 1, arbitrary: edgy });
}

/** Values at least `gap` away from every point in `kinks` (e.g. 0 for relu/abs). */
export function valueAwayArb(kinks: readonly number[], gap = 1e-3, min = -3, max = 3): fc.Arbitrary<number> {
  return valueArb(min, max).filter((v) => kinks.every((k) => Math.abs(v - k) > gap));
}

/**
 * Values spread over the whole of [min, max]: three draws in four are uniform (fc.noBias, free
 * of fast-check's pull toward the ends of an integer range), the fourth a valueArb draw with
 * its edge cases. A different distribution from valueArb: the elementwise suites draw from
 * this family, the others from valueArb.
 */
export function spreadValueArb(min = -3, max = 3): fc.Arbitrary<number> {
  const uniform = fc.noBias(fc.integer({ min: 0, max: 2 ** 30 })).map((k) => Math.min(max, min + ((max - min) * k) / 2 ** 30));
  return fc.oneof({ arbitrary: uniform, weight: 3 }, { arbitrary: valueArb(min, max), weight: 1 });
}

/** spreadValueArb kept more than `gap` away from every kink (relu/abs at 0, clamp bounds, ...). */
export function spreadValueAwayArb(kinks: readonly number[], gap = 1e-3, min = -3, max = 3): fc.Arbitrary<number> {
  return fc.oneof(
    { arbitrary: spreadValueArb(min, max).filter((v) => kinks.every((k) => Math.abs(v - k) > gap)), weight: 3 },
    { arbitrary: valueAwayArb(kinks, gap, min, max), weight: 1 },
  );
}

/** Arrays of `n` values. */
export function valuesArb(n: number, v: fc.Arbitrary<number> = valueArb()): fc.Arbitrary<number[]> {
  return fc.array(v, { minLength: n, maxLength: n });
}

/** A shape with matching values. */
export function shapedArb(shape: fc.Arbitrary<Shape>, v: fc.Arbitrary<number> = valueArb()): fc.Arbitrary<{ shape: Shape; values: number[] }> {
  return shape.chain((s) => valuesArb(sizeOf(s), v).map((values) => ({ shape: s, values })));
}

/**
 * n values whose pairwise gaps are at least `gap` (no ties: max/min/topk stay differentiable).
 * Built from distinct grid points rather than by filtering, which stalls for larger n.
 */
export function distinctValuesArb(n: number, gap = 1e-2, min = -3, max = 3): fc.Arbitrary<number[]> {
  const slots = Math.floor((max - min) / gap);
  if (slots < n) throw new RangeError(`distinctValuesArb: ${n} values with gap ${gap} do not fit in [${min}, ${max}]`);
  return fc.uniqueArray(fc.integer({ min: 0, max: slots }), { minLength: n, maxLength: n }).map((is) => is.map((i) => min + i * gap));
}

/** Runs for property tests: enough to find bugs, small enough for 2 CI cores. */
export const RUNS = { numRuns: 60 } as const;
