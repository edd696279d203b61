#!/usr/bin/env bash
# The anomaly detector against the usual recipes (a static 3-sigma rule, a rolling z-score,
# a seasonal z-score over offset 1w, Netdata-style k-means) on synthetic host-metric traces
# with labelled anomalies: precision, recall, F1, detection delay, false alarms per
# series-week on clean traces, and recall per kind of anomaly; the tuning set and the
# held-back set separately. See collector/anomaly/examples/accuracy.rs for the scoring.
#
#   tests/bench/anomaly_accuracy.sh                 # both sets, 10 traces per kind, 30 clean
#   SET=heldback PER_KIND=30 CLEAN=100 tests/bench/anomaly_accuracy.sh
#   HELDBACK_BASE=20261205 SET=heldback tests/bench/anomaly_accuracy.sh   # a fresh held-back draw
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/setup.sh
cargo run --release -q -p vigil-anomaly --example accuracy -- "${SET:-both}" "${PER_KIND:-10}" "${CLEAN:-30}"
cargo run --release -q -p vigil-anomaly --example cost
