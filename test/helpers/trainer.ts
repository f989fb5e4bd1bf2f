/**
 * The trainer's exact-profile invariant, shared by the CPU and WebGPU trainer tests: at N = 1
 * under `exact`, μ equals π_old bit for bit, so a step's staleness, training–inference KL and IS
 * weights are exactly 0, 0 and 1, and the routing agrees everywhere.
 */
import { expect } from 'vitest';

/** The step metrics the invariant is about (a StepMetrics, or a metrics.jsonl record). */
export interface ExactStepFields {
  ppoKl: number;
  klK1: number;
  klK3: number;
  isWeightMean: number;
  isWeightMax: number;
  routingDisagreement: number;
}

export function expectExactStep(m: ExactStepFields): void {
  expect(m.ppoKl).toBe(0);
  expect(m.klK1).toBe(0);
  expect(m.klK3).toBe(0);
  expect(m.isWeightMean).toBe(1);
  expect(m.isWeightMax).toBe(1);
  expect(m.routingDisagreement).toBe(0);
}
