/**
 * RoutingTrace: layout, slicing by sequence and by position (and concat as their inverse), the
 * JSON round trip, equality, agreement as sets, and the typed errors for traces that do not
 * fit (ReplayMismatchError naming the fields) or are malformed.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ReplayMismatchError, ShapeError, tensor } from '../../src/index.js';
import { RoutingTrace, TRACE_LAYOUT, traceShapeDiff } from '../../src/moe/index.js';

/** A random valid trace: per token, k distinct ids in [0, E). */
const traceArb = fc
  .record({
    numLayers: fc.integer({ min: 1, max: 3 }),
    batch: fc.integer({ min: 1, max: 4 }),
    seqLen: fc.integer({ min: 1, max: 5 }),
    nExperts: fc.integer({ min: 1, max: 6 }),
  })
  .chain((s) => fc.record({ s: fc.constant(s), k: fc.integer({ min: 1, max: s.nExperts }) }))
  .chain(({ s, k }) =>
    fc
      .array(fc.array(fc.shuffledSubarray(Array.from({ length: s.nExperts }, (_, i) => i), { minLength: k, maxLength: k }), {
        minLength: s.batch * s.seqLen, maxLength: s.batch * s.seqLen,
      }), { minLength: s.numLayers, maxLength: s.numLayers })
      .map((layers) => RoutingTrace.fromLayers({ batch: s.batch, seqLen: s.seqLen, k, nExperts: s.nExperts }, layers.map((l) => l.flat()))),
  );

function example(): RoutingTrace {
  // 2 layers, B = 2, T = 3, k = 2, E = 4
  return RoutingTrace.fromLayers({ batch: 2, seqLen: 3, k: 2, nExperts: 4 }, [
    [0, 1, 2, 3, 1, 0, 3, 2, 0, 2, 1, 3],
    [3, 0, 1, 2, 2, 3, 0, 1, 1, 0, 2, 1],
  ]);
}

describe('RoutingTrace', () => {
  it('layout: layer(l)[(b·T + t)·k + j]; choices(l, b, t)', () => {
    const tr = example();
    expect(tr.layout).toBe(TRACE_LAYOUT);
    expect(tr.shape).toEqual({ numLayers: 2, batch: 2, seqLen: 3, k: 2, nExperts: 4 });
    expect(tr.numTokens).toBe(6);
    expect(tr.layer(0)).toBeInstanceOf(Int32Array);
    expect(tr.choices(0, 1, 0)).toEqual([3, 2]);
    expect(tr.choices(1, 0, 2)).toEqual([2, 3]);
    expect(() => tr.layer(2)).toThrow(ShapeError);
  });

  it('sliceSequences / sliceTokens pick the right ids, and concat along the same axis inverts them', () => {
    fc.assert(
      fc.property(traceArb, fc.nat(), fc.nat(), (tr, a, b) => {
        const cutB = a % (tr.batch + 1);
        const cutT = b % (tr.seqLen + 1);
        const s0 = tr.sliceSequences(0, cutB);
        const s1 = tr.sliceSequences(cutB);
        expect(s0.batch + s1.batch).toBe(tr.batch);
        for (let l = 0; l < tr.numLayers; l++) {
          for (let bb = 0; bb < s1.batch; bb++) {
            for (let t = 0; t < tr.seqLen; t++) expect(s1.choices(l, bb, t)).toEqual(tr.choices(l, cutB + bb, t));
          }
        }
        expect(RoutingTrace.concat([s0, s1], 'batch').equals(tr)).toBe(true);
        const t0 = tr.sliceTokens(0, cutT);
        const t1 = tr.sliceTokens(cutT);
        for (let l = 0; l < tr.numLayers; l++) {
          for (let bb = 0; bb < tr.batch; bb++) {
            for (let t = 0; t < t1.seqLen; t++) expect(t1.choices(l, bb, t)).toEqual(tr.choices(l, bb, cutT + t));
          }
        }
        expect(RoutingTrace.concat([t0, t1], 'seq').equals(tr)).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it('JSON round trip (object and text) gives an equal trace', () => {
    fc.assert(
      fc.property(traceArb, (tr) => {
        const back = RoutingTrace.fromJSON(JSON.parse(JSON.stringify(tr)));
        expect(back.equals(tr)).toBe(true);
        expect(RoutingTrace.fromJSON(JSON.stringify(tr.toJSON())).equals(tr)).toBe(true);
        expect(back.shape).toEqual(tr.shape);
      }),
      { numRuns: 60 },
    );
  });

  it('equals is order-sensitive; agreement compares each token-layer choice as a set', () => {
    const tr = example();
    const swapped = RoutingTrace.fromLayers(tr, [tr.layer(0).map((_, i, a) => a[i ^ 1]!), tr.layer(1)]);
    expect(swapped.equals(tr)).toBe(false);
    expect(swapped.agreement(tr)).toBe(1);
    // change one token in layer 1: 1 of 12 token-layer choices disagrees
    const l1 = tr.layer(1).slice();
    l1[4] = 0; // token 2 of layer 1: {2, 3} → {0, 3}
    const one = RoutingTrace.fromLayers(tr, [tr.layer(0), l1]);
    expect(one.agreementByLayer(tr)).toEqual([1, 5 / 6]);
    expect(one.agreement(tr)).toBeCloseTo(11 / 12, 15);
    expect(tr.agreement(tr)).toBe(1);
  });

  it('checkReplay / agreement / concat of traces that do not fit throw ReplayMismatchError naming every differing field', () => {
    const tr = example();
    const ok = { numLayers: 2, batch: 2, seqLen: 3, k: 2, nExperts: 4 };
    expect(() => tr.checkReplay(ok)).not.toThrow();
    expect(() => tr.checkReplay({ ...ok, numLayers: 3 })).toThrow(/numLayers 2 ≠ 3/);
    expect(() => tr.checkReplay({ ...ok, batch: 1, seqLen: 6 })).toThrow(/batch 2 ≠ 1; seqLen 3 ≠ 6/);
    expect(() => tr.checkReplay({ ...ok, k: 1 })).toThrow(ReplayMismatchError);
    expect(() => tr.checkReplay({ ...ok, nExperts: 8 })).toThrow(/nExperts 4 ≠ 8/);
    expect(traceShapeDiff({ ...ok, layout: 'seq,layer,k' }, ok)).toEqual([`layout 'seq,layer,k' ≠ '${TRACE_LAYOUT}'`]);
    expect(() => tr.agreement(tr.sliceSequences(0, 1))).toThrow(ReplayMismatchError);
    expect(() => RoutingTrace.concat([tr, tr.sliceTokens(0, 2)], 'batch')).toThrow(/seqLen 2 ≠ 3/);
  });

  it('malformed traces: wrong lengths, ids out of range, foreign layout or format', () => {
    expect(() => RoutingTrace.fromLayers({ batch: 1, seqLen: 2, k: 2, nExperts: 4 }, [[0, 1, 2]])).toThrow(/must be an Int32Array of 4 ids/);
    expect(() => RoutingTrace.fromLayers({ batch: 1, seqLen: 1, k: 2, nExperts: 4 }, [[0, 4]])).toThrow(/outside 0..3/);
    expect(() => RoutingTrace.fromLayers({ batch: 1, seqLen: 1, k: 5, nExperts: 4 }, [[0, 1, 2, 3, 0]])).toThrow(ShapeError);
    const j = example().toJSON();
    expect(() => RoutingTrace.fromJSON({ ...j, layout: 'seq,layer,k' })).toThrow(ReplayMismatchError);
    expect(() => RoutingTrace.fromJSON({ ...j, format: 'other' as never })).toThrow(ShapeError);
    expect(() => RoutingTrace.fromJSON({ ...j, numLayers: 3 })).toThrow(ShapeError);
    expect(() => RoutingTrace.fromJSON({ ...j, layers: [j.layers[0]!, [0.5]] })).toThrow(ShapeError);
  });

  it('a trace built from CPU i32 tensors holds host arrays; layers are copies of them', () => {
    const t = tensor([0, 1, 1, 0], { dtype: 'i32' });
    const tr = new RoutingTrace({ batch: 1, seqLen: 2, k: 2, nExperts: 2 }, [t]);
    expect(tr.isResolved).toBe(true);
    expect(Array.from(tr.layer(0))).toEqual([0, 1, 1, 0]);
  });
});
