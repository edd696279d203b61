#!/usr/bin/env bash
# Query speed, side by side: Vigil vs Debian's Prometheus 2.42, same data, same queries,
# both through the Prometheus HTTP API (POST /api/v1/query_range, as Grafana sends it).
#
# Data (tests/bench/query_speed_data.py, seeded): node_cpu_seconds_total for HOSTS hosts
# (2 cpus x 8 modes, every 15 s for 70 minutes) and two series of host "solo" every 15 s
# for 7 days. Prometheus gets it with `promtool tsdb create-blocks-from openmetrics`, Vigil
# with `vigil import` into a release-built collector; both then sit until their CPU is idle
# (compactions done). Each query runs once to warm up, then RUNS times on each server; the
# table shows the median wall time of each, as curl measures it, and Vigil's time divided
# by Prometheus's (below 1 means Vigil is faster). Both answers must hold the same series
# and points (values are checked too, within 1e-9 relative); any difference fails the run.
#
#   tests/bench/query_speed.sh              # 1000 hosts, 10 runs
#   HOSTS=200 RUNS=5 tests/bench/query_speed.sh
#   PROFILE=dev HOSTS=20 RUNS=2 tests/bench/query_speed.sh   # check the script, not speed
#
# Installs Debian's prometheus and curl when missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/setup.sh
HOSTS=${HOSTS:-1000}
RUNS=${RUNS:-10}
PROFILE=${PROFILE:-release} # PROFILE=dev for a quick check of the script itself
work=$(mktemp -d "${TMPDIR:-/tmp}/query_speed.XXXXXX")
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

need=()
[[ -x /usr/bin/prometheus && -x /usr/bin/promtool ]] || need+=(prometheus)
command -v curl >/dev/null || need+=(curl)
if ((${#need[@]})); then
  echo "installing ${need[*]}" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

echo "building vigil-collector and vigil (profile $PROFILE)" >&2
cargo build --quiet --profile "$PROFILE" -p vigil-collector -p vigil-cli --bins
bin="$CARGO_TARGET_DIR/$([[ $PROFILE == dev ]] && echo debug || echo "$PROFILE")"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}'; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
# wait_ready URL: until it answers 200 (60 s at most).
wait_ready() {
  for _ in $(seq 600); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done
  echo "timed out waiting for $1" >&2; return 1
}
# wait_idle PID NAME: until the process uses under 2% of a core over 2 s (5 minutes at most).
wait_idle() {
  local hz; hz=$(getconf CLK_TCK)
  for _ in $(seq 150); do
    local c0; c0=$(cpu_ticks "$1"); sleep 2
    (( ($(cpu_ticks "$1") - c0) * 100 < 4 * hz )) && return 0
  done
  echo "warning: $2 still busy after 5 minutes; timing anyway" >&2
}

end=$(( $(date +%s) / 60 * 60 - 60 ))
echo "writing the dataset ($HOSTS hosts)" >&2
python3 tests/bench/query_speed_data.py "$work/data.om" "$end" "$HOSTS"
samples=$(grep -vc '^#' "$work/data.om")
size=$(du -m "$work/data.om" | cut -f1)

# --- Prometheus -----------------------------------------------------------------------------
echo "loading Prometheus (promtool backfill)" >&2
t0=$(now)
promtool tsdb create-blocks-from openmetrics --max-block-duration=486h "$work/data.om" "$work/prom" >/dev/null
prom_backfill=$(since "$t0")
printf 'global:\n  scrape_interval: 1h\nscrape_configs: []\n' > "$work/prometheus.yml"
pport=$(free_port)
t0=$(now)
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/prom" \
  --storage.tsdb.retention.time=3650d --web.listen-address="127.0.0.1:$pport" --log.level=warn \
  >"$work/prometheus.log" 2>&1 &
prom_pid=$!; pids+=($prom_pid)
wait_ready "http://127.0.0.1:$pport/-/ready"
prom_start=$(since "$t0")

# --- Vigil ----------------------------------------------------------------------------------
gport=$(free_port); hport=$(free_port)
"$bin/vigil-collector" --grpc-listen "127.0.0.1:$gport" --http-listen "127.0.0.1:$hport" \
  --data-dir "$work/vigil" --log-level warn >"$work/vigil.log" 2>&1 &
vigil_pid=$!; pids+=($vigil_pid)
wait_ready "http://127.0.0.1:$hport/api/v1/status/buildinfo"
echo "loading Vigil (vigil import)" >&2
t0=$(now)
"$bin/vigil" --collector "http://127.0.0.1:$gport" import "$work/data.om" </dev/null >/dev/null
vigil_load=$(since "$t0")

echo "waiting for both to finish background work" >&2
wait_idle "$prom_pid" prometheus
wait_idle "$vigil_pid" vigil-collector

# --- queries --------------------------------------------------------------------------------
# run URL QUERY START END STEP OUT: one POST query_range; prints curl's total time.
run() {
  curl -s -o "$6" -w '%{http_code} %{time_total}\n' "$1/api/v1/query_range" \
    --data-urlencode "query=$2" --data-urlencode "start=$3" --data-urlencode "end=$4" \
    --data-urlencode "step=$5" | {
    read -r code secs
    if [[ $code != 200 ]]; then echo "HTTP $code from $1 for $2: $(head -c 300 "$6")" >&2; return 1; fi
    echo "$secs"
  }
}
median() { sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
# bench NAME QUERY START END STEP: one table row.
failed=0
rows=()
bench() {
  local name=$1 query=$2 start=$3 stop=$4 step=$5 p v
  echo "timing $name" >&2
  for target in "prom http://127.0.0.1:$pport" "vigil http://127.0.0.1:$hport"; do
    read -r who url <<<"$target"
    run "$url" "$query" "$start" "$stop" "$step" "$work/$who.json" >/dev/null
    for _ in $(seq "$RUNS"); do run "$url" "$query" "$start" "$stop" "$step" "$work/$who.run.json"; done \
      | median > "$work/$who.median"
  done
  p=$(cat "$work/prom.median"); v=$(cat "$work/vigil.median")
  local shape
  if ! shape=$(python3 - "$work/prom.json" "$work/vigil.json" <<'PY'
import json, math, sys
def load(path):
    result = json.load(open(path))["data"]["result"]
    return {json.dumps(s["metric"], sort_keys=True): s["values"] for s in result}
p, v = load(sys.argv[1]), load(sys.argv[2])
points = lambda d: sum(len(x) for x in d.values())
shape = f"{len(p)} series, {points(p)} points"
if p.keys() != v.keys() or points(p) != points(v):
    sys.exit(f"different answers: Prometheus {shape}, Vigil {len(v)} series, {points(v)} points")
def same(a, b):
    a, b = float(a), float(b)
    return (math.isnan(a) and math.isnan(b)) or a == b or abs(a - b) <= 1e-9 * max(abs(a), abs(b))
for key, values in p.items():
    for (ta, va), (tb, vb) in zip(values, v[key]):
        if ta != tb or not same(va, vb):
            sys.exit(f"different values for {key}: Prometheus {va} @ {ta}, Vigil {vb} @ {tb}")
print(shape)
PY
  ); then
    failed=1; shape="MISMATCH"
  fi
  rows+=("$(awk -v n="$name" -v s="$shape" -v p="$p" -v v="$v" \
    'BEGIN{ printf "| %-56s | %-26s | %8.0f ms | %8.0f ms | %10.2f |", n, s, p*1000, v*1000, v/p }')")
}

hour=3600; week=$((7 * 86400))
bench 'sum by (host) (rate(cpu{mode!="idle"}[5m])), 1 h / 15 s' \
  'sum by (host) (rate(node_cpu_seconds_total{mode!="idle"}[5m]))' $((end - hour)) "$end" 15
# The same selection without rate or sum, to show where the time goes.
bench '  selection alone: count(cpu{mode!="idle"}), 1 h / 15 s' \
  'count(node_cpu_seconds_total{mode!="idle"})' $((end - hour)) "$end" 15
bench 'node_load1{host="solo"}, 7 d / 5 m' \
  'node_load1{host="solo"}' $((end - week)) "$end" 300
bench 'rate(receive_bytes{host="solo"}[5m]), 7 d / 5 m' \
  'rate(node_network_receive_bytes_total{host="solo",device="eth0"}[5m])' $((end - week)) "$end" 300

# --- report ---------------------------------------------------------------------------------
prom_disk=$(du -sm "$work/prom" | cut -f1); vigil_disk=$(du -sm "$work/vigil" | cut -f1)
echo
echo "Query speed on $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo): $HOSTS hosts, $samples samples ($size MB OpenMetrics), median of $RUNS runs after a warm-up ($(date -u +%F))"
echo
printf '| %-56s | %-26s | %11s | %11s | %10s |\n' "query, range / step" result Prometheus Vigil "Vigil/Prom"
printf '| %s | %s | %s | %s | %s |\n' "$(printf -- '-%.0s' {1..56})" "$(printf -- '-%.0s' {1..26})" \
  "$(printf -- '-%.0s' {1..11})" "$(printf -- '-%.0s' {1..11})" "$(printf -- '-%.0s' {1..10})"
printf '%s\n' "${rows[@]}"
echo
echo "Load: Prometheus $(prometheus --version 2>&1 | awk 'NR==1{print $3}'): promtool backfill ${prom_backfill} s + start ${prom_start} s, ${prom_disk} MB on disk;" \
  "Vigil $(git describe --always --dirty 2>/dev/null): vigil import ${vigil_load} s, ${vigil_disk} MB on disk."
exit "$failed"
