#!/usr/bin/env bash
# Builds the fuzz targets and runs each for SECONDS (default 60), one after another, then
# prints executions and crashes per target; exits 1 if any target crashed.
#
#   tests/fuzz/run.sh [SECONDS] [TARGET...]
#
# SECONDS=0 only replays the seed corpus and the regressions (a quick check that none of
# them crashes any more). Each target starts from its committed seeds
# (tests/fuzz/corpus/<target>, tests/fuzz/regressions/<target>) and from what earlier runs
# found (kept under $VIGIL_FUZZ_WORK, never in the tree). A crash is written to the run's
# artifacts directory (printed in the table); the target is then restarted until its time
# is used, at most $VIGIL_FUZZ_MAX_CRASHES (5) times.
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). Builds in
# $CARGO_TARGET_DIR (default /root/.cache/vigil/fuzz-target), never with RocksDB.
# Sanitizer: none by default (Vigil's crates forbid unsafe code; what is looked for is
# panics, overflows, stack overflows, hangs and runaway memory); set
# VIGIL_FUZZ_SANITIZER=address for AddressSanitizer.

set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
seconds="${1:-60}"
shift || true
all_targets=(ingest_session import_file import_request rule_file templates promql block_decode block_round_trip http_params enroll_request)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all_targets[@]}")

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/root/.cache/vigil/fuzz-target}"
work="${VIGIL_FUZZ_WORK:-/root/.cache/vigil/fuzz-work}"
sanitizer="${VIGIL_FUZZ_SANITIZER:-none}"
max_crashes="${VIGIL_FUZZ_MAX_CRASHES:-5}"
run_dir="$work/runs/$(date -u +%Y%m%dT%H%M%SZ)"
bin_dir="$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release"
mkdir -p "$run_dir"

echo "== building ${#targets[@]} targets (sanitizer: $sanitizer) into $CARGO_TARGET_DIR"
(cd "$here" && cargo +nightly fuzz build --fuzz-dir . -s "$sanitizer" --target-dir "$CARGO_TARGET_DIR")

# The decoder starts from real blocks: the round-trip target writes what its seeds encode.
mkdir -p "$work/corpus/block_decode"
VIGIL_FUZZ_WRITE_SEEDS="$work/corpus/block_decode" \
    "$bin_dir/block_round_trip" "$here"/corpus/block_round_trip/* > /dev/null 2>&1 || true

# libFuzzer's options for every target: a hang is an input that takes 30 s (queries time
# out after 2), and no input may take more than 2 GiB.
common=(-timeout=30 -rss_limit_mb=2048 -print_final_stats=1)

summary=()
failed=0
for target in "${targets[@]}"; do
    corpus="$work/corpus/$target"
    artifacts="$run_dir/$target"
    mkdir -p "$corpus" "$artifacts"
    seeds=("$here/corpus/$target")
    [ -d "$here/regressions/$target" ] && seeds+=("$here/regressions/$target")
    dict=()
    [ -f "$here/dicts/$target.dict" ] && dict=(-dict="$here/dicts/$target.dict")
    log="$artifacts/log"
    execs=0
    crashes=0
    started=$(date +%s)
    echo "== $target: ${seconds}s, log $log"
    while :; do
        left=$((seconds - ($(date +%s) - started)))
        if [ "$seconds" -eq 0 ]; then
            # Replay: every seed and regression once.
            options=(-runs=0)
        elif [ "$left" -le 2 ]; then
            break
        else
            options=(-max_total_time="$left")
        fi
        set +e
        "$bin_dir/$target" "${common[@]}" "${dict[@]}" "${options[@]}" \
            -artifact_prefix="$artifacts/" "$corpus" "${seeds[@]}" > "$artifacts/last" 2>&1
        status=$?
        set -e
        # Executions of this run: libFuzzer's final stats, else its last status line.
        n=$(grep -oP 'stat::number_of_executed_units: \K[0-9]+' "$artifacts/last" | tail -1 || true)
        [ -z "$n" ] && n=$(grep -oP '^#\K[0-9]+' "$artifacts/last" | tail -1 || true)
        n=${n:-0}
        execs=$((execs + n))
        cat "$artifacts/last" >> "$log"
        echo "-- exit $status after $n executions" >> "$log"
        [ "$status" -eq 0 ] && break
        crashes=$((crashes + 1))
        if [ "$seconds" -eq 0 ] || [ "$crashes" -ge "$max_crashes" ]; then
            break
        fi
    done
    # The rule_file target writes each input to a file of its process (the loader reads
    # paths); libFuzzer exits without running destructors, so the files are removed here.
    [ "$target" = rule_file ] && rm -f /dev/shm/vigil-fuzz-rules-*.yml "${TMPDIR:-/tmp}"/vigil-fuzz-rules-*.yml
    found=$(find "$artifacts" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' \) | sort)
    [ "$crashes" -gt 0 ] && failed=1
    summary+=("$(printf '%-18s %8ss %14s %8s  %s' "$target" "$seconds" "$execs" "$crashes" "$(echo "$found" | xargs -r -n1 basename | tr '\n' ' ')")")
done

echo
echo "== fuzzing summary (run directory $run_dir)"
printf '%-18s %9s %14s %8s  %s\n' target time executions crashes artifacts
for line in "${summary[@]}"; do
    echo "$line"
done
if [ "$failed" -ne 0 ]; then
    echo "crashes found: reproduce one with $bin_dir/<target> <artifact>"
    exit 1
fi
