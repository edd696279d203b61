#!/usr/bin/env bash
# A fleet of agents on one collector, live, and the same fleet on VictoriaMetrics, one after
# the other on this machine. Prints a fleet table and a per-thread CPU profile of each.
#
#   1. Vigil: a release collector on a fresh data directory; vigil-loadgen --hosts HOSTS
#      --interval INTERVAL --duration DURATION --ramp RAMP --report-every 10s (one gRPC
#      stream per host, 300 series each, scrapes sent when due). Meanwhile the collector's
#      threads are sampled from /proc every second (fleet_scale.py sample). At the end:
#      `vigil status`, /metrics, RocksDB's LOG checked for write stalls.
#   2. VictoriaMetrics (Debian's, installed when missing): a fresh data directory, the same
#      loadgen flags with --vm-url (the same samples POSTed live to /api/v1/import, one
#      POST per host and scrape), sampled the same way.
#
# Columns: samples/s acknowledged over the live phase; ack latency per batch from when its
# scrape was due (loadgen's live phase); "series created": first connection to the last
# host's first batch acknowledged; "keeping up": first 10 s interval from which, in every
# interval, all hosts had their series and 99 % of the batches acknowledged were
# acknowledged within one scrape interval of being due; CPU from /proc/PID/stat over the run; RSS from /proc/PID/status.
#
#   tests/bench/fleet_scale.sh                       # 10,000 hosts x 300 series, 3 min
#   HOSTS=2000 DURATION=2m tests/bench/fleet_scale.sh
#   ONLY=vigil tests/bench/fleet_scale.sh            # skip VictoriaMetrics (or ONLY=vm)
#
# Other settings: SERIES (300), INTERVAL (10s), RAMP (60s), SEED (1), KEEP=1 keeps the work
# directory (loadgen reports, samples, logs, the data directories), COLLECTOR_ENV="K=V …"
# extra collector settings, BUILD=0 runs the release binaries in $CARGO_TARGET_DIR/release
# as they are (another build's, to compare). Loopback only; everything started here is
# stopped by PID.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/setup.sh
HOSTS=${HOSTS:-10000}
SERIES=${SERIES:-300}
INTERVAL=${INTERVAL:-10s}
DURATION=${DURATION:-3m}
RAMP=${RAMP:-60s}
SEED=${SEED:-1}
ONLY=${ONLY:-}
work=$(mktemp -d "${TMPDIR:-/tmp}/fleet_scale.XXXXXX")
helper=tests/bench/fleet_scale.py
results=$work/results.env
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [[ ${KEEP:-0} == 1 ]]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

if [[ $ONLY != vigil && ! -x /usr/bin/victoria-metrics ]] || ! command -v curl >/dev/null; then
  echo "installing victoria-metrics and curl" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -o DPkg::Lock::Timeout=300 victoria-metrics curl >/dev/null
fi
if [[ ${BUILD:-1} != 0 ]]; then
  echo "building vigil-collector, vigil and vigil-loadgen (release) in $CARGO_TARGET_DIR" >&2
  cargo build --quiet --release -p vigil-collector -p vigil-cli -p vigil-tests --bins
fi
bin=$CARGO_TARGET_DIR/release
# One socket per host on each side, plus RocksDB's files.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
(( $(ulimit -n) >= HOSTS + 1000 )) || { echo "ulimit -n is $(ulimit -n): $HOSTS hosts need $((HOSTS + 1000)); raise the hard limit" >&2; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
put() { echo "$1=$2" >>"$results"; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
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
: >"$results"
gen=("$bin/vigil-loadgen" --hosts "$HOSTS" --series-per-host "$SERIES" --interval "$INTERVAL"
  --duration "$DURATION" --ramp "$RAMP" --seed "$SEED" --report-every 10s --output json)

# run_phase WHO PID LOADGEN_ARGS…: the loadgen against the server PID, sampled; fills
# WHO.* results.
run_phase() {
  local who=$1 pid=$2; shift 2
  python3 "$helper" sample "$pid" "$work/$who.samples" &
  local sampler=$!; pids+=("$sampler")
  local c0; c0=$(cpu_ticks "$pid")
  local t0; t0=$(date +%s.%N)
  echo "$who: $HOSTS hosts x $SERIES series every $INTERVAL for $DURATION, ramp $RAMP (load average $(loadavg))" >&2
  : >"$work/$who.loadgen.err"
  "${gen[@]}" "$@" >"$work/$who.loadgen.json" 2>"$work/$who.loadgen.err" &
  local lg=$!; pids+=("$lg")
  tail -f --pid="$lg" "$work/$who.loadgen.err" >&2 &
  # The loadgen's own CPU: its last reading before it exits (within a second).
  local lg_ticks=0 hz; hz=$(getconf CLK_TCK)
  local n=0
  while kill -0 "$lg" 2>/dev/null; do
    lg_ticks=$(cpu_ticks "$lg" 2>/dev/null || echo "$lg_ticks")
    # The server's own view every 30 s, when it has one (STATUS_CMD).
    if (( n++ % 30 == 15 )) && [[ -n ${STATUS_CMD:-} ]]; then
      $STATUS_CMD >"$work/$who.status.$n.json" 2>/dev/null || true
    fi
    sleep 1
  done
  put "$who.loadgen_cpu_s" "$(awk -v t="$lg_ticks" -v hz="$hz" 'BEGIN{printf "%.1f", t/hz}')"
  local lg_code=0
  wait "$lg" || lg_code=$?
  local t1; t1=$(date +%s.%N)
  ((lg_code == 0)) || echo "warning: $who loadgen exited with $lg_code: $(tail -c 400 "$work/$who.loadgen.json")" >&2
  local cpu_s; cpu_s=$(awk -v a="$c0" -v b="$(cpu_ticks "$pid")" -v hz="$hz" 'BEGIN{printf "%.1f", (b-a)/hz}')
  put "$who.cpu_s" "$cpu_s"
  put "$who.cores" "$(awk -v c="$cpu_s" -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", c/(b-a)}')"
  put "$who.rss_kb" "$(status_kb "$pid" VmRSS)"
  put "$who.hwm_kb" "$(status_kb "$pid" VmHWM)"
  put "$who.loadavg" "$(loadavg | tr ' ' '/')"
  python3 "$helper" summary "$work/$who.loadgen.json" | sed "s/^/$who./" >>"$results"
  kill "$sampler" 2>/dev/null || true
}

# --- Vigil ------------------------------------------------------------------------------------
if [[ $ONLY != vm ]]; then
  gport=$(free_port); hport=$(free_port)
  # shellcheck disable=SC2086
  env VIGIL_COLLECTOR__LIMITS__MAX_HOSTS=$((HOSTS + 100)) ${COLLECTOR_ENV:-} \
    "$bin/vigil-collector" --grpc-listen "127.0.0.1:$gport" --http-listen "127.0.0.1:$hport" \
    --data-dir "$work/vigil" --log-level warn >"$work/vigil.log" 2>&1 &
  vigil_pid=$!; pids+=("$vigil_pid")
  wait_ready "http://127.0.0.1:$hport/api/v1/status/buildinfo"
  STATUS_CMD="$bin/vigil --collector http://127.0.0.1:$gport status --output json" \
    run_phase vigil "$vigil_pid" --collector "http://127.0.0.1:$gport"
  "$bin/vigil" --collector "http://127.0.0.1:$gport" status --output json >"$work/vigil-status.json" 2>/dev/null || true
  curl -s "http://127.0.0.1:$hport/metrics" >"$work/vigil-metrics.txt" || true
  put vigil.series "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["series"])' "$work/vigil-status.json" 2>/dev/null \
    || awk -F= '/^vigil.hosts=/{h=$2} END{print h*'"$SERIES"'}' "$results")"
  put vigil.bytes_per_series "$(awk -F= -v k="$(status_kb "$vigil_pid" VmRSS)" '/^vigil.series=/{s=$2} END{if (s>0) printf "%.0f", k*1024/s}' "$results")"
  echo "Vigil collector threads (cores used before / after the series were created):" >&2
  create_s=$(awk -F= '/^vigil.create_s=/{print $2}' "$results")
  python3 "$helper" threads "$work/vigil.samples" "${create_s:-60}" >&2
  count() { grep -c -E "$1" "$2" 2>/dev/null || true; }
  echo "RocksDB LOG: $(count 'Stalling writes|Stopping writes' "$work/vigil/LOG") write stall lines," \
    "$(count flush_started "$work/vigil/LOG") flushes, $(count compaction_started "$work/vigil/LOG") compactions;" \
    "collector log: $(count ' WARN ' "$work/vigil.log") warnings, $(count ' ERROR ' "$work/vigil.log") errors" >&2
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("vigil status at the end: memory", {k: "%.0f MB" % (v / 1e6) for k, v in d["memory"].items()},
    "resident %.0f MB; series %d; memtables by part" % (d["resident_bytes"] / 1e6, d["series"]), {p["name"]: "%.0f MB" % (p["memory_bytes"] / 1e6) for p in d["parts"] if p["memory_bytes"] > 1e6})' \
    "$work/vigil-status.json" >&2 || true
  stop "$vigil_pid"
fi

# --- VictoriaMetrics --------------------------------------------------------------------------
if [[ $ONLY != vigil ]]; then
  vport=$(free_port)
  victoria-metrics -storageDataPath "$work/vm" -httpListenAddr "127.0.0.1:$vport" \
    -retentionPeriod 100y -loggerLevel ERROR >"$work/vm.log" 2>&1 &
  vm_pid=$!; pids+=("$vm_pid")
  wait_ready "http://127.0.0.1:$vport/health"
  run_phase vm "$vm_pid" --vm-url "http://127.0.0.1:$vport"
  curl -s "http://127.0.0.1:$vport/metrics" >"$work/vm-metrics.txt" || true
  # Series VictoriaMetrics holds: its count of new series created.
  put vm.series "$(awk '/^vm_new_timeseries_created_total /{print $2}' "$work/vm-metrics.txt")"
  put vm.bytes_per_series "$(awk -F= -v k="$(status_kb "$vm_pid" VmRSS)" '/^vm.series=/{s=$2} END{if (s>0) printf "%.0f", k*1024/s}' "$results")"
  echo "VictoriaMetrics threads:" >&2
  python3 "$helper" threads "$work/vm.samples" "$(awk -F= '/^vm.create_s=/{print $2}' "$results")" >&2
  stop "$vm_pid"
fi

echo
echo "Fleet on one collector, $(nproc) cores ($(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)):" \
  "$HOSTS hosts x $SERIES series every $INTERVAL, $DURATION live, ramp $RAMP; loadgen on the same cores ($(date -u +%F))"
echo
python3 "$helper" table "$results"
echo
echo "Vigil $(git describe --always --dirty 2>/dev/null || echo unknown), collector defaults (storage.sync as configured);" \
  "VictoriaMetrics $(dpkg-query -W -f '${Version}' victoria-metrics 2>/dev/null) via /api/v1/import (its 204 is not an fsync)."
