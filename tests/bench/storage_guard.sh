#!/usr/bin/env bash
# What the storage guard and the scrub cost the collector: the same live load with the
# guard on (storage.min_free_bytes default: a statvfs of the data directory every second)
# and off (min_free_bytes = 0), one after the other, and the collector's CPU and memory
# in each. Prints one table.
#
#   tests/bench/storage_guard.sh
#   HOSTS=200 DURATION=120 tests/bench/storage_guard.sh
#
# Per run: a release collector on a fresh data directory (sync off, as the fleet
# benchmarks); `vigil-loadgen --hosts HOSTS --interval 10s --duration (WARMUP+DURATION)s`
# (300 series per host); after WARMUP seconds, the collector's CPU (utime + stime of
# /proc/PID/stat) over DURATION seconds, its median VmRSS sampled every second over the
# window and its VmHWM at the end. Settings: HOSTS (1000), DURATION (60), WARMUP (30),
# BUILD=0 uses the release binaries already built. Loopback only; what it starts it stops
# by PID.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/setup.sh
HOSTS=${HOSTS:-1000}
DURATION=${DURATION:-60}
WARMUP=${WARMUP:-30}
if [ "${BUILD:-1}" = 1 ]; then
  cargo build --release -p vigil-collector --bin vigil-collector >&2
  cargo build --release -p vigil-tests --bin vigil-loadgen >&2
fi
bin="$CARGO_TARGET_DIR/release"
work=$(mktemp -d /tmp/vigil-guard-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
tick=$(getconf CLK_TCK)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

run() { # name min_free_bytes
  local name=$1 min_free=$2 port data pid lg cpu0 cpu1 rss=() hwm
  port=$(free_port)
  data="$work/$name"
  VIGIL_COLLECTOR__STORAGE__SYNC=false VIGIL_COLLECTOR__STORAGE__MIN_FREE_BYTES=$min_free \
    "$bin/vigil-collector" --grpc-listen "127.0.0.1:$port" --data-dir "$data" \
    >"$work/$name.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
  done
  "$bin/vigil-loadgen" --collector "http://127.0.0.1:$port" --hosts "$HOSTS" \
    --interval 10s --duration "$((WARMUP + DURATION + 5))s" --ramp 10s \
    >"$work/$name.loadgen" 2>&1 &
  lg=$!
  pids+=("$lg")
  sleep "$WARMUP"
  cpu0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  for _ in $(seq "$DURATION"); do
    rss+=("$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")")
    sleep 1
  done
  cpu1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  wait "$lg" || true
  { kill -9 "$pid" && wait "$pid"; } 2>/dev/null || true
  local median
  median=$(printf '%s\n' "${rss[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  printf '%-10s %8.1f %%   %8.0f MiB   %8.0f MiB   %s\n' "$name" \
    "$(echo "($cpu1 - $cpu0) * 100 / $tick / $DURATION" | bc -l)" \
    "$(echo "$median / 1024" | bc -l)" "$(echo "$hwm / 1024" | bc -l)" \
    "$(grep -o 'acknowledged [0-9]* samples[^;]*' "$work/$name.loadgen" | tail -1)"
}

echo "storage guard on and off: $HOSTS hosts x 300 series every 10 s, ${DURATION} s window after ${WARMUP} s"
printf '%-10s %10s   %12s   %12s   %s\n' guard "CPU (1 core)" "RSS median" "RSS peak" loadgen
run on 1073741824
run off 0
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); $(date -u +%Y-%m-%d)"
