#!/usr/bin/env bash
# Forecast accuracy: every model and Prometheus's predict_linear on synthetic disk-usage
# traces with a known crossing time (linear, business hours, daily log-rotation sawtooth,
# a step then faster growth, accelerating, weekly cycle, flat, shrinking), several seeds
# each. Prints the mean absolute error of the crossing time per trace kind and overall,
# and the false alarms. The traces and the scoring are in
# collector/examples/forecast_accuracy.rs; nothing is timed except auto's cost per series.
#
#   tests/bench/forecast_accuracy.sh                       # lookback 7d, horizon 7d, 20 seeds
#   LOOKBACK_DAYS=14 HORIZON_DAYS=14 SEEDS=40 tests/bench/forecast_accuracy.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/setup.sh
PROFILE=${PROFILE:-release}
cargo run --quiet --profile "$PROFILE" -p vigil-collector --example forecast_accuracy
