#!/usr/bin/env bash
# Series creation for a new fleet: this build's collector against an older build's, side by
# side on this machine, alternated ROUNDS times. The older build defaults to 2367e41, the
# commit issue 17 measured ("the first ~90 s creating 3 M series"), so "N times faster than
# the issue's day" is read on one machine at one hour, not against a figure from another day.
#
# Each run: a collector on a fresh data directory, then the base's own vigil-loadgen with the
# issue's command (every host connects at once):
#   vigil-loadgen --hosts HOSTS --interval 10s --duration DURATION --seed 1
# Meanwhile `count(up)` is asked every POLL seconds over /api/v1/query. Columns:
#   all created  the time of the first question answered with HOSTS (asked, not answered:
#                a loaded old collector answers late), from the loadgen's start;
#   90 %         the same for 90 % of the hosts;
#   all acked    when the loadgen saw every sample acknowledged;
#   CPU-s        the collector's user + system time over the run.
# A host's `up` is written with its 300 series (this build) or at its registration, before
# them (older builds), so if anything the figure flatters the older build.
#
# The base is built once, from a git worktree, into BASE_DIR (default
# $CARGO_TARGET_DIR/base-COMMIT) with a target directory of its own: the first time compiles
# RocksDB there too (about 20 minutes on 2 cores). Building it in the shared target directory
# would overwrite this checkout's artifacts, which cargo names by their path inside the
# workspace, so that the next build here links stale code. The base gets this checkout's
# .cargo/config.toml (RocksDB with hardware CRC-32C), which can only help it.
#
#   tests/bench/creation_vs_base.sh                # 10,000 hosts, 2 rounds, about 15 min
#   ROUNDS=3 BASE=<commit> tests/bench/creation_vs_base.sh
#
# Other settings: HOSTS (10000), DURATION (3m), POLL (2), BUILD=0 uses this checkout's release
# binaries in $CARGO_TARGET_DIR/release as they are. Loopback only; everything started here is
# stopped by PID.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/setup.sh
BASE=${BASE:-2367e41}
HOSTS=${HOSTS:-10000}
DURATION=${DURATION:-3m}
ROUNDS=${ROUNDS:-2}
POLL=${POLL:-2}
base_dir=${BASE_DIR:-$CARGO_TARGET_DIR/base-$BASE}
work=$(mktemp -d "${TMPDIR:-/tmp}/creation_vs_base.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  git worktree remove --force "$work/src" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

command -v curl >/dev/null || {
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -o DPkg::Lock::Timeout=300 curl >/dev/null
}
if [[ ! -x $base_dir/bin/vigil-collector || ! -x $base_dir/bin/vigil-loadgen ]]; then
  echo "building $BASE's vigil-collector and vigil-loadgen (release) in $base_dir" >&2
  git worktree add --quiet --detach "$work/src" "$BASE"
  mkdir -p "$work/src/.cargo" "$base_dir/bin"
  cp .cargo/config.toml "$work/src/.cargo/"
  (cd "$work/src" && CARGO_TARGET_DIR=$base_dir/target \
    cargo build --quiet --release -p vigil-collector -p vigil-tests --bin vigil-collector --bin vigil-loadgen)
  cp "$base_dir/target/release/vigil-collector" "$base_dir/target/release/vigil-loadgen" "$base_dir/bin/"
fi
if [[ ${BUILD:-1} != 0 ]]; then
  echo "building vigil-collector (release) in $CARGO_TARGET_DIR" >&2
  cargo build --quiet --release -p vigil-collector
fi
head_commit=$(git rev-parse --short HEAD)
loadgen=$base_dir/bin/vigil-loadgen
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
(( $(ulimit -n) >= HOSTS + 1000 )) || { echo "ulimit -n is $(ulimit -n): $HOSTS hosts need $((HOSTS + 1000))" >&2; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
hosts_up() {
  curl -s --max-time 120 "http://127.0.0.1:$1/api/v1/query" --data-urlencode 'query=count(up)' |
    python3 -c 'import json,sys
try:
    r = json.load(sys.stdin)["data"]["result"]; print(int(float(r[0]["value"][1])) if r else 0)
except Exception:
    print(0)'
}

# run NAME COLLECTOR: appends "NAME 90% all acked cpu" to the rows.
run() {
  local name=$1 coll=$2 gport hport data=$work/data pid lg t0 ts n all="" ninety="" acked ticks row
  gport=$(free_port); hport=$(free_port)
  rm -rf "$data"
  env VIGIL_COLLECTOR__LIMITS__MAX_HOSTS=$((HOSTS + 100)) "$coll" --grpc-listen "127.0.0.1:$gport" \
    --http-listen "127.0.0.1:$hport" --data-dir "$data" --log-level warn >"$work/$name.log" 2>&1 &
  pid=$!; pids+=("$pid")
  for _ in $(seq 600); do curl -sf -o /dev/null "http://127.0.0.1:$hport/api/v1/status/buildinfo" && break; sleep 0.2; done
  t0=$(now)
  "$loadgen" --hosts "$HOSTS" --interval 10s --duration "$DURATION" --seed 1 \
    --collector "http://127.0.0.1:$gport" >"$work/$name.loadgen" 2>&1 &
  lg=$!
  while kill -0 "$lg" 2>/dev/null; do
    sleep "$POLL"
    [[ -n $all ]] && continue
    ts=$(since "$t0"); n=$(hosts_up "$hport")
    [[ -z $ninety ]] && (( n * 10 >= HOSTS * 9 )) && ninety=$ts
    (( n >= HOSTS )) && all=$ts
  done
  wait "$lg" || { echo "$name: vigil-loadgen failed:" >&2; tail -5 "$work/$name.loadgen" >&2; }
  acked=$(grep -oE 'acked of +[0-9]+ sent in +[0-9.]+ s' "$work/$name.loadgen" | awk '{print $(NF-1)}' | tail -1)
  ticks=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  row=$(printf '%s %s %s %s %s' "$name" "${ninety:-never}" "${all:-never}" "${acked:--}" \
    "$(awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", t / hz }')")
  echo "round $r: $row" >&2
  echo "$row" >>"$work/rows"
}

echo "creation of $HOSTS hosts x 300 series, every host at once; $BASE's loadgen; $ROUNDS rounds (load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
: >"$work/rows"
for r in $(seq "$ROUNDS"); do
  # Alternate which goes first, so a machine that slows down over the runs hurts both.
  if (( r % 2 )); then order="base head"; else order="head base"; fi
  for which in $order; do
    if [[ $which == base ]]; then run "$BASE" "$base_dir/bin/vigil-collector"
    else run "$head_commit" "$CARGO_TARGET_DIR/release/vigil-collector"; fi
  done
done

echo "Series creation, $HOSTS new hosts x 300 series at once, $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(date -u +%F)"
printf '| %-8s | %14s | %14s | %12s | %7s |\n' build "90 % up, s" "all up, s" "all acked, s" CPU-s
printf '| %-8s | %14s | %14s | %12s | %7s |\n' --- --- --- --- ---
while read -r name ninety all acked cpu; do
  printf '| %-8s | %14s | %14s | %12s | %7s |\n' "$name" "$ninety" "$all" "$acked" "$cpu"
done <"$work/rows"
python3 - "$work/rows" "$BASE" "$head_commit" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
def med(name, col):
    v = [float(r[col]) for r in rows if r[0] == name and r[col] not in ("never", "-")]
    return statistics.median(v) if v else None
for col, what in ((1, "90 % of hosts up"), (2, "every host up")):
    b, h = med(sys.argv[2], col), med(sys.argv[3], col)
    if b and h:
        print(f"{what}: {sys.argv[3]} {b / h:.1f}x faster than {sys.argv[2]} (medians {h:.1f} s and {b:.1f} s)")
EOF
