/**
 * safetensors checkpoints: known-answer bytes (our own tiny file and the reference
 * implementation's test vectors, rebuilt here from the spec), a file laid out as Python's
 * safetensors writes it (metadata, F64/F32/I32/BF16/F16), bit-exact round trips through bytes
 * and files (fast-check, ranks 0–4, empty tensors, NaN/±0/±Inf), a typed error with a precise
 * message for every kind of corrupt input, and atomic saves that leave the old file intact
 * and no temporary file behind when they fail.
 */
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DTypeError, StablerlError, tensor, zeros, type Tensor } from '../../src/index.js';
import {
  CheckpointError,
  decodeSafetensors,
  encodeSafetensors,
  loadSafetensors,
  saveSafetensors,
} from '../../src/nn/safetensors.js';
import { expectError, expectRejection } from '../helpers/assert.js';
import { describeGpu } from '../helpers/gpu.js';

// ---- byte builders (the spec, written out) --------------------------------------------------

const utf8 = (s: string) => new TextEncoder().encode(s);
function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
function le64(n: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n), true);
  return b;
}
function leBytes(kind: 'f32' | 'f64' | 'i32' | 'u16' | 'i64', values: number[]): Uint8Array {
  const size = { f32: 4, f64: 8, i32: 4, u16: 2, i64: 8 }[kind];
  const b = new Uint8Array(values.length * size);
  const v = new DataView(b.buffer);
  values.forEach((x, i) => {
    if (kind === 'f32') v.setFloat32(i * size, x, true);
    else if (kind === 'f64') v.setFloat64(i * size, x, true);
    else if (kind === 'i32') v.setInt32(i * size, x, true);
    else if (kind === 'u16') v.setUint16(i * size, x, true);
    else v.setBigInt64(i * size, BigInt(x), true);
  });
  return b;
}
/** A whole file: length prefix, header (optionally space-padded to 8), data. */
function file(header: string, data: Uint8Array = new Uint8Array(0), pad = true): Uint8Array {
  let h: Uint8Array = utf8(header);
  if (pad && h.length % 8) h = concat(h, utf8(' '.repeat(8 - (h.length % 8))));
  return concat(le64(h.length), h, data);
}

/** Bit-level equality of two tensors' data (distinguishes NaN payloads and -0). */
async function expectSameTensor(a: Tensor, b: Tensor): Promise<void> {
  expect(a.dtype).toBe(b.dtype);
  expect([...a.shape]).toEqual([...b.shape]);
  const x = await a.toArray();
  const y = await b.toArray();
  expect(new Uint8Array(x.buffer, x.byteOffset, x.byteLength)).toEqual(new Uint8Array(y.buffer, y.byteOffset, y.byteLength));
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stablerl-safetensors-'));
});
afterAll(async () => {
  await chmod(dir, 0o700).catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

// ---- known answers --------------------------------------------------------------------------

describe('known-answer bytes', () => {
  it('{"a": F32 [2] = [1, 2]}: hand-built bytes decode, and encode reproduces them exactly', async () => {
    const header = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'; // 54 bytes → padded to 56
    expect(header.length).toBe(54);
    const bytes = concat(le64(56), utf8(header), utf8('  '), new Uint8Array([0, 0, 0x80, 0x3f, 0, 0, 0, 0x40]));
    expect(bytes.length).toBe(8 + 56 + 8);

    const { tensors, metadata } = decodeSafetensors(bytes);
    expect([...tensors.keys()]).toEqual(['a']);
    const a = tensors.get('a')!;
    expect(a.dtype).toBe('f32');
    expect(a.shape).toEqual([2]);
    expect(a.device).toBe('cpu');
    expect(a.tolistSync()).toEqual([1, 2]);
    expect(metadata).toEqual({});

    expect(await encodeSafetensors({ a: tensor([1, 2]) })).toEqual(bytes);
    expect(await encodeSafetensors(new Map([['a', tensor([1, 2])]]))).toEqual(bytes);
  });

  // The reference implementation's own unit-test vectors (huggingface/safetensors, tensor.rs).
  it('reference vector "attn.0" F32 [1,2,3]: header is exactly 64 bytes, so no padding', async () => {
    const header = '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}';
    expect(header.length).toBe(64);
    const expected = concat(le64(64), utf8(header), leBytes('f32', [0, 1, 2, 3, 4, 5]));
    expect(await encodeSafetensors({ 'attn.0': tensor([0, 1, 2, 3, 4, 5], { shape: [1, 2, 3] }) })).toEqual(expected);
  });

  it('reference vector "attn0" F32 [1,1,2,3]: 65-byte header padded with 7 spaces to 72', async () => {
    const header = '{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}';
    expect(header.length).toBe(65);
    const expected = concat(le64(72), utf8(header + ' '.repeat(7)), leBytes('f32', [0, 1, 2, 3, 4, 5]));
    const out = await encodeSafetensors({ attn0: tensor([0, 1, 2, 3, 4, 5], { shape: [1, 1, 2, 3] }) });
    expect(out).toEqual(expected);
    expect(decodeSafetensors(out).tensors.get('attn0')!.tolistSync()).toEqual([[[[0, 1, 2], [3, 4, 5]]]]);
  });

  it('reference vectors for no tensors: "{}" + 6 spaces; with metadata {framework: pt}', async () => {
    expect(await encodeSafetensors({})).toEqual(concat(le64(8), utf8('{}      ')));
    const withMeta = concat(le64(40), utf8('{"__metadata__":{"framework":"pt"}}     '));
    expect(await encodeSafetensors({}, { framework: 'pt' })).toEqual(withMeta);
    const d = decodeSafetensors(withMeta);
    expect(d.tensors.size).toBe(0);
    expect(d.metadata).toEqual({ framework: 'pt' });
  });

  it('layout: metadata first (keys sorted), then F64, F32, I32, each group by name in code-point order', async () => {
    const t = {
      b: tensor([1], { dtype: 'f32' }),
      a: tensor([7], { dtype: 'i32' }),
      '0': tensor([2], { dtype: 'f32' }), // an integer-like key, which JS objects would reorder
      z: tensor([3], { dtype: 'f64' }),
      '\u{1F600}': tensor([4], { dtype: 'f32' }), // astral: after U+FFFF in code-point order
      '\uFFFD': tensor([5], { dtype: 'f32' }), // but before it in UTF-16 unit order
    };
    const out = await encodeSafetensors(t, { z: '1', a: 'quote " and \\ and \n' });
    const n = Number(new DataView(out.buffer).getBigUint64(0, true));
    const header = new TextDecoder().decode(out.subarray(8, 8 + n));
    expect(header.trimEnd()).toBe(
      '{"__metadata__":{"a":"quote \\" and \\\\ and \\n","z":"1"},' +
        '"z":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},' +
        '"0":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},' +
        '"b":{"dtype":"F32","shape":[1],"data_offsets":[12,16]},' +
        '"\uFFFD":{"dtype":"F32","shape":[1],"data_offsets":[16,20]},' +
        '"\u{1F600}":{"dtype":"F32","shape":[1],"data_offsets":[20,24]},' +
        '"a":{"dtype":"I32","shape":[1],"data_offsets":[24,28]}}',
    );
    expect(n % 8).toBe(0);
    expect(out.subarray(8 + n)).toEqual(concat(leBytes('f64', [3]), leBytes('f32', [2, 1, 5, 4]), leBytes('i32', [7])));
    const d = decodeSafetensors(out);
    expect([...d.tensors.keys()]).toEqual(['z', '0', 'b', '\uFFFD', '\u{1F600}', 'a']);
    expect(d.metadata).toEqual({ a: 'quote " and \\ and \n', z: '1' });
  });
});

// ---- files from other writers ---------------------------------------------------------------

describe('files written by other tools', () => {
  it('a file laid out as Python safetensors writes it (F64, F32, I32, BF16, F16 + metadata) loads', async () => {
    // save_file({...}, metadata={"format": "pt"}): metadata first, descending dtype alignment
    // (F64, F32, I32, BF16, F16), then name; compact JSON padded with spaces to a multiple of 8.
    const bf16 = [0x3f80, 0xc000, 0x7f80, 0xff80, 0x0000, 0x8000, 0x3fc0, 0x4049]; // 1, -2, Inf, -Inf, 0, -0, 1.5, 3.140625
    const f16 = [0x3c00, 0xc000, 0x0001, 0x7bff, 0x7c00, 0xfc00, 0x7e00, 0x8000, 0x3555]; // 1, -2, 2^-24, 65504, Inf, -Inf, NaN, -0, 0.333251953125
    const header =
      '{"__metadata__":{"format":"pt"},' +
      '"lm_head.weight":{"dtype":"F64","shape":[2,2],"data_offsets":[0,32]},' +
      '"embed.weight":{"dtype":"F32","shape":[3,1],"data_offsets":[32,44]},' +
      '"norm.weight":{"dtype":"F32","shape":[],"data_offsets":[44,48]},' +
      '"ids":{"dtype":"I32","shape":[2,0,3],"data_offsets":[48,48]},' +
      '"pos":{"dtype":"I32","shape":[3],"data_offsets":[48,60]},' +
      '"q.weight":{"dtype":"BF16","shape":[2,4],"data_offsets":[60,76]},' +
      '"k.weight":{"dtype":"F16","shape":[9],"data_offsets":[76,94]}}';
    const data = concat(
      leBytes('f64', [0.1, -2.5, 1e300, -0]),
      leBytes('f32', [1.5, -3.25, 7]),
      leBytes('f32', [0.5]),
      leBytes('i32', [-1, 2 ** 31 - 1, -(2 ** 31)]),
      leBytes('u16', bf16),
      leBytes('u16', f16),
    );
    const bytes = file(header, data);
    const path = join(dir, 'python.safetensors');
    await writeFile(path, bytes);
    const { tensors, metadata } = await loadSafetensors(path);
    expect(metadata).toEqual({ format: 'pt' });
    expect([...tensors.keys()]).toEqual(['lm_head.weight', 'embed.weight', 'norm.weight', 'ids', 'pos', 'q.weight', 'k.weight']);
    const get = (k: string) => tensors.get(k)!;
    expect(get('lm_head.weight').dtype).toBe('f64');
    expect(get('lm_head.weight').tolistSync()).toEqual([[0.1, -2.5], [1e300, -0]]);
    expect(Object.is((get('lm_head.weight').tolistSync() as number[][])[1]![1], -0)).toBe(true);
    expect(get('embed.weight').tolistSync()).toEqual([[1.5], [-3.25], [7]]);
    expect(get('norm.weight').shape).toEqual([]);
    expect(get('norm.weight').itemSync()).toBe(0.5);
    expect(get('ids').shape).toEqual([2, 0, 3]);
    expect(get('ids').dtype).toBe('i32');
    expect(get('ids').size).toBe(0);
    expect(get('pos').tolistSync()).toEqual([-1, 2 ** 31 - 1, -(2 ** 31)]);
    const q = get('q.weight');
    expect(q.dtype).toBe('f32');
    expect(q.shape).toEqual([2, 4]);
    expect([...q.toArraySync()]).toEqual([1, -2, Infinity, -Infinity, 0, -0, 1.5, 3.140625]);
    expect(Object.is(q.toArraySync()[5], -0)).toBe(true);
    const k = [...get('k.weight').toArraySync()];
    expect(get('k.weight').dtype).toBe('f32');
    expect(k.slice(0, 6)).toEqual([1, -2, 2 ** -24, 65504, Infinity, -Infinity]);
    expect(k[6]).toBeNaN();
    expect(Object.is(k[7], -0)).toBe(true);
    expect(k[8]).toBe(0.333251953125);
  });

  it('every F16 bit pattern converts exactly (checked against an independent decoding)', () => {
    const all = Array.from({ length: 65536 }, (_, i) => i);
    const bytes = file(`{"h":{"dtype":"F16","shape":[65536],"data_offsets":[0,${2 * 65536}]}}`, leBytes('u16', all));
    const got = decodeSafetensors(bytes).tensors.get('h')!.toArraySync();
    for (const h of all) {
      const e = (h >> 10) & 31;
      const m = h & 1023;
      const s = h >> 15 ? -1 : 1;
      // value = s · (e ? 1024 + m : m) · 2^(max(e,1) − 25)
      const want = e === 31 ? (m ? NaN : s * Infinity) : s * (e ? 1024 + m : m) * 2 ** (Math.max(e, 1) - 25);
      if (!Object.is(got[h], want)) expect(got[h], `f16 bits 0x${h.toString(16)}`).toBe(want);
    }
  });

  it('unpadded header, tensors listed out of offset order, whitespace in the JSON: loads', () => {
    const header = ' { "b" : {"shape": [1], "dtype": "I32", "data_offsets": [8, 12]}, "a": {"data_offsets": [0, 8], "dtype": "F64", "shape": []} }';
    const bytes = file(header, concat(leBytes('f64', [2.5]), leBytes('i32', [-4])), false);
    expect((8 + header.length) % 8).not.toBe(0); // data is not 8-byte aligned in the buffer
    const { tensors } = decodeSafetensors(bytes);
    expect([...tensors.keys()]).toEqual(['a', 'b']);
    expect(tensors.get('a')!.itemSync()).toBe(2.5);
    expect(tensors.get('b')!.tolistSync()).toEqual([-4]);
  });

  it('decodes from a Uint8Array view at a non-zero offset into a larger buffer', () => {
    const bytes = file('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', leBytes('f32', [3, 4]));
    const big = new Uint8Array(bytes.length + 5);
    big.set(bytes, 3);
    expect(decodeSafetensors(big.subarray(3, 3 + bytes.length)).tensors.get('a')!.tolistSync()).toEqual([3, 4]);
  });
});

// ---- round trips ----------------------------------------------------------------------------

type Spec = { dtype: 'f32' | 'f64' | 'i32'; shape: number[]; bits: number[] };

/** Any bit pattern, so NaN payloads, ±0, ±Inf and subnormals are all exercised. */
const specArb: fc.Arbitrary<Spec> = fc
  .record({
    dtype: fc.constantFrom('f32' as const, 'f64' as const, 'i32' as const),
    shape: fc.array(fc.oneof(fc.integer({ min: 0, max: 3 }), fc.constant(1)), { minLength: 0, maxLength: 4 }),
  })
  .chain(({ dtype, shape }) => {
    const n = shape.reduce((p, q) => p * q, 1) * (dtype === 'f64' ? 2 : 1);
    return fc.array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), { minLength: n, maxLength: n }).map((bits) => ({ dtype, shape, bits }));
  });

function build(s: Spec): Tensor {
  const words = Int32Array.from(s.bits);
  const data = s.dtype === 'f32' ? new Float32Array(words.buffer) : s.dtype === 'f64' ? new Float64Array(words.buffer) : words;
  return tensor(data, { shape: s.shape });
}

const nameArb = fc.oneof(
  fc.string({ minLength: 0, maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 6 }),
  fc.constantFrom('layers.0.attn.wq.weight', '0', '1', '__proto__', 'constructor', ''),
).filter((n) => n !== '__metadata__' && !/\p{Cs}/u.test(n));
const textArb = (maxLength: number) => fc.string({ unit: 'binary', maxLength }).filter((s) => !/\p{Cs}/u.test(s));

const tensorsArb = fc.dictionary(nameArb, specArb, { maxKeys: 6 });
const metaArb = fc.option(fc.dictionary(textArb(8), textArb(16), { maxKeys: 4 }), { nil: undefined });

async function checkRoundTrip(specs: Record<string, Spec>, meta: Record<string, string> | undefined, viaFile: string | null): Promise<void> {
  const input = new Map(Object.entries(specs).map(([k, s]) => [k, build(s)]));
  let out;
  if (viaFile === null) {
    const bytes = await encodeSafetensors(input, meta);
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    out = decodeSafetensors(bytes);
    // Deterministic: encoding the decoded tensors gives the same bytes back. (An absent
    // metadata map decodes as {}, which would be written back as "__metadata__":{}.)
    expect(await encodeSafetensors(out.tensors, meta === undefined ? undefined : out.metadata)).toEqual(bytes);
  } else {
    await saveSafetensors(viaFile, input, meta);
    out = await loadSafetensors(viaFile);
  }
  expect(new Set(out.tensors.keys())).toEqual(new Set(input.keys()));
  for (const [k, t] of input) await expectSameTensor(out.tensors.get(k)!, t);
  expect(out.metadata).toEqual(meta ?? {});
}

describe('round trips', () => {
  it('hand-picked: every dtype, ranks 0–4, empty tensors, special values, via bytes and via a file', async () => {
    const specs: Record<string, Spec> = {};
    const shapes = [[], [0], [3], [2, 0], [2, 3], [1, 2, 3], [2, 1, 2, 2], [0, 0, 0, 0]];
    for (const dtype of ['f32', 'f64', 'i32'] as const) {
      shapes.forEach((shape, i) => {
        const n = shape.reduce((p, q) => p * q, 1) * (dtype === 'f64' ? 2 : 1);
        specs[`${dtype}.${i}`] = { dtype, shape, bits: Array.from({ length: n }, (_, j) => ((j * 2654435761) | 0) ^ (i << 20)) };
      });
    }
    const special = { f32: tensor(Float32Array.from([NaN, -0, 0, Infinity, -Infinity, 1e-45, 3.4e38])), f64: tensor(Float64Array.from([NaN, -0, 5e-324, -Infinity, 1.7976931348623157e308])) };
    await checkRoundTrip(specs, { note: 'hand-picked' }, null);
    await checkRoundTrip(specs, undefined, join(dir, 'hand.safetensors'));
    const back = decodeSafetensors(await encodeSafetensors(special));
    await expectSameTensor(back.tensors.get('f32')!, special.f32);
    await expectSameTensor(back.tensors.get('f64')!, special.f64);
  });

  it('property: random tensors and metadata round-trip bit-exactly through bytes', async () => {
    await fc.assert(fc.asyncProperty(tensorsArb, metaArb, (t, m) => checkRoundTrip(t, m, null)), { numRuns: 150 });
  });

  it('property: random tensors round-trip bit-exactly through files', async () => {
    const path = join(dir, 'prop.safetensors');
    await fc.assert(fc.asyncProperty(tensorsArb, metaArb, (t, m) => checkRoundTrip(t, m, path)), { numRuns: 40 });
    expect((await readdir(dir)).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('decode(device) places the loaded tensors on the requested device', () => {
    const bytes = file('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', leBytes('f32', [1]));
    expect(decodeSafetensors(bytes, { device: 'cpu' }).tensors.get('a')!.device).toBe('cpu');
  });
});

describeGpu('GPU tensors', () => {
  it('saves WebGPU tensors (read back with toArray) and loads them onto the GPU', async () => {
    const w = tensor([[1, 2], [3, -4.5]], { device: 'webgpu' });
    const path = join(dir, 'gpu.safetensors');
    await saveSafetensors(path, { w, ids: tensor([3, 1], { dtype: 'i32' }) });
    const { tensors } = await loadSafetensors(path, { device: 'webgpu' });
    expect(tensors.get('w')!.device).toBe('webgpu');
    expect(await tensors.get('w')!.tolist()).toEqual([[1, 2], [3, -4.5]]);
    expect(decodeSafetensors(await readFile(path)).tensors.get('w')!.tolistSync()).toEqual([[1, 2], [3, -4.5]]);
  });
});

// ---- corrupt input --------------------------------------------------------------------------

describe('corrupt input → CheckpointError naming the source, the tensor and the problem', () => {
  const good = file('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"I32","shape":[1],"data_offsets":[8,12]}}', concat(leBytes('f32', [1, 2]), leBytes('i32', [3])));
  const bad = (header: string, data: Uint8Array = new Uint8Array(8)) => () => decodeSafetensors(file(header, data));
  const entry = (name: string, dtype: string, shape: number[], off: [number, number]) =>
    `"${name}":{"dtype":"${dtype}","shape":[${shape.join(',')}],"data_offsets":[${off.join(',')}]}`;

  it('CheckpointError is a StablerlError', () => {
    const e = expectError(() => decodeSafetensors(new Uint8Array(3)), CheckpointError);
    expect(e).toBeInstanceOf(StablerlError);
  });

  it('truncated: fewer than 8 bytes', () => {
    expectError(() => decodeSafetensors(new Uint8Array(5)), CheckpointError, /^safetensors <bytes>: truncated: 5 bytes, fewer than the 8-byte header length prefix$/);
  });

  it('truncated: header length larger than the file', () => {
    expectError(() => decodeSafetensors(good.subarray(0, 40)), CheckpointError, /truncated: header length 112 is larger than the 32 bytes after the length prefix/);
    expectError(() => decodeSafetensors(concat(le64(2 ** 40), utf8('{}'))), CheckpointError, /header length 1099511627776 exceeds the 100000000-byte limit/);
  });

  it('truncated: data cut short → out of range', () => {
    expectError(() => decodeSafetensors(good.subarray(0, good.length - 3)), CheckpointError, /tensor 'b': data_offsets \[8, 12\] are out of range; the data buffer has 9 bytes/);
  });

  it('header not UTF-8, not JSON, not an object', () => {
    expectError(() => decodeSafetensors(concat(le64(2), new Uint8Array([0x7b, 0xff]))), CheckpointError, /header is not valid UTF-8/);
    expectError(bad('{"a": {"dtype": "F32",'), CheckpointError, /header is not valid JSON \(.+\)/);
    expectError(bad('[1, 2]'), CheckpointError, /header JSON is not an object/);
    expectError(bad('null'), CheckpointError, /header JSON is not an object/);
  });

  it('malformed entries: not an object, missing dtype, bad shape, bad data_offsets', () => {
    expectError(bad('{"a": 3}'), CheckpointError, /tensor 'a': header entry is not an object/);
    expectError(bad('{"a": {"shape": [2], "data_offsets": [0, 8]}}'), CheckpointError, /tensor 'a': "dtype" is missing or not a string/);
    expectError(bad('{"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}'), CheckpointError, /tensor 'a': "shape" must be an array of non-negative integers, got \[-2\]/);
    expectError(bad('{"a": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 8]}}'), CheckpointError, /"shape" must be/);
    expectError(bad('{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0]}}'), CheckpointError, /tensor 'a': "data_offsets" must be \[begin, end\] with non-negative integers, got \[0\]/);
    expectError(bad('{"a": {"dtype": "F32", "shape": [2]}}'), CheckpointError, /"data_offsets" must be .* got undefined/);
  });

  it('unknown dtype; a valid but unsupported dtype', () => {
    expectError(bad(`{${entry('w', 'F33', [2], [0, 8])}}`), CheckpointError, /tensor 'w' has unknown dtype 'F33'; safetensors dtypes are .*BF16/);
    expectError(bad(`{${entry('w', 'toString', [2], [0, 8])}}`), CheckpointError, /tensor 'w' has unknown dtype 'toString'/);
    expectError(() => decodeSafetensors(file(`{${entry('ids', 'I64', [2], [0, 16])}}`, leBytes('i64', [1, 2]))), CheckpointError, /tensor 'ids' has dtype I64, which stablerl cannot load \(supported: F32, F64, I32; BF16 and F16 load as f32\)/);
  });

  it('offsets: reversed, out of range, overlapping, gap, trailing bytes', () => {
    expectError(bad(`{${entry('a', 'F32', [0], [8, 4])}}`), CheckpointError, /tensor 'a': data_offsets \[8, 4\] end before they begin/);
    expectError(bad(`{${entry('a', 'F32', [4], [0, 16])}}`), CheckpointError, /tensor 'a': data_offsets \[0, 16\] are out of range; the data buffer has 8 bytes/);
    expectError(bad(`{${entry('a', 'F32', [2], [0, 8])},${entry('b', 'F32', [1], [4, 8])}}`), CheckpointError, /tensor 'b': data_offsets \[4, 8\] overlap tensor 'a' at \[0, 8\]/);
    expectError(bad(`{${entry('a', 'F32', [1], [0, 4])},${entry('b', 'F32', [1], [0, 4])},${entry('c', 'F32', [1], [4, 8])}}`), CheckpointError, /overlap/);
    expectError(bad(`{${entry('a', 'F32', [1], [0, 4])},${entry('b', 'F32', [0], [6, 6])}}`), CheckpointError, /data bytes \[4, 6\] are not covered by any tensor \(gap before tensor 'b'\)/);
    expectError(bad(`{${entry('a', 'F32', [1], [4, 8])}}`), CheckpointError, /data bytes \[0, 4\] are not covered by any tensor \(gap before tensor 'a'\)/);
    expectError(bad(`{${entry('a', 'F32', [1], [0, 4])}}`), CheckpointError, /data buffer has 4 trailing bytes \[4, 8\] not covered by any tensor/);
    expectError(bad('{}', new Uint8Array(1)), CheckpointError, /data buffer has 1 trailing bytes/);
  });

  it('shape × dtype size ≠ byte length', () => {
    expectError(bad(`{${entry('a', 'F32', [3], [0, 8])}}`), CheckpointError, /tensor 'a': shape \[3\] × F32 \(4 bytes\) needs 12 bytes, but data_offsets \[0, 8\] span 8/);
    expectError(bad(`{${entry('a', 'F64', [], [0, 4])},${entry('b', 'F32', [1], [4, 8])}}`), CheckpointError, /tensor 'a': shape \[\] × F64 \(8 bytes\) needs 8 bytes, but data_offsets \[0, 4\] span 4/);
    expectError(bad(`{${entry('a', 'BF16', [2], [0, 8])}}`), CheckpointError, /shape \[2\] × BF16 \(2 bytes\) needs 4 bytes/);
  });

  it('bad __metadata__', () => {
    expectError(bad('{"__metadata__": {"step": 3}}', new Uint8Array()), CheckpointError, /"__metadata__" value 'step' is 3, not a string/);
    expectError(bad('{"__metadata__": ["x"]}', new Uint8Array()), CheckpointError, /"__metadata__" must be an object of string → string/);
  });

  it('loadSafetensors names the file; a missing file is a CheckpointError with the cause', async () => {
    const path = join(dir, 'corrupt.safetensors');
    await writeFile(path, good.subarray(0, good.length - 1));
    await expectRejection(loadSafetensors(path), CheckpointError, new RegExp(`^safetensors '${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}': tensor 'b'`));
    const missing = join(dir, 'nope.safetensors');
    const e = await expectRejection(loadSafetensors(missing), CheckpointError, /^loadSafetensors: cannot read '.*nope\.safetensors': ENOENT/);
    expect((e.cause as NodeJS.ErrnoException).code).toBe('ENOENT');
  });
});

// ---- invalid input on save ------------------------------------------------------------------

describe('invalid input on save', () => {
  it('an unsupported dtype is a DTypeError naming the tensor', async () => {
    const t = zeros([2]);
    (t as unknown as { dtype: string }).dtype = 'bool';
    const u = zeros([2]);
    (u as unknown as { dtype: string }).dtype = 'constructor';
    await expectRejection(encodeSafetensors({ u }), DTypeError, /tensor 'u' has dtype constructor/);
    await expectRejection(encodeSafetensors({ mask: t }), DTypeError, /^encodeSafetensors: tensor 'mask' has dtype bool, which cannot be saved; supported dtypes are f32, f64, i32$/);
  });

  it('reserved name, non-tensor value, disposed tensor, non-string metadata → CheckpointError', async () => {
    await expectRejection(encodeSafetensors({ __metadata__: zeros([1]) }), CheckpointError, /'__metadata__' is reserved/);
    await expectRejection(encodeSafetensors({ w: [1, 2] as unknown as Tensor }), CheckpointError, /tensor 'w' is not a Tensor \(got object\)/);
    await expectRejection(encodeSafetensors(new Map([[3 as unknown as string, zeros([1])]])), CheckpointError, /tensor names must be strings, got number 3/);
    const d = zeros([2]);
    d.dispose();
    await expectRejection(encodeSafetensors({ gone: d }), CheckpointError, /tensor 'gone' was disposed/);
    await expectRejection(encodeSafetensors({}, { step: 3 as unknown as string }), CheckpointError, /metadata 'step' is a number; safetensors metadata values must be strings/);
    // Python's reader (serde_json) rejects lone surrogates, so they are refused on save.
    await expectRejection(encodeSafetensors({ 'w\uD800': zeros([1]) }), CheckpointError, /tensor name "w\\ud800" contains a lone UTF-16 surrogate/);
    await expectRejection(encodeSafetensors({}, { k: 'v\uDC00' }), CheckpointError, /metadata "k" contains a lone UTF-16 surrogate/);
  });
});

// ---- atomic saves ---------------------------------------------------------------------------

describe('atomic saves', () => {
  const tmpFiles = async (d: string) => (await readdir(d)).filter((f) => f.includes('.tmp-'));
  let n = 0;
  async function freshDirWithOld(): Promise<{ d: string; path: string; old: Uint8Array }> {
    const d = join(dir, `atomic-${n++}`);
    await mkdir(d);
    const path = join(d, 'model.safetensors');
    await saveSafetensors(path, { w: tensor([1, 2, 3]) }, { version: 'old' });
    return { d, path, old: await readFile(path) };
  }

  it('a successful save replaces the file and leaves no temporary file', async () => {
    const { d, path } = await freshDirWithOld();
    await saveSafetensors(path, { w: tensor([4, 5]) }, { version: 'new' });
    const { tensors, metadata } = await loadSafetensors(path);
    expect(metadata).toEqual({ version: 'new' });
    expect(tensors.get('w')!.tolistSync()).toEqual([4, 5]);
    expect(await readdir(d)).toEqual(['model.safetensors']);
  });

  it('a tensor that cannot be encoded: old file intact, no temporary file', async () => {
    const { d, path, old } = await freshDirWithOld();
    const t = zeros([2]);
    (t as unknown as { dtype: string }).dtype = 'u8';
    await expectRejection(saveSafetensors(path, { w: tensor([9]), bad: t }), DTypeError, /tensor 'bad'/);
    expect(await readFile(path)).toEqual(old);
    expect(await tmpFiles(d)).toEqual([]);
  });

  it('a read-back that fails mid-write (after the temp file exists): old file intact, temp removed', async () => {
    const { d, path, old } = await freshDirWithOld();
    const failing = tensor([7, 8]);
    failing.toArray = () => Promise.reject(new Error('simulated device read failure'));
    // 'a' sorts first, so the header and a's data are already written when 'z' fails.
    await expectRejection(saveSafetensors(path, { a: tensor([1]), z: failing }), CheckpointError, /^saveSafetensors: cannot write '.*model\.safetensors': simulated device read failure$/);
    expect(await readFile(path)).toEqual(old);
    expect(await tmpFiles(d)).toEqual([]);
  });

  it('the rename fails (target is a directory): directory untouched, temp removed', async () => {
    const d = join(dir, `atomic-${n++}`);
    await mkdir(join(d, 'model.safetensors'), { recursive: true });
    await writeFile(join(d, 'model.safetensors', 'keep'), 'x');
    await expectRejection(saveSafetensors(join(d, 'model.safetensors'), { w: tensor([1]) }), CheckpointError, /cannot write '.*model\.safetensors'/);
    expect(await readdir(join(d, 'model.safetensors'))).toEqual(['keep']);
    expect(await readdir(d)).toEqual(['model.safetensors']);
  });

  it('a missing directory is a CheckpointError with the cause', async () => {
    const e = await expectRejection(saveSafetensors(join(dir, 'no', 'such', 'dir', 'm.safetensors'), { w: tensor([1]) }), CheckpointError, /cannot write .*ENOENT/);
    expect((e.cause as NodeJS.ErrnoException).code).toBe('ENOENT');
  });

  // Root ignores directory permissions, so this one only means something for other users.
  it.skipIf(process.getuid?.() === 0)('a read-only directory: old file intact, no temporary file', async () => {
    const { d, path, old } = await freshDirWithOld();
    await chmod(d, 0o500);
    try {
      await expectRejection(saveSafetensors(path, { w: tensor([9]) }), CheckpointError, /cannot write .*EACCES/);
    } finally {
      await chmod(d, 0o700);
    }
    expect(await readFile(path)).toEqual(old);
    expect(await tmpFiles(d)).toEqual([]);
  });
});
