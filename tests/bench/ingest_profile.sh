#!/usr/bin/env bash
# Where the collector's CPU goes while a fleet creates its series, or while a known fleet
# reconnects after a restart: valgrind's callgrind counts the instructions of every thread
# of a release collector (perf does not work on these VMs; instruction counts are also
# steady where timings on 2 shared cores are not). Prints the top functions, inclusive
# and exclusive, and leaves the profile for callgrind_annotate.
#
#   MODE=create  every host connects at once to a fresh collector under callgrind and
#                creates its series (the default);
#   MODE=rejoin  the hosts first create their series in a plain run, the collector is
#                killed with `kill -9`, then restarted under callgrind on the same data
#                directory while the same hosts (same seed) connect again;
#   MODE=steady  as rejoin, but the counts are zeroed (`callgrind_control -z`) SETTLE
#                (30s) after the hosts connect again: what counts is steady ingest of
#                known series only, batch after batch.
#
#   tests/bench/ingest_profile.sh                       # 200 hosts x 300 series, create
#   MODE=rejoin HOSTS=200 tests/bench/ingest_profile.sh
#   callgrind_annotate --inclusive=yes --tree=caller "$OUT" | less
#
# Settings: HOSTS (200), SERIES (300), DURATION of the profiled load (20s; in steady
# mode counted after SETTLE), OUT (the
# profile, default /tmp/vigil-ingest-<mode>.cg), TOP (30 lines), BUILD=0 uses the release
# binaries already built. Under valgrind the collector runs about 50 times slower: keep
# HOSTS in the hundreds. Loopback only; what it starts it stops by PID.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/setup.sh
MODE=${MODE:-create}
HOSTS=${HOSTS:-200}
SERIES=${SERIES:-300}
DURATION=${DURATION:-20s}
OUT=${OUT:-/tmp/vigil-ingest-$MODE.cg}
TOP=${TOP:-30}
SETTLE=${SETTLE:-30s}
case $MODE in create | rejoin | steady) ;; *) echo "MODE is create, rejoin or steady, not $MODE" >&2; exit 2 ;; esac
if ! command -v valgrind >/dev/null || ! command -v callgrind_annotate >/dev/null; then
  echo "installing valgrind" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null
fi
if [[ ${BUILD:-1} != 0 ]]; then
  cargo build --quiet --release -p vigil-collector -p vigil-tests --bins
fi
bin="$CARGO_TARGET_DIR/release"
work=$(mktemp -d "${TMPDIR:-/tmp}/vigil-ingest-profile.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
gport=$(free_port); hport=$(free_port)
wait_ready() {
  for _ in $(seq 1200); do
    curl -sf -o /dev/null "http://127.0.0.1:$hport/api/v1/status/buildinfo" && return 0
    sleep 0.25
  done
  echo "the collector did not answer on 127.0.0.1:$hport; see $work/collector.log" >&2
  return 1
}
collector() { # [wrapper…]: starts the collector on the work directory's data
  env VIGIL_COLLECTOR__LIMITS__MAX_HOSTS=$((HOSTS + 100)) "$@" "$bin/vigil-collector" \
    --grpc-listen "127.0.0.1:$gport" --http-listen "127.0.0.1:$hport" \
    --data-dir "$work/data" --log-level warn >>"$work/collector.log" 2>&1 &
  pid=$!; pids+=("$pid")
  wait_ready
}
fleet() { # duration: the same hosts (seed 1) every time, all connecting at once
  "$bin/vigil-loadgen" --collector "http://127.0.0.1:$gport" --hosts "$HOSTS" \
    --series-per-host "$SERIES" --interval 10s --duration "$1" --ramp 0s --seed 1 \
    --ack-timeout 600s --output json >"$work/loadgen.json" 2>"$work/loadgen.err" \
    || { echo "vigil-loadgen failed:" >&2; tail -5 "$work/loadgen.err" >&2; return 1; }
  tail -1 "$work/loadgen.err" >&2
}

if [[ $MODE != create ]]; then
  echo "creating $HOSTS hosts x $SERIES series, then kill -9" >&2
  collector
  fleet 15s
  kill -9 "$pid"; wait "$pid" 2>/dev/null || true
fi
echo "profiling ($MODE): $HOSTS hosts x $SERIES series for $DURATION under callgrind" >&2
collector valgrind --tool=callgrind --callgrind-out-file="$OUT"
if [[ $MODE == steady ]]; then
  secs() { local d=$1; case $d in *m) echo $((${d%m} * 60)) ;; *s) echo "${d%s}" ;; *) echo "$d" ;; esac; }
  fleet "$(($(secs "$SETTLE") + $(secs "$DURATION")))s" &
  fleet_pid=$!
  sleep "$(secs "$SETTLE")"
  callgrind_control -z "$pid" >/dev/null
  echo "counts zeroed; counting $DURATION of steady ingest" >&2
  wait "$fleet_pid"
else
  fleet "$DURATION"
fi
kill "$pid"
wait "$pid" 2>/dev/null || true
echo
echo "== $MODE: $HOSTS hosts x $SERIES series, $(git describe --always --dirty 2>/dev/null || echo unknown), profile $OUT"
echo "-- inclusive (what each function and its callees cost)"
callgrind_annotate --inclusive=yes "$OUT" 2>/dev/null | grep -E '^ *[0-9,]+ \(' | head -n "$TOP" | cut -c1-160
echo "-- exclusive (each function's own instructions)"
callgrind_annotate "$OUT" 2>/dev/null | grep -E '^ *[0-9,]+ \(' | head -n "$TOP" | cut -c1-160
