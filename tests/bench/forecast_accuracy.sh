#!/usr/bin/env bash
# Forecast accuracy: every model and Prometheus's predict_linear on synthetic disk-usage
# traces with a known crossing time (linear, business hours, daily log-rotation sawtooth,
# a step then faster growth, accelerating, weekly cycle, flat, shrinking), 40 seeds each.
# Prints the mean absolute error of the crossing time per trace kind and overall, and the
# false alarms, for a 28-day and a 7-day lookback (horizon 7 days). The traces and the
# scoring are in collector/examples/forecast_accuracy.rs; nothing is timed except the cost
# of one forecast per model.
#
#   tests/bench/forecast_accuracy.sh
#   LOOKBACKS="14" HORIZON_DAYS=14 SEEDS=100 tests/bench/forecast_accuracy.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/setup.sh
PROFILE=${PROFILE:-release}
cargo build --quiet --profile "$PROFILE" -p vigil-forecast --example forecast_accuracy
bin="$CARGO_TARGET_DIR/$([[ $PROFILE == dev ]] && echo debug || echo "$PROFILE")/examples/forecast_accuracy"
for days in ${LOOKBACKS:-28 7}; do
  LOOKBACK_DAYS=$days "$bin"
  echo
done
