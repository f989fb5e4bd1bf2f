/**
 * The sparse MoE dispatch on the CPU when nothing will be differentiated (inference, the
 * engine's decoding, π_old recomputation under noGrad). The general sparse path (layer.ts)
 * packs the choices into chunks of m rows and gathers a copy of each chunk's expert weights so
 * that one batched matmul runs them all; in decoding m is 1, so every step copied an expert's
 * three weight matrices per (token, slot), about all of moe-small's expert weights per layer
 * per token, while the products themselves were a few rows. Here each used expert runs once on
 * all of its rows, against a slice of the stacked weights, which on the CPU is a view of the
 * parameter's array (no copy; see backend.ts). The gradient of such slices would be a
 * zero-padded full-size tensor per expert, which is why this path is for no-grad use only.
 *
 * Each output row is the same product of the same row and the same expert weights as in the
 * chunked path, and the CPU matmul is row invariant (a row's result does not depend on the other
 * rows of the product), so the two paths agree bit for bit (test/moe/layer.test.ts).
 */
import { Tensor, tensor } from '../tensor/index.js';
import { cat, embedding, slice } from '../autograd/index.js';
import type { ExpertRunner, MoEParams } from './params.js';

/**
 * The k expert outputs of each token, [N, k, D], for x [N, D] and the host routing `ids`
 * [N·k] token-major, one expert at a time in ascending id order.
 */
export function expertRowsPerExpert(x: Tensor, ids: Int32Array, k: number, p: MoEParams, run: ExpertRunner): Tensor {
  const [n, d] = x.shape as [number, number];
  const e = p.wGate.shape[0]!;
  const counts = new Int32Array(e);
  for (let i = 0; i < n * k; i++) counts[ids[i]!]!++;
  const start = new Int32Array(e + 1);
  for (let ex = 0; ex < e; ex++) start[ex + 1] = start[ex]! + counts[ex]!;
  // Rows grouped by expert, tokens in order within an expert; pos: where each choice landed.
  const tokens = new Int32Array(n * k);
  const pos = new Int32Array(n * k);
  const fill = start.slice(0, e);
  for (let t = 0; t < n; t++) {
    for (let j = 0; j < k; j++) {
      const at = fill[ids[t * k + j]!]!++;
      tokens[at] = t;
      pos[t * k + j] = at;
    }
  }
  const outs: Tensor[] = [];
  for (let ex = 0; ex < e; ex++) {
    const m = counts[ex]!;
    if (m === 0) continue;
    const xe = embedding(x, tensor(tokens.subarray(start[ex]!, start[ex + 1]!), { shape: [1, m], dtype: 'i32', device: x.device }));
    const [wg, wu, wd] = [p.wGate, p.wUp, p.wDown].map((w) => slice(w, 0, ex, ex + 1)) as [Tensor, Tensor, Tensor];
    outs.push(run(xe, wg, wu, wd).reshape([m, d]));
  }
  const y = outs.length === 1 ? outs[0]! : cat(outs, 0);
  return embedding(y, tensor(pos, { shape: [n, k], dtype: 'i32', device: x.device }));
}
