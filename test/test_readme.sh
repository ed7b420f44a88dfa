#!/usr/bin/env bash
# The README's config reference is the trainer's own key table, and the
# README's commands name files that exist.
. "$(dirname "$0")/lib.sh"
check "README config reference matches ./train_gpt2 --help-markdown" "regenerate it from --help-markdown" \
    diff <(sed -n '/<!-- config-reference/,/<!-- end config-reference/p' README.md | sed '1d;$d') <(./train_gpt2 --help-markdown)
for f in $(grep -oE '(scripts|data|configs|test)/[A-Za-z0-9_./-]+\.(sh|py|json)' README.md | sort -u); do
    check "README names an existing file: $f" "missing" test -e "$f"
done
finish
