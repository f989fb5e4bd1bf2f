// Where the time of one MoE training step goes: runs the step of issue 13's comparison (B×T =
// 32×64: forward + cross-entropy + 0.01·aux + backward + AdamW) under `node --cpu-prof` in a
// child process and prints the self time of the top functions and the inclusive time of the
// model's phases. `node bench/profile/moe-step.mjs [moe-tiny|moe-small] [steps] [threads]`.
// Run it on a quiet machine after `npm run build`; bench/profile/README.md keeps the results.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const DIST = new URL('../../dist/index.js', import.meta.url).href;

const [name = 'moe-tiny', steps = '20', threads = '1'] = process.argv.slice(2);
const dir = mkdtempSync(join(tmpdir(), 'stablerl-prof-'));
const script = join(dir, 'step.mjs');
writeFileSync(script, `
import { Rng, randint, tidy, nn, moe } from ${JSON.stringify(DIST)};
const cfg = moe.MOE_PRESETS[${JSON.stringify(name)}];
const model = new moe.MoETransformer(cfg, { rng: new Rng(1) });
const opt = new nn.AdamW(model.parameters(), { lr: 1e-3 });
const tokens = randint(0, cfg.vocabSize, [32, 65], { rng: new Rng(2) });
const inputs = tokens.slice(1, 0, 64), targets = tokens.slice(1, 1, 65);
const times = [];
for (let i = 0; i < ${Number(steps)}; i++) {
  const t0 = performance.now();
  tidy(() => {
    const r = model.forward(inputs);
    r.logits.logSoftmax(-1).gather(-1, targets.unsqueeze(-1)).mean().neg().add(r.auxLoss.mul(0.01)).backward();
    opt.step();
    opt.zeroGrad();
  });
  times.push(performance.now() - t0);
}
times.sort((a, b) => a - b);
console.log('median step ' + times[times.length >> 1].toFixed(1) + ' ms over ${Number(steps)} steps');
`);
const r = spawnSync(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${dir}`, script], {
  encoding: 'utf8', cwd: process.cwd(), env: { ...process.env, STABLERL_CPU_THREADS: threads },
});
process.stdout.write(r.stdout);
if (r.status !== 0) {
  process.stderr.write(r.stderr);
  process.exit(1);
}
const prof = JSON.parse(readFileSync(join(dir, readdirSync(dir).find((f) => f.endsWith('.cpuprofile'))), 'utf8'));
rmSync(dir, { recursive: true, force: true });
const nodes = new Map(prof.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const label = (n) => `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.split('/').slice(-2).join('/')}`;
const self = new Map();
const incl = new Map();
let total = 0;
prof.samples.forEach((s, i) => {
  const dt = prof.timeDeltas[i];
  total += dt;
  const n = nodes.get(s);
  self.set(label(n), (self.get(label(n)) ?? 0) + dt);
  const seen = new Set();
  for (let p = s; p !== undefined; p = parent.get(p)) {
    const l = label(nodes.get(p));
    if (!seen.has(l)) incl.set(l, (incl.get(l) ?? 0) + dt);
    seen.add(l);
  }
});
const top = (m, k) => [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, k);
console.log(`\n${name}, ${threads} thread(s): self time, top 20\n\n| % | function |\n|---|---|`);
for (const [l, t] of top(self, 20)) console.log(`| ${((100 * t) / total).toFixed(1)} | ${l} |`);
const phases = ['forward moe/transformer.js', 'moeForward moe/layer.js', 'causalSelfAttention nn/attention.js', 'runBackward autograd/backward.js', 'step nn/optim.js', 'matmulInto matmul/index.js'];
console.log(`\nInclusive time of the phases\n\n| % | phase |\n|---|---|`);
for (const p of phases) console.log(`| ${(((incl.get(p) ?? 0) * 100) / total).toFixed(1)} | ${p} |`);
