# Shared helpers for shell tests: ok/not ok lines and a scratch directory.
# Source from a test: . "$(dirname "$0")/lib.sh"
set -u
cd "$(dirname "$0")/.."
FAILURES=0
SCRATCH="$(mktemp -d /tmp/omgd_test.XXXXXX)"
trap 'rm -rf "$SCRATCH"' EXIT

ok() { echo "ok - $1"; }
not_ok() { echo "not ok - $1: $2"; FAILURES=$((FAILURES + 1)); }
check() {  # check NAME WHY CMD...  (passes when CMD succeeds)
    local name="$1" why="$2"; shift 2
    if "$@"; then ok "$name"; else not_ok "$name" "$why"; fi
}
finish() { [ "$FAILURES" -eq 0 ]; exit $?; }

# Expects COMMAND to fail with exit status 1 and exactly one stderr line
# starting with "error: " and containing NEEDLE.
expect_error() {  # expect_error NAME NEEDLE CMD...
    local name="$1" needle="$2"; shift 2
    local err rc
    err="$("$@" 2>&1 >/dev/null)"; rc=$?
    local lines; lines=$(printf '%s\n' "$err" | wc -l)
    if [ "$rc" -eq 1 ] && [ "$lines" -eq 1 ] && [[ "$err" == "error: "* ]] && [[ "$err" == *"$needle"* ]]; then
        ok "$name"
    else
        not_ok "$name" "exit $rc, expected 1 with one line containing '$needle'; got: $(printf '%s' "$err" | head -c 300)"
    fi
}

# A tiny GPT-2 config on the Brown shards, fast enough for tests.
TINY=(--config configs/default.json --set model.preset= --set model.depth=2 --set model.channels=32
      --set model.heads=2 --set model.context=32 --set train.batch_size=2 --set train.seq_len=16
      --set train.total_batch_tokens=64 --set train.val_every=3 --set train.val_steps=2
      --set train.sample_every=0 --set optimizer.warmup_steps=2)
