/**
 * Emits the WebAssembly SIMD f32 matrix-multiply module used by the CPU backend
 * (src/tensor/cpu/kernels/matmul/wasm.ts runs it). It exists because V8's JavaScript tops out
 * near 6 GFLOP/s on this machine type (scalar float64), while 128-bit SIMD with one multiply
 * and one add per lane reaches several times that per core. One file of ~620 lines because the
 * module is emitted instruction by instruction, and its blocking, edge cases and numerics
 * argument only make sense read together.
 *
 * Numerics, the part that must not drift. Each output element is an f32 that starts at +0 and
 * receives, for p = 0, 1, ..., k-1 in that order, `acc = f32(acc + f32(a_ip * b_pj))`: an
 * f32x4.mul then an f32x4.add, each rounded once (no FMA, no relaxed SIMD, no reassociation).
 * That is exactly `matmulNaiveF32` in kernels/matmul/reference.ts. Every code path below keeps it:
 *  - SIMD lanes are output columns, so a lane never mixes with another lane;
 *  - k is cut into chunks of kc only in order; between chunks the running sums wait in the
 *    output array itself as f32, which is exactly what the accumulator held;
 *  - a tile with fewer rows runs the kernel variant with exactly that many rows; a tile with
 *    fewer columns packs zeros into the missing columns, computes all lanes into a scratch
 *    tile and copies only the live part to and from the output; so a row's values never
 *    depend on which tile or thread it landed in, nor on m (batch invariance).
 *
 * Shape of the computation (GotoBLAS/BLIS style, work shared like XNNPACK's thread pool).
 * The module exports run(job, thread): any number of threads call it on the same job record
 * (JOB below) and share the work by claiming units with atomic counters, so a thread that
 * starts late or is preempted simply does fewer units, and the split never affects a bit.
 * Phase 1 packs: per k-chunk (kc rows of B), A into MR-row panels and B into NR-column panels
 * (p-major, B zero padded), one unit per A row block or B column block, each packed once for
 * all threads. Phase 2 computes: one unit per mu x nu tile of C, which runs every k-chunk in
 * order through the micro-kernel, one MR x NR tile of f32x4 accumulators at a time. Packing
 * makes all four transpose layouts the same to the micro-kernel, and makes its two input
 * streams sequential.
 *
 * The micro-kernel: per p, NR/4 v128 loads of B, MR load32_splat broadcasts of A, and
 * MR*NR/4 multiplies and adds. x64 V8 has 16 xmm registers (15 allocatable); MR*NR/4
 * accumulators + NR/4 B vectors + a broadcast + a product must fit, or V8 spills in the
 * loop (see the kernel file's header for the tile sizes measured). One variant per row
 * count 1..MR, so the last rows of a block cost no wasted lanes. For few rows and B not
 * transposed, B is read in place (no packing): each element is used once anyway.
 */
import { F32, FunctionBuilder, I32, type MemoryImport, ModuleBuilder, V128 } from './assembler.js';

export interface GemmConfig {
  /** Rows of the register tile. */
  mr: number;
  /** Columns of the register tile; a multiple of 4 (one v128 holds 4 columns). */
  nr: number;
}

/**
 * The job a call of run(job, thread) works on: i32 fields at job + 4*JOB.x, written by the
 * caller before any thread starts. Byte pointers: a, b (the operands as stored), c (C,
 * row-major m x n), pa (packed A: for the k-chunk starting at pc, the MR-row panel of rows
 * i0.. at pa + 4*(pc*roundUp(m,MR) + i0*kb)), pb (packed B: likewise, column panel j0.. at
 * pb + 4*(pc*roundUp(n,NR) + j0*kb); with flags&4 only each chunk's narrow last panel, at
 * pb + 4*pc*NR), tmp (MR*NR floats of scratch per thread). flags: 1 A transposed, 2 B
 * transposed, 4 B read in place. C is cut into a rowBlocks x colBlocks grid of mu x nu tiles
 * (mu a multiple of MR, nu of NR); k into `chunks` chunks of kc. bPackUnits: B pack units per
 * chunk (colBlocks, or 1 when B is read in place). The four counters start at 0; they sit
 * 64 bytes apart so that threads claiming units do not share a cache line.
 */
export const JOB = {
  a: 0, b: 1, c: 2, m: 3, k: 4, n: 5, flags: 6, kc: 7, pa: 8, pb: 9, mu: 10, nu: 11,
  rowBlocks: 12, colBlocks: 13, bPackUnits: 14, chunks: 15, tmp: 20,
  packNext: 32, packDone: 48, compNext: 64, compDone: 80,
} as const;
/** Bytes of one job record. */
export const JOB_BYTES = 96 * 4;

/** The module bytes; the memory is imported as env.mem. */
export function emitGemmModule(cfg: GemmConfig, memory: Omit<MemoryImport, 'module' | 'name'>): Uint8Array {
  const { mr: MR, nr: NR } = cfg;
  if (NR % 4 !== 0 || NR <= 0 || MR <= 0) throw new Error(`gemm: bad tile ${MR}x${NR}`);
  const NV = NR / 4;
  const mod = new ModuleBuilder({ module: 'env', name: 'mem', ...memory });

  /**
   * Transposes four v128 locals holding rows r0..r3 (4 floats each) into c0..c3, where cq
   * holds element q of every row (t are 4 scratch locals). Pure lane moves: values are
   * copied, never computed, so packing stays exact. (V8 lowers these shuffles to unpck*.)
   */
  const LO32 = [0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23];
  const HI32 = [8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31];
  const LO64 = [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23];
  const HI64 = [8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31];
  const transpose4 = (f: FunctionBuilder, r: number[], c: number[], t: number[]): void => {
    f.get(r[0]!).get(r[1]!).i8x16Shuffle(LO32).set(t[0]!);
    f.get(r[2]!).get(r[3]!).i8x16Shuffle(LO32).set(t[1]!);
    f.get(r[0]!).get(r[1]!).i8x16Shuffle(HI32).set(t[2]!);
    f.get(r[2]!).get(r[3]!).i8x16Shuffle(HI32).set(t[3]!);
    f.get(t[0]!).get(t[1]!).i8x16Shuffle(LO64).set(c[0]!);
    f.get(t[0]!).get(t[1]!).i8x16Shuffle(HI64).set(c[1]!);
    f.get(t[2]!).get(t[3]!).i8x16Shuffle(LO64).set(c[2]!);
    f.get(t[2]!).get(t[3]!).i8x16Shuffle(HI64).set(c[3]!);
  };

  // ---------------------------------------------------------------------------------------
  // kernel_r(pa, pb, kb, cp, ldc, first, bstride), r = 1..MR: one tile of r rows x NR columns
  // at cp (row stride ldc bytes): C = (first ? 0 : C) + sum over kb steps of the A panel at pa
  // (MR floats per step, rows past r never read) and the B panel at pb (NR floats per step,
  // bstride bytes apart: NR*4 when packed, n*4 when B is read in place). Only the first r
  // rows exist in the code, so edge rows cost no wasted multiplies.
  const kernels: FunctionBuilder[] = [];
  for (let R = 1; R <= MR; R++) {
    const f = mod.add(new FunctionBuilder(R === MR ? 'kernel' : null, [I32, I32, I32, I32, I32, I32, I32]));
    kernels.push(f);
    const [pa, pb, kb, cp, ldc, first, bstride] = [0, 1, 2, 3, 4, 5, 6];
    const acc: number[] = [];
    for (let i = 0; i < R * NV; i++) acc.push(f.local(V128));
    const bv: number[] = [];
    for (let v = 0; v < NV; v++) bv.push(f.local(V128));
    const av = f.local(V128);
    const cnt = f.local(I32);
    const row = f.local(I32);

    f.get(first).if(
      () => {
        for (const x of acc) f.v128Zero().set(x);
      },
      () => {
        f.get(cp).set(row);
        for (let r = 0; r < R; r++) {
          for (let v = 0; v < NV; v++) f.get(row).v128Load(v * 16).set(acc[r * NV + v]!);
          if (r < R - 1) f.get(row).get(ldc).i32Add().set(row);
        }
      },
    );
    // One p-step. (Unrolling p with immediate offsets measured slower: V8 hoists the extra
    // loads and spills accumulators; see the kernel file's header.)
    const step = (): void => {
      for (let v = 0; v < NV; v++) f.get(pb).v128Load(v * 16).set(bv[v]!);
      for (let r = 0; r < R; r++) {
        f.get(pa).v128Load32Splat(r * 4).set(av);
        for (let v = 0; v < NV; v++) {
          const x = acc[r * NV + v]!;
          f.get(x).get(av).get(bv[v]!).f32x4Mul().f32x4Add().set(x);
        }
      }
    };
    f.get(kb).set(cnt);
    f.block((brk) => {
      f.loop((top) => {
        f.get(cnt).i32(1).i32LtS().brIf(brk);
        step();
        f.get(pb).get(bstride).i32Add().set(pb);
        f.get(pa).i32(MR * 4).i32Add().set(pa);
        f.get(cnt).i32(1).i32Sub().set(cnt);
        f.br(top);
      });
    });
    f.get(cp).set(row);
    for (let r = 0; r < R; r++) {
      for (let v = 0; v < NV; v++) f.get(row).get(acc[r * NV + v]!).v128Store(v * 16);
      if (r < R - 1) f.get(row).get(ldc).i32Add().set(row);
    }
  }
  /** Emits a call to kernel_rows, rows being a local (1..MR); the 7 arguments are pushed by args. */
  const callKernel = (f: FunctionBuilder, rows: number, args: () => void): void => {
    const chain = (R: number): void => {
      if (R === MR) {
        args();
        f.call(kernels[MR - 1]!);
        return;
      }
      f.get(rows).i32(R).i32Eq().if(
        () => {
          args();
          f.call(kernels[R - 1]!);
        },
        () => chain(R + 1),
      );
    };
    chain(1);
  };

  // ---------------------------------------------------------------------------------------
  // copyTile(src, sStride, dst, dStride, rows, cols): the live corner of an edge tile.
  const copyTile = mod.add(new FunctionBuilder(null, [I32, I32, I32, I32, I32, I32]));
  {
    const f = copyTile;
    const [src, ss, dst, ds, rows, cols] = [0, 1, 2, 3, 4, 5];
    const ii = f.local(I32);
    const jj = f.local(I32);
    f.forLt(ii, () => f.i32(0), () => f.get(rows), 1, () => {
      f.forLt(jj, () => f.i32(0), () => f.get(cols), 1, () => {
        f.get(dst).get(jj).i32(2).i32Shl().i32Add();
        f.get(src).get(jj).i32(2).i32Shl().i32Add().f32Load();
        f.f32Store();
      });
      f.get(src).get(ss).i32Add().set(src);
      f.get(dst).get(ds).i32Add().set(dst);
    });
  }

  // ---------------------------------------------------------------------------------------
  // packA(a, m, k, transA, ic, mb, pc, kb, dst): rows ic..ic+mb-1, columns pc..pc+kb-1 of
  // op(A) into MR-row panels: panel r at dst + r*kb*4 holds opA(ic+r+ii, pc+p) at
  // (p*MR + ii)*4. The last panel's missing rows are left as they are: kernel_rows never
  // reads them.
  const packA = mod.add(new FunctionBuilder('packA', [I32, I32, I32, I32, I32, I32, I32, I32, I32]));
  {
    const f = packA;
    const [a, m, k, transA, ic, mb, pc, kb, dst] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
    const r = f.local(I32), rows = f.local(I32), src = f.local(I32), d = f.local(I32), p = f.local(I32);
    const t1 = f.local(I32), t2 = f.local(I32), sstep = f.local(I32), kb4 = f.local(I32);
    const vr = [f.local(V128), f.local(V128), f.local(V128), f.local(V128)];
    const vc = [f.local(V128), f.local(V128), f.local(V128), f.local(V128)];
    const vt = [f.local(V128), f.local(V128), f.local(V128), f.local(V128)];
    f.forLt(r, () => f.i32(0), () => f.get(mb), MR, () => {
      f.i32(MR).get(mb).get(r).i32Sub().i32MinS(t1, t2).set(rows);
      f.get(transA).if(
        () => {
          // A stored [k, m]: the MR values of one p are adjacent.
          f.get(a).get(pc).get(m).i32Mul().get(ic).i32Add().get(r).i32Add().i32(2).i32Shl().i32Add().set(src);
          f.get(m).i32(2).i32Shl().set(sstep);
          f.get(dst).get(r).get(kb).i32Mul().i32(2).i32Shl().i32Add().set(d);
          f.get(rows).i32(MR).i32Eq().if(
            () => {
              f.forLt(p, () => f.i32(0), () => f.get(kb), 1, () => {
                if (MR % 4 === 0) {
                  for (let v = 0; v < MR / 4; v++) f.get(d).get(src).v128Load(v * 16).v128Store(v * 16);
                } else {
                  for (let ii = 0; ii < MR; ii++) f.get(d).get(src).f32Load(ii * 4).f32Store(ii * 4);
                }
                f.get(src).get(sstep).i32Add().set(src);
                f.get(d).i32(MR * 4).i32Add().set(d);
              });
            },
            () => {
              f.forLt(p, () => f.i32(0), () => f.get(kb), 1, () => {
                for (let ii = 1; ii < MR; ii++) {
                  // row 0 always exists; rows 1.. only while ii < rows
                  f.i32(ii).get(rows).i32LtS().if(() => f.get(d).get(src).f32Load(ii * 4).f32Store(ii * 4));
                }
                f.get(d).get(src).f32Load().f32Store();
                f.get(src).get(sstep).i32Add().set(src);
                f.get(d).i32(MR * 4).i32Add().set(d);
              });
            },
          );
        },
        () => {
          // A stored [m, k]: each row is contiguous. A full panel goes 4 p-steps at a time:
          // rows in groups of 4 are transposed in registers, leftover rows are stored lane
          // by lane; then the last kb % 4 steps, and any short panel, element by element.
          f.get(rows).i32(MR).i32Eq().if(() => {
            f.get(a).get(ic).get(r).i32Add().get(k).i32Mul().get(pc).i32Add().i32(2).i32Shl().i32Add().set(src);
            f.get(k).i32(2).i32Shl().set(sstep);
            f.get(dst).get(r).get(kb).i32Mul().i32(2).i32Shl().i32Add().set(d);
            f.get(kb).i32(-4).i32And().set(kb4);
            f.forLt(p, () => f.i32(0), () => f.get(kb4), 4, () => {
              for (let g = 0; g + 4 <= MR; g += 4) {
                for (let q = 0; q < 4; q++) {
                  f.get(src).get(sstep).i32(g + q).i32Mul().i32Add().v128Load().set(vr[q]!);
                }
                transpose4(f, vr, vc, vt);
                for (let q = 0; q < 4; q++) f.get(d).get(vc[q]!).v128Store((q * MR + g) * 4);
              }
              for (let ii = MR - (MR % 4); ii < MR; ii++) {
                f.get(src).get(sstep).i32(ii).i32Mul().i32Add().v128Load().set(vr[0]!);
                for (let q = 0; q < 4; q++) f.get(d).get(vr[0]!).f32x4ExtractLane(q).f32Store((q * MR + ii) * 4);
              }
              f.get(src).i32(16).i32Add().set(src);
              f.get(d).i32(4 * MR * 4).i32Add().set(d);
            });
            // The last kb % 4 steps.
            f.forLt(p, () => f.get(kb4), () => f.get(kb), 1, () => {
              for (let ii = 0; ii < MR; ii++) {
                f.get(d).get(src).get(sstep).i32(ii).i32Mul().i32Add().f32Load().f32Store(ii * 4);
              }
              f.get(src).i32(4).i32Add().set(src);
              f.get(d).i32(MR * 4).i32Add().set(d);
            });
          });
          f.get(rows).i32(MR).i32Ne().if(() => {
          for (let ii = 0; ii < MR; ii++) {
            f.i32(ii).get(rows).i32LtS().if(() => {
              f.get(dst).get(r).get(kb).i32Mul().i32(ii).i32Add().i32(2).i32Shl().i32Add().set(d);
              f.get(a).get(ic).get(r).i32Add().i32(ii).i32Add().get(k).i32Mul().get(pc).i32Add().i32(2).i32Shl().i32Add().set(src);
              f.forLt(p, () => f.i32(0), () => f.get(kb), 1, () => {
                f.get(d).get(src).f32Load().f32Store();
                f.get(src).i32(4).i32Add().set(src);
                f.get(d).i32(MR * 4).i32Add().set(d);
              });
            });
          }
          });
        },
      );
    });
  }

  // ---------------------------------------------------------------------------------------
  // packB(b, k, n, transB, pc, kb, jc, nb, dst): rows pc..pc+kb-1, columns jc..jc+nb-1 of
  // op(B) into NR-column panels: panel c at dst + c*kb*4 holds opB(pc+p, jc+c+jj) at
  // (p*NR + jj)*4; columns past nb are zero (an edge tile computes all NR lanes).
  const packB = mod.add(new FunctionBuilder('packB', [I32, I32, I32, I32, I32, I32, I32, I32, I32]));
  {
    const f = packB;
    const [b, k, n, transB, pc, kb, jc, nb, dst] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
    const c = f.local(I32), cols = f.local(I32), src = f.local(I32), d = f.local(I32), p = f.local(I32);
    const t1 = f.local(I32), t2 = f.local(I32), sstep = f.local(I32), kb4 = f.local(I32);
    const vr = [f.local(V128), f.local(V128), f.local(V128), f.local(V128)];
    const vc = [f.local(V128), f.local(V128), f.local(V128), f.local(V128)];
    const vt = [f.local(V128), f.local(V128), f.local(V128), f.local(V128)];
    f.forLt(c, () => f.i32(0), () => f.get(nb), NR, () => {
      f.i32(NR).get(nb).get(c).i32Sub().i32MinS(t1, t2).set(cols);
      f.get(transB).if(
        () => {
          // B stored [n, k]: each column of op(B) is a contiguous row of B. A full panel goes
          // 4 p-steps at a time, NR rows of B transposed 4 by 4 in registers; the last
          // kb % 4 steps and short panels go element by element.
          f.get(cols).i32(NR).i32Eq().if(() => {
            f.get(b).get(jc).get(c).i32Add().get(k).i32Mul().get(pc).i32Add().i32(2).i32Shl().i32Add().set(src);
            f.get(k).i32(2).i32Shl().set(sstep);
            f.get(dst).get(c).get(kb).i32Mul().i32(2).i32Shl().i32Add().set(d);
            f.get(kb).i32(-4).i32And().set(kb4);
            f.forLt(p, () => f.i32(0), () => f.get(kb4), 4, () => {
              for (let g = 0; g < NR; g += 4) {
                for (let q = 0; q < 4; q++) {
                  f.get(src).get(sstep).i32(g + q).i32Mul().i32Add().v128Load().set(vr[q]!);
                }
                transpose4(f, vr, vc, vt);
                for (let q = 0; q < 4; q++) f.get(d).get(vc[q]!).v128Store((q * NR + g) * 4);
              }
              f.get(src).i32(16).i32Add().set(src);
              f.get(d).i32(4 * NR * 4).i32Add().set(d);
            });
            f.forLt(p, () => f.get(kb4), () => f.get(kb), 1, () => {
              for (let jj = 0; jj < NR; jj++) {
                f.get(d).get(src).get(sstep).i32(jj).i32Mul().i32Add().f32Load().f32Store(jj * 4);
              }
              f.get(src).i32(4).i32Add().set(src);
              f.get(d).i32(NR * 4).i32Add().set(d);
            });
          });
          f.get(cols).i32(NR).i32Ne().if(() => {
          for (let jj = 0; jj < NR; jj++) {
            f.get(dst).get(c).get(kb).i32Mul().i32(jj).i32Add().i32(2).i32Shl().i32Add().set(d);
            f.i32(jj).get(cols).i32LtS().if(
              () => {
                f.get(b).get(jc).get(c).i32Add().i32(jj).i32Add().get(k).i32Mul().get(pc).i32Add().i32(2).i32Shl().i32Add().set(src);
                f.forLt(p, () => f.i32(0), () => f.get(kb), 1, () => {
                  f.get(d).get(src).f32Load().f32Store();
                  f.get(src).i32(4).i32Add().set(src);
                  f.get(d).i32(NR * 4).i32Add().set(d);
                });
              },
              () => {
                f.forLt(p, () => f.i32(0), () => f.get(kb), 1, () => {
                  f.get(d).f32(0).f32Store();
                  f.get(d).i32(NR * 4).i32Add().set(d);
                });
              },
            );
          }
          });
        },
        () => {
          // B stored [k, n]: the NR values of one p are adjacent.
          f.get(b).get(pc).get(n).i32Mul().get(jc).i32Add().get(c).i32Add().i32(2).i32Shl().i32Add().set(src);
          f.get(n).i32(2).i32Shl().set(sstep);
          f.get(dst).get(c).get(kb).i32Mul().i32(2).i32Shl().i32Add().set(d);
          f.get(cols).i32(NR).i32Eq().if(
            () => {
              f.forLt(p, () => f.i32(0), () => f.get(kb), 1, () => {
                for (let v = 0; v < NV; v++) f.get(d).get(src).v128Load(v * 16).v128Store(v * 16);
                f.get(src).get(sstep).i32Add().set(src);
                f.get(d).i32(NR * 4).i32Add().set(d);
              });
            },
            () => {
              f.forLt(p, () => f.i32(0), () => f.get(kb), 1, () => {
                for (let jj = 0; jj < NR; jj++) {
                  f.i32(jj).get(cols).i32LtS().if(
                    () => f.get(d).get(src).f32Load(jj * 4).f32Store(jj * 4),
                    () => f.get(d).f32(0).f32Store(jj * 4),
                  );
                }
                f.get(src).get(sstep).i32Add().set(src);
                f.get(d).i32(NR * 4).i32Add().set(d);
              });
            },
          );
        },
      );
    });
  }

  // ---------------------------------------------------------------------------------------
  // macro(pa, pb, kb, mb, nb, cp, ldc, first, tmp, bstride, bpanel, pbEdge): every tile of an
  // mb x nb block. Full-width B panels start at pb and every bpanel bytes after, with steps
  // of bstride bytes; a last panel narrower than NR is always packed, at pbEdge. Tiles with
  // all NR columns are computed in place in C (kernel_rows handles short row counts);
  // narrower ones go through the scratch tile at tmp, and only their live part is copied.
  const macro = mod.add(new FunctionBuilder('macro', [I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32, I32]));
  {
    const f = macro;
    const [pa, pb, kb, mb, nb, cp, ldc, first, tmp, bstride, bpanel, pbEdge] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
    const jr = f.local(I32), ir = f.local(I32), rows = f.local(I32), cols = f.local(I32);
    const bpan = f.local(I32), bs = f.local(I32), apan = f.local(I32), ct = f.local(I32), t1 = f.local(I32), t2 = f.local(I32);
    const bp = f.local(I32);
    f.get(pb).set(bp);
    f.forLt(jr, () => f.i32(0), () => f.get(nb), NR, () => {
      f.i32(NR).get(nb).get(jr).i32Sub().i32MinS(t1, t2).set(cols);
      f.get(cols).i32(NR).i32Eq().if(
        () => f.get(bp).set(bpan).get(bstride).set(bs),
        () => f.get(pbEdge).set(bpan).i32(NR * 4).set(bs),
      );
      f.forLt(ir, () => f.i32(0), () => f.get(mb), MR, () => {
        f.i32(MR).get(mb).get(ir).i32Sub().i32MinS(t1, t2).set(rows);
        f.get(pa).get(ir).get(kb).i32Mul().i32(2).i32Shl().i32Add().set(apan);
        f.get(cp).get(ir).get(ldc).i32Mul().i32Add().get(jr).i32(2).i32Shl().i32Add().set(ct);
        f.get(cols).i32(NR).i32Eq().if(
          () => callKernel(f, rows, () => f.get(apan).get(bpan).get(kb).get(ct).get(ldc).get(first).get(bs)),
          () => {
            f.get(first).i32Eqz().if(() => {
              f.get(ct).get(ldc).get(tmp).i32(NR * 4).get(rows).get(cols).call(copyTile);
            });
            callKernel(f, rows, () => f.get(apan).get(bpan).get(kb).get(tmp).i32(NR * 4).get(first).get(bs));
            f.get(tmp).i32(NR * 4).get(ct).get(ldc).get(rows).get(cols).call(copyTile);
          },
        );
      });
      f.get(bp).get(bpanel).i32Add().set(bp);
    });
  }

  // ---------------------------------------------------------------------------------------
  // run(job, thread): works on the job at `job` (see JOB) until none of its units is left;
  // any number of threads may call it at once. Phase 1 claims pack units (one A row block
  // or one B column block of one k-chunk each), phase 2 waits until every pack unit is done
  // and claims compute units (one mu x nu tile of C, every k-chunk in order).
  const run = mod.add(new FunctionBuilder('run', [I32, I32]));
  {
    const f = run;
    const [job, thread] = [0, 1];
    const L = (): number => f.local(I32);
    const a = L(), b = L(), c = L(), m = L(), k = L(), n = L(), flags = L(), kc = L(), pa = L(), pb = L();
    const mu = L(), nu = L(), rb = L(), cb = L(), bpu = L(), chunks = L(), tmp = L();
    const transA = L(), transB = L(), direct = L(), mR = L(), nR = L(), nFull = L();
    const u = L(), q = L(), r = L(), pc = L(), kb = L(), i0 = L(), j0 = L(), mb = L(), nb = L(), nbFull = L();
    const packPer = L(), packTotal = L(), compTotal = L(), seen = L(), spin = L();
    const pbUse = L(), bstride = L(), bpanel = L(), pbEdge = L(), t1 = L(), t2 = L();
    const field = (i: number, into: number): void => {
      f.get(job).i32Load(i * 4).set(into);
    };
    field(JOB.a, a); field(JOB.b, b); field(JOB.c, c); field(JOB.m, m); field(JOB.k, k); field(JOB.n, n);
    field(JOB.flags, flags); field(JOB.kc, kc); field(JOB.pa, pa); field(JOB.pb, pb); field(JOB.mu, mu);
    field(JOB.nu, nu); field(JOB.rowBlocks, rb); field(JOB.colBlocks, cb); field(JOB.bPackUnits, bpu);
    field(JOB.chunks, chunks);
    f.get(job).i32Load(JOB.tmp * 4).get(thread).i32(MR * NR * 4).i32Mul().i32Add().set(tmp);
    f.get(flags).i32(1).i32And().set(transA);
    f.get(flags).i32(2).i32And().set(transB);
    f.get(flags).i32(4).i32And().set(direct);
    f.get(m).i32(MR - 1).i32Add().i32(MR).i32DivU().i32(MR).i32Mul().set(mR);
    f.get(direct).if(
      () => f.i32(NR).set(nR),
      () => f.get(n).i32(NR - 1).i32Add().i32(NR).i32DivU().i32(NR).i32Mul().set(nR),
    );
    f.get(n).i32(NR).i32DivU().i32(NR).i32Mul().set(nFull);
    /** kb = min(kc, k - pc) */
    const chunkLen = (): void => {
      f.get(kc).get(k).get(pc).i32Sub().i32MinS(t1, t2).set(kb);
    };

    // Phase 1: packing.
    f.get(rb).get(bpu).i32Add().set(packPer);
    f.get(chunks).get(packPer).i32Mul().set(packTotal);
    f.block((done) => {
      f.loop((next) => {
        f.get(job).i32(1).i32AtomicAdd(JOB.packNext * 4).tee(u).get(packTotal).i32GeS().brIf(done);
        f.get(u).get(packPer).i32DivU().set(q);
        f.get(u).get(packPer).i32RemU().set(r);
        f.get(q).get(kc).i32Mul().set(pc);
        chunkLen();
        f.get(r).get(rb).i32LtS().if(
          () => {
            f.get(r).get(mu).i32Mul().set(i0);
            f.get(mu).get(m).get(i0).i32Sub().i32MinS(t1, t2).set(mb);
            f.get(a).get(m).get(k).get(transA).get(i0).get(mb).get(pc).get(kb);
            f.get(pa).get(pc).get(mR).i32Mul().get(i0).get(kb).i32Mul().i32Add().i32(2).i32Shl().i32Add();
            f.call(packA);
          },
          () => {
            f.get(direct).if(
              () => {
                // B is read in place; only a last panel narrower than NR is packed.
                f.get(nFull).get(n).i32LtS().if(() => {
                  f.get(b).get(k).get(n).i32(0).get(pc).get(kb).get(nFull).get(n).get(nFull).i32Sub();
                  f.get(pb).get(pc).i32(NR * 4).i32Mul().i32Add();
                  f.call(packB);
                });
              },
              () => {
                f.get(r).get(rb).i32Sub().get(nu).i32Mul().set(j0);
                f.get(nu).get(n).get(j0).i32Sub().i32MinS(t1, t2).set(nb);
                f.get(b).get(k).get(n).get(transB).get(pc).get(kb).get(j0).get(nb);
                f.get(pb).get(pc).get(nR).i32Mul().get(j0).get(kb).i32Mul().i32Add().i32(2).i32Shl().i32Add();
                f.call(packB);
              },
            );
          },
        );
        f.get(job).i32(1).i32AtomicAdd(JOB.packDone * 4).drop();
        f.get(job).i32(-1).atomicNotify(JOB.packDone * 4).drop();
        f.br(next);
      });
    });
    // Wait until every pack unit is finished (claimed ones may still be running elsewhere):
    // spin briefly, then sleep in short timed waits (the last packer notifies).
    f.i32(0).set(spin);
    f.block((done) => {
      f.loop((next) => {
        f.get(job).i32AtomicLoad(JOB.packDone * 4).tee(seen).get(packTotal).i32GeS().brIf(done);
        f.get(spin).i32(1).i32Add().tee(spin).i32(4096).i32GeS().if(() => {
          f.get(job).i32(JOB.packDone * 4).i32Add().get(seen).i64(100_000).atomicWait32().drop();
        });
        f.br(next);
      });
    });

    // Phase 2: compute units, row-major over the grid of mu x nu tiles of C.
    f.get(rb).get(cb).i32Mul().set(compTotal);
    f.block((done) => {
      f.loop((next) => {
        f.get(job).i32(1).i32AtomicAdd(JOB.compNext * 4).tee(u).get(compTotal).i32GeS().brIf(done);
        f.get(u).get(cb).i32DivU().get(mu).i32Mul().set(i0);
        f.get(u).get(cb).i32RemU().get(nu).i32Mul().set(j0);
        f.get(mu).get(m).get(i0).i32Sub().i32MinS(t1, t2).set(mb);
        f.get(nu).get(n).get(j0).i32Sub().i32MinS(t1, t2).set(nb);
        f.get(nb).i32(NR).i32DivU().i32(NR).i32Mul().set(nbFull);
        f.forLt(pc, () => f.i32(0), () => f.get(k), () => f.get(kc), () => {
          chunkLen();
          f.get(direct).if(
            () => {
              f.get(b).get(pc).get(n).i32Mul().get(j0).i32Add().i32(2).i32Shl().i32Add().set(pbUse);
              f.get(n).i32(2).i32Shl().set(bstride);
              f.i32(NR * 4).set(bpanel);
              f.get(pb).get(pc).i32(NR * 4).i32Mul().i32Add().set(pbEdge);
            },
            () => {
              f.get(pb).get(pc).get(nR).i32Mul().get(j0).get(kb).i32Mul().i32Add().i32(2).i32Shl().i32Add().set(pbUse);
              f.i32(NR * 4).set(bstride);
              f.get(kb).i32(NR * 4).i32Mul().set(bpanel);
              f.get(pbUse).get(nbFull).get(kb).i32Mul().i32(2).i32Shl().i32Add().set(pbEdge);
            },
          );
          f.get(pa).get(pc).get(mR).i32Mul().get(i0).get(kb).i32Mul().i32Add().i32(2).i32Shl().i32Add();
          f.get(pbUse).get(kb).get(mb).get(nb);
          f.get(c).get(i0).get(n).i32Mul().get(j0).i32Add().i32(2).i32Shl().i32Add();
          f.get(n).i32(2).i32Shl();
          f.get(pc).i32Eqz();
          f.get(tmp).get(bstride).get(bpanel).get(pbEdge);
          f.call(macro);
        });
        f.get(job).i32(1).i32AtomicAdd(JOB.compDone * 4).drop();
        f.get(job).i32(-1).atomicNotify(JOB.compDone * 4).drop();
        f.br(next);
      });
    });
  }
  // ---------------------------------------------------------------------------------------
  // map2(op, a, b, o, bytes, bScalar): o[i] = a[i] op b[i] (b[0] when bScalar) for the f32
  // arrays at byte pointers a, b, o, 4 lanes at a time over `bytes` (a multiple of 16; the
  // caller pads). op: 0 add, 1 sub, 2 mul, 3 div, 4..9 eq ne lt gt le ge. It lives in this module only to share its
  // memory and runtime: the CPU backend's large f32 add/sub/mul/div (bias adds, SGD updates,
  // gradient products) run here, since scalar JS converts every f32 to f64 and back (about
  // 1.3-1.7 ns per element against about 0.1 per copy in or out). For these four operations
  // one f32 rounding of the exact result equals JS's f64 result rounded to f32 (f64 holds
  // more than 2*24+2 bits, so the double rounding is innocuous), so every non-NaN result has
  // the same bits; a NaN result stays NaN, with the sign and payload x86 gives.
  // Ops 4..9 compare (eq, ne, lt, gt, le, ge) and give 1 or 0 (the lane mask ANDed with the
  // bits of 1.0f), exactly what the JS comparisons store; NaN compares unequal, as in JS.
  const cmp = (c: 'eq' | 'ne' | 'lt' | 'gt' | 'le' | 'ge') => (f: FunctionBuilder): void => {
    f.f32x4Cmp(c).f32(1).f32x4Splat().v128And();
  };
  const OPS: ((f: FunctionBuilder) => void)[] = [
    (f) => f.f32x4Add(), (f) => f.f32x4Sub(), (f) => f.f32x4Mul(), (f) => f.f32x4Div(),
    cmp('eq'), cmp('ne'), cmp('lt'), cmp('gt'), cmp('le'), cmp('ge'),
  ];
  const map2 = mod.add(new FunctionBuilder('map2', [I32, I32, I32, I32, I32, I32]));
  {
    const f = map2;
    const [op, a, b, o, bytes, bScalar] = [0, 1, 2, 3, 4, 5];
    const i = f.local(I32);
    const bv = f.local(V128);
    const chain = (q: number): void => {
      const body = (): void => {
        f.get(bScalar).if(
          () => {
            f.get(b).v128Load32Splat().set(bv);
            f.forLt(i, () => f.i32(0), () => f.get(bytes), 16, () => {
              f.get(o).get(i).i32Add();
              f.get(a).get(i).i32Add().v128Load().get(bv);
              OPS[q]!(f);
              f.v128Store();
            });
          },
          () => {
            f.forLt(i, () => f.i32(0), () => f.get(bytes), 16, () => {
              f.get(o).get(i).i32Add();
              f.get(a).get(i).i32Add().v128Load();
              f.get(b).get(i).i32Add().v128Load();
              OPS[q]!(f);
              f.v128Store();
            });
          },
        );
      };
      if (q === OPS.length - 1) {
        body();
        return;
      }
      f.get(op).i32(q).i32Eq().if(body, () => chain(q + 1));
    };
    chain(0);
  }
  return mod.toBytes();
}
