/**
 * The f32 AdamW update on WebAssembly SIMD (v3; v2 is the JavaScript loop in optim.ts, v1 the
 * composed tensor ops in src/nn/optim.ts). Why: the JavaScript loop can only do f32 arithmetic
 * as float64 followed by Math.fround, one lane at a time, and was still a tenth of a moe-small
 * training step; f32x4 does four lanes per instruction, natively in f32.
 *
 * Bit-identical to v2 (and so to v1): every f32x4 add, sub, mul, div and sqrt is the IEEE
 * single-precision operation rounded to nearest even with subnormals kept, which is what
 * Math.fround of the float64 result gives for one such operation, in the same order; there is
 * no fused multiply-add. The decay factor is 1 when lr·wd = 0 (x·1 = x exactly, also for ±0,
 * ±Inf and NaN). NaN payloads are the one thing that may differ, and no dtype here can observe
 * them. A self-test against v2 at start-up (specials included) keeps a miscompiled module
 * from ever being used; the JS loop runs instead.
 *
 * Data moves through the module's own small memory in blocks of BLOCK elements (p, g, m, v in;
 * p, m, v out, with TypedArray.set): the caller's arrays are never written in place (see
 * backend.ts: arrays are immutable once written).
 */
import { FunctionBuilder, I32, ModuleBuilder, V128 } from './wasm/assembler.js';
import { wasmApi } from './wasm/runtime.js';
import type { AdamWScalars } from '../backend.js';
import { adamwInto } from './optim.js';

/** Elements per block: 4 arrays × 64 KiB, resident in L2 while the block runs. */
const BLOCK = 16384;
const SCALARS = 0; // 8 f32 constants, bytes 0..31
const P = 64;
const G = P + BLOCK * 4;
const M = G + BLOCK * 4;
const V = M + BLOCK * 4;
const PAGES = Math.ceil((V + BLOCK * 4) / 65536);

interface Runtime {
  heap: Float32Array;
  run: (bytes: number) => void;
}

let runtime: Runtime | null = null;
let tried = false;
let failure: string | null = null;

/** adamw(bytes): updates p, m, v of the block in place in the module's memory, 16 bytes a step. */
function emit(): Uint8Array {
  const mod = new ModuleBuilder({ module: 'env', name: 'mem', initial: PAGES, maximum: PAGES, shared: false });
  const f = new FunctionBuilder('adamw', [I32]);
  const nBytes = 0;
  const i = f.local(I32);
  const k = Array.from({ length: 8 }, () => f.local(V128));
  const [b1, c1, b2, c2, keep, sq2, eps, step] = k as [number, number, number, number, number, number, number, number];
  const g = f.local(V128);
  const m = f.local(V128);
  const v = f.local(V128);
  k.forEach((loc, j) => f.i32(SCALARS + 4 * j).v128Load32Splat().set(loc));
  f.forLt(i, () => f.i32(0), () => f.get(nBytes), 16, () => {
    f.get(i).v128Load(G).set(g);
    // m ← m·β1 + g·(1 − β1)
    f.get(i).v128Load(M).get(b1).f32x4Mul().get(g).get(c1).f32x4Mul().f32x4Add().set(m);
    f.get(i).get(m).v128Store(M);
    // v ← v·β2 + (g·g)·(1 − β2)
    f.get(i).v128Load(V).get(b2).f32x4Mul().get(g).get(g).f32x4Mul().get(c2).f32x4Mul().f32x4Add().set(v);
    f.get(i).get(v).v128Store(V);
    // p ← p·(1 − lr·wd) − (m / (√v / √bc2 + eps))·(lr / bc1)
    f.get(i)
      .get(i).v128Load(P).get(keep).f32x4Mul()
      .get(m).get(v).f32x4Sqrt().get(sq2).f32x4Div().get(eps).f32x4Add().f32x4Div()
      .get(step).f32x4Mul()
      .f32x4Sub()
      .v128Store(P);
  });
  mod.add(f);
  return mod.toBytes();
}

function init(): Runtime | null {
  if (tried) return runtime;
  tried = true;
  try {
    const WA = wasmApi();
    if (WA === null) throw new Error('this JavaScript engine has no WebAssembly');
    const bytes = emit();
    if (!WA.validate(bytes)) throw new Error('the generated module does not validate (WebAssembly SIMD unsupported?)');
    const memory = new WA.Memory({ initial: PAGES, maximum: PAGES });
    const inst = new WA.Instance(new WA.Module(bytes), { env: { mem: memory } });
    runtime = { heap: new Float32Array(memory.buffer), run: inst.exports.adamw as (bytes: number) => void };
    selfTest(runtime);
  } catch (e) {
    runtime = null;
    failure = `WebAssembly SIMD AdamW unavailable: ${e instanceof Error ? e.message : String(e)}`;
  }
  return runtime;
}

/** A block with specials and awkward magnitudes, checked bitwise against the JS loop. */
function selfTest(rt: Runtime): void {
  const n = 103;
  const pick = (i: number, salt: number): number => {
    const sp = [0, -0, Infinity, -Infinity, NaN, 1e-38, -1e-40, 3e38, 1];
    return i % 11 === salt % 11 ? sp[(i + salt) % sp.length]! : Math.sin(i * 1.7 + salt) * 10 ** ((i % 9) - 5);
  };
  const mk = (salt: number) => Float32Array.from({ length: n }, (_, i) => pick(i, salt));
  const [p, g, m, v] = [mk(1), mk(2), mk(3), mk(4).map(Math.abs)];
  for (const wd of [0, 0.01]) {
    const s: AdamWScalars = { beta1: 0.9, beta2: 0.999, eps: 1e-8, lr: 1e-3, weightDecay: wd, bc1: 1 - 0.9 ** 3, bc2: 1 - 0.999 ** 3 };
    const want = [new Float32Array(n), new Float32Array(n), new Float32Array(n)] as const;
    const got = [new Float32Array(n), new Float32Array(n), new Float32Array(n)] as const;
    adamwInto(p, g, m, v, ...want, s);
    compute(rt, p, g, m, v, ...got, s);
    for (let t = 0; t < 3; t++) {
      for (let i = 0; i < n; i++) {
        if (!Object.is(got[t]![i], want[t]![i])) throw new Error(`self-test differs from the JavaScript kernel (array ${t}, element ${i})`);
      }
    }
  }
}

function compute(
  rt: Runtime, p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array,
  pOut: Float32Array, mOut: Float32Array, vOut: Float32Array, s: AdamWScalars,
): void {
  const h = rt.heap;
  // The same constants, rounded to f32, as the JS loop and the composed ops use.
  h[0] = s.beta1;
  h[1] = 1 - s.beta1;
  h[2] = s.beta2;
  h[3] = 1 - s.beta2;
  h[4] = s.lr * s.weightDecay !== 0 ? 1 - s.lr * s.weightDecay : 1;
  h[5] = Math.sqrt(s.bc2);
  h[6] = s.eps;
  h[7] = s.lr / s.bc1;
  const n = p.length;
  for (let off = 0; off < n; off += BLOCK) {
    const len = Math.min(BLOCK, n - off);
    h.set(p.subarray(off, off + len), P / 4);
    h.set(g.subarray(off, off + len), G / 4);
    h.set(m.subarray(off, off + len), M / 4);
    h.set(v.subarray(off, off + len), V / 4);
    // Lanes past len hold stale values: computed, never copied out.
    rt.run(Math.ceil(len / 4) * 16);
    pOut.set(h.subarray(P / 4, P / 4 + len), off);
    mOut.set(h.subarray(M / 4, M / 4 + len), off);
    vOut.set(h.subarray(V / 4, V / 4 + len), off);
  }
}

/** Runs the update on WebAssembly SIMD; false (nothing written) when it is unavailable. */
export function adamwWasmInto(
  p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array,
  pOut: Float32Array, mOut: Float32Array, vOut: Float32Array, s: AdamWScalars,
): boolean {
  const rt = init();
  if (rt === null) return false;
  compute(rt, p, g, m, v, pOut, mOut, vOut, s);
  return true;
}

/** Whether the SIMD kernel runs here, and if not, why. */
export function wasmAdamWStatus(): { available: boolean; reason: string | null } {
  const rt = init();
  return { available: rt !== null, reason: failure };
}
