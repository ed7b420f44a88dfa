#!/usr/bin/env bash
# From a fresh clone to a trained model: installs dependencies, prepares
# the Brown corpus as GPT-2 token shards, builds, and runs the default
# training job (a small GPT-2 trained with OMGD on the CPU, a few minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
scripts/prepare_data.sh
make -j2 train_gpt2
# resume=latest: running setup again continues the same run (a finished one: "nothing to train")
./train_gpt2 --config configs/brown_omgd.json --set output.resume=latest
