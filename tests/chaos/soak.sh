#!/usr/bin/env bash
# The chaos soak, as long as you like (the test suite runs it for about 2 minutes):
#
#   tests/chaos/soak.sh [DURATION] [SEED]          # default 1h, seed 1
#
# Runs `tests/e2e/chaos.rs` for DURATION: the real collector (its data on a tmpfs of its
# own, so root is needed), a real agent, a real agent under libfaketime +2 min, four load
# generator agents, a webhook receiver and an SMTP server (python3-aiosmtpd), two alert
# rules firing and resolving, and at random seeded intervals kill -9 of the collector and
# of the agents, a full disk, streams cut and stalled. At the end it accounts for every
# acknowledged sample with its value, every agent round, and every notification per
# receiver by delivery id, and prints the tally with the fault table (also written to
# WORK/tally.txt).
#
# The debug binaries and the test are copied to a work directory first, so rebuilding the
# workspace meanwhile does not change what a restart starts. KEEP=1 keeps the directory.
set -euo pipefail
cd "$(dirname "$0")/../.."
duration="${1:-1h}"
seed="${2:-1}"
source scripts/setup.sh
cargo build --workspace --bins
test_bin=$(cargo test -p vigil-tests --test e2e --no-run 2>&1 \
  | sed -n 's/.*Executable e2e\/main.rs (\(.*\))/\1/p' | tail -n 1)
[ -x "$test_bin" ] || { echo "soak.sh: cannot find the e2e test binary" >&2; exit 1; }
work=$(mktemp -d /tmp/vigil-soak.XXXXXX)
# bin() finds the binaries beside the test's deps/ directory.
mkdir -p "$work/debug/deps"
cp "$test_bin" "$work/debug/deps/e2e"
for b in vigil-collector vigil-agent vigil vigil-loadgen; do
  cp "$CARGO_TARGET_DIR/debug/$b" "$work/debug/$b"
done
cleanup() { [ "${KEEP:-0}" = 1 ] && echo "kept $work" >&2 || rm -rf "$work"; }
trap cleanup EXIT
echo "soak: $duration, seed $seed, in $work" >&2
VIGIL_SOAK_DURATION="$duration" VIGIL_SOAK_SEED="$seed" VIGIL_SOAK_TALLY="$work/tally.txt" \
  "$work/debug/deps/e2e" --exact chaos::chaos_soak_loses_nothing_acknowledged_doubles_nothing_and_heals_itself \
  --nocapture --test-threads 1
cat "$work/tally.txt"
