#!/usr/bin/env bash
# Downloads TinyShakespeare (the 1 MB text from karpathy/char-rnn that llm.c
# also uses) and tokenizes it into data/tinyshakespeare/:
#   tinyshakespeare_val_000000.bin    the first ~10% of the tokens
#   tinyshakespeare_train_000000.bin  the rest
#   gpt2_tokenizer.bin
# Each blank-line-separated passage is a document preceded by <|endoftext|>,
# as in llm.c's tinyshakespeare.py. Needs internet access (curl) and
# `npm install` (for GPT-2's vocabulary); the offline tests do not run it.
set -euo pipefail
cd "$(dirname "$0")/.."
URL="https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
TXT=data/cache/tinyshakespeare.txt
OUT=data/tinyshakespeare

command -v curl >/dev/null || { echo "error: curl is not installed" >&2; exit 1; }
if [ ! -s "$TXT" ]; then
    mkdir -p "$(dirname "$TXT")"
    echo "downloading $URL"
    curl -fsSL --retry 3 -o "$TXT.part" "$URL" || { rm -f "$TXT.part"; echo "error: download of $URL failed" >&2; exit 1; }
    mv "$TXT.part" "$TXT"
fi
/usr/bin/python3 data/tokenize_files.py --out-dir "$OUT" --name tinyshakespeare \
    --split-blank-lines --val-fraction 0.1 "$TXT"
echo "train with: ./train_gpt2 --config configs/default.json --set data.train='$OUT/tinyshakespeare_train_*.bin'" \
     "--set data.val='$OUT/tinyshakespeare_val_*.bin' --set data.tokenizer=$OUT/gpt2_tokenizer.bin --set output.dir=runs/shakespeare"
