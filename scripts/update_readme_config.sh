#!/usr/bin/env bash
# Regenerates the README's config reference from ./train_gpt2 --help-markdown.
set -euo pipefail
cd "$(dirname "$0")/.."
table="$(./train_gpt2 --help-markdown)"
/usr/bin/python3 - "$table" <<'PY'
import re, sys
table = sys.argv[1] + "\n"
s = open("README.md").read()
start = s.index("<!-- config-reference")
start = s.index("\n", start) + 1
end = s.index("<!-- end config-reference")
open("README.md", "w").write(s[:start] + table + s[end:])
PY
echo "README.md: config reference updated"
