#!/usr/bin/env bash
# Every file reader under libFuzzer with AddressSanitizer and UBSan, for a
# bounded time each (FUZZ_SECONDS, default 10), from the seed corpora in
# test/fuzz/corpus/. Every input a fuzzer ever crashed on is kept in
# test/fuzz/regressions/<harness>/ and replayed first.
. "$(dirname "$0")/lib.sh"
SECONDS_EACH="${FUZZ_SECONDS:-10}"
export ASAN_OPTIONS=detect_leaks=0  # refused inputs leave small allocations behind by design
if ! command -v clang >/dev/null; then
    not_ok "clang is installed" "scripts/install_deps.sh installs clang and libclang-rt-14-dev"
    finish
fi
make -s fuzz >"$SCRATCH/build.log" 2>&1 || { not_ok "fuzz harnesses build" "$(tail -5 "$SCRATCH/build.log")"; finish; }
for bin in build/fuzz/fuzz_*; do
    name="$(basename "$bin")"
    reg="test/fuzz/regressions/$name"
    if [ -d "$reg" ] && [ -n "$(ls -A "$reg")" ]; then
        check "$name: every recorded crash input is handled" "a regression input fails again" \
            "$bin" -detect_leaks=0 "$reg"/* >"$SCRATCH/$name.reg.log" 2>&1
    fi
    mkdir -p "$SCRATCH/corpus_$name"
    cp test/fuzz/corpus/"$name"/* "$SCRATCH/corpus_$name/" 2>/dev/null
    if "$bin" -max_total_time="$SECONDS_EACH" -detect_leaks=0 -close_fd_mask=2 -rss_limit_mb=2048 -timeout=10 \
        -artifact_prefix="$SCRATCH/$name-" "$SCRATCH/corpus_$name" >"$SCRATCH/$name.log" 2>&1; then
        runs=$(grep -oE 'Done [0-9]+ runs' "$SCRATCH/$name.log" | grep -oE '[0-9]+')
        ok "$name: ${SECONDS_EACH}s of fuzzing without a finding (${runs:-?} inputs)"
    else
        art=$(ls "$SCRATCH/$name-"* 2>/dev/null | head -1)
        mkdir -p "test/fuzz/found/$name" && [ -n "$art" ] && cp "$art" "test/fuzz/found/$name/"
        not_ok "$name: fuzzing found a failing input" "copied to test/fuzz/found/$name/ (move it to $reg once fixed); $(grep -m1 -E 'ERROR|SUMMARY|deadly' "$SCRATCH/$name.log")"
    fi
done
finish
