#!/usr/bin/env bash
# Remote write out: what forwarding to Debian's VictoriaMetrics costs and delivers, with
# vigil-loadgen's simulated fleet (HOSTS hosts x SERIES node_exporter-like series every
# INTERVAL seconds), release build, one machine, everything on 127.0.0.1. Prints one table.
#
# Four runs, each collector on a fresh data directory, storage.sync=false as in
# storage_peers.sh (the forwarding log is written in the same RocksDB write as the
# samples, so it follows the same setting):
#   1. off       no [[remote_write]]: vigil-loadgen --backfill SPAN, as fast as the
#                collector acknowledges. Ingest = acknowledged samples/s.
#   2. on, up    the same backfill, same samples (same --end), with [[remote_write]] to a
#                running VictoriaMetrics: the collector appends and forwards at once, and
#                VictoriaMetrics takes its share of the cores. Ingest as above; forwarding =
#                samples sent from the backfill's start until all are sent.
#   3. on, down  the same backfill with the remote stopped: the cost of the forwarding log
#                alone. Then VictoriaMetrics starts and the backlog (the whole SPAN) goes out:
#                catch-up throughput = samples sent / seconds, from the collector's
#                vigil_remote_write_samples_sent_total (polled every 0.2 s).
#   4. steady    on the same collector, vigil-loadgen live (the fleet in real time) for
#                WARMUP + DURATION: forwarded samples/s, and vigil_remote_write_lag_seconds
#                read every 0.5 s over DURATION (median, p99, max); the collector's CPU.
#
#   tests/bench/remote_write.sh                               # 1 h backlog, 5 min steady
#   SPAN=10m DURATION=60s WARMUP=20s tests/bench/remote_write.sh   # a quick run (~3 min)
#
# Other settings: HOSTS (100), SERIES (300), INTERVAL (10, seconds), SEED (1), CONCURRENCY
# (hosts backfilling at once, 4), BATCH_SAMPLES (10000), SYNC (false), KEEP=1 keeps the
# work directory. Installs Debian's victoria-metrics and curl when missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/setup.sh
HOSTS=${HOSTS:-100}
SERIES=${SERIES:-300}
INTERVAL=${INTERVAL:-10}
SPAN=${SPAN:-1h}
DURATION=${DURATION:-300s}
WARMUP=${WARMUP:-30s}
SEED=${SEED:-1}
CONCURRENCY=${CONCURRENCY:-4}
BATCH_SAMPLES=${BATCH_SAMPLES:-10000}
SYNC=${SYNC:-false}
REMOTE=vm
work=$(mktemp -d "${TMPDIR:-/tmp}/remote_write.XXXXXX")
helper=tests/bench/remote_write.py
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [[ ${KEEP:-0} == 1 ]]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

need=()
[[ -x /usr/bin/victoria-metrics ]] || need+=(victoria-metrics)
command -v curl >/dev/null || need+=(curl)
if ((${#need[@]})); then
  echo "installing ${need[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -o DPkg::Lock::Timeout=300 "${need[@]}" >/dev/null
  # Debian starts the packaged service; this benchmark runs its own.
  systemctl stop victoria-metrics 2>/dev/null || true
fi

echo "building vigil-collector, vigil and vigil-loadgen (release) in $CARGO_TARGET_DIR" >&2
cargo build --quiet --release -p vigil-collector -p vigil-cli -p vigil-tests --bins
bin=$CARGO_TARGET_DIR/release
version="$(git describe --always --dirty 2>/dev/null || echo unknown)"

seconds_of() {
  python3 -c 'import sys,re
m = {"s": 1, "m": 60, "h": 3600, "d": 86400}
print(sum(int(n) * m[u] for n, u in re.findall(r"(\d+)([smhd])", sys.argv[1])))' "$1"
}
span_s=$(seconds_of "$SPAN"); duration_s=$(seconds_of "$DURATION"); warmup_s=$(seconds_of "$WARMUP")
((span_s > 0 && duration_s > 0)) || { echo "SPAN=$SPAN DURATION=$DURATION: use durations such as 1h, 300s, 5m" >&2; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
json() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, {"d": d}))' "$@"; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
now() { date +%s.%N; }
wait_ready() {
  for _ in $(seq 600); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done
  echo "timed out waiting for $1" >&2; return 1
}
# stop PID: SIGTERM, then up to 60 s for it to exit.
stop() {
  kill "$1" 2>/dev/null || return 0
  for _ in $(seq 600); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$1" 2>/dev/null || true
}

# start_vm DIR PORT: sets vm_pid.
start_vm() {
  victoria-metrics -storageDataPath "$1" -httpListenAddr "127.0.0.1:$2" \
    -retentionPeriod 100y -loggerLevel ERROR >>"$1.log" 2>&1 &
  vm_pid=$!; pids+=("$vm_pid")
  wait_ready "http://127.0.0.1:$2/health"
}
vm_received() {
  curl -s "http://127.0.0.1:$1/metrics" | awk '/^vm_rows_inserted_total\{type="promremotewrite"\}/{print $2}'
}

# start_collector NAME [VM_PORT]: a collector on a fresh data directory, forwarding to
# VictoriaMetrics on VM_PORT when given. Sets c_pid, gport, hport, metrics.
start_collector() {
  local name=$1 config=$work/$1.toml
  : >"$config"
  if [[ -n ${2:-} ]]; then
    printf '[[remote_write]]\nname = "%s"\nurl = "http://127.0.0.1:%s/api/v1/write"\n' \
      "$REMOTE" "$2" >"$config"
  fi
  gport=$(free_port); hport=$(free_port)
  VIGIL_COLLECTOR__STORAGE__SYNC=$SYNC "$bin/vigil-collector" --config "$config" \
    --grpc-listen "127.0.0.1:$gport" --http-listen "127.0.0.1:$hport" \
    --data-dir "$work/$name" --log-level warn >"$work/$name.log" 2>&1 &
  c_pid=$!; pids+=("$c_pid")
  wait_ready "http://127.0.0.1:$hport/api/v1/status/buildinfo"
  metrics=http://127.0.0.1:$hport/metrics
}

# End of the backfill: now, on the interval; every backfill run sends exactly these samples.
end=$(( $(date +%s) / INTERVAL * INTERVAL ))
fleet=(--hosts "$HOSTS" --series-per-host "$SERIES" --interval "${INTERVAL}s" --seed "$SEED")
backfill=("$bin/vigil-loadgen" "${fleet[@]}" --backfill "$SPAN" --duration 0s --end "$end"
  --concurrency "$CONCURRENCY" --batch-samples "$BATCH_SAMPLES" --output json)
# backfill_into NAME: sends the backfill to the running collector; prints acked samples/s.
backfill_into() {
  "${backfill[@]}" --collector "http://127.0.0.1:$gport" >"$work/$1.loadgen.json" 2>"$work/$1.loadgen.err" \
    || { echo "vigil-loadgen ($1) failed: $(cat "$work/$1.loadgen.json" "$work/$1.loadgen.err")" >&2; exit 1; }
  local samples acked
  samples=$(json "$work/$1.loadgen.json" 'd["expected_samples"]')
  acked=$(json "$work/$1.loadgen.json" 'd["acked_samples"]')
  [[ $acked == "$samples" ]] || { echo "$1: acknowledged $acked of $samples samples" >&2; exit 1; }
  json "$work/$1.loadgen.json" 'round(d["backfill"]["samples_per_s"])'
}

# --- 1. off -----------------------------------------------------------------------------------
echo "1/4 forwarding off: backfilling $SPAN of $HOSTS hosts x $SERIES series (load average $(loadavg))" >&2
start_collector off
sps_off=$(backfill_into off)
samples=$(json "$work/off.loadgen.json" 'd["expected_samples"]')
stop "$c_pid"
echo "    $sps_off samples/s acknowledged" >&2

# --- 2. on, receiver up -----------------------------------------------------------------------
echo "2/4 forwarding on, VictoriaMetrics up: the same backfill (load average $(loadavg))" >&2
vport1=$(free_port)
start_vm "$work/vm-up" "$vport1"
start_collector on-up "$vport1"
t0=$(now)
sps_up=$(backfill_into on-up)
python3 "$helper" until-sent "$metrics" "$REMOTE" "$samples" 3600 >"$work/on-up.sent.json" \
  || { echo "on-up: not all sent within an hour: $(cat "$work/on-up.sent.json")" >&2; exit 1; }
fwd_up=$(json "$work/on-up.sent.json" "round(d['end']['sent'] / (d['end']['t'] - $t0))")
fwd_up_s=$(json "$work/on-up.sent.json" "'%.1f' % (d['end']['t'] - $t0)")
stop "$c_pid"; stop "$vm_pid"
echo "    $sps_up samples/s acknowledged; all forwarded after $fwd_up_s s ($fwd_up samples/s)" >&2

# --- 3. on, receiver down, then the catch-up --------------------------------------------------
echo "3/4 forwarding on, VictoriaMetrics down: the same backfill (load average $(loadavg))" >&2
vport=$(free_port)
start_collector on-down "$vport"
sps_down=$(backfill_into on-down)
before=$(python3 "$helper" now "$metrics" "$REMOTE")
queue_mb=$(python3 -c 'import json,sys; print("%.0f" % (json.loads(sys.argv[1])["queue"] / 1e6))' "$before")
log_bps=$(python3 -c 'import json,sys; print("%.1f" % (json.loads(sys.argv[1])["queue"] / float(sys.argv[2])))' "$before" "$samples")
echo "    $sps_down samples/s acknowledged; backlog $queue_mb MB; starting VictoriaMetrics" >&2
start_vm "$work/vm" "$vport"
python3 "$helper" until-sent "$metrics" "$REMOTE" "$samples" 3600 >"$work/catchup.json" \
  || { echo "catch-up: not all sent within an hour: $(cat "$work/catchup.json")" >&2; exit 1; }
catchup=$(json "$work/catchup.json" 'round(d["samples_per_s"])')
catchup_s=$(json "$work/catchup.json" '"%.1f" % d["seconds"]')
catchup_wait=$(json "$work/catchup.json" '"%.1f" % d["waited_s"]')
echo "    $samples samples caught up in $catchup_s s: $catchup samples/s (first accepted request $catchup_wait s after VictoriaMetrics was up)" >&2

# --- 4. steady ------------------------------------------------------------------------------
echo "4/4 steady: the fleet live for $WARMUP + $DURATION (load average $(loadavg))" >&2
python3 "$helper" watch "$metrics" "$REMOTE" "$work/steady.jsonl" 0.5 &
watch_pid=$!; pids+=("$watch_pid")
live_start=$(now)
# Two intervals more than the window: the fleet is still sending when the window ends.
"$bin/vigil-loadgen" "${fleet[@]}" --duration "$((warmup_s + duration_s + 2 * INTERVAL))s" \
  --collector "http://127.0.0.1:$gport" --output json >"$work/live.loadgen.json" 2>"$work/live.loadgen.err" &
live_pid=$!; pids+=("$live_pid")
sleep "$warmup_s"
ticks0=$(cpu_ticks "$c_pid"); cpu_t0=$(now)
sleep "$duration_s"
ticks1=$(cpu_ticks "$c_pid"); live_end=$(now)
wait "$live_pid" || { echo "live vigil-loadgen failed: $(cat "$work/live.loadgen.json" "$work/live.loadgen.err")" >&2; exit 1; }
stop "$watch_pid"
python3 "$helper" steady "$work/steady.jsonl" "$(python3 -c "print($live_start + $warmup_s)")" "$live_end" "$INTERVAL" >"$work/steady.json" \
  || { echo "steady: $(cat "$work/steady.json")" >&2; exit 1; }
live_sps=$(( HOSTS * SERIES / INTERVAL ))
cpu_pct=$(python3 -c "print('%.0f' % (($ticks1 - $ticks0) / $(getconf CLK_TCK) / ($live_end - $cpu_t0) * 100))")
"$bin/vigil" --collector "http://127.0.0.1:$gport" status >"$work/status.txt" 2>&1 || true
vm_rows=$(vm_received "$vport")
final=$(python3 "$helper" now "$metrics" "$REMOTE")
stop "$c_pid"; stop "$vm_pid"

# --- report -----------------------------------------------------------------------------------
ratio() { python3 -c "print('%.2f' % ($1 / $2))"; }
cpu=$(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)
echo
echo "Remote write to VictoriaMetrics $(dpkg-query -W -f '${Version}' victoria-metrics 2>/dev/null) on $(nproc) cores ($cpu)," \
  "$(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(date -u +%F), Vigil $version (release, storage.sync=$SYNC):"
echo "$HOSTS hosts x $SERIES series x ${INTERVAL} s; backfill $SPAN = $samples samples (seed $SEED, concurrency $CONCURRENCY, $BATCH_SAMPLES samples a batch)"
echo
echo "| figure | value |"
echo "| --- | --- |"
echo "| ingest, forwarding off | $sps_off samples/s |"
echo "| ingest, forwarding on, VictoriaMetrics up (forwarding at once, same cores) | $sps_up samples/s ($(ratio "$sps_up" "$sps_off") of off) |"
echo "| ingest, forwarding on, VictoriaMetrics down (the forwarding log alone) | $sps_down samples/s ($(ratio "$sps_down" "$sps_off") of off) |"
echo "| forwarding while ingesting the backfill (all sent $fwd_up_s s after its start) | $fwd_up samples/s |"
echo "| forwarding, catch-up of the $SPAN backlog ($queue_mb MB of log, $log_bps bytes a sample) | $catchup samples/s ($catchup_s s) |"
echo "| forwarding, steady (the fleet sends $live_sps samples/s; own metrics and \`up\` besides) | $(json "$work/steady.json" 'round(d["samples_per_s"])') samples/s |"
echo "| lag, steady over $DURATION: median / p99 / max | $(json "$work/steady.json" '"%.1f / %.1f / %.1f s" % (d["lag_median"], d["lag_p99"], d["lag_max"])') |"
echo "| collector CPU, steady | ${cpu_pct} % of a core |"
echo
echo "Steady: $(json "$work/steady.json" '"%d readings over %.0f s (samples/s over %.0f s); queue at most %.0f KB; dropped %d, failed %d, retries %d" % (d["readings"], d["seconds"], d["rate_seconds"], d["queue_max"] / 1e3, d["dropped"], d["failed"], d["retries"])'); the fleet: $(json "$work/live.loadgen.json" '"%d samples acknowledged, ack latency p50 %.0f ms, p99 %.0f ms" % (d["live"]["acked_samples"], d["live"]["ack_latency_ms"]["p50"], d["live"]["ack_latency_ms"]["p99"])')."
echo "At the end: $(python3 -c 'import json,sys; f=json.loads(sys.argv[1]); print("sent %d, failed %d, dropped %d samples" % (f["sent"], f["failed"], f["dropped"]))' "$final");" \
  "VictoriaMetrics counted ${vm_rows:-?} remote-write rows (catch-up and steady)."
echo "Catch-up: the first request was accepted $catchup_wait s after VictoriaMetrics answered (the sender's backoff, at most max_backoff = 5 s)."
if grep -q "^REMOTE  " "$work/status.txt"; then
  echo
  echo "vigil status (the end of the steady run):"
  sed -n '/^REMOTE WRITE/p' "$work/status.txt"
  sed -n '/^REMOTE  /,/^$/p' "$work/status.txt"
fi
