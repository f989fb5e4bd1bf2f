/**
 * Grouping choices by key on the device, for the MoE layer's sparse dispatch on WebGPU. It exists
 * because a forward pass is synchronous and a GPU read is not: the CPU path reads the routing and
 * plans on the host (src/moe/layer.ts dispatchPlan), the GPU path cannot, so it builds the same
 * plan here without a read-back, into buffers of a size fixed by the shapes alone.
 *
 * Input: ids i32 [L] (L = N·k choices, token-major), keys in [0, e). Output, as dispatchPlan with
 * `m` rows per chunk (chunks of one key consecutive, keys ascending, choices in order within a
 * key), sized for the worst case:
 *   cMax = min(L, ⌊L / m⌋ + min(e, L))   chunks (Σ_e ⌈c_e / m⌉ never exceeds it),
 *   tokens [cMax·m]  the token (choice index / k) in each row, −1 for padding rows and unused chunks,
 *   pos [L]          the row of each choice,
 *   chunkKey [cMax]  the key of each chunk, −1 for unused chunks.
 * The −1 entries are out-of-range indices, which the GPU gather kernels turn into zero rows and
 * the index-add kernels skip, so padding costs arithmetic on zeros but never reaches a result.
 * A key outside [0, e) (GPU ids cannot be validated without a read) joins no chunk: its pos is −1.
 *
 * Kernels (loops chunked to BUDGET iterations, llvmpipe's 65535 limit): count per key (e
 * invocations over the L choices), first chunk per key (one invocation, a prefix sum over e),
 * place (e invocations walking the choices in order, so the order within a key is the CPU's),
 * chunk keys (one invocation per chunk). About 6 dispatches, O(e·L) cheap integer work.
 */
import { DeviceError } from '../../errors.js';
import type { GpuContext } from '../context.js';
import { Params } from '../params.js';
import type { WebGpuStorage } from '../storage.js';
import { groupsFor, main1d } from './common.js';
import { fill as fillNew } from './elementwise.js';

const BUDGET = 32768;

const PARAMS = `struct Params { l: u32, k: u32, e: u32, m: u32, cMax: u32, a0: u32, a1: u32 }
@group(0) @binding(0) var<uniform> p: Params;`;

const COUNT = `${PARAMS}
@group(0) @binding(1) var<storage, read> ids: array<i32>;
@group(0) @binding(2) var<storage, read_write> cnt: array<i32>;
${main1d()}
  if (i >= p.e) { return; }
  let key = i32(i);
  var c = 0;
  if (p.a0 > 0u) { c = cnt[i]; }
  for (var j = p.a0; j < p.a1; j++) { c += select(0, 1, ids[j] == key); }
  cnt[i] = c;
}`;

/** first[key] = Σ_{key' < key} ⌈cnt / m⌉; first[e] = chunks used. */
const FIRST = `${PARAMS}
@group(0) @binding(1) var<storage, read> cnt: array<i32>;
@group(0) @binding(2) var<storage, read_write> first: array<i32>;
@compute @workgroup_size(1)
fn main() {
  var acc = 0;
  let m = i32(p.m);
  for (var key = 0u; key < p.e; key++) { first[key] = acc; acc += (cnt[key] + m - 1) / m; }
  first[p.e] = acc;
}`;

const PLACE = `${PARAMS}
@group(0) @binding(1) var<storage, read> ids: array<i32>;
@group(0) @binding(2) var<storage, read> first: array<i32>;
@group(0) @binding(3) var<storage, read_write> fill: array<i32>;
@group(0) @binding(4) var<storage, read_write> tokens: array<i32>;
@group(0) @binding(5) var<storage, read_write> pos: array<i32>;
${main1d()}
  if (i >= p.e) { return; }
  let key = i32(i);
  var f = 0;
  if (p.a0 > 0u) { f = fill[i]; }
  let base = first[i] * i32(p.m);
  for (var j = p.a0; j < p.a1; j++) {
    if (ids[j] == key) {
      let r = base + f;
      tokens[r] = i32(j / p.k);
      pos[j] = r;
      f++;
    }
  }
  fill[i] = f;
}`;

const CHUNK_KEYS = `${PARAMS}
@group(0) @binding(1) var<storage, read> first: array<i32>;
@group(0) @binding(2) var<storage, read_write> chunkKey: array<i32>;
${main1d()}
  if (i >= p.cMax) { return; }
  let c = i32(i);
  var key = -1;
  for (var e = 0u; e < p.e; e++) {
    if (first[e] <= c && c < first[e + 1u]) { key = i32(e); }
  }
  chunkKey[i] = key;
}`;

/** The static chunk bound: Σ_e ⌈c_e / m⌉ ≤ ⌊L / m⌋ + min(e, L), and never more than L. */
export function maxChunks(l: number, e: number, m: number): number {
  return Math.min(l, Math.floor(l / m) + Math.min(e, l));
}

export interface GroupPlan {
  cMax: number;
  /** i32 [cMax·m]: token of each row, −1 = padding. */
  tokens: WebGpuStorage;
  /** i32 [L]: row of each choice. */
  pos: WebGpuStorage;
  /** i32 [cMax]: key of each chunk, −1 = unused. */
  chunkKey: WebGpuStorage;
}

/** Groups the L = n·k choices `ids` by key into chunks of m rows (see the file header). */
export function groupChunks(b: GpuContext, ids: WebGpuStorage, l: number, k: number, e: number, m: number): GroupPlan {
  if (ids.dtype !== 'i32') throw new DeviceError(`groupChunks: ids must be i32, got ${ids.dtype}`);
  if (!(e >= 1 && e <= BUDGET) || !(m >= 1) || !(k >= 1) || l % k !== 0) {
    throw new DeviceError(`groupChunks: need 1 ≤ e ≤ ${BUDGET}, m ≥ 1, k ≥ 1 and k | L (got L ${l}, k ${k}, e ${e}, m ${m})`);
  }
  const cMax = maxChunks(l, e, m);
  // fill, not b.full: these are written below, and b.full may hand out a shared constant
  const tokens = fillNew(b, cMax * m, -1, 'i32');
  const pos = fillNew(b, l, -1, 'i32');
  const chunkKey = b.alloc('i32', cMax);
  if (l === 0) return { cMax, tokens, pos, chunkKey };
  const cnt = b.alloc('i32', e);
  const first = b.alloc('i32', e + 1);
  const fill = b.alloc('i32', e);
  const params = (a0: number, a1: number) => new Params().u32(l, k, e, m, cMax, a0, a1);
  for (let a = 0; a < l; a += BUDGET) b.run({ code: COUNT, buffers: [ids, cnt], params: params(a, Math.min(l, a + BUDGET)), groups: groupsFor(e) });
  b.run({ code: FIRST, buffers: [cnt, first], params: params(0, 0), groups: 1 });
  for (let a = 0; a < l; a += BUDGET) {
    b.run({ code: PLACE, buffers: [ids, first, fill, tokens, pos], params: params(a, Math.min(l, a + BUDGET)), groups: groupsFor(e) });
  }
  b.run({ code: CHUNK_KEYS, buffers: [first, chunkKey], params: params(0, 0), groups: groupsFor(cMax) });
  for (const s of [cnt, first, fill]) b.dispose(s);
  return { cMax, tokens, pos, chunkKey };
}
