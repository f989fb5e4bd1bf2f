/**
 * Checkpoints in the safetensors format (https://huggingface.co/docs/safetensors), so weights
 * move between stablerl and the Python ecosystem (torch, transformers) without pickle. One file
 * of ~420 lines because the reader's checks (every way a file can be malformed, each with its
 * own error) and the writer share one description of the format.
 *
 * The format, byte for byte:
 *   [0, 8)        N: the header length, an unsigned 64-bit little-endian integer
 *   [8, 8 + N)    the header: UTF-8 JSON, `{"__metadata__": {str: str}?, name: {"dtype": "F32",
 *                 "shape": [..], "data_offsets": [begin, end]}, ...}`, padded with spaces so
 *                 that N is a multiple of 8 (the data then starts 8-byte aligned)
 *   [8 + N, end)  the data buffer: each tensor's elements, row-major, little-endian, at
 *                 [begin, end) relative to the start of the buffer. The tensors tile the buffer
 *                 exactly: no gaps, no overlaps, no trailing bytes.
 *
 * Writing follows the reference implementation (huggingface/safetensors, `prepare` in
 * tensor.rs) so that the same tensors give the same bytes: compact JSON; `__metadata__` first
 * (only when given); tensors in descending dtype alignment (the reference's Dtype order, which
 * for our dtypes is F64, F32, I32), then by name in code-point (= UTF-8 byte) order; header
 * padded with spaces. The one freedom the reference leaves (it stores metadata in a hash map)
 * we fix: metadata keys are written in code-point order.
 *
 * Reading validates the whole file before building any tensor and throws a `CheckpointError`
 * naming the file and tensor. F32, F64 and I32 load as themselves; BF16 and F16 (which other
 * tools write) load converted exactly to f32. Other safetensors dtypes (I64, U8, ...) are
 * rejected with a clear error.
 *
 * Encoding is async because GPU tensors are read back with `await t.toArray()`; so
 * `encodeSafetensors` and `saveSafetensors` both return Promises. `saveSafetensors` is atomic:
 * it writes `<path>.tmp-<pid>-<random>` in the same directory, fsyncs it and renames it over
 * the target, so a crash or error leaves either the old file or the new one, never a mix, and
 * on error the temporary file is removed.
 */
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  type DeviceName,
  DTypeError,
  type DType,
  fromTypedArray,
  StablerlError,
  Tensor,
  type TypedArray,
} from '../tensor/index.js';

/** A checkpoint file or byte buffer that is not valid safetensors, or cannot be read/written. */
export class CheckpointError extends StablerlError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message);
    if (options && 'cause' in options) this.cause = options.cause;
  }
}

export type SafetensorsInput = Map<string, Tensor> | Record<string, Tensor>;

export interface DecodedSafetensors {
  /** name → tensor, in file (data offset) order. */
  tensors: Map<string, Tensor>;
  /** The header's `__metadata__` ({} when absent). */
  metadata: Record<string, string>;
}

export interface DecodeOptions {
  /** Names the source in error messages (loadSafetensors passes the path). */
  source?: string;
  /** Device for the decoded tensors (default 'cpu'). */
  device?: DeviceName;
}

/** Headers above this are refused, as the reference does (it guards against memory bombs). */
export const MAX_HEADER_BYTES = 100_000_000;

/** Every dtype name the safetensors spec defines, with its element size in bytes. */
const SPEC_DTYPE_SIZE: Readonly<Record<string, number>> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, F8_E8M0: 1, F4: 1, F6_E2M3: 1, F6_E3M2: 1,
  I16: 2, U16: 2, F16: 2, BF16: 2, I32: 4, U32: 4, F32: 4, F64: 8, I64: 8, U64: 8, C64: 8,
};

/** Our dtypes, their safetensors names, and their rank in the reference's write order. */
const TO_SPEC: Readonly<Record<DType, { name: string; size: number; order: number }>> = {
  f64: { name: 'F64', size: 8, order: 0 },
  f32: { name: 'F32', size: 4, order: 1 },
  i32: { name: 'I32', size: 4, order: 2 },
};

/** Safetensors dtypes we can load, and the stablerl dtype each becomes. */
const LOADABLE: Readonly<Record<string, DType>> = { F64: 'f64', F32: 'f32', I32: 'i32', BF16: 'f32', F16: 'f32' };

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// ---------------------------------------------------------------------------------------------
// Writing

interface PlannedTensor {
  name: string;
  tensor: Tensor;
  begin: number;
  end: number;
}

interface Plan {
  /** The 8-byte length prefix followed by the padded header. */
  head: Uint8Array;
  tensors: PlannedTensor[];
  dataBytes: number;
}

/** Code-point order (equal to UTF-8 byte order, which Rust's `str::cmp` uses). */
function compareCodePoints(a: string, b: string): number {
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next();
    const y = ib.next();
    if (x.done || y.done) return x.done === y.done ? 0 : x.done ? -1 : 1;
    const d = x.value.codePointAt(0)! - y.value.codePointAt(0)!;
    if (d !== 0) return d;
  }
}

/** Lone UTF-16 surrogates: not Unicode, so not representable in the UTF-8 header. */
const LONE_SURROGATE = /\p{Cs}/u;

function entriesOf(op: string, tensors: SafetensorsInput): [string, Tensor][] {
  if (tensors === null || typeof tensors !== 'object') {
    throw new CheckpointError(`${op}: tensors must be a Map<string, Tensor> or a Record<string, Tensor>, got ${tensors === null ? 'null' : typeof tensors}`);
  }
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  for (const [name, t] of entries) {
    if (typeof name !== 'string') throw new CheckpointError(`${op}: tensor names must be strings, got ${typeof name} ${String(name)}`);
    if (LONE_SURROGATE.test(name)) throw new CheckpointError(`${op}: tensor name ${JSON.stringify(name)} contains a lone UTF-16 surrogate, which UTF-8 JSON cannot hold`);
    if (name === '__metadata__') throw new CheckpointError(`${op}: '__metadata__' is reserved by the format for the metadata map; it cannot name a tensor`);
    if (!(t instanceof Tensor)) throw new CheckpointError(`${op}: tensor '${name}' is not a Tensor (got ${t === null ? 'null' : typeof t})`);
    if (!Object.hasOwn(TO_SPEC, t.dtype)) {
      throw new DTypeError(`${op}: tensor '${name}' has dtype ${String(t.dtype)}, which cannot be saved; supported dtypes are f32, f64, i32`);
    }
    if (t.isDisposed) throw new CheckpointError(`${op}: tensor '${name}' was disposed; it cannot be saved`);
  }
  return entries;
}

function metadataEntries(op: string, metadata: Record<string, string> | undefined): [string, string][] | null {
  if (metadata === undefined) return null;
  if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata) || metadata instanceof Map) {
    throw new CheckpointError(`${op}: metadata must be a plain object of string → string`);
  }
  const entries = Object.entries(metadata);
  for (const [k, v] of entries) {
    if (typeof v !== 'string') throw new CheckpointError(`${op}: metadata '${k}' is a ${typeof v}; safetensors metadata values must be strings`);
    if (LONE_SURROGATE.test(k) || LONE_SURROGATE.test(v)) {
      throw new CheckpointError(`${op}: metadata ${JSON.stringify(k)} contains a lone UTF-16 surrogate, which UTF-8 JSON cannot hold`);
    }
  }
  return entries.sort(([a], [b]) => compareCodePoints(a, b));
}

/** Validates the input and lays out header and data: everything but the tensor values. */
function plan(op: string, tensors: SafetensorsInput, metadata: Record<string, string> | undefined): Plan {
  const entries = entriesOf(op, tensors).sort(
    ([na, a], [nb, b]) => TO_SPEC[a.dtype].order - TO_SPEC[b.dtype].order || compareCodePoints(na, nb),
  );
  const meta = metadataEntries(op, metadata);
  // Built by hand, not with JSON.stringify(object): JS objects put integer-like keys ("0")
  // first, which would break the required order.
  const parts: string[] = [];
  if (meta !== null) parts.push(`"__metadata__":{${meta.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`);
  let offset = 0;
  const planned: PlannedTensor[] = [];
  for (const [name, t] of entries) {
    const spec = TO_SPEC[t.dtype];
    const begin = offset;
    offset += t.size * spec.size;
    planned.push({ name, tensor: t, begin, end: offset });
    parts.push(`${JSON.stringify(name)}:{"dtype":"${spec.name}","shape":[${t.shape.join(',')}],"data_offsets":[${begin},${offset}]}`);
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const n = Math.ceil(json.length / 8) * 8;
  const head = new Uint8Array(8 + n).fill(0x20, 8 + json.length);
  new DataView(head.buffer).setBigUint64(0, BigInt(n), true);
  head.set(json, 8);
  return { head, tensors: planned, dataBytes: offset };
}

/** Reverses the bytes of each `size`-byte element in place (big-endian hosts only). */
function swapBytes(bytes: Uint8Array, size: number): void {
  for (let i = 0; i < bytes.length; i += size) bytes.subarray(i, i + size).reverse();
}

/** A tensor's values as little-endian bytes (read back from its device). */
async function tensorBytes(op: string, p: PlannedTensor): Promise<Uint8Array> {
  const t = p.tensor;
  const a: TypedArray = await t.toArray();
  const expected = { f32: Float32Array, f64: Float64Array, i32: Int32Array }[t.dtype];
  if (!(a instanceof expected) || a.length !== t.size) {
    throw new CheckpointError(`${op}: reading tensor '${p.name}' back gave ${a.length} values of ${a.constructor.name}, expected ${t.size} of ${expected.name}`);
  }
  const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  if (LITTLE_ENDIAN) return bytes;
  const copy = bytes.slice();
  swapBytes(copy, TO_SPEC[t.dtype].size);
  return copy;
}

/**
 * Serialises tensors (any device; read back with `await t.toArray()`) and optional string
 * metadata to safetensors bytes. Async because device reads are. Throws DTypeError for a dtype
 * the format cannot hold, CheckpointError for other bad input.
 */
export async function encodeSafetensors(tensors: SafetensorsInput, metadata?: Record<string, string>): Promise<Uint8Array> {
  const op = 'encodeSafetensors';
  const p = plan(op, tensors, metadata);
  const out = new Uint8Array(p.head.length + p.dataBytes);
  out.set(p.head, 0);
  for (const t of p.tensors) out.set(await tensorBytes(op, t), p.head.length + t.begin);
  return out;
}

/**
 * Writes a safetensors file atomically: a temporary file in the same directory, fsynced, then
 * renamed over `path` (rename within a directory is atomic on POSIX). Tensors are read back and
 * written one at a time, so peak extra memory is one tensor. On any error the previous file at
 * `path` is untouched and the temporary file is removed.
 */
export async function saveSafetensors(path: string, tensors: SafetensorsInput, metadata?: Record<string, string>): Promise<void> {
  const op = 'saveSafetensors';
  const p = plan(op, tensors, metadata);
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  let fh: Awaited<ReturnType<typeof open>> | null = null;
  try {
    fh = await open(tmp, 'wx');
    await writeAll(fh, p.head);
    for (const t of p.tensors) await writeAll(fh, await tensorBytes(op, t));
    await fh.sync();
    await fh.close();
    fh = null;
    await rename(tmp, path);
  } catch (e) {
    await fh?.close().catch(() => undefined);
    await rm(tmp, { force: true }).catch(() => undefined);
    if (e instanceof StablerlError) throw e;
    throw new CheckpointError(`${op}: cannot write '${path}': ${(e as Error).message}`, { cause: e });
  }
  // Make the rename itself durable. Best effort: some platforms cannot fsync a directory.
  try {
    const d = await open(dirname(path), 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch {
    /* not fatal: the file itself is complete and in place */
  }
}

async function writeAll(fh: Awaited<ReturnType<typeof open>>, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await fh.write(bytes, done, bytes.length - done);
    done += bytesWritten;
  }
}

// ---------------------------------------------------------------------------------------------
// Reading

interface HeaderEntry {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

const fmt = (xs: readonly number[]) => `[${xs.join(', ')}]`;

function isCount(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

function parseEntry(fail: (m: string) => never, name: string, info: unknown): HeaderEntry {
  if (info === null || typeof info !== 'object' || Array.isArray(info)) fail(`tensor '${name}': header entry is not an object`);
  const { dtype, shape, data_offsets: off } = info as Record<string, unknown>;
  if (typeof dtype !== 'string') fail(`tensor '${name}': "dtype" is missing or not a string`);
  if (!Object.hasOwn(SPEC_DTYPE_SIZE, dtype)) {
    fail(`tensor '${name}' has unknown dtype '${dtype}'; safetensors dtypes are ${Object.keys(SPEC_DTYPE_SIZE).join(', ')}`);
  }
  if (!Array.isArray(shape) || !shape.every(isCount)) fail(`tensor '${name}': "shape" must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
  if (!Array.isArray(off) || off.length !== 2 || !off.every(isCount)) {
    fail(`tensor '${name}': "data_offsets" must be [begin, end] with non-negative integers, got ${JSON.stringify(off)}`);
  }
  return { name, dtype, shape: shape as number[], begin: off[0] as number, end: off[1] as number };
}

/** Converts IEEE half-precision bits to a number (exact: every f16 value is an f32 value). */
function f16ToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 31) return m ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

/** A tensor's bytes (little-endian, any alignment) as a typed array of its stablerl dtype. */
function toTyped(dtype: string, raw: Uint8Array): TypedArray {
  if (dtype === 'BF16' || dtype === 'F16') {
    const n = raw.length / 2;
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const out = new Float32Array(n);
    if (dtype === 'BF16') {
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) bits[i] = view.getUint16(2 * i, true) << 16;
    } else {
      for (let i = 0; i < n; i++) out[i] = f16ToNumber(view.getUint16(2 * i, true));
    }
    return out;
  }
  const copy = new Uint8Array(raw); // a fresh, aligned copy (Buffer#slice would be a view)
  const size = SPEC_DTYPE_SIZE[dtype]!;
  if (!LITTLE_ENDIAN) swapBytes(copy, size);
  if (dtype === 'F64') return new Float64Array(copy.buffer);
  if (dtype === 'F32') return new Float32Array(copy.buffer);
  return new Int32Array(copy.buffer);
}

/**
 * Parses safetensors bytes into tensors (on `opts.device`, default CPU) and the metadata map.
 * The whole layout is validated first; any problem throws a CheckpointError that names the
 * source, the tensor and what is wrong.
 */
export function decodeSafetensors(bytes: Uint8Array, opts: DecodeOptions = {}): DecodedSafetensors {
  const src = opts.source ?? '<bytes>';
  const fail = (m: string): never => {
    throw new CheckpointError(`safetensors ${src}: ${m}`);
  };
  if (!(bytes instanceof Uint8Array)) fail(`expected a Uint8Array, got ${bytes === null ? 'null' : typeof bytes}`);
  if (bytes.length < 8) fail(`truncated: ${bytes.length} bytes, fewer than the 8-byte header length prefix`);
  const n = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) fail(`header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit (corrupt, or not a safetensors file)`);
  const headerLen = Number(n);
  if (8 + headerLen > bytes.length) {
    fail(`truncated: header length ${headerLen} is larger than the ${bytes.length - 8} bytes after the length prefix`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes.subarray(8, 8 + headerLen));
  } catch {
    return fail('header is not valid UTF-8');
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    return fail(`header is not valid JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) fail('header JSON is not an object');

  let metadata: Record<string, string> = {};
  const entries: HeaderEntry[] = [];
  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (info === null) continue;
      if (typeof info !== 'object' || Array.isArray(info)) fail('"__metadata__" must be an object of string → string');
      for (const [k, v] of Object.entries(info as object)) {
        if (typeof v !== 'string') fail(`"__metadata__" value '${k}' is ${JSON.stringify(v)}, not a string`);
      }
      metadata = Object.fromEntries(Object.entries(info as Record<string, string>));
      continue;
    }
    entries.push(parseEntry(fail, name, info));
  }

  // The tensors must tile the data buffer exactly, in offset order.
  const data = bytes.subarray(8 + headerLen);
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let prev: HeaderEntry | null = null;
  for (const e of entries) {
    const off = fmt([e.begin, e.end]);
    if (e.end < e.begin) fail(`tensor '${e.name}': data_offsets ${off} end before they begin`);
    if (e.end > data.length) fail(`tensor '${e.name}': data_offsets ${off} are out of range; the data buffer has ${data.length} bytes`);
    if (e.begin < covered) fail(`tensor '${e.name}': data_offsets ${off} overlap tensor '${prev!.name}' at ${fmt([prev!.begin, prev!.end])}`);
    if (e.begin > covered) fail(`data bytes ${fmt([covered, e.begin])} are not covered by any tensor (gap before tensor '${e.name}')`);
    let elements = 1;
    for (const d of e.shape) elements *= d;
    const expected = elements * SPEC_DTYPE_SIZE[e.dtype]!;
    if (expected !== e.end - e.begin) {
      fail(`tensor '${e.name}': shape ${fmt(e.shape)} × ${e.dtype} (${SPEC_DTYPE_SIZE[e.dtype]} bytes) needs ${expected} bytes, but data_offsets ${off} span ${e.end - e.begin}`);
    }
    if (!Object.hasOwn(LOADABLE, e.dtype)) {
      fail(`tensor '${e.name}' has dtype ${e.dtype}, which stablerl cannot load (supported: F32, F64, I32; BF16 and F16 load as f32)`);
    }
    covered = e.end;
    prev = e;
  }
  if (covered !== data.length) {
    fail(`data buffer has ${data.length - covered} trailing bytes ${fmt([covered, data.length])} not covered by any tensor`);
  }

  const tensors = new Map<string, Tensor>();
  for (const e of entries) {
    const values = toTyped(e.dtype, data.subarray(e.begin, e.end));
    tensors.set(e.name, fromTypedArray(values, e.shape, opts.device ? { device: opts.device } : {}));
  }
  return { tensors, metadata };
}

/** Reads and decodes a safetensors file. Errors name the path. */
export async function loadSafetensors(path: string, opts: { device?: DeviceName } = {}): Promise<DecodedSafetensors> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw new CheckpointError(`loadSafetensors: cannot read '${path}': ${(e as Error).message}`, { cause: e });
  }
  return decodeSafetensors(bytes, { ...opts, source: `'${path}'` });
}
