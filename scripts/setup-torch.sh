#!/usr/bin/env bash
# Installs the PyTorch peer of the benchmarks (bench/peers/torch_moe.py, run by
# bench/torch.bench.mjs with /usr/bin/python3): Debian's python3-torch and libopenblas0-pthread.
# Without libopenblas0-pthread Debian's torch falls back to the reference BLAS and runs about
# 50× slower. Benchmark-only: no test needs torch. Idempotent: does nothing when both are
# installed. Needs root (or sudo) for apt-get.
set -euo pipefail
pkgs=(python3-torch libopenblas0-pthread)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup-torch: ${pkgs[*]} already installed"
  exit 0
fi
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "setup-torch: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
/usr/bin/python3 -c 'import torch; print(f"setup-torch: torch {torch.__version__} ready")'
