#!/usr/bin/env bash
# Run where apt works (this project's CPU machines): downloads the Debian
# packages the trainers link (cJSON, OpenBLAS built on OpenMP, and what
# OpenBLAS needs) into .gpu_deps/ (ignored by git). A GPU machine without
# them gets them by carrying .gpu_deps/: scripts/gpu_check.sh unpacks the
# packages into .gpu_deps/root and builds against them (make DEPS_ROOT=...).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .gpu_deps
cd .gpu_deps
apt-get download libcjson1 libcjson-dev libopenblas0-openmp libopenblas-openmp-dev libopenblas-dev \
    libgfortran5 libquadmath0 >/dev/null
ls -1 ./*.deb
echo "carry .gpu_deps (and data/brown) to the GPU machine; scripts/gpu_check.sh uses them"
