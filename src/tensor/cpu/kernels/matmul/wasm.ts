/**
 * The f32 CPU matmul on WebAssembly SIMD (the "wasm" version; reference.ts holds the naive
 * loops, js.ts the JS register-tiled kernel). It owns the generated module
 * (../../wasm/gemm-f32.ts), one WebAssembly.Memory that operands are copied into, and the worker
 * threads (../../workers/pool.ts) that share that memory. index.ts decides when to call it.
 * One file of ~460 lines because the memory layout, the thread split and the calls into the
 * module all depend on one set of offsets.
 *
 * Why it exists: the target is >= 40 GFLOP/s at 1024^3 on two cores; scalar JS stops near
 * 6. Numerics are f32 accumulation in the fixed order p = 0..k-1 (see gemm-f32.ts), bitwise
 * equal to matmulNaiveF32 whatever the thread count, split, blocking or edge handling, so the
 * result never depends on which path or how many threads ran it.
 *
 * Per call: A and B are copied into the memory as they are (TypedArray.set, a memcpy), packed
 * there by WebAssembly, and C is copied out. Above parallelMinMacs, idle workers are woken
 * and share the job with the calling thread unit by unit (see gemm-f32.ts): the caller
 * never waits for a worker to start, only for units a worker has already begun. A worker
 * still busy with an earlier job (it woke late) is simply not asked, and job records are used
 * in turn so it never sees a newer job. The memory grows on demand to the largest product
 * seen and is reused; it is not returned to the system (WebAssembly memories cannot shrink),
 * see releaseWasmMatmul().
 *
 * Threads default to the available cores, as BLAS libraries do. On a machine whose cores are
 * all busy with other processes a second thread has nothing to run on and measured 0.8-1.1x
 * (MLP step 9.7 ms on one thread vs 11.8 ms on two at load average 6-7 on 2 cores; 1024^3
 * about equal); STABLERL_CPU_THREADS=1 or configureWasmMatmul({ threads: 1 }) is then the
 * better setting. On a quieter machine two threads ran 1024^3 at 94-100 GFLOP/s against 50.
 *
 * This kernel (with ../../wasm/gemm-f32.ts) against js.ts, from bench/kernels/matmul-kernel.mjs:
 * the versions interleaved in one process, median of 9 samples, f32 operands, same machine type,
 * node v20.20.2. The machine was heavily loaded by other jobs (load average 8.5-10.5 on 2
 * cores), so the second thread had no free core and absolute figures are about half of what
 * an idle machine gives; the ratios are what this run can vouch for. GFLOP/s:
 *
 *   m = k = n   layout   js.ts     wasm 1 thread wasm 2 threads
 *   256         A.B        5.6       48.6          50.1
 *   512         A.B        3.8       46.4          33.3
 *   1024        A.B        5.8       49.3          49.0
 *   1024        At.B       2.6       22.8          22.4
 *   1024        A.Bt       2.7       22.5          22.1
 *   1024        At.Bt      2.2       19.5          22.0
 *
 * In quieter moments (load average about 4) the same kernel ran 1024^3 at 50-52 GFLOP/s on
 * one thread in every layout; the micro-kernel alone reaches about 50 GFLOP/s per core (16 flop/cycle
 * peak for 128-bit mul + add on two pipes each). Small and thin shapes, microseconds per
 * call (median; js = js.ts with f64 accumulation; now = matmulInto), same loaded run:
 *
 *   m x k x n          layout   js       now     (25-sample rerun of the 1 x 64 x 64 rows:
 *   1 x 64 x 64        A.B      2.85     1.85     js 2.3, now 1.3-1.4 (A.B) / 1.7 (A.Bt))
 *   8 x 64 x 64        A.Bt     20.0     7.51
 *   256 x 64 x 256     A.Bt     1579     178
 *   2048 x 64 x 128    A.B      14144    1862
 *   1 x 1024 x 1024    A.B      686      454
 *   1 x 1024 x 1024    A.Bt     1200     894     (25-sample rerun: 600 vs 426)
 *   8 x 1024 x 1024    A.B      8390     3174
 *   256 x 512 x 512    A.Bt     43559    6958
 *   256 x 512 x 10     A.Bt     719      128
 *
 * js.ts in f32 mode (the fallback) runs about 2.2x slower than in f64 mode.
 *
 * The transposed layouts are not slower. The At.B / A.Bt / At.Bt rows of the 1024 table
 * above (about 2x below A.B) were wall-clock samples taken while other jobs held the cores.
 * Timed by process CPU time (bench/kernels/matmul-kernel.mjs, last table; this kernel on 1 thread,
 * median of 9, load average 2.7-4.6 on 2 cores), every layout runs at the same speed, since
 * packing makes the micro-kernel's input identical and costs O(k(m+n)) against O(mkn):
 *
 *   m x k x n            A.B     At.B    A.Bt    At.Bt    (GFLOP/s by CPU time)
 *   1024 x 1024 x 1024   51.7    51.3    51.7    51.7
 *   512 x 256 x 512      54.1    53.8    54.0    53.8     (the MLP's dW1 = X^T.dY shape)
 *   256 x 512 x 512      53.1    52.5    53.5    53.1     (the MLP's forward / dX shape)
 *
 * and the wall-clock table of the same run gave 49.4 / 49.9 / 50.5 / 50.5 at 1024 on one
 * thread. The MLP step's time outside the matmul is in elementwise code (see
 * ../elementwise/current.ts: branch-free relu and comparisons, large f32 arithmetic in
 * WebAssembly).
 */
import os from 'node:os';
import { emitGemmModule, type GemmConfig, JOB, JOB_BYTES } from '../../wasm/gemm-f32.js';
import { type WasmMemory, type WasmModule, wasmApi } from '../../wasm/runtime.js';
import { WasmWorkerPool } from '../../workers/pool.js';

/** The register tile (see the measurements in js.ts's header). */
export const GEMM_TILE: GemmConfig = { mr: 5, nr: 8 };

/**
 * Blocking. k is cut into chunks of about KC when longer than KC_MAX (a kc x NR panel of B
 * stays in L1); C into tiles of at most MC rows x NC columns (the packed A block, MC x kc,
 * and B block, kc x NC, stay in L2), and smaller when threads need more units to share:
 * at least UNITS_PER_THREAD per thread, tiles no smaller than MIN_MU x MIN_NU.
 */
const KC = 256;
const KC_MAX = 384;
const MC = 120;
const NC = 512;
const UNITS_PER_THREAD = 4;
const MIN_MU = 10;
const MIN_NU = 32;
/** Below this many multiply-adds a product runs on the calling thread alone (default). */
const PARALLEL_MIN_MACS = 1 << 18;

const PAGE = 65536;
const MAX_PAGES = 65536; // 4 GiB, the wasm32 limit; only reserved address space until used
const MAX_THREADS = 64;
/** Job records, used in turn, so a worker that wakes late on one never sees the next. */
const RECORDS = 4;
const TMP_PTR = RECORDS * JOB_BYTES;
const DATA_PTR = align(TMP_PTR + MAX_THREADS * GEMM_TILE.mr * GEMM_TILE.nr * 4, 64);

function align(x: number, to: number): number {
  return Math.ceil(x / to) * to;
}

interface Runtime {
  module: WasmModule;
  memory: WasmMemory;
  shared: boolean;
  run: (job: number, thread: number) => void;
  map2: (op: number, a: number, b: number, o: number, bytes: number, bScalar: number) => void;
  f32: Float32Array;
  i32: Int32Array;
  pool: WasmWorkerPool | null;
  poolError: string | null;
  /** The job record each worker was last given (-1: none). */
  recordOf: number[];
  nextRecord: number;
}

let runtime: Runtime | null = null;
let failure: string | null = null;
let tried = false;
let maxThreads = defaultThreads();
let parallelMinMacs = PARALLEL_MIN_MACS;

function defaultThreads(): number {
  const env = Number(process.env.STABLERL_CPU_THREADS);
  if (Number.isInteger(env) && env >= 1) return Math.min(env, MAX_THREADS);
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return Math.max(1, Math.min(cores, 16));
}

function init(): Runtime | null {
  if (tried) return runtime;
  tried = true;
  try {
    const WA = wasmApi();
    if (WA === null) throw new Error('this JavaScript engine has no WebAssembly');
    const shared = typeof SharedArrayBuffer === 'function';
    const bytes = emitGemmModule(GEMM_TILE, { initial: 1, maximum: MAX_PAGES, shared });
    if (!WA.validate(bytes)) {
      throw new Error('the generated module does not validate (WebAssembly SIMD or threads unsupported?)');
    }
    const module = new WA.Module(bytes);
    const memory = new WA.Memory({ initial: Math.ceil((DATA_PTR + (1 << 20)) / PAGE), maximum: MAX_PAGES, shared });
    const inst = new WA.Instance(module, { env: { mem: memory } });
    const run = inst.exports.run as (job: number, thread: number) => void;
    const map2 = inst.exports.map2 as (op: number, a: number, b: number, o: number, bytes: number, bScalar: number) => void;
    runtime = {
      module, memory, shared, run, map2,
      f32: new Float32Array(memory.buffer), i32: new Int32Array(memory.buffer),
      pool: null, poolError: null, recordOf: [], nextRecord: 0,
    };
    selfTest(runtime);
  } catch (e) {
    runtime = null;
    failure = `WebAssembly SIMD matmul unavailable: ${e instanceof Error ? e.message : String(e)}`;
  }
  return runtime;
}

/** One small product checked against the scalar rule, so a miscompiled module is never used. */
function selfTest(rt: Runtime): void {
  const m = 7, k = 11, n = 13;
  const a = new Float32Array(m * k).map((_, i) => Math.fround(Math.sin(i + 1) * 3));
  const b = new Float32Array(k * n).map((_, i) => Math.fround(Math.cos(i * 7 + 2) / 3));
  const got = new Float32Array(m * n);
  compute(rt, a, 0, b, 0, got, 0, m, k, n, false, false, 1);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s = Math.fround(s + Math.fround(a[i * k + p]! * b[p * n + j]!));
      if (!Object.is(s, got[i * n + j])) throw new Error('self-test product differs from the f32 reference');
    }
  }
}

/** Whether the WebAssembly kernel can run, and if not, why. */
export function wasmMatmulStatus(): { available: boolean; reason: string | null; threads: number; shared: boolean } {
  const rt = init();
  return {
    available: rt !== null,
    reason: failure ?? rt?.poolError ?? null,
    threads: rt && rt.shared && !rt.poolError ? maxThreads : 1,
    shared: rt?.shared ?? false,
  };
}

/**
 * threads: how many threads (the caller plus workers) large products may use; 1 disables the
 * workers. Defaults to the machine's available parallelism (at most 16), or the environment
 * variable STABLERL_CPU_THREADS. parallelMinMacs: the smallest m*n*k shared between threads
 * (tests lower it to exercise the threaded path on small shapes). Results do not depend on
 * either, bit for bit. Returns the settings now in force.
 */
export function configureWasmMatmul(opts: { threads?: number; parallelMinMacs?: number } = {}): {
  threads: number;
  parallelMinMacs: number;
} {
  if (opts.threads !== undefined) {
    if (!Number.isInteger(opts.threads) || opts.threads < 1 || opts.threads > MAX_THREADS) {
      throw new RangeError(`configureWasmMatmul: bad thread count ${opts.threads} (1..${MAX_THREADS})`);
    }
    maxThreads = opts.threads;
  }
  if (opts.parallelMinMacs !== undefined) {
    if (!(opts.parallelMinMacs >= 0)) throw new RangeError(`configureWasmMatmul: bad parallelMinMacs ${opts.parallelMinMacs}`);
    parallelMinMacs = opts.parallelMinMacs;
  }
  return { threads: maxThreads, parallelMinMacs };
}

/**
 * Starts the worker threads now (normally they start on the first large product) and blocks
 * until they are ready, at most timeoutMs; returns how many threads can work (workers + 1).
 */
export function startWasmMatmulWorkers(timeoutMs = 10_000): number {
  const rt = init();
  if (rt === null || !rt.shared || maxThreads <= 1) return 1;
  const pool = ensurePool(rt, maxThreads - 1);
  return pool ? pool.waitReady(timeoutMs) + 1 : 1;
}

/**
 * Drops the memory and the workers (a later call starts afresh). Useful after one huge
 * product, since the memory otherwise stays at the largest size seen.
 */
export function releaseWasmMatmul(): void {
  if (runtime?.pool) runtime.pool.terminate();
  runtime = null;
  tried = false;
  failure = null;
}

/**
 * out[outOff + i*n + j] = f32 sum_p opA(i,p)*opB(p,j) with the contract of matmulInto, all
 * operands Float32Array. Returns false, having written nothing, when the kernel is
 * unavailable or the operands do not fit in a 4 GiB memory; the caller then uses the JS
 * f32 kernel, which gives the same bits.
 */
export function matmulWasmF32(
  a: Float32Array, aOff: number, b: Float32Array, bOff: number,
  out: Float32Array, outOff: number, m: number, k: number, n: number,
  transA: boolean, transB: boolean,
): boolean {
  const rt = init();
  if (rt === null) return false;
  if (m <= 0 || n <= 0) return true;
  if (k <= 0) {
    out.fill(0, outOff, outOff + m * n);
    return true;
  }
  return compute(rt, a, aOff, b, bOff, out, outOff, m, k, n, transA, transB, maxThreads);
}

export type WasmElementwiseOp = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9;

/**
 * out[r*len + j] = a[r*len + j] op b[...] for r < rows, j < len, all f32, op 0 add, 1 sub,
 * 2 mul, 3 div, 4..9 the comparisons eq ne lt gt le ge (1 or 0), with b[r*len + j] (bKind 0), b[0] (1) or b[j] (2, one row broadcast over
 * rows) — the shapes the CPU backend's large elementwise ops take after coalescing (see
 * elementwise.ts, which calls this). Non-NaN results have the bits JS gives (see map2 in
 * gemm-f32.ts); NaN results stay NaN. Returns false, having written nothing, when the
 * module is unavailable. Runs on the calling thread only.
 */
export function elementwiseWasmF32(
  op: WasmElementwiseOp, a: Float32Array, b: Float32Array, bKind: 0 | 1 | 2, out: Float32Array, rows: number, len: number,
): boolean {
  const rt = init();
  if (rt === null) return false;
  const n = rows * len;
  const padded = align(n * 4, 16);
  const bLen = bKind === 0 ? n : bKind === 1 ? 1 : len;
  const aPtr = DATA_PTR;
  const bPtr = aPtr + align(padded, 64);
  // The output goes after b with a vector of slack: in bKind 2 each row's last vector may run
  // past the row into the next one (overwritten when that row is computed) or past the end.
  const oPtr = bPtr + align(bLen * 4 + 16, 64);
  const end = oPtr + padded + 16;
  if (end > MAX_PAGES * PAGE) return false;
  ensureBytes(rt, end);
  const F = rt.f32;
  F.set(a.length === n ? a : a.subarray(0, n), aPtr >>> 2);
  F.set(b.length === bLen ? b : b.subarray(0, bLen), bPtr >>> 2);
  if (bKind === 2) {
    const rowBytes = align(len * 4, 16);
    for (let r = 0; r < rows; r++) rt.map2(op, aPtr + r * len * 4, bPtr, oPtr + r * len * 4, rowBytes, 0);
  } else {
    rt.map2(op, aPtr, bPtr, oPtr, padded, bKind);
  }
  out.set(F.subarray(oPtr >>> 2, (oPtr >>> 2) + n));
  return true;
}

function compute(
  rt: Runtime, a: Float32Array, aOff: number, b: Float32Array, bOff: number,
  out: Float32Array, outOff: number, m: number, k: number, n: number,
  transA: boolean, transB: boolean, threads: number,
): boolean {
  const { mr, nr } = GEMM_TILE;
  // B in place (no packing) when one row tile covers all of A: each B value is used once.
  const direct = !transB && m <= mr;
  const chunks = k <= KC_MAX ? 1 : Math.ceil(k / KC);
  const kc = Math.ceil(k / chunks);

  // Which workers join: idle ones (a worker still busy with an earlier job, because it woke
  // late, is left alone), only for products worth a wake-up, and not when A is a single row
  // tile (then the product streams B once and is bound by memory, not arithmetic).
  let helpers: number[] = [];
  if (threads > 1 && rt.shared && m * n * k >= parallelMinMacs && m > mr) {
    const pool = ensurePool(rt, threads - 1);
    if (pool) helpers = pool.idleWorkers().slice(0, threads - 1);
  }
  const plan = tiles(m, n, direct, helpers.length + 1);

  // Memory: A and B as stored, C, packed A, packed B.
  const aPtr = DATA_PTR;
  const bPtr = aPtr + align(m * k * 4, 64);
  const cPtr = bPtr + align(k * n * 4, 64);
  const paPtr = cPtr + align(m * n * 4, 64);
  const pbPtr = paPtr + align(Math.ceil(m / mr) * mr * k * 4, 64);
  const end = pbPtr + align((direct ? nr : Math.ceil(n / nr) * nr) * k * 4, 64);
  if (end > MAX_PAGES * PAGE) return false;
  ensureBytes(rt, end);
  const F = rt.f32;
  F.set(aOff === 0 && a.length === m * k ? a : a.subarray(aOff, aOff + m * k), aPtr >>> 2);
  F.set(bOff === 0 && b.length === k * n ? b : b.subarray(bOff, bOff + k * n), bPtr >>> 2);

  // A job record no worker may still be reading.
  const record = takeRecord(rt);
  const job = record * JOB_BYTES;
  const J = rt.i32;
  const jb = job >>> 2;
  J[jb + JOB.a] = aPtr; J[jb + JOB.b] = bPtr; J[jb + JOB.c] = cPtr; J[jb + JOB.m] = m; J[jb + JOB.k] = k;
  J[jb + JOB.n] = n; J[jb + JOB.flags] = (transA ? 1 : 0) | (transB ? 2 : 0) | (direct ? 4 : 0);
  J[jb + JOB.kc] = kc; J[jb + JOB.pa] = paPtr; J[jb + JOB.pb] = pbPtr; J[jb + JOB.mu] = plan.mu;
  J[jb + JOB.nu] = plan.nu; J[jb + JOB.rowBlocks] = plan.rowBlocks; J[jb + JOB.colBlocks] = plan.colBlocks;
  J[jb + JOB.bPackUnits] = direct ? 1 : plan.colBlocks; J[jb + JOB.chunks] = chunks; J[jb + JOB.tmp] = TMP_PTR;
  J[jb + JOB.packNext] = 0; J[jb + JOB.packDone] = 0; J[jb + JOB.compNext] = 0; J[jb + JOB.compDone] = 0;

  if (helpers.length === 0) {
    rt.run(job, 0);
  } else {
    const pool = rt.pool!;
    helpers.forEach((slot, t) => {
      rt.recordOf[slot] = record;
      pool.post(slot, [job, t + 1]);
    });
    // Before throwing, let the workers finish: they write into memory the next call reuses.
    const fail = (e: unknown): never => {
      for (const slot of helpers) pool.waitIdle(slot);
      throw e;
    };
    try {
      rt.run(job, 0);
    } catch (e) {
      fail(e);
    }
    // Every unit is claimed; wait for the ones still running on workers.
    const total = plan.rowBlocks * plan.colBlocks;
    const at = jb + JOB.compDone;
    for (let spin = 0; spin < 20000 && Atomics.load(J, at) < total; spin++);
    for (;;) {
      const seen = Atomics.load(J, at);
      if (seen >= total) break;
      Atomics.wait(J, at, seen, 5);
      if (helpers.some((slot) => pool.failedJob(slot))) {
        rt.poolError = 'a worker thread failed (see stderr); running single-threaded from now on';
        fail(new Error(`stablerl cpu matmul: ${rt.poolError}`));
      }
    }
  }
  out.set(F.subarray(cPtr >>> 2, (cPtr >>> 2) + m * n), outOff);
  return true;
}

/**
 * The grid of C tiles: at most MC x NC (one L2-sized block each), cut further until there
 * are UNITS_PER_THREAD tiles per thread (the larger side first, never below MIN_MU x MIN_NU)
 * so a thread that starts late or is preempted leaves its share to the others.
 */
function tiles(m: number, n: number, direct: boolean, threads: number): { mu: number; nu: number; rowBlocks: number; colBlocks: number } {
  const { mr, nr } = GEMM_TILE;
  let rowBlocks = direct ? 1 : Math.ceil(m / MC);
  let colBlocks = Math.ceil(n / NC);
  if (threads > 1) {
    const want = UNITS_PER_THREAD * threads;
    while (rowBlocks * colBlocks < want) {
      const rows = m / rowBlocks;
      const cols = n / colBlocks;
      const canRow = !direct && rows >= 2 * MIN_MU;
      const canCol = cols >= 2 * MIN_NU;
      if (!canRow && !canCol) break;
      if (canRow && (!canCol || rows >= cols)) rowBlocks++;
      else colBlocks++;
    }
  }
  const mu = Math.ceil(Math.ceil(m / rowBlocks) / mr) * mr;
  const nu = Math.ceil(Math.ceil(n / colBlocks) / nr) * nr;
  return { mu, nu, rowBlocks: Math.ceil(m / mu), colBlocks: Math.ceil(n / nu) };
}

/** The next job record, once no worker can still be reading it. */
function takeRecord(rt: Runtime): number {
  const record = rt.nextRecord;
  rt.nextRecord = (record + 1) % RECORDS;
  if (rt.pool) {
    rt.recordOf.forEach((r, slot) => {
      if (r === record) {
        rt.pool!.waitIdle(slot);
        rt.recordOf[slot] = -1;
      }
    });
  }
  return record;
}

function ensureBytes(rt: Runtime, bytes: number): void {
  const have = rt.memory.buffer.byteLength;
  if (bytes > have) {
    // Grow by at least half again, so a run of slowly growing shapes does not grow every call.
    const want = Math.min(MAX_PAGES, Math.max(Math.ceil(bytes / PAGE), Math.ceil((have * 1.5) / PAGE)));
    rt.memory.grow(want - have / PAGE);
  }
  if (rt.f32.buffer.byteLength !== rt.memory.buffer.byteLength || rt.f32.length === 0) {
    rt.f32 = new Float32Array(rt.memory.buffer);
    rt.i32 = new Int32Array(rt.memory.buffer);
  }
}

function ensurePool(rt: Runtime, workers: number): WasmWorkerPool | null {
  if (rt.poolError) return null;
  if (rt.pool?.error) {
    rt.poolError = `worker threads stopped, running single-threaded: ${rt.pool.error}`;
    rt.pool.terminate();
    rt.pool = null;
    return null;
  }
  if (rt.pool && rt.pool.size >= workers) return rt.pool;
  try {
    if (rt.pool) {
      for (let slot = 0; slot < rt.pool.size; slot++) rt.pool.waitIdle(slot);
      rt.pool.terminate();
    }
    rt.pool = new WasmWorkerPool(rt.module, rt.memory, 'run', 2, workers);
    rt.recordOf = new Array<number>(workers).fill(-1);
  } catch (e) {
    rt.pool = null;
    rt.poolError = `worker threads unavailable, running single-threaded: ${e instanceof Error ? e.message : String(e)}`;
  }
  return rt.pool;
}
