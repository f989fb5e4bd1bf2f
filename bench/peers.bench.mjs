// The JavaScript peers we compare against, measured in the same run as our own backends:
// tfjs on its cpu, wasm and webgpu backends, on the same workloads as bench/cpu.bench.mjs and
// bench/webgpu.bench.mjs (matmul 1024³ f32 in the three layouts backward needs, via matMul's
// transpose flags; the MLP step B=256, 512→512→10, relu, softmax cross-entropy, fwd+bwd+SGD
// lr 0.05). Medians of 7 after warm-up. tfjs is a devDependency used only here (never by src/
// or test/); tfjs-node is not used (native code).
//
// Each backend runs in its own child process (`node peers.bench.mjs <backend>`), so a backend
// that cannot start, or that crashes its process (Dawn can), costs one row and not the run.
// For tfjs-webgpu in Node, navigator.gpu must exist before the backend module is imported: it
// is Dawn's instance from the `webgpu` package, acquired as src/tensor/webgpu/device.ts does
// (hardware first; else the OpenGL ES backend on llvmpipe in compatibility mode, with
// EGL_PLATFORM=surfaceless).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { median, report, WORKLOADS } from './util.mjs';

const BACKENDS = ['cpu', 'wasm', 'webgpu'];
const which = process.argv[2];

if (which === undefined) {
  console.log('## tfjs peers (same machine, same run)\n');
  console.log('| backend | matmul 1024³ A·B GFLOP/s | Aᵀ·B GFLOP/s | A·Bᵀ GFLOP/s | MLP step ms | note |');
  console.log('|---|---|---|---|---|---|');
  for (const b of BACKENDS) {
    const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), b], { encoding: 'utf8', env: process.env, timeout: 15 * 60_000 });
    const row = (r.stdout ?? '').split('\n').find((l) => l.startsWith('| tfjs-'));
    if (row) console.log(row);
    else {
      const why = (r.error?.message ?? r.stderr ?? '').trim().split('\n').filter(Boolean).pop() ?? `exit ${r.status}`;
      console.log(`| tfjs-${b} | – | – | – | – | did not run: ${why.slice(0, 160)} |`);
      report(WORKLOADS.mmAB, `tfjs-${b}`, null, 'GFLOP/s', `did not run: ${why.slice(0, 160)}`);
    }
  }
  console.log('');
  process.exit(0);
}

const column = `tfjs-${which}`;
/** Prints the backend's one row (what the parent reads) and reports a failure as its note. */
function failRow(why) {
  const msg = String(why).split('\n')[0].slice(0, 200);
  console.log(`| ${column} | – | – | – | – | could not be initialised: ${msg} |`);
  report(WORKLOADS.mmAB, column, null, 'GFLOP/s', `could not be initialised: ${msg}`);
  process.exit(0);
}

let adapterNote = '';
if (which === 'webgpu') {
  process.env.EGL_PLATFORM ??= 'surfaceless';
  const mod = await import('webgpu');
  Object.assign(globalThis, mod.globals);
  const describe = (a) => [a.info.vendor, a.info.architecture, a.info.device, a.info.description].filter((s) => s).join(' / ');
  const instances = [];
  let gpu = null;
  // Hardware path first (Dawn's default backend), unless it offers only a software adapter.
  try {
    const hw = mod.create([]);
    instances.push(hw);
    const a = await hw.requestAdapter({ powerPreference: 'high-performance' });
    if (a && !/swiftshader|llvmpipe|lavapipe|software/i.test(describe(a))) {
      gpu = hw;
      adapterNote = describe(a);
    }
  } catch {
    // fall through to the software path
  }
  if (gpu === null) {
    const gl = mod.create(['backend=opengles']);
    instances.push(gl);
    const a = await gl.requestAdapter({ featureLevel: 'compatibility' });
    if (!a) failRow('no WebGPU adapter (hardware or OpenGL ES/llvmpipe)');
    adapterNote = `${describe(a)}; opengles, compatibility`;
    // tfjs asks for an adapter without a feature level; on this path only compatibility exists.
    gpu = {
      requestAdapter: (o = {}) => gl.requestAdapter({ ...o, featureLevel: 'compatibility' }),
      getPreferredCanvasFormat: () => 'rgba8unorm',
      get wgslLanguageFeatures() {
        return gl.wgslLanguageFeatures;
      },
    };
  }
  globalThis.__dawnInstances = instances; // keep Dawn's instances reachable (see device.ts)
  Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
}

let tf;
try {
  tf = await import('@tensorflow/tfjs');
  if (which === 'wasm') await import('@tensorflow/tfjs-backend-wasm');
  if (which === 'webgpu') await import('@tensorflow/tfjs-backend-webgpu');
  if (!(await tf.setBackend(which))) failRow(`tf.setBackend('${which}') returned false`);
  await tf.ready();
} catch (e) {
  failRow(e?.message ?? e);
}

/** Waits until the backend has finished the work so far (reads on cpu/wasm are synchronous). */
async function sync(t) {
  if (which === 'webgpu') {
    // What tfjs-webgpu itself does before a read: close the open pass, submit, then wait.
    const be = tf.backend();
    be.endComputePassEncoder();
    if (be.commandEncoder) be.submitQueue();
    await be.device.queue.onSubmittedWorkDone();
  } else {
    t.dataSync();
  }
}

async function timeMs(fn, { warmup = 2, runs = 7 } = {}) {
  const ts = [];
  for (let i = 0; i < warmup + runs; i++) {
    const t0 = performance.now();
    await fn();
    if (i >= warmup) ts.push(performance.now() - t0);
  }
  return median(ts);
}

const n = 1024;
const gflops = [];
try {
  const a = tf.randomNormal([n, n], 0, 1, 'float32', 7);
  const b = tf.randomNormal([n, n], 0, 1, 'float32', 8);
  for (const [key, tA, tB] of [['mmAB', false, false], ['mmAtB', true, false], ['mmABt', false, true]]) {
    const ms = await timeMs(async () => {
      const c = tf.matMul(a, b, tA, tB);
      await sync(c);
      c.dispose();
    });
    const g = (2 * n ** 3) / ms / 1e6;
    gflops.push(g);
    report(WORKLOADS[key], column, g, 'GFLOP/s', adapterNote || undefined);
  }
  a.dispose();
  b.dispose();
} catch (e) {
  failRow(`matmul: ${e?.message ?? e}`);
}

// MLP step: the loss read back every step, as our benchmarks do.
let mlpMs = null;
let lossNote = '';
try {
  const B = 256;
  const x = tf.randomNormal([B, 512], 0, 1, 'float32', 9);
  const labels = tf.oneHot(tf.randomUniform([B], 0, 10, 'int32', 10), 10).toFloat();
  const w1 = tf.variable(tf.randomNormal([512, 512], 0, 1 / Math.sqrt(512), 'float32', 11));
  const b1 = tf.variable(tf.zeros([512]));
  const w2 = tf.variable(tf.randomNormal([512, 10], 0, 1 / Math.sqrt(512), 'float32', 12));
  const b2 = tf.variable(tf.zeros([10]));
  const opt = tf.train.sgd(0.05);
  let loss0 = null;
  let lossN = null;
  mlpMs = await timeMs(async () => {
    const loss = opt.minimize(() => {
      const h = tf.relu(tf.add(tf.matMul(x, w1), b1));
      const logits = tf.add(tf.matMul(h, w2), b2);
      return tf.neg(tf.mean(tf.sum(tf.mul(labels, tf.logSoftmax(logits)), -1)));
    }, true);
    const v = (await loss.data())[0];
    loss.dispose();
    loss0 ??= v;
    lossN = v;
  });
  lossNote = `loss ${loss0.toFixed(3)} → ${lossN.toFixed(3)}`;
  report(WORKLOADS.mlp, column, mlpMs, 'ms', adapterNote || undefined);
} catch (e) {
  lossNote = `MLP failed: ${String(e?.message ?? e).split('\n')[0].slice(0, 120)}`;
}

const f = (v, d) => (v === null || v === undefined ? '–' : v.toFixed(d));
const note = [adapterNote, which === 'wasm' ? `${tf.backend().wasm._get_threads_count?.() ?? '?'} thread(s)` : '', lossNote].filter(Boolean).join('; ');
console.log(`| ${column} | ${f(gflops[0], 2)} | ${f(gflops[1], 2)} | ${f(gflops[2], 2)} | ${f(mlpMs, 1)} | ${note} |`);
process.exit(0);
