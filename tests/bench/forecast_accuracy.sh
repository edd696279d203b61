#!/usr/bin/env bash
# Forecast accuracy: every model and Prometheus's predict_linear (the least-squares line
# over the same lookback) on synthetic disk-usage traces whose true crossing of 90 % is
# known. 21 trace families (linear, business hours, daily log-rotation sawtooth, a step
# 1-3 days back then a faster slope, exponential, quadratic, weekly purge, flat,
# shrinking, slope change, slow-then-fast, plateau then growth, down then up, spikes, gaps,
# daily/weekly seasons over growth; and, added after round 8 and never tuned on: fast then
# slow, a one-off clean-up, a nightly staircase, saturating growth, a drifting random
# walk), each drawing its shape parameters at random from
# wide ranges, not only its seed. A sample every 5 minutes, lookbacks 7 d (the headline),
# 1 d and 28 d on the same traces, horizon 30 days.
#
# Two sets, drawn the same way from different seed bases, reported separately:
#   tuning     anyone may look at it, trace by trace (DEBUG=<family> prints them,
#              DEBUG=all every family);
#   held-back  DO NOT USE IT WHILE TUNING MODELS: run it only to report figures.
#              HELDBACK_BASE=<n> draws a fresh one when the old one may have leaked.
#
# Per family and overall: mean absolute ETA error in days ("no crossing within the
# horizon", predicted or true, counts as the horizon), false alarms (flat and shrinking
# apart), missed crossings, auto / predict_linear, the 95 % band's coverage of the true
# crossing and its width, and the cost of one forecast per model; per lookback also the
# best of the five models on each trace picked knowing the truth, over predict_linear:
# what no way of choosing among them can beat. Traces and scoring:
# collector/forecast/examples/forecast_accuracy.rs and forecast_accuracy/. About a minute
# in release on 2 cores with the defaults.
#
#   tests/bench/forecast_accuracy.sh
#   SEEDS=100 HORIZON_DAYS=14 LOOKBACKS="14 3" tests/bench/forecast_accuracy.sh
#   SETS=tuning DEBUG=step_faster SEEDS=5 tests/bench/forecast_accuracy.sh
#   FORMAT=json tests/bench/forecast_accuracy.sh > accuracy.json
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/setup.sh
PROFILE=${PROFILE:-release}
cargo build --quiet --profile "$PROFILE" -p vigil-forecast --example forecast_accuracy
bin="$CARGO_TARGET_DIR/$([[ $PROFILE == dev ]] && echo debug || echo "$PROFILE")/examples/forecast_accuracy"
"$bin"
