/**
 * WebGPU matmul: register-tiled, batched, with the transpose flags handled inside the kernel
 * (backward never materialises a transpose). Same contract as the CPU kernel
 * (src/tensor/cpu/kernels/matmul/index.ts): for every batch index, out[i, j] = Σ_p opA(i, p)·opB(p, j)
 * with opA(i, p) = transA ? A[p, i] : A[i, p] and opB(p, j) = transB ? B[j, p] : B[p, j];
 * the output [...batch, m, n] is fresh storage, k = 0 gives zeros, an empty output dispatches
 * nothing.
 *
 * How it is fast on the software adapter (Mesa llvmpipe, which runs 8 invocations as the lanes
 * of one 256-bit vector). There a storage-buffer load costs a small loop over the 8 lanes (exec
 * mask check, bounds check, scalar load, insert) whatever the addresses are, while arithmetic is
 * vectorised, so what matters is arithmetic per load. Each invocation computes a TM × TN = 16 × 16
 * tile of the output in registers (256 f32 accumulators; LLVM spills most of them to the stack,
 * which is still far cheaper than loads) and per step p loads TM values of op(A) and TN of op(B).
 * No workgroup memory: on llvmpipe it is the same lane loop plus barriers (README.md, "Layout":
 * a shared-memory tiled kernel managed 1.7 GFLOP/s there). Where a dimension allows it, an operand is
 * loaded as vec4 along its contiguous direction, which amortises the lane loop over 4 values:
 *
 *   layout  condition         A loads          B loads          lanes of a vector differ in
 *   A·B     n % 4 == 0        scalar           vec4 along n     columns
 *   Aᵀ·B    m % 4 == 0 == n%4 vec4 along m     vec4 along n     columns
 *   A·Bᵀ    k % 4 == 0        vec4 along k     vec4 along k     columns   (p unrolled by 4)
 *   Aᵀ·Bᵀ   m % 4 == 0 == k%4 vec4 along m     vec4 along k     rows      (p unrolled by 4)
 *   other   —                 scalar, strides from the uniforms (one shader for every layout)
 *
 * so at most five shaders (per tile configuration), sizes and strides in the uniforms. Lanes of
 * one vector take neighbouring tiles along the contiguous dimension of the operand whose
 * addresses differ between them (for Aᵀ·Bᵀ that is A, along m). Where one operand's loads are one
 * per tile row (or column), they are interleaved with that row's updates rather than all issued
 * first, which keeps fewer loaded values live (A·Bᵀ: 32 GFLOP/s with it, 24 without).
 * Measured on this machine's llvmpipe (2 vCPUs shared with other jobs, so ±20%; 1024³ and
 * 1000³, median of 5–7): aligned A·B 30–33 GFLOP/s, Aᵀ·B 35–38, A·Bᵀ 32–33, Aᵀ·Bᵀ 30–32; the
 * scalar path (1023³) 24–25 in every layout. 8×16, 16×32 and 32×16 tiles were slower or no
 * better; the workgroup size (16, 32, 64) made no difference on 2 cores, so it is 16, which
 * spreads small products over more llvmpipe threads on bigger machines.
 *
 * Batch invariance. Every output element is accumulated by exactly one invocation, in f32,
 * `acc += a * b` for p = 0, 1, ..., k-1 in order, starting from 0. Edge tiles clamp the row and
 * column indices they load (the clamped lanes compute values nobody stores) so every element,
 * wherever its tile falls, runs the same instructions on the same values; and the variants above
 * differ only in how values are fetched, not in the arithmetic. So row i of A·B is bitwise the
 * same as (row i of A)·B, whatever m is (test/tensor/webgpu/matmul.test.ts checks it).
 * Since v2 the tile height and width follow m and n when they are at most 8 (tilingFor: a decode
 * step has 8 rows, and a 16-row tile spent half its work on clamped rows; 1.4× on those shapes).
 * That keeps row invariance for the same reason: a tile's size only decides which invocation
 * computes an element, never the sequence of operations that produces it, and on llvmpipe every
 * tiling gives the same bits (test/tensor/webgpu/matmul-versions.test.ts compares them).
 *
 * Batch dims: collapsed (merged where both operands allow, size-1 dims dropped); up to 4 go to the
 * shader in the uniforms (coordinates decoded per tile), any further leading dims are looped on
 * the host with base offsets. Tiles are numbered flat (batch-major) over a 1-D grid.
 *
 * On a hardware adapter the same generator is used with 4 × 4 tiles (a GPU wants many
 * invocations, and 256 accumulators would spill to device memory).
 */
import type { MatmulParams } from '../../backend.js';
import { DTypeError, ValueError } from '../../errors.js';
import { getFlag } from '../../flags.js';
import { stridesOf } from '../../shape.js';
import type { GpuContext } from '../context.js';
import { Params } from '../params.js';
import type { WebGpuStorage } from '../storage.js';
import { collapse, groupsFor, main1d } from './common.js';

/** Tile configuration: each invocation computes tm × tn outputs; wg invocations per workgroup. */
export interface MatmulTiling {
  tm: number;
  tn: number;
  wg: number;
}

/** Software adapter (llvmpipe): big register tiles. */
export const TILING_SOFTWARE: MatmulTiling = { tm: 16, tn: 16, wg: 16 };
/** Hardware adapter: small tiles, many invocations. */
export const TILING_HARDWARE: MatmulTiling = { tm: 4, tn: 4, wg: 64 };

/** How an operand is fetched: scalar with strides from the uniforms, or vec4 along a dim. */
type Load = 'strided' | 'vec4';

interface Variant {
  transA: boolean;
  transB: boolean;
  /** 'strided': one shader for every layout; strides come from the uniforms. */
  la: Load;
  lb: Load;
  /** Lanes of one vector take neighbouring tiles along m (else along n). */
  alongM: boolean;
}

const BATCH_DIMS_IN_SHADER = 4;

function variantFor(p: MatmulParams): Variant {
  const { m, k, n, transA, transB } = p;
  const generic: Variant = { transA: false, transB: false, la: 'strided', lb: 'strided', alongM: false };
  if (!transA && !transB) return n % 4 === 0 ? { transA, transB, la: 'strided', lb: 'vec4', alongM: false } : generic;
  if (transA && !transB) return m % 4 === 0 && n % 4 === 0 ? { transA, transB, la: 'vec4', lb: 'vec4', alongM: false } : generic;
  if (!transA && transB) return k % 4 === 0 ? { transA, transB, la: 'vec4', lb: 'vec4', alongM: false } : generic;
  return m % 4 === 0 && k % 4 === 0 ? { transA, transB, la: 'vec4', lb: 'vec4', alongM: true } : generic;
}

/**
 * The WGSL for one variant and tiling. Uniforms: sizes, tile counts, base offsets, the scalar
 * path's strides (A index = i·sai + p·sap, B index = p·sbp + j·sbj) and the collapsed batch
 * shape with each operand's batch strides in elements.
 */
function shader(v: Variant, t: MatmulTiling): string {
  const { tm: TM, tn: TN, wg: WG } = t;
  const kA = v.la === 'vec4' && !v.transA; // A as vec4 along k
  const kB = v.lb === 'vec4' && v.transB; // B as vec4 along k
  const U = kA || kB ? 4 : 1; // p unrolled by 4 when an operand brings 4 consecutive p at once
  const L: string[] = [];
  L.push(`struct Params {
  m: u32, k: u32, n: u32, tilesM: u32,
  tilesN: u32, tiles: u32, rank: u32, oBase: u32,
  aBase: u32, bBase: u32, sai: u32, sap: u32,
  sbp: u32, sbj: u32, kStart: u32, kEnd: u32,
  shape: vec4<u32>, sta: vec4<u32>, stb: vec4<u32>,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> A: array<${v.la === 'vec4' ? 'vec4<f32>' : 'f32'}>;
@group(0) @binding(2) var<storage, read> B: array<${v.lb === 'vec4' ? 'vec4<f32>' : 'f32'}>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
${main1d(WG)}
  if (i >= p.tiles) { return; }
  let per = p.tilesM * p.tilesN;
  let batch = i / per;
  let tt = i - batch * per;
  ${v.alongM ? 'let tm = tt % p.tilesM; let tn = tt / p.tilesM;' : 'let tn = tt % p.tilesN; let tm = tt / p.tilesN;'}
  var rest = batch;
  var ao = p.aBase;
  var bo = p.bBase;
  for (var d = i32(p.rank) - 1; d >= 0; d--) {
    let s = p.shape[d];
    let c = rest % s;
    rest = rest / s;
    ao += c * p.sta[d];
    bo += c * p.stb[d];
  }
  let r0 = tm * ${TM}u;
  let c0 = tn * ${TN}u;`);

  // Per-operand setup and the expression of op(A)(r, p0 + u) / op(B)(p0 + u, c) inside the loop.
  const aExpr: string[][] = []; // [r][u]
  const bExpr: string[][] = []; // [c][u]
  const loadsA: string[] = [];
  const loadsB: string[] = [];
  if (v.la === 'strided') {
    for (let r = 0; r < TM; r++) L.push(`  let ia${r} = ao + min(r0 + ${r}u, p.m - 1u) * p.sai;`);
    for (let r = 0; r < TM; r++) {
      loadsA.push(`    let a${r} = A[ia${r} + qa];`);
      aExpr.push([`a${r}`]);
    }
  } else if (v.transA) {
    // A stored [k, m], m % 4 == 0: vec4 x holds rows 4x..4x+3 of column p of op(A).
    L.push('  let m4 = p.m / 4u;');
    for (let x = 0; x < TM / 4; x++) L.push(`  let ia${x} = ao / 4u + min(r0 / 4u + ${x}u, m4 - 1u);`);
    for (let r = 0; r < TM; r++) aExpr.push([]);
    for (let u = 0; u < U; u++) {
      for (let x = 0; x < TM / 4; x++) {
        loadsA.push(`    let a${x}_${u} = A[ia${x} + (q + ${u}u) * m4];`);
        for (let e = 0; e < 4; e++) aExpr[4 * x + e]!.push(`a${x}_${u}[${e}]`);
      }
    }
  } else {
    // A stored [m, k], k % 4 == 0: one vec4 holds 4 consecutive p of a row.
    for (let r = 0; r < TM; r++) L.push(`  let ia${r} = (ao + min(r0 + ${r}u, p.m - 1u) * p.k) / 4u;`);
    for (let r = 0; r < TM; r++) {
      loadsA.push(`    let a${r} = A[ia${r} + q / 4u];`);
      aExpr.push([0, 1, 2, 3].map((u) => `a${r}[${u}]`));
    }
  }
  if (v.lb === 'strided') {
    for (let c = 0; c < TN; c++) L.push(`  let ib${c} = bo + min(c0 + ${c}u, p.n - 1u) * p.sbj;`);
    for (let c = 0; c < TN; c++) {
      loadsB.push(`    let b${c} = B[ib${c} + qb];`);
      bExpr.push([`b${c}`]);
    }
  } else if (!v.transB) {
    // B stored [k, n], n % 4 == 0: vec4 x holds columns 4x..4x+3 of row p.
    L.push('  let n4 = p.n / 4u;');
    for (let x = 0; x < TN / 4; x++) L.push(`  let ib${x} = bo / 4u + min(c0 / 4u + ${x}u, n4 - 1u);`);
    for (let c = 0; c < TN; c++) bExpr.push([]);
    for (let u = 0; u < U; u++) {
      for (let x = 0; x < TN / 4; x++) {
        loadsB.push(`    let b${x}_${u} = B[ib${x} + (q + ${u}u) * n4];`);
        for (let e = 0; e < 4; e++) bExpr[4 * x + e]!.push(`b${x}_${u}[${e}]`);
      }
    }
  } else {
    // B stored [n, k], k % 4 == 0: one vec4 holds 4 consecutive p of a column of op(B).
    for (let c = 0; c < TN; c++) L.push(`  let ib${c} = (bo + min(c0 + ${c}u, p.n - 1u) * p.k) / 4u;`);
    for (let c = 0; c < TN; c++) {
      loadsB.push(`    let b${c} = B[ib${c} + q / 4u];`);
      bExpr.push([0, 1, 2, 3].map((u) => `b${c}[${u}]`));
    }
  }

  // k is split into chunks (see K_CHUNK): a later chunk resumes from the partial sums the
  // previous one stored, which continues each accumulator's sequence bit for bit.
  L.push('  let oo = p.oBase + batch * p.m * p.n;');
  for (let r = 0; r < TM; r++) for (let c = 0; c < TN; c++) L.push(`  var c${r}_${c} = 0.0;`);
  L.push('  if (p.kStart > 0u) {');
  for (let r = 0; r < TM; r++) {
    for (let c = 0; c < TN; c++) L.push(`    c${r}_${c} = C[oo + min(r0 + ${r}u, p.m - 1u) * p.n + min(c0 + ${c}u, p.n - 1u)];`);
  }
  L.push('  }');
  const strided = v.la === 'strided' || v.lb === 'strided';
  if (strided) L.push('  var qa = p.kStart * p.sap;\n  var qb = p.kStart * p.sbp;');
  // k % 4 == 0 whenever U == 4 (variantFor), and chunks are multiples of 4, so no remainder.
  L.push(`  for (var q = p.kStart; q < p.kEnd; q += ${U}u) {`);
  // The accumulation: every accumulator gets one `+= a * b` per p, in order p = 0, 1, ...
  // When one operand's loads are one per row (or column) of the tile, they are streamed: the
  // other operand is loaded first, then each row's load is followed by that row's updates, so
  // fewer loaded values are live at once. The order of the updates to one accumulator is the
  // same either way.
  const fma = (r: number, c: number, u: number) => `    c${r}_${c} += ${aExpr[r]![u]} * ${bExpr[c]![u]};`;
  const perRowA = v.la === 'strided' || kA;
  const perColB = v.lb === 'strided' || kB;
  if (perRowA) {
    L.push(...loadsB);
    for (let r = 0; r < TM; r++) {
      L.push(loadsA[r]!);
      for (let u = 0; u < U; u++) for (let c = 0; c < TN; c++) L.push(fma(r, c, u));
    }
  } else if (perColB) {
    L.push(...loadsA);
    for (let c = 0; c < TN; c++) {
      L.push(loadsB[c]!);
      for (let u = 0; u < U; u++) for (let r = 0; r < TM; r++) L.push(fma(r, c, u));
    }
  } else {
    L.push(...loadsA, ...loadsB);
    for (let u = 0; u < U; u++) for (let r = 0; r < TM; r++) for (let c = 0; c < TN; c++) L.push(fma(r, c, u));
  }
  if (strided) L.push('    qa += p.sap;\n    qb += p.sbp;');
  L.push('  }');
  for (let r = 0; r < TM; r++) {
    L.push(`  if (r0 + ${r}u < p.m) {`);
    L.push(`    let o = oo + (r0 + ${r}u) * p.n + c0;`);
    for (let c = 0; c < TN; c++) L.push(`    if (c0 + ${c}u < p.n) { C[o + ${c}u] = c${r}_${c}; }`);
    L.push('  }');
  }
  L.push('}');
  return L.join('\n');
}

/**
 * Mesa's llvmpipe silently stops a shader invocation's loops after 65535 iterations in total,
 * so k is walked in chunks of at most K_CHUNK (a multiple of 4) per dispatch.
 */
const K_CHUNK = 16384;

const shaders = new Map<string, string>();
function shaderFor(v: Variant, t: MatmulTiling): string {
  const key = `${+v.transA}${+v.transB}${v.la}${v.lb}${+v.alongM}:${t.tm}x${t.tn}x${t.wg}`;
  let s = shaders.get(key);
  if (s === undefined) {
    s = shader(v, t);
    shaders.set(key, s);
  }
  return s;
}

/**
 * The tiling this backend uses: small tiles on hardware; on the software adapter 16×16 register
 * tiles, and under 'webgpu.matmulVersion' 2 a tile only as tall / wide as the product needs when m or n is at most 8
 * (decoding: 8 rows; attention scores: a handful of keys), so no invocation computes rows or
 * columns nobody stores.
 */
export function tilingFor(b: GpuContext, p?: MatmulParams): MatmulTiling {
  if (b.info.path === 'hardware') return TILING_HARDWARE;
  if (getFlag('webgpu.matmulVersion') === 1 || p === undefined) return TILING_SOFTWARE;
  const fit = (d: number) => (d <= 4 ? 4 : d <= 8 ? 8 : 16);
  return { tm: fit(p.m), tn: fit(p.n), wg: TILING_SOFTWARE.wg };
}

/**
 * Batched op(A)·op(B) (see the file header). `tiling` overrides the adapter's default tile
 * configuration (tests use it to run the hardware configuration on the software adapter).
 */
export function matmul(b: GpuContext, a: WebGpuStorage, bm: WebGpuStorage, p: MatmulParams, tiling?: MatmulTiling): WebGpuStorage {
  if (a.dtype !== 'f32' || bm.dtype !== 'f32') {
    const bad = a.dtype !== 'f32' ? a.dtype : bm.dtype;
    throw new DTypeError(`matmul: dtype ${bad} is not supported on webgpu; use f32`);
  }
  const t = tiling ?? tilingFor(b, p);
  if (t.tm % 4 !== 0 || t.tn % 4 !== 0) throw new ValueError(`matmul: tile ${t.tm}x${t.tn} must be a multiple of 4 in both dims`);
  const { m, k, n } = p;
  const batch = p.batchShape.reduce((x, y) => x * y, 1);
  const size = batch * m * n;
  if (size === 0) return b.alloc('f32', 0);
  if (k === 0) return b.full(size, 0, 'f32') as WebGpuStorage;
  const out = b.alloc('f32', size);

  const v = variantFor(p);
  const code = shaderFor(v, t);
  const tilesM = Math.ceil(m / t.tm);
  const tilesN = Math.ceil(n / t.tn);
  // Strides of the scalar path: A index = i·sai + p·sap, B index = p·sbp + j·sbj.
  const sai = p.transA ? 1 : k;
  const sap = p.transA ? m : 1;
  const sbp = p.transB ? 1 : n;
  const sbj = p.transB ? k : 1;

  // Batch dims in elements, collapsed together with the (contiguous) output's.
  const aSt = p.aBatchStrides.map((s) => s * m * k);
  const bSt = p.bBatchStrides.map((s) => s * k * n);
  const oSt = stridesOf(p.batchShape).map((s) => s * m * n);
  const c = collapse(p.batchShape, [aSt, bSt, oSt]);
  const rank = c.shape.length;
  const inner = Math.max(0, rank - BATCH_DIMS_IN_SHADER);
  const innerShape = c.shape.slice(inner);
  const innerBatch = innerShape.reduce((x, y) => x * y, 1);
  const pad4 = (xs: number[], fill: number) => [...xs, fill, fill, fill, fill].slice(0, 4);
  const tiles = innerBatch * tilesM * tilesN;

  // Leading batch dims beyond the shader's 4 (rare): one dispatch per outer coordinate.
  const outerShape = c.shape.slice(0, inner);
  const outerCount = outerShape.reduce((x, y) => x * y, 1);
  for (let o = 0; o < outerCount; o++) {
    let rest = o;
    let aBase = 0;
    let bBase = 0;
    let oBase = 0;
    for (let d = inner - 1; d >= 0; d--) {
      const s = outerShape[d]!;
      const co = rest % s;
      rest = Math.floor(rest / s);
      aBase += co * c.strides[0]![d]!;
      bBase += co * c.strides[1]![d]!;
      oBase += co * c.strides[2]![d]!;
    }
    for (let k0 = 0; k0 < k; k0 += K_CHUNK) {
      const params = new Params()
        .u32(m, k, n, tilesM, tilesN, tiles, innerShape.length, oBase, aBase, bBase, sai, sap, sbp, sbj, k0, Math.min(k, k0 + K_CHUNK))
        .align16()
        .u32(...pad4(innerShape, 1))
        .u32(...pad4(c.strides[0]!.slice(inner), 0))
        .u32(...pad4(c.strides[1]!.slice(inner), 0));
      b.run({ code, buffers: [a, bm, out], params, groups: groupsFor(tiles, t.wg) });
    }
  }
  return out;
}
