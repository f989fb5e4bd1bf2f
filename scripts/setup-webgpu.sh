#!/usr/bin/env bash
# Installs what Dawn's OpenGL ES backend needs to run WebGPU on Mesa llvmpipe (the software
# adapter of a CPU-only Linux machine): Debian's libegl1 libegl-mesa0 libgles2. Idempotent:
# does nothing when they are already there. Needs root (or sudo) for apt-get.
set -euo pipefail
pkgs=(libegl1 libegl-mesa0 libgles2)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup-webgpu: ${pkgs[*]} already installed"
  exit 0
fi
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "setup-webgpu: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
