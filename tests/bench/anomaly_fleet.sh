#!/usr/bin/env bash
# What the built-in anomaly rules cost the collector: the same loadgen fleet twice on this
# machine, each time against a fresh release collector on a fresh data directory,
#
#   OFF: VIGIL_COLLECTOR__RULES__DEFAULT_ANOMALY_RULES=false (no vigil-anomaly-watch group);
#   ON:  the default (7 anomaly rules scoring every host's CPU busy share, available memory,
#        load1, disk read/write and network receive/transmit rates each evaluation interval,
#        one detector per series, 4 series written per series watched).
#
# The loadgen: vigil-loadgen --hosts HOSTS --series-per-host SERIES --interval INTERVAL
# --duration DURATION --ramp RAMP --seed SEED (one gRPC stream per host; host i of N sends
# i/N x RAMP late, so every host is sending from RAMP to DURATION after the first scrape's
# time). Meanwhile the collector's CPU ticks are read from /proc every second, its threads
# sampled (fleet_scale.py sample), and `vigil rules --output json` polled every 30 s. At the
# end: RSS and VmHWM, `vigil rules`, `vigil query 'count(vigil_anomaly_score)'`, `vigil status`.
#
# Prints a table, OFF / ON / ON - OFF: samples/s acknowledged; collector CPU in cores over the
# whole run, while every host is sending, and "steady" (the same without its first SKIP,
# cut to whole evaluation intervals so both runs hold as many evaluations); RSS at the end
# and peak, and where `vigil status` puts it; series watched, score series, the watch
# group's seconds per evaluation (its rules' evaluation_time summed); built-in rules not ok;
# stalls of the whole machine (the 1 s sampling loop not running). Then per 10,000 watched
# series: the CPU difference as % of one core (beside Netdata's 2-4 % of a core per 10,000
# metrics), the same from the evaluation time, the detector's arithmetic alone, and the
# detector's state bytes per series (both from vigil-anomaly's `cost` example).
# Figures, not assertions: the two runs are minutes apart on a shared machine (the load
# average at each run's start and end is printed), so read small differences as noise.
#
#   tests/bench/anomaly_fleet.sh                        # 1,000 hosts x 300 series, 10 min, ~25 min
#   HOSTS=200 DURATION=5m tests/bench/anomaly_fleet.sh
#
# Settings: HOSTS (1000), SERIES (300), INTERVAL (10s), DURATION (10m), RAMP (60s), SEED (1),
# SKIP (2m, left out of the steady window after the ramp), KEEP=1 keeps the work directory
# (loadgen reports, samples, rules polls, logs, data directories), COLLECTOR_ENV="K=V …"
# extra collector settings for both runs (e.g. VIGIL_COLLECTOR__RULES__EVALUATION_INTERVAL=30s).
# Durations: a whole number with s, m or h. Loopback only; everything started here is
# stopped by PID.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/setup.sh
HOSTS=${HOSTS:-1000}
SERIES=${SERIES:-300}
INTERVAL=${INTERVAL:-10s}
DURATION=${DURATION:-10m}
RAMP=${RAMP:-60s}
SEED=${SEED:-1}
SKIP=${SKIP:-2m}
work=$(mktemp -d "${TMPDIR:-/tmp}/anomaly_fleet.XXXXXX")
scale=tests/bench/fleet_scale.py
helper=tests/bench/anomaly_fleet.py
results=$work/results.env
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [[ ${KEEP:-0} == 1 ]]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

seconds() {
  case $1 in
    *[0-9]s) echo "${1%s}" ;;
    *[0-9]m) echo $((${1%m} * 60)) ;;
    *[0-9]h) echo $((${1%h} * 3600)) ;;
    *) echo "cannot read the duration '$1': give a whole number with s, m or h" >&2; return 1 ;;
  esac
}
ramp_s=$(seconds "$RAMP"); duration_s=$(seconds "$DURATION"); skip_s=$(seconds "$SKIP")

command -v curl >/dev/null || {
  echo "installing curl" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 curl >/dev/null
}
echo "building vigil-collector, vigil and vigil-loadgen (release) in $CARGO_TARGET_DIR" >&2
cargo build --quiet --release -p vigil-collector -p vigil-cli -p vigil-tests --bins
bin=$CARGO_TARGET_DIR/release
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
(( $(ulimit -n) >= HOSTS + 1000 )) || { echo "ulimit -n is $(ulimit -n): $HOSTS hosts need $((HOSTS + 1000)); raise the hard limit" >&2; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
put() { echo "$1=$2" >>"$results"; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
status_kb() { awk -v k="$2:" '$1==k{print $2}' "/proc/$1/status"; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg | tr ' ' '/'; }
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

# The detector's own cost, before the fleets so that it runs on a quiet machine.
cost=$(cargo run --release -q -p vigil-anomaly --example cost)
echo "vigil-anomaly cost example: $cost" >&2
python3 "$helper" cost "$cost" >>"$results"

# run WHO DEFAULT_ANOMALY_RULES: a fresh collector, the fleet against it, the figures as WHO.*.
run() {
  local who=$1 anomaly=$2 gport hport hz; hz=$(getconf CLK_TCK)
  gport=$(free_port); hport=$(free_port)
  local url="http://127.0.0.1:$gport"
  # shellcheck disable=SC2086
  env VIGIL_COLLECTOR__LIMITS__MAX_HOSTS=$((HOSTS + 100)) \
    VIGIL_COLLECTOR__RULES__DEFAULT_ANOMALY_RULES="$anomaly" ${COLLECTOR_ENV:-} \
    "$bin/vigil-collector" --grpc-listen "127.0.0.1:$gport" --http-listen "127.0.0.1:$hport" \
    --data-dir "$work/$who" --log-level warn >"$work/$who.log" 2>&1 &
  local pid=$!; pids+=("$pid")
  wait_ready "http://127.0.0.1:$hport/api/v1/status/buildinfo"
  put "$who.loadavg_start" "$(loadavg)"
  echo "$who (default anomaly rules $anomaly): $HOSTS hosts x $SERIES series every $INTERVAL for $DURATION, ramp $RAMP (load average $(loadavg))" >&2
  python3 "$scale" sample "$pid" "$work/$who.samples" &
  local sampler=$!; pids+=("$sampler")
  local c0; c0=$(cpu_ticks "$pid")
  date +%s.%N >"$work/$who.t0"
  "$bin/vigil-loadgen" --collector "$url" --hosts "$HOSTS" --series-per-host "$SERIES" \
    --interval "$INTERVAL" --duration "$DURATION" --ramp "$RAMP" --seed "$SEED" \
    --report-every 60s --output json >"$work/$who.loadgen.json" 2>"$work/$who.loadgen.err" &
  local lg=$!; pids+=("$lg")
  tail -f --pid="$lg" "$work/$who.loadgen.err" >&2 &
  local lg_ticks=0 n=0
  while kill -0 "$lg" 2>/dev/null; do
    echo "$(date +%s.%N) $hz $(cpu_ticks "$pid")" >>"$work/$who.cpu"
    lg_ticks=$(cpu_ticks "$lg" 2>/dev/null || echo "$lg_ticks")
    if (( n++ % 30 == 15 )); then
      echo "$(date +%s.%N) $("$bin/vigil" --collector "$url" rules --output json 2>/dev/null || echo null)" >>"$work/$who.rules"
    fi
    sleep 1
  done
  local lg_code=0
  wait "$lg" || lg_code=$?
  ((lg_code == 0)) || echo "warning: $who loadgen exited with $lg_code: $(tail -c 400 "$work/$who.loadgen.json")" >&2
  echo "$(date +%s.%N) $hz $(cpu_ticks "$pid")" >>"$work/$who.cpu"
  local t0 t1; t0=$(cat "$work/$who.t0"); t1=$(date +%s.%N)
  put "$who.cores" "$(awk -v a="$c0" -v b="$(cpu_ticks "$pid")" -v hz="$hz" -v t0="$t0" -v t1="$t1" 'BEGIN{printf "%.3f", (b-a)/hz/(t1-t0)}')"
  put "$who.rss_kb" "$(status_kb "$pid" VmRSS)"
  put "$who.hwm_kb" "$(status_kb "$pid" VmHWM)"
  put "$who.loadavg_end" "$(loadavg)"
  put "$who.loadgen_cpu_s" "$(awk -v t="$lg_ticks" -v hz="$hz" 'BEGIN{printf "%.1f", t/hz}')"
  kill "$sampler" 2>/dev/null || true
  # The collector's view at the end (after the RSS readings, so these calls are not in them).
  echo "$(date +%s.%N) $("$bin/vigil" --collector "$url" rules --output json 2>/dev/null || echo null)" >>"$work/$who.rules"
  "$bin/vigil" --collector "$url" query 'count(vigil_anomaly_score)' --output json >"$work/$who.count.json" 2>/dev/null || true
  "$bin/vigil" --collector "$url" status --output json >"$work/$who.status.json" 2>/dev/null || true
  "$bin/vigil" --collector "$url" rules >"$work/$who.rules.txt" 2>&1 || true
  stop "$pid"
  python3 "$scale" summary "$work/$who.loadgen.json" | sed "s/^/$who./" >>"$results"
  python3 "$helper" figures "$work" "$who" "$ramp_s" "$duration_s" "$skip_s" >>"$results"
  put "$who.warn_lines" "$(grep -c ' WARN ' "$work/$who.log" || true)"
  put "$who.error_lines" "$(grep -c ' ERROR ' "$work/$who.log" || true)"
  echo "$who: collector threads (cores before / after $((ramp_s + skip_s)) s):" >&2
  python3 "$scale" threads "$work/$who.samples" "$((ramp_s + skip_s))" >&2
  echo "$who: collector log, WARN and ERROR messages (count, first of each):" >&2
  grep -E ' (WARN|ERROR) ' "$work/$who.log" | sed -E 's/^[^ ]+ +//' | cut -c1-160 | sort | uniq -c | sort -rn | head -10 >&2 || true
  grep -E 'vigil-(anomaly-watch|host-anomaly)|^GROUP' "$work/$who.rules.txt" >&2 || true
}

run off false
run on true

echo
echo "Built-in anomaly rules on one collector, $(nproc) cores ($(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)):" \
  "$HOSTS hosts x $SERIES series every $INTERVAL, $DURATION live, ramp $RAMP, seed $SEED; loadgen on the same cores ($(date -u +%F))"
echo
python3 "$helper" table "$results"
echo
echo "Vigil $(git describe --always --dirty 2>/dev/null || echo unknown); OFF then ON, each on a fresh collector and data directory."
