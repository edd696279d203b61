#!/usr/bin/env bash
# An outage of part of a loadgen fleet, and what each notification mode makes of it: one
# release collector with the same alerts routed four ways (a webhook per alert group by
# alertname+host, a webhook per alertname group, a webhook in mode = "incident", and
# Debian's Request Tracker 5 in mode = "incident"), a fleet of HOSTS hosts of which DOWN
# stop sending at once for OUTAGE (each then fires HostDown and two stale-metrics alerts),
# then come back. Prints the notifications each receiver got from the outage until every
# incident resolved (and the alert groups' resolutions went out), the RT tickets and their
# comments, the incidents, and the time from the first alert to the ticket (RT's Created,
# and when `vigil incidents` listed it). Figures, not assertions.
#
#   tests/bench/incident_outage.sh                 # 1,000 hosts, 100 down for 3m: ~12 min
#   HOSTS=200 DOWN=50 OUTAGE=2m tests/bench/incident_outage.sh
#
# Settings: HOSTS (1000), DOWN (100), SERIES (100 per host), OUTAGE (3m), QUIET (2m, the
# incidents' quiet period), COLLECTOR_ENV="K=V …" extra collector settings. The code is the
# ignored test incidents::outage in tests/e2e/incidents/outage.rs, run on the release
# binaries. Loopback only; RT is installed when missing and everything is stopped by PID.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/setup.sh
cargo build --release --workspace --bins
exec cargo test --release -p vigil-tests --test e2e incidents::outage -- --ignored --nocapture
