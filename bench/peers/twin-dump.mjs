// What bench/peers/check_twin.py compares the PyTorch twin against: for each preset, stablerl's
// initial weights (safetensors, stablerl's parameter names) and, on a fixed batch of 3 × 20
// tokens, its logits, auxiliary loss, cross-entropy, layer 0's experts and two gradients of
// cross-entropy + aux. Usage: node bench/peers/twin-dump.mjs <dir>. Needs a build first.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Rng, randint, nn, moe } from 'stablerl';

const dir = process.argv[2];
if (!dir) throw new Error('usage: node bench/peers/twin-dump.mjs <dir>');
const B = 3;
const T = 20;
for (const [name, cfg] of Object.entries(moe.MOE_PRESETS)) {
  const model = new moe.MoETransformer(cfg, { rng: new Rng(1) });
  await nn.saveSafetensors(join(dir, `${name}.safetensors`), model.stateDict());
  const tokens = randint(0, cfg.vocabSize, [B, T + 1], { rng: new Rng(2) });
  const r = model.forward(tokens.slice(1, 0, T));
  const ce = r.logits.logSoftmax(-1).gather(-1, tokens.slice(1, 1, T + 1).unsqueeze(-1)).mean().neg();
  ce.add(r.auxLoss).backward();
  const grads = {};
  for (const [pn, p] of model.namedParameters()) {
    if (pn === 'blocks.0.moe.router.weight' || pn === 'blocks.1.attn.wq' || pn === 'blocks.0.moe.experts.wDown') grads[pn] = Array.from(p.grad.toArraySync());
  }
  writeFileSync(join(dir, `${name}.json`), JSON.stringify({
    B, T, tokens: Array.from(tokens.toArraySync()), logits: Array.from(r.logits.toArraySync()),
    aux: r.auxLoss.itemSync(), ce: ce.itemSync(), ids0: Array.from(r.moe[0].indices.toArraySync()), grads,
  }));
}
