// Prints, as one JSON object, what the PyTorch twin (bench/peers/torch_moe.py) checks itself
// against: the presets of the built package (dist/), each preset's parameter count, and the
// workload names of bench/util.mjs. Needs a build first.
import { Rng, moe } from 'stablerl';
import { WORKLOADS } from '../util.mjs';

const presets = {};
for (const [name, config] of Object.entries(moe.MOE_PRESETS)) {
  const model = new moe.MoETransformer(config, { rng: new Rng(1) });
  const params = model.parameters().reduce((n, p) => n + p.size, 0);
  presets[name] = { config: { ...config }, params };
}
process.stdout.write(JSON.stringify({ presets, workloads: WORKLOADS }) + '\n');
