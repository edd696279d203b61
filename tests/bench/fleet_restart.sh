#!/usr/bin/env bash
# A collector restart at fleet scale: `kill -9` with the fleet connected, restart on the same
# data directory and ports, and measure how the fleet comes back. Prints one table.
#
#   1. A release collector on a fresh data directory; vigil-loadgen --hosts HOSTS x SERIES
#      series every INTERVAL, connecting over RAMP, reconnecting as the agent does (its
#      backoff 500 ms doubling to 30 s with jitter, its ack timeout 30 s and 32 batches in
#      flight), --report-every REPORT.
#   2. Once every host has its series and an interval's ack p99 is within one scrape
#      interval ("kept up"), or after WARM: `kill -9` the collector, start it again at once
#      on the same data directory and ports.
#   3. Measured: (a) start-up, restart -> HTTP answering /api/v1/status/buildinfo and gRPC
#      answering `vigil status`; (b) the reconnection storm, restart -> every host has a
#      stream again and every batch it had spooled is acknowledged (the loadgen's storm
#      end); (c) the new process's VmHWM by the storm's end (sampled every second by
#      fleet_scale.py sample); (d) ack latency of the batches acknowledged in the storm,
#      each from when it could first be sent on the stream that delivered it; (e) samples
#      generated, acknowledged and lost (lost = 0: every round arrived); then the
#      collector's own view (`vigil status --output json`).
#
#   tests/bench/fleet_restart.sh                          # 10,000 hosts x 300 series
#   HOSTS=500 WARM=30s AFTER=60s tests/bench/fleet_restart.sh
#
# Other settings: SERIES (300), INTERVAL (10s), RAMP (60s; HOSTS < 2000: 10s), WARM (2m),
# AFTER (3m: the loadgen runs WARM + AFTER, so at least AFTER after the kill), REPORT
# (5s), SEED (1), ACK_TIMEOUT (30s), IN_FLIGHT (32), BUILD=0 runs the release binaries
# already built (copied to the work directory first), KEEP=1 keeps the work directory
# (loadgen report and stderr, samples, logs, data), COLLECTOR_ENV="K=V …" extra collector
# settings. Loopback only; everything started here is stopped by PID.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/setup.sh
HOSTS=${HOSTS:-10000}
SERIES=${SERIES:-300}
INTERVAL=${INTERVAL:-10s}
if ((HOSTS < 2000)); then RAMP=${RAMP:-10s}; else RAMP=${RAMP:-60s}; fi
WARM=${WARM:-2m}
AFTER=${AFTER:-3m}
REPORT=${REPORT:-5s}
SEED=${SEED:-1}
ACK_TIMEOUT=${ACK_TIMEOUT:-30s}
IN_FLIGHT=${IN_FLIGHT:-32}
work=$(mktemp -d "${TMPDIR:-/tmp}/fleet_restart.XXXXXX")
helper=tests/bench/fleet_restart.py
results=$work/results.env
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [[ ${KEEP:-0} == 1 ]]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

command -v curl >/dev/null || { echo "curl is needed: apt-get install curl" >&2; exit 1; }
if [[ ${BUILD:-1} != 0 ]]; then
  echo "building vigil-collector, vigil and vigil-loadgen (release) in $CARGO_TARGET_DIR" >&2
  cargo build --quiet --release -p vigil-collector -p vigil-cli -p vigil-tests --bins
fi
# Both collector processes run this copy, whatever is built meanwhile.
cp "$CARGO_TARGET_DIR/release/vigil-collector" "$CARGO_TARGET_DIR/release/vigil" \
  "$CARGO_TARGET_DIR/release/vigil-loadgen" "$work/"
bin=$work
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
(( $(ulimit -n) >= HOSTS + 1000 )) || { echo "ulimit -n is $(ulimit -n): $HOSTS hosts need $((HOSTS + 1000)); raise the hard limit" >&2; exit 1; }

# seconds 2m30s -> 150 (the loadgen's duration units).
seconds() { python3 -c '
import re, sys
total = 0
for n, u in re.findall(r"([\d.]+)(ms|s|m|h)", sys.argv[1]):
    total += float(n) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[u]
print(int(total))' "$1"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
put() { echo "$1=$2" >>"$results"; }
status_kb() { awk -v k="$2:" '$1==k{print $2}' "/proc/$1/status"; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
wait_ready() {
  for _ in $(seq 600); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done
  echo "timed out waiting for $1" >&2; return 1
}
stop() {
  kill "$1" 2>/dev/null || return 0
  for _ in $(seq 600); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$1" 2>/dev/null || true
}
count() { grep -c -E "$1" "$2" 2>/dev/null || true; }
: >"$results"

gport=$(free_port); hport=$(free_port)
start_collector() {
  # shellcheck disable=SC2086
  env VIGIL_COLLECTOR__LIMITS__MAX_HOSTS=$((HOSTS + 100)) ${COLLECTOR_ENV:-} \
    "$bin/vigil-collector" --grpc-listen "127.0.0.1:$gport" --http-listen "127.0.0.1:$hport" \
    --data-dir "$work/data" --log-level warn >>"$work/$1.log" 2>&1 &
  collector_pid=$!; pids+=("$collector_pid")
}
status_cmd=("$bin/vigil" --collector "http://127.0.0.1:$gport" status --output json)

start_collector first
first_pid=$collector_pid
wait_ready "http://127.0.0.1:$hport/api/v1/status/buildinfo"
python3 tests/bench/fleet_scale.py sample "$first_pid" "$work/first.samples" &
pids+=($!)

duration=$(($(seconds "$WARM") + $(seconds "$AFTER")))
: >"$work/loadgen.err"
echo "loadgen: $HOSTS hosts x $SERIES series every $INTERVAL for ${duration}s, ramp $RAMP (load average $(loadavg))" >&2
"$bin/vigil-loadgen" --collector "http://127.0.0.1:$gport" --hosts "$HOSTS" --series-per-host "$SERIES" \
  --interval "$INTERVAL" --duration "${duration}s" --ramp "$RAMP" --seed "$SEED" --report-every "$REPORT" \
  --ack-timeout "$ACK_TIMEOUT" --in-flight "$IN_FLIGHT" --output json \
  >"$work/loadgen.json" 2>"$work/loadgen.err" &
lg=$!; pids+=("$lg")
tail -f --pid="$lg" "$work/loadgen.err" >&2 &
pids+=($!)

# Warm up, then kill -9 and restart on the same data directory and ports.
python3 "$helper" warm "$work/loadgen.err" "$HOSTS" "$(($(seconds "$INTERVAL") * 1000))" "$(seconds "$WARM")" >"$work/warm.txt"
read -r trigger after <"$work/warm.txt"
last_line=$(sed -n 2p "$work/warm.txt")
put kill_trigger "$trigger"; put kill_after_s "$after"
put kill_connected "$(sed -nE 's/.*streams +([0-9]+) open.*/\1/p' <<<"$last_line")"
put kill_created "$(sed -nE 's/.* open +([0-9]+) created.*/\1/p' <<<"$last_line")"
"${status_cmd[@]}" >"$work/status-before.json" 2>/dev/null || true
python3 "$helper" status "$work/status-before.json" | sed 's/^status_/before_/' >>"$results"
put before_rss_kb "$(status_kb "$first_pid" VmRSS)"
put before_hwm_kb "$(status_kb "$first_pid" VmHWM)"
kill_line=$(wc -l <"$work/loadgen.err")
echo "== kill -9 $first_pid ($trigger after ${after}s; load average $(loadavg))" >&2
kill -9 "$first_pid"
wait "$first_pid" 2>/dev/null || true
restart_s=$(date +%s.%N)
start_collector second
sampler_start=$(date +%s.%N)
python3 tests/bench/fleet_scale.py sample "$collector_pid" "$work/second.samples" &
pids+=($!)
echo "== restarted as $collector_pid" >&2
python3 "$helper" ready "$restart_s" "http://127.0.0.1:$hport/api/v1/status/buildinfo" "${status_cmd[@]}" >>"$results"
echo "== ready: $(grep _ready_s "$results" | tr '\n' ' ')" >&2

# The collector's own view once the storm is over (one report interval later, so that a
# whole interval of Acks has come in), while the whole fleet is still connected.
python3 "$helper" settle "$work/loadgen.err" "$kill_line" "$(seconds "$AFTER")" >"$work/settle.txt"
read -r settled _ <"$work/settle.txt"
put settled "$settled"
sleep "$(seconds "$REPORT")"
"${status_cmd[@]}" >"$work/status.json" 2>/dev/null || echo "warning: vigil status failed after the storm" >&2
lg_code=0
wait "$lg" || lg_code=$?
((lg_code == 0)) || echo "warning: the loadgen exited with $lg_code" >&2
"${status_cmd[@]}" >"$work/status-end.json" 2>"$work/status.err" || echo "warning: vigil status failed: $(cat "$work/status.err")" >&2
curl -s "http://127.0.0.1:$hport/metrics" >"$work/metrics.txt" || true
put loadavg "$(loadavg | tr ' ' '/')"
put hosts "$HOSTS"; put series "$SERIES"; put interval "$INTERVAL"
python3 "$helper" storm "$work/loadgen.json" "$restart_s" "$work/second.samples" "$sampler_start" >>"$results"
python3 "$helper" status "$work/status.json" >>"$results"
put log_panics "$(count 'panicked' "$work/second.log")"
put log_errors "$(count ' ERROR ' "$work/second.log")"
put log_warnings "$(count ' WARN ' "$work/second.log")"
stop "$collector_pid"

echo
echo "Collector restart at fleet scale, $(nproc) cores ($(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)):" \
  "$HOSTS hosts x $SERIES series every $INTERVAL, ramp $RAMP; loadgen on the same cores ($(date -u +%F))"
echo
python3 "$helper" table "$results"
echo
echo "Vigil $(git describe --always --dirty 2>/dev/null || echo unknown); loadgen reconnects as the agent:" \
  "backoff 500ms..30s with jitter [d/2, d], ack timeout $ACK_TIMEOUT, $IN_FLIGHT batches in flight."
for f in first second; do
  if grep -qE 'panicked| ERROR ' "$work/$f.log"; then
    echo "collector log ($f process), panics and errors:"; grep -E 'panicked| ERROR ' "$work/$f.log" | head -20
  fi
done
