#!/usr/bin/env bash
# Runs every test and ends with "N passed, N failed".
#
# A test is one of: build/tests/test_* (compiled from test/test_*.c),
# test/test_*.sh, test/test_*.py (run with /usr/bin/python3, Debian's, which
# has torch/numpy/regex). Each prints one line per check:
#   ok - <name>        or        not ok - <name>: <why>
# and exits non-zero if any check failed. A test that exits non-zero without
# printing "not ok" counts as one failure. Run from the repository root.
# Usage: test/run_tests.sh [pattern]   (only tests whose file name contains pattern)
set -u
cd "$(dirname "$0")/.."
pattern="${1:-}"
passed=0
failed=0
failed_names=()

run_one() {
    local name="$1"; shift
    local out rc
    out="$("$@" 2>&1)"; rc=$?
    local ok nok
    ok=$(grep -c '^ok - ' <<<"$out")
    nok=$(grep -c '^not ok - ' <<<"$out")
    if [ "$rc" -ne 0 ] && [ "$nok" -eq 0 ]; then
        nok=1
        out+=$'\n'"not ok - $name: exited with status $rc"
    fi
    passed=$((passed + ok)); failed=$((failed + nok))
    if [ "$nok" -gt 0 ]; then
        failed_names+=("$name")
        echo "== $name: $ok ok, $nok FAILED"
        grep '^not ok - ' <<<"$out" | sed 's/^/   /'  # every failure, whatever the output's length
        echo "   (last lines of its output:)"
        echo "$out" | sed 's/^/   /' | tail -n 30
    else
        echo "== $name: $ok ok"
    fi
}

for t in build/tests/test_* test/test_*.sh test/test_*.py; do
    [ -e "$t" ] || continue
    case "$t" in *"$pattern"*) ;; *) continue ;; esac
    case "$t" in
        *.py) run_one "$t" /usr/bin/python3 "$t" ;;
        *) run_one "$t" "$t" ;;
    esac
done
if [ "${#failed_names[@]}" -gt 0 ]; then echo "failed: ${failed_names[*]}"; fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
