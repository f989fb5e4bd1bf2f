/**
 * Shared pieces of the WGSL kernels: the element type of a dtype, the standard 1-D launch
 * (a flat invocation index from a possibly 2-D grid of workgroups), and broadcast-strided
 * indexing with dims collapsed where every operand allows it (so rank ≤ 8 covers real use).
 */
import { DTypeError } from '../../errors.js';
import type { DType } from '../../dtype.js';

export const WG = 64;

/**
 * Generated shader text, kept by a short key so that a kernel launched again gets the very same
 * string object. The backend caches pipelines by shader text, and a Map lookup with a freshly
 * built string hashes all of it (about 15 µs for a 3 KB shader, more than encoding the dispatch);
 * a string seen before carries its hash. The key must determine the text.
 */
const shaderTexts = new Map<string, string>();
export function shaderText(key: string, build: () => string): string {
  let s = shaderTexts.get(key);
  if (s === undefined) {
    s = build();
    shaderTexts.set(key, s);
  }
  return s;
}

export function wgslType(dtype: DType): 'f32' | 'i32' {
  if (dtype === 'f64') throw new DTypeError('webgpu: f64 is not supported on the GPU; use f32 (f64 is CPU only)');
  return dtype;
}

/** Workgroups needed for n invocations of WG threads. */
export function groupsFor(n: number, wg = WG): number {
  return Math.ceil(n / wg);
}

/**
 * The entry point header: declares `main` with the builtins and defines `let i: u32`, the flat
 * invocation index. Kernels follow it with their body and a closing brace.
 */
export function main1d(wg = WG): string {
  return `@compute @workgroup_size(${wg})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = (wid.y * nwg.x + wid.x) * ${wg}u + lid;`;
}

export const MAX_RANK = 8;

/**
 * Merges adjacent dims d, d+1 whenever every operand's strides make them one run
 * (stride[d] == stride[d+1] * shape[d+1]), and drops size-1 dims. Returns the shorter shape and
 * strides; throws when more than MAX_RANK dims remain.
 */
export function collapse(shape: readonly number[], strides: readonly (readonly number[])[]): { shape: number[]; strides: number[][] } {
  const s: number[] = [];
  const st: number[][] = strides.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 1) continue;
    const last = s.length - 1;
    if (last >= 0 && strides.every((x, k) => st[k]![last] === x[d]! * shape[d]!)) {
      s[last] = s[last]! * shape[d]!;
      strides.forEach((x, k) => (st[k]![last] = x[d]!));
    } else {
      s.push(shape[d]!);
      strides.forEach((x, k) => st[k]!.push(x[d]!));
    }
  }
  if (s.length > MAX_RANK) throw new DTypeError(`webgpu: a broadcast over ${s.length} non-mergeable dims exceeds the GPU limit of ${MAX_RANK}`);
  return { shape: s, strides: st };
}

/** Pads a list to MAX_RANK entries (for array<vec4<u32>, 2> uniform members). */
export function pad8(xs: readonly number[], fill: number): number[] {
  const out = [...xs];
  while (out.length < MAX_RANK) out.push(fill);
  return out;
}

/**
 * WGSL for the strided offset of operand k: `fn off{k}(i: u32) -> u32` walking the collapsed
 * output shape `p.shape` (array<vec4<u32>, 2>) with strides `p.st{k}` and rank `p.rank`.
 */
export function offsetFn(k: number): string {
  return `fn off${k}(i: u32) -> u32 {
  var rem = i;
  var o = 0u;
  for (var d = i32(p.rank) - 1; d >= 0; d--) {
    let n = p.shape[d / 4][d % 4];
    o += (rem % n) * p.st${k}[d / 4][d % 4];
    rem = rem / n;
  }
  return o;
}`;
}
