#!/usr/bin/env bash
# `vigil top` over a large fleet: how long one `vigil top` takes against a release-built
# collector holding HOSTS hosts (10,000 by default; the target is under 2 s).
#
# Data: every series `vigil top` reads, as node_exporter names them and as
# `vigil-loadgen` makes them (4 cpus x 8 modes, MemTotal and MemAvailable, 4 filesystems,
# 3 disks, 3 interfaces, load1: 55 series per host), every 10 s for the last POINTS
# scrapes (7: a minute, what `vigil top --window 1m` reads), written as OpenMetrics by
# the generator below and loaded with `vigil import`; `vigil top --at` the last scrape,
# so the runs see the same data however long the import took. Series `vigil top` does
# not read are left out: they only make the import longer (its selectors never touch
# them).
#
# The collector is left to finish background work, then `vigil top` runs once to warm up
# and RUNS times; the script prints each wall time and the median, the collector's CPU
# time per run (steadier than wall time on a shared machine), and the load average.
#
#   tests/bench/top_scale.sh                 # 10,000 hosts, 5 runs
#   HOSTS=1000 RUNS=3 tests/bench/top_scale.sh
#   PROFILE=dev HOSTS=50 RUNS=1 tests/bench/top_scale.sh   # check the script, not speed
#   BIN=/path/to/release tests/bench/top_scale.sh            # binaries already built
#   COMPARE=/path/to/other/release tests/bench/top_scale.sh  # then the same data served by
#                                                            # that build's collector
set -euo pipefail
cd "$(dirname "$0")/../.."
HOSTS=${HOSTS:-10000}
RUNS=${RUNS:-5}
POINTS=${POINTS:-7}
PROFILE=${PROFILE:-release}
work=$(mktemp -d "${TMPDIR:-/tmp}/top_scale.XXXXXX")
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

if [[ -n ${BIN:-} ]]; then
  bin=$BIN
else
  [[ -f scripts/setup.sh ]] && source scripts/setup.sh
  echo "building vigil-collector and vigil (profile $PROFILE)" >&2
  cargo build --quiet --profile "$PROFILE" -p vigil-collector -p vigil-cli --bins
  bin="$CARGO_TARGET_DIR/$([[ $PROFILE == dev ]] && echo debug || echo "$PROFILE")"
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.2f", b-a}'; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
wait_ready() {
  for _ in $(seq 600); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done
  echo "timed out waiting for $1" >&2; return 1
}
# wait_idle PID: until the process uses under 5% of a core over 2 s (5 minutes at most).
wait_idle() {
  local hz; hz=$(getconf CLK_TCK)
  for _ in $(seq 150); do
    local c0; c0=$(cpu_ticks "$1"); sleep 2
    (( ($(cpu_ticks "$1") - c0) * 100 < 10 * hz )) && return 0
  done
  echo "warning: the collector is still busy after 5 minutes; timing anyway" >&2
}

end=$(( $(date +%s) / 10 * 10 ))
echo "writing $HOSTS hosts x 55 series x $POINTS points" >&2
python3 - "$work/data.om" "$end" "$HOSTS" "$POINTS" <<'EOF'
import random, sys
path, end, hosts, points = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = random.Random(1)
modes = ["idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user"]
mounts = [("/", "/dev/sda1", "ext4", 25e9), ("/boot", "/dev/sda2", "ext4", 25e7),
          ("/var", "/dev/sdb1", "xfs", 1e11), ("/run", "tmpfs", "tmpfs", 4e8)]
times = [end - 10 * (points - 1 - i) for i in range(points)]
with open(path, "w") as out:
    w = out.write
    for name, kind in [("node_cpu_seconds", "counter"), ("node_memory_MemTotal_bytes", "gauge"),
                       ("node_memory_MemAvailable_bytes", "gauge"),
                       ("node_filesystem_size_bytes", "gauge"), ("node_filesystem_avail_bytes", "gauge"),
                       ("node_disk_read_bytes", "counter"), ("node_disk_written_bytes", "counter"),
                       ("node_network_receive_bytes", "counter"),
                       ("node_network_transmit_bytes", "counter"), ("node_load1", "gauge")]:
        w(f"# TYPE {name} {kind}\n")
    for h in range(hosts):
        host = f"host-{h:05d}"
        def series(name, labels, values):
            lab = ",".join(f'{k}="{v}"' for k, v in [("host", host)] + labels)
            for t, v in zip(times, values):
                w(f"{name}{{{lab}}} {v:.6g} {t}\n")
        def counter(start, per_s):
            return [start + per_s * (t - times[0]) for t in times]
        busy = rng.uniform(0.05, 0.95)
        for cpu in range(4):
            for mode in modes:
                rate = (1 - busy) if mode == "idle" else busy / 7
                series("node_cpu_seconds_total", [("cpu", str(cpu)), ("mode", mode)],
                       counter(rng.uniform(1e4, 1e6), rate))
        total = 8e9
        series("node_memory_MemTotal_bytes", [], [total] * points)
        series("node_memory_MemAvailable_bytes", [], [total * rng.uniform(0.1, 0.9)] * points)
        for mountpoint, device, fstype, size in mounts:
            labels = [("device", device), ("fstype", fstype), ("mountpoint", mountpoint)]
            series("node_filesystem_size_bytes", labels, [size] * points)
            series("node_filesystem_avail_bytes", labels, [size * rng.uniform(0.05, 0.9)] * points)
        for device in ["sda", "sdb", "nvme0n1"]:
            series("node_disk_read_bytes_total", [("device", device)], counter(1e9, rng.uniform(0, 1e6)))
            series("node_disk_written_bytes_total", [("device", device)], counter(1e9, rng.uniform(0, 5e6)))
        for device in ["eth0", "eth1", "lo"]:
            series("node_network_receive_bytes_total", [("device", device)], counter(1e9, rng.uniform(0, 1e6)))
            series("node_network_transmit_bytes_total", [("device", device)], counter(1e9, rng.uniform(0, 1e6)))
        series("node_load1", [], [rng.uniform(0, 8) for _ in times])
    w("# EOF\n")
EOF
series=$(( HOSTS * 55 ))

gport=$(free_port); hport=$(free_port)
hz=$(getconf CLK_TCK)
# start_collector BIN: a collector of BIN on the data directory, ready.
start_collector() {
  "$1/vigil-collector" --grpc-listen "127.0.0.1:$gport" --http-listen "127.0.0.1:$hport" \
    --data-dir "$work/vigil" --log-level warn >>"$work/vigil.log" 2>&1 &
  vigil_pid=$!; pids+=($vigil_pid)
  wait_ready "http://127.0.0.1:$hport/api/v1/status/buildinfo"
}
# stop_collector: SIGTERM, and wait until it has exited (its data directory is free).
stop_collector() {
  kill "$vigil_pid"
  while kill -0 "$vigil_pid" 2>/dev/null; do sleep 0.2; done
}
# top_once: one `vigil top`; prints its wall time and the collector's CPU seconds for it.
top_once() {
  local t0 c0; t0=$(now); c0=$(cpu_ticks "$vigil_pid")
  "$bin/vigil" --collector "http://127.0.0.1:$gport" top --at "$end" --output json >"$work/top.json"
  echo "$(since "$t0") $(awk -v a="$c0" -v b="$(cpu_ticks "$vigil_pid")" -v hz="$hz" 'BEGIN{printf "%.2f", (b-a)/hz}')"
}
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
# measure LABEL: RUNS timed `vigil top` after one to warm up, and the figures.
measure() {
  top_once >/dev/null
  local rows all with_cpu times=() cpus=() t c
  rows=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(len(r), sum(1 for x in r if x["cpu_percent"] is not None))' "$work/top.json")
  for _ in $(seq "$RUNS"); do read -r t c <<<"$(top_once)"; times+=("$t"); cpus+=("$c"); done
  read -r all with_cpu <<<"$rows"
  echo "$1: vigil top over $HOSTS hosts ($series series): $all rows, $with_cpu with CPU"
  echo "  wall (s): ${times[*]}"
  echo "  collector CPU (s): ${cpus[*]}"
  echo "  median: $(median "${times[@]}") s wall, $(median "${cpus[@]}") s collector CPU   (RSS $(awk '/VmRSS/{print $2/1024 " MiB"}' "/proc/$vigil_pid/status"), load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores)"
}

start_collector "$bin"
echo "importing $series series" >&2
t0=$(now)
"$bin/vigil" --collector "http://127.0.0.1:$gport" import "$work/data.om" </dev/null >/dev/null
echo "imported in $(since "$t0") s; waiting for the collector to be idle" >&2
wait_idle "$vigil_pid"
measure "$bin"
if [[ -n ${COMPARE:-} ]]; then
  # The same data served by another build's collector (the CLI stays this build's).
  stop_collector
  start_collector "$COMPARE"
  wait_idle "$vigil_pid"
  measure "$COMPARE"
fi
