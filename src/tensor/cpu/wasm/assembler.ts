/**
 * A tiny WebAssembly binary assembler, so the CPU backend can run SIMD kernels while the
 * project stays pure TypeScript: the bytes of a module are written at run time by code in
 * this repository, never shipped as a compiled artefact (README.md, "Layout": no native build step).
 *
 * It knows exactly what the matmul emitter (gemm-f32.ts) needs and nothing more: one imported
 * memory (optionally shared, for worker threads), functions over i32/f32/v128 locals,
 * structured control flow, and the handful of scalar, SIMD, memory and atomic instructions
 * used there.
 * Branches name their target through label objects rather than raw depths, because getting a
 * `br` depth wrong yields a module that validates and silently loops or exits early.
 *
 * Opcodes follow the WebAssembly core spec 2.0 binary format (SIMD instructions are the 0xfd
 * prefix followed by a LEB128 sub-opcode). No relaxed-SIMD or FMA instruction is exposed: the
 * matmul kernels depend on every multiply and add being rounded separately.
 */

export const I32 = 0x7f;
export const F32 = 0x7d;
export const V128 = 0x7b;
export type ValType = typeof I32 | typeof F32 | typeof V128;

function uleb(out: number[], v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`uleb: bad value ${v}`);
  do {
    let byte = v & 0x7f;
    v = Math.floor(v / 128);
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
}

function sleb(out: number[], v: number): void {
  if (!Number.isInteger(v) || v < -0x80000000 || v > 0xffffffff) throw new RangeError(`sleb: bad value ${v}`);
  v = v | 0; // i32.const takes the value modulo 2^32, as a signed LEB128
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return;
    }
    out.push(byte | 0x80);
  }
}

function name(out: number[], s: string): void {
  const bytes = new TextEncoder().encode(s);
  uleb(out, bytes.length);
  for (const b of bytes) out.push(b);
}

/** A branch target: the block, loop or if it was opened by. */
export interface Label {
  readonly kind: 'block' | 'loop' | 'if';
}

/**
 * Builds one function body. Locals are numbered after the parameters; `local(type)` declares
 * a new one. Instruction methods append bytes and return `this` so short sequences read in
 * stack order: `f.get(x).get(y).i32Add().set(z)`.
 */
export class FunctionBuilder {
  readonly params: readonly ValType[];
  readonly results: readonly ValType[];
  private readonly locals: ValType[] = [];
  private readonly code: number[] = [];
  private readonly labels: Label[] = [];
  index = -1;

  constructor(
    readonly exportName: string | null,
    params: readonly ValType[],
    results: readonly ValType[] = [],
  ) {
    this.params = params;
    this.results = results;
  }

  /** Declares a local of the given type and returns its index. */
  local(type: ValType): number {
    this.locals.push(type);
    return this.params.length + this.locals.length - 1;
  }

  private op(...bytes: number[]): this {
    for (const b of bytes) this.code.push(b);
    return this;
  }
  private simd(sub: number): this {
    this.code.push(0xfd);
    uleb(this.code, sub);
    return this;
  }
  private memarg(alignLog2: number, offset: number): this {
    uleb(this.code, alignLog2);
    uleb(this.code, offset);
    return this;
  }

  // ---- control ----
  private open(kind: Label['kind'], opcode: number, body: (l: Label) => void): this {
    const label: Label = { kind };
    this.op(opcode, 0x40); // empty block type
    this.labels.push(label);
    body(label);
    this.labels.pop();
    return this.op(0x0b);
  }
  block(body: (l: Label) => void): this {
    return this.open('block', 0x02, body);
  }
  loop(body: (l: Label) => void): this {
    return this.open('loop', 0x03, body);
  }
  /** `if` on the i32 on the stack, with an optional else branch. */
  if(then: (l: Label) => void, otherwise?: (l: Label) => void): this {
    const label: Label = { kind: 'if' };
    this.op(0x04, 0x40);
    this.labels.push(label);
    then(label);
    if (otherwise) {
      this.op(0x05);
      otherwise(label);
    }
    this.labels.pop();
    return this.op(0x0b);
  }
  private depth(l: Label): number {
    const i = this.labels.lastIndexOf(l);
    if (i < 0) throw new Error('assembler: branch to a label that is not open here');
    return this.labels.length - 1 - i;
  }
  br(l: Label): this {
    this.op(0x0c);
    uleb(this.code, this.depth(l));
    return this;
  }
  brIf(l: Label): this {
    this.op(0x0d);
    uleb(this.code, this.depth(l));
    return this;
  }
  call(f: FunctionBuilder): this {
    if (f.index < 0) throw new Error('assembler: call to a function not yet added to the module');
    this.op(0x10);
    uleb(this.code, f.index);
    return this;
  }
  return(): this {
    return this.op(0x0f);
  }
  drop(): this {
    return this.op(0x1a);
  }
  /** Pops c, b, a; pushes c ? a : b. */
  select(): this {
    return this.op(0x1b);
  }

  /**
   * for (i = start; i < end; i += step) body: start/end/step are emitters that push an i32.
   * The bound is re-evaluated each iteration, so pass a local for it when that matters.
   */
  forLt(i: number, start: () => void, end: () => void, step: number | (() => void), body: (brk: Label) => void): this {
    start();
    this.set(i);
    return this.block((brk) => {
      this.loop((top) => {
        this.get(i);
        end();
        this.i32GeS().brIf(brk);
        body(brk);
        this.get(i);
        if (typeof step === 'number') this.i32(step);
        else step();
        this.i32Add().set(i).br(top);
      });
    });
  }

  // ---- locals and constants ----
  get(i: number): this {
    this.op(0x20);
    uleb(this.code, i);
    return this;
  }
  set(i: number): this {
    this.op(0x21);
    uleb(this.code, i);
    return this;
  }
  tee(i: number): this {
    this.op(0x22);
    uleb(this.code, i);
    return this;
  }
  i32(v: number): this {
    this.op(0x41);
    sleb(this.code, v);
    return this;
  }
  f32(v: number): this {
    this.op(0x43);
    const b = new Uint8Array(new Float32Array([v]).buffer);
    for (const x of b) this.code.push(x);
    return this;
  }
  /** i64.const, for the timeout of memory.atomic.wait32 (values within the i32 range). */
  i64(v: number): this {
    this.op(0x42);
    sleb(this.code, v);
    return this;
  }
  v128Zero(): this {
    this.simd(0x0c);
    for (let i = 0; i < 16; i++) this.code.push(0);
    return this;
  }

  // ---- i32 ----
  i32Eqz(): this { return this.op(0x45); }
  i32Eq(): this { return this.op(0x46); }
  i32Ne(): this { return this.op(0x47); }
  i32LtS(): this { return this.op(0x48); }
  i32GtS(): this { return this.op(0x4a); }
  i32LeS(): this { return this.op(0x4c); }
  i32GeS(): this { return this.op(0x4e); }
  i32Add(): this { return this.op(0x6a); }
  i32Sub(): this { return this.op(0x6b); }
  i32Mul(): this { return this.op(0x6c); }
  i32DivU(): this { return this.op(0x6e); }
  i32RemU(): this { return this.op(0x70); }
  i32And(): this { return this.op(0x71); }
  i32Or(): this { return this.op(0x72); }
  i32Shl(): this { return this.op(0x74); }
  /** Pops b, a; pushes min(a, b) (signed). Uses two scratch locals of the caller's choosing. */
  i32MinS(ta: number, tb: number): this {
    return this.set(tb).tee(ta).get(tb).get(ta).get(tb).i32LtS().select();
  }

  // ---- memory (alignment hints are log2 bytes; offsets are immediate, in bytes) ----
  i32Load(offset = 0): this { return this.op(0x28).memarg(2, offset); }
  i32Store(offset = 0): this { return this.op(0x36).memarg(2, offset); }
  f32Load(offset = 0): this { return this.op(0x2a).memarg(2, offset); }
  f32Store(offset = 0): this { return this.op(0x38).memarg(2, offset); }
  v128Load(offset = 0): this { return this.simd(0x00).memarg(4, offset); }
  v128Store(offset = 0): this { return this.simd(0x0b).memarg(4, offset); }
  v128Load32Splat(offset = 0): this { return this.simd(0x09).memarg(2, offset); }

  // ---- atomics (threads proposal: 0xfe prefix; alignment must be the natural one) ----
  private atomic(sub: number, offset: number): this {
    this.code.push(0xfe);
    uleb(this.code, sub);
    return this.memarg(2, offset);
  }
  /** addr, count -> number of waiters woken. */
  atomicNotify(offset = 0): this { return this.atomic(0x00, offset); }
  /** addr, expected i32, timeout i64 (ns, -1 = forever) -> 0 woken, 1 not equal, 2 timed out. */
  atomicWait32(offset = 0): this { return this.atomic(0x01, offset); }
  i32AtomicLoad(offset = 0): this { return this.atomic(0x10, offset); }
  i32AtomicStore(offset = 0): this { return this.atomic(0x17, offset); }
  /** addr, value -> the old value. */
  i32AtomicAdd(offset = 0): this { return this.atomic(0x1e, offset); }

  // ---- lane moves ----
  /** Pops b, a; pushes the 16 bytes picked by `lanes` from a (0..15) and b (16..31). */
  i8x16Shuffle(lanes: readonly number[]): this {
    if (lanes.length !== 16 || lanes.some((l) => !Number.isInteger(l) || l < 0 || l > 31)) throw new Error('i8x16.shuffle: bad lanes');
    this.simd(0x0d);
    for (const l of lanes) this.code.push(l);
    return this;
  }
  f32x4ExtractLane(lane: number): this {
    this.simd(0x1f);
    this.code.push(lane);
    return this;
  }

  // ---- f32 / f32x4 (separately rounded; no fused multiply-add exists here on purpose) ----
  f32Add(): this { return this.op(0x92); }
  f32Mul(): this { return this.op(0x94); }
  f32x4Add(): this { return this.simd(0xe4); }
  f32x4Mul(): this { return this.simd(0xe6); }
  // (used by the AdamW kernel, ../kernels/adamw/wasm.ts)
  f32x4Sub(): this { return this.simd(0xe5); }
  f32x4Div(): this { return this.simd(0xe7); }
  f32x4Sqrt(): this { return this.simd(0xe3); }
  // Lane comparisons (all-ones or all-zeros masks) and a mask, for the CPU backend's
  // comparisons (map2 in gemm-f32.ts).
  f32x4Cmp(op: 'eq' | 'ne' | 'lt' | 'gt' | 'le' | 'ge'): this {
    return this.simd({ eq: 0x41, ne: 0x42, lt: 0x43, gt: 0x44, le: 0x45, ge: 0x46 }[op]);
  }
  f32x4Splat(): this { return this.simd(0x13); }
  v128And(): this { return this.simd(0x4e); }

  /** The encoded body: local declarations, instructions, end. */
  body(): number[] {
    if (this.labels.length) throw new Error('assembler: unclosed block');
    const out: number[] = [];
    const groups: Array<[number, ValType]> = [];
    for (const t of this.locals) {
      const last = groups[groups.length - 1];
      if (last && last[1] === t) last[0]++;
      else groups.push([1, t]);
    }
    uleb(out, groups.length);
    for (const [count, t] of groups) {
      uleb(out, count);
      out.push(t);
    }
    for (const b of this.code) out.push(b);
    out.push(0x0b);
    return out;
  }
}

export interface MemoryImport {
  module: string;
  name: string;
  /** In 64 KiB pages. */
  initial: number;
  maximum: number;
  shared: boolean;
}

/** A module: one imported memory and a list of functions, some exported. */
export class ModuleBuilder {
  private readonly funcs: FunctionBuilder[] = [];
  constructor(private readonly memory: MemoryImport) {}

  /** Adds a function; it can be called by functions emitted after this. */
  add(f: FunctionBuilder): FunctionBuilder {
    f.index = this.funcs.length;
    this.funcs.push(f);
    return f;
  }

  toBytes(): Uint8Array {
    const out: number[] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
    const section = (id: number, content: number[]): void => {
      out.push(id);
      uleb(out, content.length);
      for (const b of content) out.push(b);
    };
    // Types: one per function (duplicates are allowed and keep this simple).
    const types: number[] = [];
    uleb(types, this.funcs.length);
    for (const f of this.funcs) {
      types.push(0x60);
      uleb(types, f.params.length);
      types.push(...f.params);
      uleb(types, f.results.length);
      types.push(...f.results);
    }
    section(1, types);
    const imports: number[] = [];
    uleb(imports, 1);
    name(imports, this.memory.module);
    name(imports, this.memory.name);
    imports.push(0x02, this.memory.shared ? 0x03 : 0x01);
    uleb(imports, this.memory.initial);
    uleb(imports, this.memory.maximum);
    section(2, imports);
    const fsec: number[] = [];
    uleb(fsec, this.funcs.length);
    this.funcs.forEach((_, i) => uleb(fsec, i));
    section(3, fsec);
    const exported = this.funcs.filter((f) => f.exportName !== null);
    const exports: number[] = [];
    uleb(exports, exported.length);
    for (const f of exported) {
      name(exports, f.exportName!);
      exports.push(0x00);
      uleb(exports, f.index);
    }
    section(7, exports);
    const code: number[] = [];
    uleb(code, this.funcs.length);
    for (const f of this.funcs) {
      const body = f.body();
      uleb(code, body.length);
      for (const b of body) code.push(b);
    }
    section(10, code);
    return Uint8Array.from(out);
  }
}
