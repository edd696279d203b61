#!/usr/bin/env bash
# Storage side by side: Vigil vs Debian's VictoriaMetrics (1.79) and Prometheus (2.42), one
# synthetic dataset, one machine, one run. Prints one table.
#
# Dataset: vigil-loadgen's simulated fleet (HOSTS hosts x SERIES node_exporter-like series
# every INTERVAL seconds for SPAN, seeded; counters with resets, gauges, constants, 1 % of
# series churning every 6 h; optional JITTER_MS of timestamp jitter). Each system gets
# exactly the same samples:
#   Vigil            vigil-loadgen --backfill SPAN over gRPC into a release-built collector
#                    (storage.sync=false: the WAL survives kill -9, not power loss; neither
#                    peer fsyncs on ingest either). Ingest = acknowledged samples/s.
#   VictoriaMetrics  vigil-loadgen --emit vm-import FILE, then one `curl -T FILE` to
#                    /api/v1/import. Ingest = samples / time until the import returns.
#   Prometheus       vigil-loadgen --emit openmetrics FILE, then `promtool tsdb
#                    create-blocks-from openmetrics` (one block). Ingest = samples / promtool
#                    time; it is an offline tool, not a server ingest path.
# Disk: bytes of the data directory (du --apparent-size) divided by the samples, once the
# system has settled: Vigil after its background block compaction (CPU idle and size steady
# for 20 s), VictoriaMetrics after /internal/force_flush and /internal/force_merge (and the
# same wait), Prometheus the block directory promtool wrote. Everything counts, the newest
# still-open window included: Vigil's whole data directory (blocks, shared timestamp
# columns, samples not yet in blocks in the `recent_frames` family, write-ahead log, MANIFEST and
# LOG); Vigil compacts the open window early once samples stop arriving (one compaction
# pass with few samples), so after the settle it is in blocks, not in `recent_frames`. The line
# under the table splits Vigil's bytes per sample by family (from `vigil status`).
# Peak RSS: VmHWM of the server process after loading and settling (promtool's peak for
# Prometheus), and again after the queries (the Prometheus server serving the block).
# Queries: POST /api/v1/query_range (or /api/v1/query), one warm-up then RUNS timed runs,
# median of curl's total time; VictoriaMetrics runs with -search.disableCache so that it
# answers from storage like the others, not from its rollup result cache. The point counts
# are shown because the three do not pick exactly the same points at range edges.
#   - one series x SPAN at step = INTERVAL: every raw point of node_load1 of one host,
#     as a dashboard asks for it (query_range);
#   - the same series as a range vector node_load1{...}[SPAN] (instant query): raw samples
#     with no step evaluation at all;
#   - avg(node_load1) over all hosts, last hour, step = INTERVAL;
#   - avg by (host) (rate(node_cpu_seconds_total[5m])) over all hosts, last hour, step 60 s.
# Fleet queries: the last two again over a bigger fleet, FLEET_HOSTS hosts x FLEET_SERIES
# series for FLEET_SPAN (same interval, seed, jitter and end), loaded into a second instance
# of each system in the same run the same way (and timed the same way; its ingest and disk
# figures are not reported). FLEET_SERIES=40 keeps every node_cpu_seconds_total and
# node_load1 series of a host and makes the OpenMetrics file 12 times smaller than 300.
#
#   tests/bench/storage_peers.sh                      # 100 hosts x 300 x 10 s x 24 h = 259 M samples
#   HOSTS=10 SPAN=2h tests/bench/storage_peers.sh     # a quick check
#   JITTER_MS=25 tests/bench/storage_peers.sh         # millisecond jitter on timestamps
#
# Other settings: FLEET_HOSTS (1000; 0 leaves the fleet queries out), FLEET_SERIES (40),
# FLEET_SPAN (2h), SEED (1), RUNS (20), CONCURRENCY (hosts backfilling at once, 4),
# BATCH_SAMPLES (10000), KEEP=1 keeps the work directory. Needs disk for the OpenMetrics file
# (about 80 bytes a sample; it is deleted as soon as promtool has read it). Installs Debian's
# victoria-metrics, prometheus and curl when missing. Start nothing else heavy meanwhile:
# all three share the machine's cores with the load generator.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/setup.sh
HOSTS=${HOSTS:-100}
SERIES=${SERIES:-300}
INTERVAL=${INTERVAL:-10}
SPAN=${SPAN:-24h}
JITTER_MS=${JITTER_MS:-0}
SEED=${SEED:-1}
RUNS=${RUNS:-20}
CONCURRENCY=${CONCURRENCY:-4}
BATCH_SAMPLES=${BATCH_SAMPLES:-10000}
FLEET_HOSTS=${FLEET_HOSTS:-1000}
FLEET_SERIES=${FLEET_SERIES:-40}
FLEET_SPAN=${FLEET_SPAN:-2h}
work=$(mktemp -d "${TMPDIR:-/tmp}/storage_peers.XXXXXX")
helper=tests/bench/storage_peers.py
results=$work/results.env
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [[ ${KEEP:-0} == 1 ]]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

need=()
[[ -x /usr/bin/victoria-metrics ]] || need+=(victoria-metrics)
[[ -x /usr/bin/prometheus && -x /usr/bin/promtool ]] || need+=(prometheus)
command -v curl >/dev/null || need+=(curl)
if ((${#need[@]})); then
  echo "installing ${need[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -o DPkg::Lock::Timeout=300 "${need[@]}" >/dev/null
fi

echo "building vigil-collector and vigil-loadgen (release) in $CARGO_TARGET_DIR" >&2
cargo build --quiet --release -p vigil-collector -p vigil-tests --bins
bin=$CARGO_TARGET_DIR/release
version="$(git describe --always --dirty 2>/dev/null || echo unknown)"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
put() { echo "$1=$2" >>"$results"; }
json() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, {"d": d}))' "$@"; }
hwm() { awk '/VmHWM/{print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
size() { du -sb "$1" | cut -f1; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
wait_ready() {
  for _ in $(seq 600); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done
  echo "timed out waiting for $1" >&2; return 1
}
# settle PID DIR NAME: until PID has used under 5 % of a core and DIR has kept its size
# (within 64 KB or 0.1 %: a bookkeeping write now and then is no compaction) for 20 s in a
# row (30 minutes at most).
settle() {
  local hz quiet=0 c0 s0 c1 s1
  hz=$(getconf CLK_TCK)
  c0=$(cpu_ticks "$1"); s0=$(size "$2")
  for _ in $(seq 360); do
    sleep 5
    c1=$(cpu_ticks "$1"); s1=$(size "$2")
    local moved=$(( s1 > s0 ? s1 - s0 : s0 - s1 )) slack=$(( s0 / 1000 > 65536 ? s0 / 1000 : 65536 ))
    if (( (c1 - c0) * 100 < 5 * 5 * hz && moved <= slack )); then
      quiet=$((quiet + 1)); ((quiet >= 4)) && return 0
    else
      quiet=0
    fi
    c0=$c1; s0=$s1
  done
  echo "warning: $3 still busy after 30 minutes; measuring anyway" >&2
}
# stop PID: SIGTERM, then up to 60 s for it to exit.
stop() {
  kill "$1" 2>/dev/null || return 0
  for _ in $(seq 600); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$1" 2>/dev/null || true
}

span_s=$(python3 -c 'import sys,re
m = {"s": 1, "m": 60, "h": 3600, "d": 86400}
print(sum(int(n) * m[u] for n, u in re.findall(r"(\d+)([smhd])", sys.argv[1])))' "$SPAN")
((span_s > 0)) || { echo "SPAN=$SPAN: use a duration such as 24h or 90m" >&2; exit 1; }
# End of the data: ten minutes ago (VictoriaMetrics hides the last 30 s by default), on
# the interval.
end=$(( ($(date +%s) - 600) / INTERVAL * INTERVAL ))
gen=("$bin/vigil-loadgen" --hosts "$HOSTS" --series-per-host "$SERIES" --interval "${INTERVAL}s"
  --backfill "$SPAN" --duration 0s --end "$end" --jitter-ms "$JITTER_MS" --seed "$SEED")
: >"$results"
q_end=$((end - INTERVAL))
q_hour=$((q_end - 3600))
one='node_load1{host="host-00000"}'
# name|label|kind|query|start|end|step
queries=(
  "series|one series x $SPAN, query_range step ${INTERVAL}s|range|$one|$((end - span_s))|$q_end|$INTERVAL"
  "raw|one series x $SPAN raw, ${one%%\{*}{…}[$SPAN]|instant|$one[${span_s}s]|$end||"
  "avg|avg(node_load1), $HOSTS hosts x 1 h, step ${INTERVAL}s|range|avg(node_load1)|$q_hour|$q_end|$INTERVAL"
  "rate|avg by (host)(rate(cpu[5m])), $HOSTS hosts x 1 h, step 60s|range|avg by (host) (rate(node_cpu_seconds_total[5m]))|$q_hour|$q_end|60"
)
# The fleet set (FLEET_HOSTS): the fleet aggregations again, on a second instance.
fleet_queries=()
if ((FLEET_HOSTS > 0)); then
  fleet_queries=(
    "favg|avg(node_load1), $FLEET_HOSTS hosts x 1 h, step ${INTERVAL}s|range|avg(node_load1)|$q_hour|$q_end|$INTERVAL"
    "frate|avg by (host)(rate(cpu[5m])), $FLEET_HOSTS hosts x 1 h, step 60s|range|avg by (host) (rate(node_cpu_seconds_total[5m]))|$q_hour|$q_end|60"
  )
fi
fleet_gen=("$bin/vigil-loadgen" --hosts "$FLEET_HOSTS" --series-per-host "$FLEET_SERIES" --interval "${INTERVAL}s"
  --backfill "$FLEET_SPAN" --duration 0s --end "$end" --jitter-ms "$JITTER_MS" --seed "$SEED")
put queries "$(for q in "${queries[@]}" "${fleet_queries[@]}"; do printf '%s ' "${q%%|*}"; done)"
for q in "${queries[@]}" "${fleet_queries[@]}"; do IFS='|' read -r name label _ <<<"$q"; put "q.$name.label" "$label"; done

# time_queries WHO BASE_URL [LIST]: every query of the array named LIST (queries), warm-up
# then RUNS timed runs.
time_queries() {
  local who=$1 url=$2 q name label kind query start stop step times code secs
  local -n list=${3:-queries}
  for q in "${list[@]}"; do
    IFS='|' read -r name label kind query start stop step <<<"$q"
    local args=(--data-urlencode "query=$query")
    if [[ $kind == range ]]; then
      args+=(--data-urlencode "start=$start" --data-urlencode "end=$stop" --data-urlencode "step=$step")
      path=/api/v1/query_range
    else
      args+=(--data-urlencode "time=$start")
      path=/api/v1/query
    fi
    times=()
    for i in $(seq 0 "$RUNS"); do
      read -r code secs < <(curl -s -o "$work/answer.json" -w '%{http_code} %{time_total}\n' "${args[@]}" "$url$path")
      if [[ $code != 200 ]]; then
        echo "$who: HTTP $code for $query: $(head -c 300 "$work/answer.json")" >&2
        put "$who.q.$name.error" "HTTP $code"
        continue 2
      fi
      if ((i == 0)); then
        read -r series pts < <(python3 "$helper" points "$work/answer.json")
        put "$who.q.$name.points" "$pts"
      else
        times+=("$secs")
      fi
    done
    put "$who.q.$name.median" "$(printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')"
  done
}

# fleet_vigil / fleet_vm / fleet_prom: the fleet set into a second instance of each system,
# loaded as the main set is, then its queries timed; nothing when FLEET_HOSTS=0.
fleet_vigil() {
  ((FLEET_HOSTS > 0)) || return 0
  echo "Vigil: backfilling the fleet set, $FLEET_SPAN of $FLEET_HOSTS hosts x $FLEET_SERIES series" >&2
  local g h pid
  g=$(free_port); h=$(free_port)
  env "${env_extra[@]}" "$bin/vigil-collector" --grpc-listen "127.0.0.1:$g" \
    --http-listen "127.0.0.1:$h" --data-dir "$work/vigil-fleet" --log-level warn >"$work/vigil-fleet.log" 2>&1 &
  pid=$!; pids+=("$pid")
  wait_ready "http://127.0.0.1:$h/api/v1/status/buildinfo"
  "${fleet_gen[@]}" --collector "http://127.0.0.1:$g" --concurrency "$CONCURRENCY" \
    --batch-samples "$BATCH_SAMPLES" --output json >"$work/loadgen-fleet.json" \
    || { echo "vigil-loadgen (fleet) failed: $(cat "$work/loadgen-fleet.json")" >&2; exit 1; }
  put fleet_samples "$(json "$work/loadgen-fleet.json" 'd["expected_samples"]')"
  settle "$pid" "$work/vigil-fleet" vigil-collector
  echo "Vigil: timing the fleet queries" >&2
  time_queries vigil "http://127.0.0.1:$h" fleet_queries
  stop "$pid"
  rm -rf "$work/vigil-fleet"
}
fleet_vm() {
  ((FLEET_HOSTS > 0)) || return 0
  echo "VictoriaMetrics: importing the fleet set" >&2
  local p pid code secs
  "${fleet_gen[@]}" --emit vm-import "$work/fleet.jsonl" --output json >/dev/null
  p=$(free_port)
  victoria-metrics -storageDataPath "$work/vm-fleet" -httpListenAddr "127.0.0.1:$p" \
    -retentionPeriod 100y -search.disableCache -loggerLevel ERROR >"$work/vm-fleet.log" 2>&1 &
  pid=$!; pids+=("$pid")
  wait_ready "http://127.0.0.1:$p/health"
  read -r code secs < <(curl -s -o "$work/vm-import.out" -w '%{http_code} %{time_total}\n' -X POST \
    -H 'Content-Type: application/json' -T "$work/fleet.jsonl" "http://127.0.0.1:$p/api/v1/import")
  [[ $code == 204 || $code == 200 ]] || { echo "fleet import failed: HTTP $code $(head -c 300 "$work/vm-import.out")" >&2; exit 1; }
  rm -f "$work/fleet.jsonl"
  curl -sf "http://127.0.0.1:$p/internal/force_flush" >/dev/null || echo "warning: force_flush failed" >&2
  curl -sf "http://127.0.0.1:$p/internal/force_merge" >/dev/null || echo "warning: force_merge failed" >&2
  settle "$pid" "$work/vm-fleet" victoria-metrics
  echo "VictoriaMetrics: timing the fleet queries" >&2
  time_queries vm "http://127.0.0.1:$p" fleet_queries
  stop "$pid"
  rm -rf "$work/vm-fleet"
}
fleet_prom() {
  ((FLEET_HOSTS > 0)) || return 0
  echo "Prometheus: promtool on the fleet set" >&2
  local p pid
  "${fleet_gen[@]}" --emit openmetrics "$work/fleet.om" --output json >/dev/null
  promtool tsdb create-blocks-from openmetrics --max-block-duration=486h "$work/fleet.om" \
    "$work/prom-fleet" >"$work/promtool-fleet.log" 2>&1 \
    || { echo "promtool (fleet) failed: $(tail -5 "$work/promtool-fleet.log")" >&2; exit 1; }
  rm -f "$work/fleet.om"
  p=$(free_port)
  prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/prom-fleet" \
    --storage.tsdb.retention.time=3650d --web.listen-address="127.0.0.1:$p" --log.level=warn \
    >"$work/prometheus-fleet.log" 2>&1 &
  pid=$!; pids+=("$pid")
  wait_ready "http://127.0.0.1:$p/-/ready"
  echo "Prometheus: timing the fleet queries" >&2
  time_queries prom "http://127.0.0.1:$p" fleet_queries
  stop "$pid"
  rm -rf "$work/prom-fleet"
}

# --- Vigil ------------------------------------------------------------------------------------
echo "Vigil: backfilling $SPAN of $HOSTS hosts x $SERIES series over gRPC (load average $(loadavg))" >&2
gport=$(free_port); hport=$(free_port)
env_extra=(VIGIL_COLLECTOR__STORAGE__SYNC=false)
# Compact promptly when this version has block compaction (its default waits a minute).
# 5 s: the quiet pass that compacts the open window comes well within the 20 s settle.
grep -rq compaction_interval collector/server/src/config && env_extra+=(VIGIL_COLLECTOR__STORAGE__COMPACTION_INTERVAL=5s)
env "${env_extra[@]}" "$bin/vigil-collector" --grpc-listen "127.0.0.1:$gport" \
  --http-listen "127.0.0.1:$hport" --data-dir "$work/vigil" --log-level warn >"$work/vigil.log" 2>&1 &
vigil_pid=$!; pids+=("$vigil_pid")
wait_ready "http://127.0.0.1:$hport/api/v1/status/buildinfo"
python3 "$helper" measure "$work/loadgen.measure" -- "${gen[@]}" --collector "http://127.0.0.1:$gport" \
  --concurrency "$CONCURRENCY" --batch-samples "$BATCH_SAMPLES" --output json >"$work/loadgen.json" \
  || { echo "vigil-loadgen failed: $(cat "$work/loadgen.json")" >&2; exit 1; }
samples=$(json "$work/loadgen.json" 'd["expected_samples"]')
acked=$(json "$work/loadgen.json" 'd["acked_samples"]')
if [[ $acked != "$samples" ]]; then
  echo "Vigil acknowledged $acked of $samples samples: $(cat "$work/loadgen.json")" >&2; exit 1
fi
put samples "$samples"
put vigil.ingest_sps "$(json "$work/loadgen.json" 'd["backfill"]["samples_per_s"]')"
echo "Vigil: $(json "$work/loadgen.json" '"%.0f samples/s, ack p50 %.0f ms, p99 %.0f ms" % (d["backfill"]["samples_per_s"], d["backfill"]["ack_latency_ms"]["p50"], d["backfill"]["ack_latency_ms"]["p99"])'); waiting for compaction" >&2
settle "$vigil_pid" "$work/vigil" vigil-collector
put vigil.disk_bytes "$(size "$work/vigil")"
put vigil.load_rss_kb "$(hwm "$vigil_pid")"
"$bin/vigil" --collector "http://127.0.0.1:$gport" status --output json >"$work/vigil-status.json" 2>/dev/null || true
echo "Vigil: timing queries" >&2
time_queries vigil "http://127.0.0.1:$hport"
put vigil.end_rss_kb "$(hwm "$vigil_pid")"
stop "$vigil_pid"
fleet_vigil

# --- VictoriaMetrics --------------------------------------------------------------------------
echo "VictoriaMetrics: writing the import file" >&2
"${gen[@]}" --emit vm-import "$work/data.jsonl" --output json >"$work/vm-emit.json"
vm_file_mb=$(( $(size "$work/data.jsonl") / 1000000 ))
vport=$(free_port)
victoria-metrics -storageDataPath "$work/vm" -httpListenAddr "127.0.0.1:$vport" \
  -retentionPeriod 100y -search.disableCache -loggerLevel ERROR >"$work/vm.log" 2>&1 &
vm_pid=$!; pids+=("$vm_pid")
wait_ready "http://127.0.0.1:$vport/health"
echo "VictoriaMetrics: importing ${vm_file_mb} MB (load average $(loadavg))" >&2
read -r code secs < <(curl -s -o "$work/vm-import.out" -w '%{http_code} %{time_total}\n' -X POST \
  -H 'Content-Type: application/json' -T "$work/data.jsonl" "http://127.0.0.1:$vport/api/v1/import")
[[ $code == 204 || $code == 200 ]] || { echo "import failed: HTTP $code $(head -c 300 "$work/vm-import.out")" >&2; exit 1; }
rm -f "$work/data.jsonl"
put vm.ingest_sps "$(awk -v n="$samples" -v s="$secs" 'BEGIN{printf "%.0f", n/s}')"
curl -sf "http://127.0.0.1:$vport/internal/force_flush" >/dev/null || echo "warning: force_flush failed" >&2
curl -sf "http://127.0.0.1:$vport/internal/force_merge" >/dev/null || echo "warning: force_merge failed" >&2
echo "VictoriaMetrics: ${secs} s; waiting for the merge" >&2
settle "$vm_pid" "$work/vm" victoria-metrics
put vm.disk_bytes "$(size "$work/vm")"
put vm.load_rss_kb "$(hwm "$vm_pid")"
vm_rows=$(curl -s "http://127.0.0.1:$vport/api/v1/query" --data-urlencode "query=sum(count_over_time({__name__!=\"\"}[$((span_s + 3600))s]))" --data-urlencode "time=$end" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["result"][0]["value"][1])' 2>/dev/null || echo "?")
echo "VictoriaMetrics: timing queries" >&2
time_queries vm "http://127.0.0.1:$vport"
put vm.end_rss_kb "$(hwm "$vm_pid")"
stop "$vm_pid"
fleet_vm

# --- Prometheus -------------------------------------------------------------------------------
echo "Prometheus: writing the OpenMetrics file" >&2
"${gen[@]}" --emit openmetrics "$work/data.om" --output json >"$work/om-emit.json"
om_file_mb=$(( $(size "$work/data.om") / 1000000 ))
echo "Prometheus: promtool create-blocks-from openmetrics, ${om_file_mb} MB (load average $(loadavg))" >&2
python3 "$helper" measure "$work/promtool.measure" -- promtool tsdb create-blocks-from openmetrics \
  --max-block-duration=486h "$work/data.om" "$work/prom" >"$work/promtool.log" 2>&1 \
  || { echo "promtool failed: $(tail -5 "$work/promtool.log")" >&2; exit 1; }
rm -f "$work/data.om"
put prom.ingest_sps "$(json "$work/promtool.measure" "round($samples / d['seconds'])")"
put prom.disk_bytes "$(size "$work/prom")"
put prom.load_rss_kb "$(json "$work/promtool.measure" 'd["max_rss_kb"]')"
printf 'global:\n  scrape_interval: 1h\nscrape_configs: []\n' >"$work/prometheus.yml"
pport=$(free_port)
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/prom" \
  --storage.tsdb.retention.time=3650d --web.listen-address="127.0.0.1:$pport" --log.level=warn \
  >"$work/prometheus.log" 2>&1 &
prom_pid=$!; pids+=("$prom_pid")
wait_ready "http://127.0.0.1:$pport/-/ready"
echo "Prometheus: timing queries" >&2
time_queries prom "http://127.0.0.1:$pport"
put prom.end_rss_kb "$(hwm "$prom_pid")"
stop "$prom_pid"
fleet_prom

# --- report -----------------------------------------------------------------------------------
cpu=$(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)
echo
echo "Storage side by side on $(nproc) cores ($cpu), $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo):" \
  "$HOSTS hosts x $SERIES series x ${INTERVAL} s x $SPAN = $samples samples, jitter ${JITTER_MS} ms, seed $SEED ($(date -u +%F))"
if ((FLEET_HOSTS > 0)); then
  echo "Fleet queries: a second instance of each with $FLEET_HOSTS hosts x $FLEET_SERIES series x ${INTERVAL} s x $FLEET_SPAN = $(grep '^fleet_samples=' "$results" | tail -1 | cut -d= -f2) samples."
fi
echo
python3 "$helper" table "$results"
echo
echo "Vigil $version: $bin/vigil-collector (release, storage.sync=false), loaded by vigil-loadgen over gRPC" \
  "(concurrency $CONCURRENCY, $BATCH_SAMPLES samples a batch; ack latency p50 $(json "$work/loadgen.json" '"%.0f ms, p99 %.0f ms" % (d["backfill"]["ack_latency_ms"]["p50"], d["backfill"]["ack_latency_ms"]["p99"])');" \
  "the generator itself used $(json "$work/loadgen.measure" '"%.1f" % d["cpu_seconds"]') CPU-s of the same cores)."
if [[ -s $work/vigil-status.json ]]; then
  echo "  Vigil bytes per sample by part, open window included: $(json "$work/vigil-status.json" '(lambda d, n, fam: " + ".join("%s %.3f" % (k, v / n) for k, v in [(f, fam(d, f)) for f in ("blocks", "timestamps", "recent_frames")] + [("write-ahead log", d["wal_bytes"]), ("other", d["disk_bytes"] - d["wal_bytes"] - sum(fam(d, f) for f in ("blocks", "timestamps", "recent_frames")))]) + " = %.3f" % (d["disk_bytes"] / n))(d, '"$samples"', lambda d, f: sum(p["disk_bytes"] for p in d["parts"] if p["name"] == f))')"
  echo "  vigil status: $(json "$work/vigil-status.json" '"%.0f MB on disk, of which write-ahead log %.0f MB; " % (d["disk_bytes"] / 1e6, d["wal_bytes"] / 1e6) + ", ".join("%s %.0f MB" % (p["name"], p["disk_bytes"] / 1e6) for p in d["parts"] if p["disk_bytes"] > 1e6)')"
fi
echo "VictoriaMetrics $(dpkg-query -W -f '${Version}' victoria-metrics 2>/dev/null): /usr/bin/victoria-metrics, /api/v1/import of a ${vm_file_mb} MB JSON-lines file in one request;" \
  "it counts $vm_rows samples stored."
echo "Prometheus $(prometheus --version 2>&1 | awk 'NR==1{print $3}'): /usr/bin/promtool on a ${om_file_mb} MB OpenMetrics file; RSS during load is promtool's, which maps the whole input file (its RSS counts the file's cached pages)."
echo "Vigil / VM: ✓ where Vigil meets the target (ingest at least VictoriaMetrics', the rest at most)."
echo "Vigil / better peer: against the faster (for ingest, the higher) of VictoriaMetrics and Prometheus; ✓ where Vigil is at or below both (ingest: at or above both)."
