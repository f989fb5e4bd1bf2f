#!/usr/bin/python3
"""The PyTorch column of `npm run bench` (the workloads measured side by side), eager mode, as a
user would write them (the models are in torch_models.py):

  moe-tiny / moe-small train step, B x T = 32 x 64: forward + cross-entropy + aux loss (the
      project's: 0.01 load-balancing + 0.001 router z-loss per layer) + backward + AdamW
  moe-tiny / moe-small generation: 64 prompts x 8 tokens, 32 new tokens, KV cache
  MLP 512 -> 512 -> 10, B = 256, relu, cross-entropy, forward + backward + SGD

Medians of 7 timed runs after 2 warm-up runs. One thread by default (PyTorch's best on the
2-core bench machine); --threads N sets torch's intra-op threads and, before torch is imported,
OMP_NUM_THREADS and OPENBLAS_NUM_THREADS (Debian's torch calls OpenBLAS through the generic
BLAS interface, so torch.set_num_threads alone does not reach it). Prints which BLAS library is
loaded. When STABLERL_BENCH_RESULTS names a file, appends one JSON line per result
{workload, column, value, unit, note?} to it (bench/util.mjs `report`); --quick runs 2
iterations at tiny sizes to check that everything works, and reports nothing.

Run by bench/torch.bench.mjs with /usr/bin/python3; install torch with
`bash scripts/setup-torch.sh`. Benchmark-only: no test needs torch.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
ap.add_argument('--threads', type=int, default=1, help='torch / OpenMP / OpenBLAS threads (default 1)')
ap.add_argument('--quick', action='store_true', help='2 iterations at tiny sizes, no results reported')
ap.add_argument('--runs', type=int, default=7, help='timed runs per workload (median reported; default 7)')
ap.add_argument('--warmup', type=int, default=2, help='untimed runs first (default 2)')
ap.add_argument('--only', default='', help='comma-separated subset: tinyTrain,tinyGen,smallTrain,smallGen,mlp')
ap.add_argument('--stablerl-info', default=None,
                help='JSON from bench/peers/stablerl-info.mjs (default: run it with node, when there)')
args = ap.parse_args()
if args.threads < 1:
    ap.error('--threads must be at least 1')
for var in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ[var] = str(args.threads)

import torch  # noqa: E402  (after the thread variables, which the BLAS reads when it loads)
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, HERE)
from torch_models import PRESETS, MoETransformer, generate  # noqa: E402

torch.set_num_threads(args.threads)
COLUMN = f"pytorch ({args.threads} thread{'s' if args.threads > 1 else ''})"
RESULTS = None if args.quick else os.environ.get('STABLERL_BENCH_RESULTS')

# Workload names as bench/util.mjs WORKLOADS has them (replaced by the package's own when
# stablerl-info.mjs runs).
WORKLOADS = {
    'mlp': 'MLP 512→512→10 B=256 fwd+bwd+SGD (ms/step)',
    'tinyTrain32': 'moe-tiny train step 32×64 (ms/step)',
    'tinyGen64': 'moe-tiny generation 64×32 (ms)',
    'smallTrain32': 'moe-small train step 32×64 (ms/step)',
    'smallGen64': 'moe-small generation 64×32 (ms)',
}


def report(workload, value, unit, note=None):
    if not RESULTS:
        return
    row = {'workload': workload, 'column': COLUMN, 'value': value, 'unit': unit}
    if note:
        row['note'] = note
    with open(RESULTS, 'a', encoding='utf-8') as f:
        f.write(json.dumps(row, ensure_ascii=False) + '\n')


def stablerl_info():
    """The built package's presets, parameter counts and workload names, or None."""
    text = None
    if args.stablerl_info:
        text = args.stablerl_info
    else:
        node = os.environ.get('NODE') or shutil.which('node')
        if node:
            r = subprocess.run([node, os.path.join(HERE, 'stablerl-info.mjs')], capture_output=True, text=True)
            if r.returncode == 0:
                text = r.stdout
            else:
                print(f'(stablerl-info.mjs failed, is the package built? {r.stderr.strip().splitlines()[-1:]})')
    return json.loads(text) if text else None


def loaded_blas():
    """The BLAS/LAPACK libraries mapped into this process, after a matmul has run."""
    a = torch.randn(64, 64)
    (a @ a).sum().item()
    libs = set()
    with open('/proc/self/maps', encoding='utf-8') as f:
        for line in f:
            path = line.split()[-1] if len(line.split()) >= 6 else ''
            name = os.path.basename(path)
            if any(s in name for s in ('blas', 'mkl_', 'blis', 'lapack')):
                libs.add(os.path.realpath(path))
    return sorted(libs)


def time_ms(fn, warmup, runs):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1000)
    return statistics.median(ts)


def train_step_bench(name, cfg, B, T, warmup, runs):
    torch.manual_seed(1)
    model = MoETransformer(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)  # betas (0.9, 0.999), eps 1e-8, wd 0.01 (both)
    g = torch.Generator().manual_seed(2)
    tokens = torch.randint(0, cfg['vocabSize'], (B, T + 1), generator=g)
    inputs, targets = tokens[:, :T], tokens[:, 1:]
    losses = []

    def step():
        logits, _, aux = model(inputs)
        loss = F.cross_entropy(logits.reshape(-1, cfg['vocabSize']), targets.reshape(-1)) + aux
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())

    ms = time_ms(step, warmup, runs)
    return ms, losses


def generation_bench(name, cfg, B, prompt_len, new_tokens, warmup, runs):
    torch.manual_seed(1)
    model = MoETransformer(cfg).eval()
    g = torch.Generator().manual_seed(3)
    prompts = torch.randint(0, cfg['vocabSize'], (B, prompt_len), generator=g)
    out = {}

    def run():
        toks, logps, routing = generate(model, prompts, new_tokens, generator=g)
        out['shape'] = tuple(toks.shape)
        out['routed'] = len(routing)

    ms = time_ms(run, warmup, runs)
    return ms, out


def mlp_bench(B, warmup, runs):
    torch.manual_seed(7)
    model = nn.Sequential(nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    x = torch.randn(B, 512)
    y = torch.randint(0, 10, (B,))
    losses = []

    def step():
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())

    return time_ms(step, warmup, runs), losses


def main():
    info = stablerl_info()
    if info:
        WORKLOADS.update({k: v for k, v in info['workloads'].items() if k in WORKLOADS})
    blas = loaded_blas()
    openblas = any('openblas' in p for p in blas)
    print(f'## PyTorch peer (torch {torch.__version__}, eager, {args.threads} thread(s), python {sys.version.split()[0]})\n')
    print(f"BLAS loaded: {', '.join(blas) if blas else 'none found in /proc/self/maps'}")
    blas_info = re.findall(r'\b(?:BLAS|LAPACK)_INFO=[^,\s]+', torch.__config__.show())
    if blas_info:
        print(f"torch.__config__.show(): {', '.join(blas_info)} (Debian's torch calls the generic libblas.so.3, "
              'which update-alternatives points at the library above)')
    if not openblas:
        print('WARNING: OpenBLAS is not loaded, so torch runs on the reference BLAS (about 50x slower): '
              'bash scripts/setup-torch.sh installs libopenblas0-pthread')
    lib = next((p for p in blas if 'openblas' in os.path.basename(p)), next((p for p in blas if 'openblas' in p), ''))
    blas_note = f'OpenBLAS ({os.path.basename(lib)})' if openblas else 'reference BLAS (no libopenblas0-pthread)'
    note = f'torch {torch.__version__}, {blas_note}'
    if RESULTS:
        with open(RESULTS, 'a', encoding='utf-8') as f:
            f.write(json.dumps({'workload': '_meta', 'column': 'pytorch', 'value': None, 'unit': '', 'note': f'{note}, {args.threads} thread(s)'}, ensure_ascii=False) + '\n')

    # Parameter counts and configs against stablerl's presets.
    print('\n| preset | stablerl params | pytorch params | config |')
    print('|---|---|---|---|')
    counts = {}
    for name, cfg in PRESETS.items():
        n = sum(p.numel() for p in MoETransformer(cfg).parameters())
        counts[name] = n
        theirs = info['presets'][name] if info else None
        if theirs:
            for k, v in cfg.items():
                assert theirs['config'][k] == v, f'{name}.{k}: stablerl has {theirs["config"][k]}, the twin {v}'
            assert set(theirs['config']) == set(cfg), f'{name}: config fields differ: {sorted(set(theirs["config"]) ^ set(cfg))}'
            assert theirs['params'] == n, f'{name}: stablerl has {theirs["params"]} parameters, the PyTorch twin {n}'
        print(f"| {name} | {theirs['params'] if theirs else '? (package not built)'} | {n} | "
              f"{'equal' if theirs else 'not checked'} |")

    q = args.quick
    warmup, runs = (1, 2) if q else (args.warmup, args.runs)
    only = set(filter(None, args.only.split(',')))
    want = lambda key: not only or key in only  # noqa: E731
    print(f"\n| workload | {COLUMN} | check |")
    print('|---|---|---|')
    for name, key in (('moe-tiny', 'tiny'), ('moe-small', 'small')):
        cfg = PRESETS[name]
        if want(key + 'Train'):
            B, T = (4, 16) if q else (32, 64)
            ms, losses = train_step_bench(name, cfg, B, T, warmup, runs)
            w = WORKLOADS[key + 'Train32']
            print(f"| {w if not q else f'{name} train step {B}×{T} (quick)'} | {ms:.1f} ms | loss {losses[0]:.4f} → {losses[-1]:.4f} |")
            report(w, ms, 'ms', note)
        if want(key + 'Gen'):
            B, P, N = (4, 8, 4) if q else (64, 8, 32)
            ms, out = generation_bench(name, cfg, B, P, N, warmup, runs)
            assert out['shape'] == (B, N) and out['routed'] == N, out
            w = WORKLOADS[key + 'Gen64']
            print(f"| {w if not q else f'{name} generation {B}×{N} (quick)'} | {ms:.1f} ms | {B}×{N} tokens sampled, {B * N / ms * 1000:.0f} tok/s |")
            report(w, ms, 'ms', note)
    if want('mlp'):
        B = 32 if q else 256
        ms, losses = mlp_bench(B, warmup, runs)
        w = WORKLOADS['mlp']
        print(f"| {w if not q else f'MLP B={B} (quick)'} | {ms:.2f} ms | loss {losses[0]:.4f} → {losses[-1]:.4f} |")
        report(w, ms, 'ms', note)
    print(f"\n(medians of {runs} after {warmup} warm-up run(s); torch.get_num_threads() = {torch.get_num_threads()})\n")


if __name__ == '__main__':
    main()
