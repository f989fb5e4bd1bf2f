// npm run bench: runs every benchmark in bench/ against the built package (dist/), each in its
// own process, printing each one's markdown table, and ends with ONE combined table:
// rows = workloads, columns = our backends beside the tfjs and PyTorch peers, all measured in
// this run, and a small table of stablerl's CPU against PyTorch with the ratio per row.
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

const BASE_COLUMNS = ['stablerl cpu', 'stablerl cpu (1 thread)', 'stablerl webgpu', 'tfjs-cpu', 'tfjs-wasm', 'tfjs-webgpu', 'pytorch (1 thread)'];
// A column a benchmark reported under another name (e.g. `pytorch (2 threads)`) is added at the end.
const reported = [...new Set(rows.filter((r) => r.workload !== '_meta').map((r) => r.column))];
const COLUMNS = [...BASE_COLUMNS, ...reported.filter((c) => !BASE_COLUMNS.includes(c))];
const get = (w, c) => rows.find((r) => r.workload === w && r.column === c);
const meta = (c) => rows.find((r) => r.workload === '_meta' && r.column === c);
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
if (meta('pytorch')) console.log(`pytorch: ${meta('pytorch').note}`);
console.log('');
console.log(`| workload | ${COLUMNS.join(' | ')} |`);
console.log(`|---|${COLUMNS.map(() => '---').join('|')}|`);
for (const w of Object.values(WORKLOADS)) {
  if (!rows.some((r) => r.workload === w)) continue;
  console.log(`| ${w} | ${COLUMNS.map((c) => fmt(get(w, c))).join(' | ')} |`);
}
const notes = rows.filter((r) => r.workload !== '_meta' && (r.value === null || r.value === undefined) && r.note);
const seen = new Set();
for (const n of notes) {
  const line = `- ${n.column}: ${n.note}`;
  if (!seen.has(line)) console.log(`\n${line}`);
  seen.add(line);
}
console.log('\n("–": not applicable, not run, or the backend could not run it. matmul and MLP: medians of 7 after warm-up; MoE rows: medians of 7 after one warm-up step (the "webgpu v1" comparison rows of bench/moe.bench.mjs: 3); pytorch: medians of 7 after 2 warm-up runs. GFLOP/s and tok/s: higher is better; ms: lower is better.)\n');

// stablerl's CPU against PyTorch, on the rows PyTorch reported. Ratio = stablerl's time over
// PyTorch's (> 1: stablerl is slower), for rates PyTorch's rate over stablerl's.
const torchColumn = reported.find((c) => c.startsWith('pytorch'));
const torchRows = Object.values(WORKLOADS).filter((w) => torchColumn && get(w, torchColumn));
if (torchRows.length > 0) {
  const threads = meta('stablerl cpu threads')?.value;
  const cpuLabel = `stablerl cpu${threads ? ` (${threads} thread${threads === 1 ? '' : 's'})` : ''}`;
  const ratio = (s, p) => {
    if (!s || !p || !(s.value > 0) || !(p.value > 0)) return '–';
    const r = s.unit === 'ms' ? s.value / p.value : p.value / s.value;
    return `${r.toFixed(2)}×`;
  };
  const cell = (r) => (r && (r.value === null || r.value === undefined) && r.note ? r.note : fmt(r));
  console.log('## stablerl cpu vs PyTorch (this run)\n');
  console.log(`| workload | ${torchColumn} | ${cpuLabel} | stablerl cpu (1 thread) | ratio ${cpuLabel} / pytorch | ratio 1 thread / pytorch |`);
  console.log('|---|---|---|---|---|---|');
  for (const w of torchRows) {
    const p = get(w, torchColumn);
    const s = get(w, 'stablerl cpu');
    const s1 = get(w, 'stablerl cpu (1 thread)');
    console.log(`| ${w} | ${cell(p)} | ${fmt(s)} | ${fmt(s1)} | ${ratio(s, p)} | ${ratio(s1, p)} |`);
  }
  console.log('\n(ratio: stablerl\'s time over PyTorch\'s; ≤ 1.00× means at or below PyTorch\'s time. "–": that column did not run; the MLP row\'s stablerl numbers come from bench/cpu.bench.mjs.)\n');
}
process.exit(failed === 0 ? 0 : 1);
