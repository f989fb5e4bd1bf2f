#!/usr/bin/python3
"""Checks that the PyTorch twin (torch_models.py) computes stablerl's function: loads stablerl's
initial weights of each preset (written by twin-dump.mjs, with stablerl's parameter names, so
load_state_dict(strict=True) also checks names and shapes) and compares, on the same 3 x 20
tokens, the logits, layer 0's experts, the aux loss, the cross-entropy and three gradients; and
that decoding through the twin's KV cache gives the full forward's logits. Up to f32 rounding
(the two sum in different orders). Exit status 1 on a mismatch. Needs node and a build."""
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from torch_models import PRESETS, MoETransformer  # noqa: E402


def load_safetensors(path):
    b = open(path, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    out = {}
    for k, v in json.loads(b[8:8 + n]).items():
        if k == '__metadata__':
            continue
        assert v['dtype'] == 'F32', (k, v['dtype'])
        s, e = v['data_offsets']
        out[k] = torch.from_numpy(np.frombuffer(b, dtype=np.float32, count=(e - s) // 4, offset=8 + n + s).copy()).reshape(v['shape'])
    return out


def main():
    torch.set_num_threads(1)
    node = os.environ.get('NODE') or shutil.which('node')
    failures = []
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([node, os.path.join(HERE, 'twin-dump.mjs'), d], check=True)
        for name, cfg in PRESETS.items():
            ref = json.load(open(os.path.join(d, f'{name}.json')))
            m = MoETransformer(cfg)
            m.load_state_dict(load_safetensors(os.path.join(d, f'{name}.safetensors')), strict=True)
            B, T = ref['B'], ref['T']
            tok = torch.tensor(ref['tokens']).view(B, T + 1)
            x, y = tok[:, :T], tok[:, 1:]
            logits, ids, aux = m(x)
            ce = F.cross_entropy(logits.reshape(-1, cfg['vocabSize']), y.reshape(-1))
            (ce + aux).backward()
            checks = [
                ('logits', (logits - torch.tensor(ref['logits']).view_as(logits)).abs().max().item(), 1e-4),
                ('aux loss', abs(aux.item() - ref['aux']), 1e-6),
                ('cross-entropy', abs(ce.item() - ref['ce']), 1e-5),
                ('layer-0 experts (1: they differ)', float(not torch.equal(ids[0].flatten(), torch.tensor(ref['ids0']))), 0),
            ]
            params = dict(m.named_parameters())
            for pn, g in ref['grads'].items():
                r = torch.tensor(g).view_as(params[pn])
                checks.append((f'grad {pn} (relative)', ((params[pn].grad - r).abs().max() / r.abs().max()).item(), 1e-4))
            with torch.no_grad():
                full, _, _ = m(x)
                cache = [dict() for _ in m.blocks]
                steps = [m(x[:, :8], cache, 0)[0]] + [m(x[:, t:t + 1], cache, t)[0] for t in range(8, T)]
                checks.append(('KV-cache decode vs full forward', (torch.cat(steps, 1) - full).abs().max().item(), 1e-4))
            for what, diff, tol in checks:
                ok = diff <= tol
                print(f"twin {name}: {what}: max |diff| {diff:.3g} {'≤' if ok else '>'} {tol:g}")
                if not ok:
                    failures.append(f'{name} {what}')
    verdict = "the PyTorch twin computes stablerl's function (up to f32 rounding)" if not failures else 'MISMATCH: ' + ', '.join(failures)
    print(f'twin check: {verdict}')
    sys.exit(1 if failures else 0)


if __name__ == '__main__':
    main()
