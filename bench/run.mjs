// npm run bench: runs every benchmark in bench/ against the built package (dist/), each in its
// own process, printing each one's markdown table, and ends with ONE combined table:
// rows = workloads, columns = our backends beside the tfjs peers, all measured in this run.
// Benchmarks hand their numbers over as JSON lines in the file named by STABLERL_BENCH_RESULTS
// (bench/util.mjs `report`). Never run by npm test. `node bench/run.mjs <filter...>` runs only
// the benchmarks whose file name contains a filter (the combined table then has what ran).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import { WORKLOADS } from './util.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const cpus = os.cpus();
const machine = `${cpus[0]?.model ?? 'unknown CPU'} ×${cpus.length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}`;
console.log(`# stablerl benchmarks\n\nmachine: ${machine}, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}, ${new Date().toISOString()}\n`);
const only = process.argv.slice(2);
const scripts = readdirSync(here)
  .filter((f) => f.endsWith('.bench.mjs'))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort();

const tmp = mkdtempSync(join(os.tmpdir(), 'stablerl-bench-'));
const resultsFile = join(tmp, 'results.jsonl');
let failed = 0;
for (const s of scripts) {
  const r = spawnSync(process.execPath, [join(here, s)], { stdio: 'inherit', env: { ...process.env, STABLERL_BENCH_RESULTS: resultsFile } });
  if (r.status !== 0) {
    failed++;
    console.log(`(${s} exited with ${r.status ?? r.signal})\n`);
  }
}

let rows = [];
try {
  rows = readFileSync(resultsFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
} catch {
  // nothing reported (e.g. a filter matched no benchmark)
}
rmSync(tmp, { recursive: true, force: true });

const COLUMNS = ['stablerl cpu', 'stablerl webgpu', 'tfjs-cpu', 'tfjs-wasm', 'tfjs-webgpu'];
const get = (w, c) => rows.find((r) => r.workload === w && r.column === c);
const fmt = (r) => {
  if (!r || r.value === null || r.value === undefined) return '–';
  const v = r.value;
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
};
console.log('## All workloads × backends (this run)\n');
console.log(`machine: ${machine}`);
const adapter = rows.find((r) => r.workload === '_meta' && r.column === 'webgpu adapter');
const tfAdapter = rows.find((r) => r.column === 'tfjs-webgpu' && r.value !== null && r.note)?.note;
console.log(`webgpu adapter: ${adapter?.note ?? tfAdapter ?? 'none (no WebGPU benchmark ran, or no adapter)'}`);
console.log('');
console.log(`| workload | ${COLUMNS.join(' | ')} |`);
console.log(`|---|${COLUMNS.map(() => '---').join('|')}|`);
for (const w of Object.values(WORKLOADS)) {
  if (!rows.some((r) => r.workload === w)) continue;
  console.log(`| ${w} | ${COLUMNS.map((c) => fmt(get(w, c))).join(' | ')} |`);
}
const notes = rows.filter((r) => r.workload !== '_meta' && (r.value === null || r.value === undefined) && r.note);
for (const n of notes) console.log(`\n- ${n.column}: ${n.note}`);
console.log('\n("–": not applicable, not run, or the backend could not run it. matmul and MLP: medians of 7 after warm-up; MoE rows: medians of 7 after one warm-up step (the "webgpu v1" comparison rows of bench/moe.bench.mjs: 3). GFLOP/s and tok/s: higher is better; ms: lower is better.)\n');
process.exit(failed === 0 ? 0 : 1);
