/**
 * Worker threads for the CPU backend's WebAssembly kernels. The backend API is synchronous, so
 * there are no promises here: the calling thread posts a call (an exported function's i32
 * arguments) to idle workers through a shared Int32Array and wakes them with Atomics.notify;
 * the kernel itself shares out the work (units claimed with atomic counters in the shared
 * WebAssembly.Memory, see kernels/matmul/wasm.ts), so the caller never depends on a worker
 * having started. Workers share that memory with the caller, so operands are never copied
 * between threads. Node allows Atomics.wait on the main thread, which waitIdle uses.
 *
 * Why it is built this way:
 *  - Workers start lazily (the first large matmul) and a job only goes to a worker that has
 *    said it is ready, so nobody ever waits for a thread to boot; a call made before the
 *    workers are up simply runs on the calling thread.
 *  - Workers are unref()'d: they never keep the process alive, and Node terminates them at
 *    exit even while they sleep in Atomics.wait. Nothing here breaks vitest's forks pool.
 *  - The worker source is an eval'd string, not a file, so the same code runs from dist/
 *    and from vitest's on-the-fly TypeScript (where a .ts worker path could not be loaded).
 *  - Workers sleep in Atomics.wait between jobs instead of spinning: the machines this runs
 *    on have two cores shared with other work, and a spinning worker would steal one.
 * A worker that throws reports status 1 (failedJob) so the caller can throw instead of waiting
 * for work that will never finish.
 */
import { Worker } from 'node:worker_threads';
import type { WasmMemory, WasmModule } from '../wasm/runtime.js';

/** Int32 slots per worker in the control array (256 bytes apart, so no false sharing). */
const STRIDE = 64;
/** Slot offsets within a worker's stride. */
const SEQ = 0; // job number, written by the caller
const DONE = 16; // job number last finished, written by the worker
const STATUS = 17; // 0 ok, 1 the job threw (message in the worker's stderr)
const READY = 32; // 1 once the worker has instantiated the module, -1 if that failed
const ARGS = 40; // the job's i32 arguments
/** Most i32 arguments a job can take. */
export const MAX_ARGS = STRIDE - ARGS;

const WORKER_SOURCE = `
'use strict';
const { workerData } = require('node:worker_threads');
const { module, memory, control, slot, exportName, nargs } = workerData;
const ctl = new Int32Array(control);
const base = slot * ${STRIDE};
let fn;
try {
  fn = new WebAssembly.Instance(module, { env: { mem: memory } }).exports[exportName];
  Atomics.store(ctl, base + ${READY}, 1);
  Atomics.notify(ctl, base + ${READY});
} catch (e) {
  Atomics.store(ctl, base + ${READY}, -1);
  Atomics.notify(ctl, base + ${READY});
  throw e;
}
const args = new Array(nargs);
let seen = 0;
for (;;) {
  Atomics.wait(ctl, base + ${SEQ}, seen);
  const seq = Atomics.load(ctl, base + ${SEQ});
  if (seq === seen) continue;
  seen = seq;
  let status = 0;
  try {
    for (let i = 0; i < nargs; i++) args[i] = ctl[base + ${ARGS} + i];
    fn(...args);
  } catch (e) {
    status = 1;
    console.error('stablerl cpu worker: job failed:', e);
  }
  ctl[base + ${STATUS}] = status;
  Atomics.store(ctl, base + ${DONE}, seq);
  Atomics.notify(ctl, base + ${DONE});
}
`;

/**
 * A fixed set of worker threads that each run one exported function of a WebAssembly module
 * instantiated over a shared memory.
 */
export class WasmWorkerPool {
  private readonly ctl: Int32Array;
  private readonly workers: Worker[] = [];
  private seq = 0;
  /** The last job number posted to each worker (0: none). */
  private readonly posted: number[];
  private failed: string | null = null;

  constructor(
    module: WasmModule,
    memory: WasmMemory,
    exportName: string,
    private readonly nargs: number,
    count: number,
  ) {
    if (nargs > MAX_ARGS) throw new Error(`WasmWorkerPool: at most ${MAX_ARGS} arguments`);
    this.ctl = new Int32Array(new SharedArrayBuffer(Math.max(1, count) * STRIDE * 4));
    this.posted = new Array<number>(count).fill(0);
    for (let slot = 0; slot < count; slot++) {
      const w = new Worker(WORKER_SOURCE, {
        eval: true,
        // Not the parent's flags: `--input-type=module` would make this CommonJS source ESM.
        execArgv: [],
        workerData: { module, memory, control: this.ctl.buffer, slot, exportName, nargs },
      });
      w.on('error', (e: unknown) => {
        this.failed = `cpu worker ${slot} died: ${e instanceof Error ? e.message : String(e)}`;
      });
      w.unref();
      this.workers.push(w);
    }
  }

  /** Number of workers (ready or not). */
  get size(): number {
    return this.workers.length;
  }

  /** Stops the workers; the pool cannot be used afterwards. */
  terminate(): void {
    for (const w of this.workers) void w.terminate();
    this.workers.length = 0;
    this.failed = 'terminated';
  }

  /** Workers that have instantiated the module and can take a job now. */
  readyCount(): number {
    let n = 0;
    for (let i = 0; i < this.workers.length; i++) if (Atomics.load(this.ctl, i * STRIDE + READY) === 1) n++;
    return n;
  }

  /** Why the pool cannot be used, or null. */
  get error(): string | null {
    return this.failed;
  }

  /**
   * Blocks until every worker is ready (or failed), at most timeoutMs; returns readyCount().
   * Workers boot on their own threads, so this does not need the event loop.
   */
  waitReady(timeoutMs: number): number {
    const deadline = Date.now() + timeoutMs;
    for (let i = 0; i < this.workers.length; i++) {
      const at = i * STRIDE + READY;
      for (;;) {
        const left = deadline - Date.now();
        if (Atomics.load(this.ctl, at) !== 0 || left <= 0) break;
        Atomics.wait(this.ctl, at, 0, left);
      }
    }
    return this.readyCount();
  }

  /** Ready workers that have finished everything posted to them. */
  idleWorkers(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.workers.length; i++) {
      const base = i * STRIDE;
      if (Atomics.load(this.ctl, base + READY) === 1 && Atomics.load(this.ctl, base + DONE) === this.posted[i]) out.push(i);
    }
    return out;
  }

  /** Hands an idle, ready worker one call of the function with these i32 arguments. */
  post(slot: number, args: ArrayLike<number>): void {
    const c = this.ctl;
    const base = slot * STRIDE;
    for (let i = 0; i < this.nargs; i++) c[base + ARGS + i] = args[i]! | 0;
    const seq = ++this.seq;
    this.posted[slot] = seq;
    Atomics.store(c, base + SEQ, seq);
    Atomics.notify(c, base + SEQ);
  }

  /** Whether the last call posted to this worker has finished by throwing. */
  failedJob(slot: number): boolean {
    const base = slot * STRIDE;
    return Atomics.load(this.ctl, base + DONE) === this.posted[slot] && this.ctl[base + STATUS] !== 0;
  }

  /** Blocks until the worker has finished everything posted to it. */
  waitIdle(slot: number): void {
    const c = this.ctl;
    const done = slot * STRIDE + DONE;
    const want = this.posted[slot]!;
    for (;;) {
      const seen = Atomics.load(c, done);
      if (seen === want || this.workers.length === 0) return;
      Atomics.wait(c, done, seen, 50); // returns at once if the worker finished since the load
    }
  }
}
